"""The user's notebook: the MLOps guide's Step 1 ("Experiment Tracking with MLflow").

One module-scoped fixture runs the guide's ``train_model`` flow once (plus the extra logging
calls users make next to it: a 200-step training curve, tags, log_dict, log_text, log_input),
then each test reads one aspect back and compares it exactly with what was written.
"""

from __future__ import annotations

import json
import math
import os
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from helpers import IS_MLFLOW3

N_STEPS = 200
SKOPS_TRUSTED = ["sklearn.tree._tree.Tree"]


def make_churn_frame(n: int = 600, seed: int = 7) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, random_state=seed, weights=[0.7, 0.3]
    )
    df = pd.DataFrame(
        X,
        columns=[
            "total_purchases_30d",
            "login_frequency_7d",
            "support_tickets_90d",
            "tenure_months",
            "avg_order_value",
            "discount_rate",
        ],
    )
    df["plan_tier"] = (np.arange(n) % 3).astype("int64")
    df["customer_id"] = [f"c{i:05d}" for i in range(n)]
    df["churn"] = y.astype("int64")
    return df


def curve_value(step: int) -> float:
    # Awkward doubles on purpose: they must survive the JSON/SQL round trip bit-exactly.
    return 1.0 / (step + 3) + math.sin(step) * 1e-3 + step * 0.1


def sklearn_log_model(model, artifact_path, **kw):
    if IS_MLFLOW3:
        kw.setdefault("skops_trusted_types", SKOPS_TRUSTED)
        return mlflow.sklearn.log_model(model, name=artifact_path, **kw)
    return mlflow.sklearn.log_model(model, artifact_path, **kw)


def sklearn_load_model(uri):
    return mlflow.sklearn.load_model(uri)


@pytest.fixture(scope="module")
def guide(tracking_uri, tmp_path_factory):
    mlflow.set_tracking_uri(tracking_uri)
    tmp = tmp_path_factory.mktemp("guide")
    cwd = os.getcwd()
    os.chdir(tmp)  # the guide writes feature_importance.csv to the cwd
    try:
        df = make_churn_frame()
        data_path = str(tmp / "churn.parquet")
        df.to_parquet(data_path)

        experiment_name = f"customer-churn-prediction-{uuid.uuid4().hex[:12]}"
        hyperparams = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.1, "random_state": 42}
        experiment = mlflow.set_experiment(experiment_name)

        with mlflow.start_run(run_name=f"gbm-{hyperparams.get('n_estimators', 100)}") as run:
            run_id = run.info.run_id
            mlflow.log_params(hyperparams)
            mlflow.log_param("data_path", data_path)

            df2 = pd.read_parquet(data_path)
            X = df2.drop(columns=["churn", "customer_id"])
            y = df2["churn"]
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=0.2, random_state=42, stratify=y
            )
            mlflow.log_param("train_size", len(X_train))
            mlflow.log_param("test_size", len(X_test))
            mlflow.log_param("feature_count", X_train.shape[1])
            mlflow.log_param("positive_rate", float(y.mean()))

            model = GradientBoostingClassifier(**hyperparams)
            model.fit(X_train, y_train)

            y_pred = model.predict(X_test)
            y_proba = model.predict_proba(X_test)[:, 1]
            metrics = {
                "accuracy": accuracy_score(y_test, y_pred),
                "precision": precision_score(y_test, y_pred),
                "recall": recall_score(y_test, y_pred),
                "f1": f1_score(y_test, y_pred),
                "auc_roc": roc_auc_score(y_test, y_proba),
            }
            mlflow.log_metrics(metrics)

            base_ts = 1_700_000_000_000
            curve = [(s, curve_value(s), base_ts + 37 * s) for s in range(N_STEPS)]
            for step, value, ts in curve:
                mlflow.log_metric("train_loss", value, step=step, timestamp=ts)

            tags = {"team": "growth", "stage": "baseline", "unicode": "données ✓ 数据"}
            mlflow.set_tags(tags)

            importance_df = pd.DataFrame(
                {"feature": X_train.columns, "importance": model.feature_importances_}
            ).sort_values("importance", ascending=False)
            importance_df.to_csv("feature_importance.csv", index=False)
            mlflow.log_artifact("feature_importance.csv")
            with open("feature_importance.csv", "rb") as f:
                csv_bytes = f.read()

            config = {
                "hyperparams": hyperparams,
                "features": list(X_train.columns),
                "threshold": 0.5,
                "nested": {"list": [1, 2.5, None, True], "s": "é"},
            }
            mlflow.log_dict(config, "config.json")
            notes = "Baseline GBM.\nSecond line with unicode: naïve café ✓\n"
            mlflow.log_text(notes, "notes/readme.txt")

            dataset = mlflow.data.from_pandas(df2, source=data_path, name="churn", targets="churn")
            mlflow.log_input(dataset, context="training")

            signature = infer_signature(X_test, y_pred)
            model_info = sklearn_log_model(model, "model", signature=signature)

        return {
            "experiment_name": experiment_name,
            "experiment_id": experiment.experiment_id,
            "run_id": run_id,
            "run_name": f"gbm-{hyperparams['n_estimators']}",
            "params": {
                **{k: str(v) for k, v in hyperparams.items()},
                "data_path": data_path,
                "train_size": str(len(X_train)),
                "test_size": str(len(X_test)),
                "feature_count": str(X_train.shape[1]),
                "positive_rate": str(float(y.mean())),
            },
            "metrics": metrics,
            "curve": curve,
            "tags": tags,
            "csv_bytes": csv_bytes,
            "config": config,
            "notes": notes,
            "dataset": dataset,
            "signature": signature,
            "model": model,
            "model_info": model_info,
            "X_test": X_test,
            "tmp": tmp,
        }
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def guide_run(guide, tracking_uri):
    return MlflowClient(tracking_uri).get_run(guide["run_id"])


