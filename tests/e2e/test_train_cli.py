"""`slipway train` logs a run that the official mlflow client reads as it reads its own:
params, metrics, dataset inputs, plots, and a model directory in MLflow's layout (MLmodel with
a signature and an input example) registered as a model version.

Needs $SLIPWAY_BIN (the binary under test) and the server under test ($SLIPWAY_TEST_URI).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from helpers import cli_env


pytestmark = pytest.mark.slipway_specific



@pytest.fixture(scope="module")
def churn_data(slipway_bin, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("churn")
    subprocess.run(
        [slipway_bin, "datagen", "churn", "--customers", "2000", "--days", "60", "--quiet", "--out", str(out)],
        check=True,
    )
    return str(out / "training.parquet")


def train(slipway_bin, uri, config_path, *extra):
    env = cli_env()
    return subprocess.run(
        [slipway_bin, "train", "--json", "--tracking-uri", uri, "--config", str(config_path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_trained_run_and_model_read_back_with_mlflow(mlflow_uri, slipway_bin, churn_data, tmp_path):
    experiment = f"train-e2e-{uuid.uuid4().hex[:8]}"
    name = f"churn-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "train.yaml"
    config.write_text(
        f"experiment: {experiment}\n"
        f"data: {{path: {churn_data}}}\n"
        "label: churn\n"
        "drop: [customer_id]\n"
        "split: {test_size: 0.25, stratify: true, seed: 7}\n"
        "model: {type: gbm_classifier, params: {n_estimators: 40, max_depth: 3}}\n"
        f"register: {name}\n"
    )
    done = train(slipway_bin, mlflow_uri, config)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    run_id = result["run_id"]

    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["num_rounds"] == "40"
    assert run.data.params["train_size"] == "1500"
    assert run.data.params["test_size"] == "500"
    assert run.data.params["feature_count"] == "12"
    for key in ("accuracy", "precision", "recall", "f1", "auc_roc", "log_loss"):
        assert key in run.data.metrics
    assert run.data.metrics["auc_roc"] == pytest.approx(result["metrics"]["auc_roc"])
    assert run.inputs.dataset_inputs[0].dataset.name == "training"
    assert run.inputs.dataset_inputs[0].dataset.digest == run.data.params["data_digest"]

    found = mlflow.search_runs(
        experiment_names=[experiment], filter_string="metrics.auc_roc > 0.5 and params.max_depth = '3'"
    )
    assert list(found["run_id"]) == [run_id]

    plots = {f.path for f in client.list_artifacts(run_id, "plots")}
    assert {"plots/roc_curve.svg", "plots/precision_recall_curve.svg", "plots/confusion_matrix.svg"} <= plots

    # The registered model is a directory MLflow itself understands.
    info = mlflow.models.get_model_info(f"models:/{name}/1")
    assert "slipway" in info.flavors
    inputs = info.signature.inputs.input_names()
    assert "tenure_days" in inputs and "plan" in inputs and "churn" not in inputs and "customer_id" not in inputs
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/1")
    assert {"MLmodel", "model.slipway", "slipway_model.json", "input_example.json"} <= set(os.listdir(local))
    model = mlflow.models.Model.load(local)
    example = model.load_input_example(local)
    assert list(example.columns) == inputs
    version = client.get_model_version(name, "1")
    assert version.run_id == run_id


def test_bad_config_exits_2_and_logs_nothing(mlflow_uri, slipway_bin, churn_data, tmp_path):
    experiment = f"train-bad-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "bad.yaml"
    config.write_text(
        f"experiment: {experiment}\ndata: {{path: {churn_data}}}\nlabel: no_such_column\n"
        "model: {type: gbm_classifier}\n"
    )
    done = train(slipway_bin, mlflow_uri, config)
    assert done.returncode == 2
    assert "no_such_column" in done.stderr
    assert MlflowClient().get_experiment_by_name(experiment) is None
