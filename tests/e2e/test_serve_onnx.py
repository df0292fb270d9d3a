"""Models trained in Python serve through `slipway serve`: scikit-learn GradientBoosting,
RandomForest and a StandardScaler + LogisticRegression pipeline, converted with skl2onnx and
logged with `mlflow.onnx.log_model` (with a column signature) by the official client, are
registered, served, and must predict exactly as the Python model on every row of a real
test set (probabilities within 1e-5, labels equal).

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pytest
import requests
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skl2onnx import to_onnx

from helpers import slipway_serve

pytestmark = pytest.mark.slipway_specific



@pytest.fixture(scope="module")
def breast_cancer():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    # ONNX tree ensembles compare in float32: give both sides float32-exact inputs.
    x = x.astype(np.float32).astype(np.float64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


MODELS = {
    "gbc": lambda: GradientBoostingClassifier(n_estimators=60, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=40, random_state=0),
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_onnx_model_from_python_predicts_as_python(mlflow_uri, slipway_bin, breast_cancer, kind, tmp_path):
    x_train, x_test, y_train, _ = breast_cancer
    model = MODELS[kind]().fit(x_train, y_train)
    onx = to_onnx(model, x_train.to_numpy(dtype=np.float32)[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    name = f"onnx-{kind}-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment("serve-onnx-e2e")
    with mlflow.start_run():
        signature = infer_signature(x_train, model.predict_proba(x_train))
        mlflow.onnx.log_model(onx, "model", signature=signature, registered_model_name=name)

    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri,
        "--prediction-log", str(tmp_path / "predictions"),
    ) as base:
        split = {"columns": list(x_test.columns), "data": x_test.to_numpy().tolist()}
        labels = requests.post(base + "/invocations", json={"dataframe_split": split}, timeout=30)
        assert labels.status_code == 200, labels.text
        proba = requests.post(
            base + "/invocations",
            json={"dataframe_split": split, "params": {"predict_method": "predict_proba"}},
            timeout=30,
        )
        assert proba.status_code == 200, proba.text

    expected = model.predict_proba(x_test)
    got = np.asarray(proba.json()["predictions"], dtype=np.float64)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5, f"max diff {np.max(np.abs(got - expected)):.3e}"
    assert [int(v) for v in labels.json()["predictions"]] == list(model.predict(x_test))