def test_experiment_created_and_found_by_name(guide, tracking_uri):
    c = MlflowClient(tracking_uri)
    exp = c.get_experiment_by_name(guide["experiment_name"])
    assert exp is not None
    assert exp.experiment_id == guide["experiment_id"]
    assert exp.name == guide["experiment_name"]
    assert exp.lifecycle_stage == "active"
    assert c.get_experiment(guide["experiment_id"]).name == guide["experiment_name"]


def test_run_info(guide, guide_run):
    info = guide_run.info
    assert info.run_id == guide["run_id"]
    assert info.experiment_id == guide["experiment_id"]
    assert info.run_name == guide["run_name"]
    assert info.status == "FINISHED"
    assert info.lifecycle_stage == "active"
    assert isinstance(info.start_time, int) and info.start_time > 0
    assert isinstance(info.end_time, int) and info.end_time >= info.start_time
    assert info.artifact_uri
    assert guide_run.data.tags["mlflow.runName"] == guide["run_name"]


def test_params_exact(guide, guide_run):
    assert guide_run.data.params == guide["params"]


def test_metrics_latest_values_exact(guide, guide_run):
    expected = dict(guide["metrics"])
    last_step, last_value, _ = guide["curve"][-1]
    expected["train_loss"] = last_value
    assert guide_run.data.metrics == expected


def test_metric_history_every_step(guide, tracking_uri):
    hist = MlflowClient(tracking_uri).get_metric_history(guide["run_id"], "train_loss")
    got = sorted((m.step, m.value, m.timestamp) for m in hist)
    assert len(got) == N_STEPS
    assert got == guide["curve"]
    for m in hist:
        assert m.key == "train_loss"
        assert isinstance(m.step, int) and isinstance(m.timestamp, int)


def test_single_metric_history(guide, tracking_uri):
    c = MlflowClient(tracking_uri)
    for key, value in guide["metrics"].items():
        hist = c.get_metric_history(guide["run_id"], key)
        assert [(m.key, m.value, m.step) for m in hist] == [(key, value, 0)]


def test_tags(guide, guide_run):
    for k, v in guide["tags"].items():
        assert guide_run.data.tags.get(k) == v, k


def test_run_artifact_listing(guide, guide_run, tracking_uri):
    c = MlflowClient(tracking_uri)
    top = {(f.path, f.is_dir) for f in c.list_artifacts(guide["run_id"])}
    expected = {
        ("feature_importance.csv", False),
        ("config.json", False),
        ("notes", True),
    }
    if not IS_MLFLOW3:
        # 2.x stores the model under the run's artifacts; 3.x under models/{model_id}.
        expected.add(("model", True))
    assert top == expected
    sizes = {f.path: f.file_size for f in c.list_artifacts(guide["run_id"])}
    assert sizes["feature_importance.csv"] == len(guide["csv_bytes"])
    notes = c.list_artifacts(guide["run_id"], "notes")
    assert [(f.path, f.is_dir, f.file_size) for f in notes] == [
        ("notes/readme.txt", False, len(guide["notes"].encode("utf-8")))
    ]


