"""Models trained in Python serve through `slipway serve`: scikit-learn GradientBoosting,
RandomForest and a StandardScaler + LogisticRegression pipeline, converted with skl2onnx and
logged with `mlflow.onnx.log_model` (with a column signature) by the official client, are
registered, served, and must predict exactly as the Python model on every row of a real
test set (probabilities within 1e-5, labels equal). So must a DataFrame pipeline with string
categories (ColumnTransformer + OneHotEncoder, converted with one ONNX input per column), in
every protocol: /predict, /predict/batch, /invocations (dataframe_split, dataframe_records)
and the Open Inference Protocol v2 (BYTES tensors for the strings).

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import subprocess
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

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


@pytest.fixture(scope="module")
def churn_frame(slipway_bin, tmp_path_factory):
    """`slipway datagen churn`'s training table as pandas reads it: string plan/region/contract,
    int columns, float columns (monthly_charges with missing values)."""
    tmp = tmp_path_factory.mktemp("churn-frame")
    subprocess.run(
        [slipway_bin, "datagen", "churn", "--customers", "1500", "--days", "60", "--quiet",
         "--out", str(tmp)],
        check=True,
    )
    df = pd.read_parquet(tmp / "training.parquet")
    y = df.pop("churn").astype("int64")
    x = df.drop(columns=["customer_id"])
    for c in x.columns:
        if x[c].dtype.kind == "i":
            x[c] = x[c].astype("int64")
        elif x[c].dtype.kind == "f":
            # The ONNX inputs are float32: give both sides float32-exact values.
            x[c] = x[c].astype(np.float32).astype(np.float64)
        else:
            x[c] = x[c].astype(object)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    x_test = x_test.copy()
    # A region never seen in training: handle_unknown="ignore" encodes it as zeros.
    x_test.loc[x_test.index[::9], "region"] = "antarctica"
    return x_train, x_test, y_train


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN as null, numpy scalars as Python numbers)."""
    out = []
    for row in frame.itertuples(index=False):
        rec = {}
        for c, v in zip(frame.columns, row):
            if isinstance(v, float) and np.isnan(v):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            rec[c] = v
        out.append(rec)
    return out


def test_dataframe_pipeline_with_string_categories_serves_as_python(
    mlflow_uri, slipway_bin, churn_frame, tmp_path
):
    x_train, x_test, y_train = churn_frame
    strings = [c for c in x_train.columns if x_train[c].dtype == object]
    numbers = [c for c in x_train.columns if c not in strings and c != "monthly_charges"]
    assert strings == ["plan", "region", "contract"]
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), strings),
            ("charges", SimpleImputer(strategy="median"), ["monthly_charges"]),
            ("num", "passthrough", numbers),
        ])),
        ("gbc", GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0)),
    ]).fit(x_train, y_train)
    # One ONNX input per DataFrame column, typed as the column.
    initial_types = [
        (c, StringTensorType([None, 1]) if c in strings
         else Int64TensorType([None, 1]) if x_train[c].dtype.kind == "i"
         else FloatTensorType([None, 1]))
        for c in x_train.columns
    ]
    onx = to_onnx(model, initial_types=initial_types, target_opset={"": 17, "ai.onnx.ml": 3})
    name = f"onnx-frame-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment("serve-onnx-e2e")
    with mlflow.start_run():
        signature = infer_signature(x_train, model.predict_proba(x_train))
        mlflow.onnx.log_model(onx, "model", signature=signature, registered_model_name=name)

    expected = model.predict_proba(x_test)[:, 1]
    labels = [int(v) for v in model.predict(x_test)]
    assert "antarctica" in set(x_test["region"])
    records = frame_records(x_test)
    columns = list(x_test.columns)

    def check(what, got):
        got = np.asarray(got, dtype=np.float64)
        assert got.shape == expected.shape, what
        diff = np.max(np.abs(got - expected))
        assert diff <= 1e-5, f"{what}: max diff {diff:.3e}"

    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri,
        "--prediction-log", str(tmp_path / "predictions"),
    ) as base:
        post = lambda path, body: requests.post(base + path, json=body, timeout=60)  # noqa: E731

        # /invocations: dataframe_split (in a shuffled column order) and dataframe_records
        order = columns[::-1]
        split = {"columns": order, "data": [[r[c] for c in order] for r in records]}
        proba = {"predict_method": "predict_proba"}
        r = post("/invocations", {"dataframe_split": split, "params": proba})
        assert r.status_code == 200, r.text
        check("dataframe_split", [p[1] for p in r.json()["predictions"]])
        r = post("/invocations", {"dataframe_split": split})
        assert r.status_code == 200, r.text
        assert [int(v) for v in r.json()["predictions"]] == labels
        r = post("/invocations", {"dataframe_records": records, "params": proba})
        assert r.status_code == 200, r.text
        check("dataframe_records", [p[1] for p in r.json()["predictions"]])

        # the guide's /predict (every row) and /predict/batch
        got = []
        for i, rec in enumerate(records):
            r = post("/predict", {"customer_id": f"C{i}", "features": rec})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["prediction"] == labels[i], i
            got.append(body["probability"])
        check("/predict", got)
        r = post("/predict/batch", {"instances": [{"customer_id": f"C{i}", "features": rec}
                                                  for i, rec in enumerate(records)]})
        assert r.status_code == 200, r.text
        check("/predict/batch", [p["probability"] for p in r.json()["predictions"]])

        # Open Inference Protocol v2: one tensor per column, BYTES for the strings
        meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
        datatypes = {i["name"]: i["datatype"] for i in meta["inputs"]}
        assert {c: datatypes[c] for c in strings} == {c: "BYTES" for c in strings}
        n = len(records)
        inputs = [
            {"name": c, "shape": [n, 1], "datatype": datatypes[c], "data": [r[c] for r in records]}
            for c in columns
        ]
        r = post(f"/v2/models/{name}/infer", {"inputs": inputs})
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        assert outputs["predict"]["data"] == labels
        check("v2 infer", np.asarray(outputs["predict_proba"]["data"]).reshape(n, 2)[:, 1])

        # A number where a category is expected, and a missing feature: 422 naming each field.
        bad = dict(records[0], plan=3)
        del bad["tenure_days"]
        r = post("/predict", {"customer_id": "C0", "features": bad})
        assert r.status_code == 422, r.text
        detail = {".".join(d["loc"][1:]): d["msg"] for d in r.json()["detail"]}
        assert set(detail) == {"features.plan", "features.tenure_days"}, detail
        assert "expected a string" in detail["features.plan"], detail
