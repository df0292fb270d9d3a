"""Model registry as used by the guide (log_model(registered_model_name=...)) and its follow-up:
versions, search, stages, aliases, and load_model through models:/ URIs."""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from helpers import IS_MLFLOW3, assert_mlflow_error, log_sklearn


def _log(model, X, registered_model_name):
    return log_sklearn(model, X, registered_model_name=registered_model_name)


@pytest.fixture(scope="module")
def registry(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    name = f"churn-classifier-{uuid.uuid4().hex[:10]}"
    mlflow.set_experiment(f"registry-{uuid.uuid4().hex[:10]}")
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    runs, models = [], []
    for C in (0.1, 10.0):
        with mlflow.start_run(run_name=f"lr-{C}") as run:
            mlflow.log_param("C", C)
            m = LogisticRegression(C=C, max_iter=500).fit(X, y)
            mlflow.log_metric("auc_roc", float(m.score(X, y)))
            _log(m, X, name)
        runs.append(run.info.run_id)
        models.append(m)
    return {"name": name, "runs": runs, "models": models, "X": X, "c": MlflowClient(tracking_uri)}


def test_versions_created_ready(registry):
    c, name = registry["c"], registry["name"]
    rm = c.get_registered_model(name)
    assert rm.name == name
    for i, rid in enumerate(registry["runs"], start=1):
        mv = c.get_model_version(name, str(i))
        assert mv.version in (str(i), i)
        assert mv.run_id == rid
        assert mv.status == "READY"
        if IS_MLFLOW3:
            assert mv.source.startswith("models:/m-"), mv.source
        else:
            assert mv.source.endswith(f"{rid}/artifacts/model"), mv.source


def test_search_model_versions(registry):
    c, name = registry["c"], registry["name"]
    for i, rid in enumerate(registry["runs"], start=1):
        res = c.search_model_versions(f"name='{name}' and run_id='{rid}'")
        assert [(m.name, str(m.version)) for m in res] == [(name, str(i))]
    allv = c.search_model_versions(f"name='{name}'")
    assert sorted(str(m.version) for m in allv) == ["1", "2"]


def test_duplicate_registered_model(registry):
    with pytest.raises(MlflowException) as e:
        registry["c"].create_registered_model(registry["name"])
    assert_mlflow_error(e, "RESOURCE_ALREADY_EXISTS")


def test_missing_registered_model(registry):
    with pytest.raises(MlflowException) as e:
        registry["c"].get_registered_model(registry["name"] + "-nope")
    assert_mlflow_error(e, "RESOURCE_DOES_NOT_EXIST")


def test_load_by_version_stage_alias(registry):
    c, name, X = registry["c"], registry["name"], registry["X"]
    m1, m2 = registry["models"]
    c.transition_model_version_stage(name, "1", "Production")
    latest = c.get_latest_versions(name, stages=["Production"])
    assert [str(v.version) for v in latest] == ["1"]
    c.set_registered_model_alias(name, "champion", "2")
    assert str(c.get_model_version_by_alias(name, "champion").version) == "2"

    for uri, want in (
        (f"models:/{name}/1", m1),
        (f"models:/{name}/2", m2),
        (f"models:/{name}/Production", m1),
        (f"models:/{name}@champion", m2),
    ):
        loaded = mlflow.sklearn.load_model(uri)
        np.testing.assert_array_equal(loaded.predict(X), want.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), want.predict_proba(X))

    c.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as e:
        c.get_model_version_by_alias(name, "champion")
    # MLflow: 400 INVALID_PARAMETER_VALUE "Registered model alias champion not found."
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


def test_download_uri(registry):
    c, name = registry["c"], registry["name"]
    uri = c.get_model_version_download_uri(name, "2")
    assert uri.startswith("mlflow-artifacts:/"), uri
    if IS_MLFLOW3:
        assert "/models/m-" in uri and uri.endswith("/artifacts"), uri
    else:
        assert uri.endswith(f"{registry['runs'][1]}/artifacts/model"), uri