def test_log_artifact_csv_bytes(guide, tmp_path):
    local = mlflow.artifacts.download_artifacts(
        run_id=guide["run_id"], artifact_path="feature_importance.csv", dst_path=str(tmp_path)
    )
    with open(local, "rb") as f:
        assert f.read() == guide["csv_bytes"]


def test_log_dict_roundtrip(guide):
    assert mlflow.artifacts.load_dict(f"runs:/{guide['run_id']}/config.json") == guide["config"]


def test_log_text_roundtrip(guide):
    assert mlflow.artifacts.load_text(f"runs:/{guide['run_id']}/notes/readme.txt") == guide["notes"]


def test_log_input_dataset(guide, guide_run):
    ds = guide["dataset"]
    inputs = guide_run.inputs.dataset_inputs
    assert len(inputs) == 1
    got = inputs[0]
    assert got.dataset.name == "churn"
    assert got.dataset.digest == ds.digest
    assert got.dataset.source_type == ds.source._get_source_type()
    assert json.loads(got.dataset.source) == json.loads(ds.source.to_json())
    assert json.loads(got.dataset.schema) == json.loads(ds._to_mlflow_entity().schema)
    assert json.loads(got.dataset.profile) == json.loads(ds._to_mlflow_entity().profile)
    tags = {t.key: t.value for t in got.tags}
    assert tags.get("mlflow.data.context") == "training"


def test_model_loads_and_predicts_identically(guide):
    loaded = sklearn_load_model(f"runs:/{guide['run_id']}/model")
    X_test = guide["X_test"]
    np.testing.assert_array_equal(loaded.predict(X_test), guide["model"].predict(X_test))
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), guide["model"].predict_proba(X_test)
    )


def test_model_mlmodel_file_and_signature(guide, tmp_path):
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{guide['run_id']}/model", dst_path=str(tmp_path)
    )
    files = set(os.listdir(local))
    assert "MLmodel" in files
    assert {"conda.yaml", "python_env.yaml", "requirements.txt"} <= files
    assert ("model.skops" in files) if IS_MLFLOW3 else ("model.pkl" in files), files
    m = Model.load(os.path.join(local, "MLmodel"))
    assert m.signature == guide["signature"]
    assert m.signature.to_dict() == guide["signature"].to_dict()
    assert "sklearn" in m.flavors and "python_function" in m.flavors
    if not IS_MLFLOW3:
        assert m.run_id == guide["run_id"]
    info = mlflow.models.get_model_info(f"runs:/{guide['run_id']}/model")
    assert info.signature == guide["signature"]


def test_model_storage_location(guide, guide_run, tracking_uri):
    """3.x: a LoggedModel under models/{model_id}; 2.x: under the run's artifacts/model."""
    if not IS_MLFLOW3:
        c = MlflowClient(tracking_uri)
        files = {f.path for f in c.list_artifacts(guide["run_id"], "model")}
        assert {"model/MLmodel", "model/model.pkl", "model/requirements.txt"} <= files, files
        assert guide["model_info"].model_uri == f"runs:/{guide['run_id']}/model"
        return
    info = guide["model_info"]
    model_id = info.model_id
    assert model_id and model_id.startswith("m-")
    assert info.model_uri == f"models:/{model_id}"
    lm = mlflow.get_logged_model(model_id)
    assert lm.model_id == model_id
    assert lm.name == "model"
    assert lm.source_run_id == guide["run_id"]
    assert lm.experiment_id == guide["experiment_id"]
    assert str(lm.status) in ("READY", "LoggedModelStatus.READY")
    assert lm.artifact_location.rstrip("/").endswith(f"models/{model_id}/artifacts")
    outputs = guide_run.outputs.model_outputs if guide_run.outputs else []
    assert model_id in [o.model_id for o in outputs]
    # loading through the logged-model URI gives the same predictions
    loaded = mlflow.sklearn.load_model(f"models:/{model_id}")
    np.testing.assert_array_equal(
        loaded.predict(guide["X_test"]), guide["model"].predict(guide["X_test"])
    )
