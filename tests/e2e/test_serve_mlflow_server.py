"""`slipway serve` against a plain `mlflow server` (the one in this test's own venv: 3.x or 2.x),
which has none of Slipway's extensions: URIs resolve through MLflow's standard REST API
(registry, runs, logged models, `get-download-uri`), files are read through its
`mlflow-artifacts` proxy, and promotions are followed by polling.

ONNX models (skl2onnx-converted scikit-learn, logged with `mlflow.onnx.log_model` by the
official client) are registered on the MLflow server, given a stage and an alias, and served
by every URI form the server supports: models:/NAME/Production, models:/NAME@alias,
models:/NAME/VERSION, models:/NAME/latest, runs:/RUN_ID/model, and with MLflow 3 the logged
model models:/m-ID. Predictions must equal scikit-learn's. A new version promoted to
Production (and the alias moved to it) is then served without a restart.

Needs $SLIPWAY_BIN; starts and stops its own `mlflow server`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import mlflow
import numpy as np
import pytest
import requests
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from skl2onnx import to_onnx

from helpers import IS_MLFLOW3, cli_env, slipway_serve
from test_serve_onnx import MODELS, breast_cancer  # noqa: F401  (a fixture, used by name)

STARTUP_TIMEOUT = float(os.environ.get("SLIPWAY_MLFLOW_STARTUP_TIMEOUT", "180"))
# How long a promotion may take to be served with --poll-interval 1.
RELOAD_TIMEOUT = 30
EXPERIMENT = "serve-mlflow-server-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` (sqlite store, proxied artifacts) for this module; its URL."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(tmp / "server.log", "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    # MLflow 3's background job runner (GenAI jobs, a dozen processes) has nothing to do with
    # the registry; without it the server starts and stops in seconds. 2.x ignores the variable.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
         "--artifacts-destination", str(tmp / "artifacts")],
        cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share our new process group: stopped together
    )
    uri = f"http://127.0.0.1:{port}"

    def server_log() -> str:
        log.seek(0)
        return log.read()[-5000:]

    try:
        deadline = time.time() + STARTUP_TIMEOUT
        while True:
            try:
                if requests.get(uri + "/health", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or its workers are still starting
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited ({proc.returncode}) during startup:\n"
                            f"{server_log()}")
            if time.time() > deadline:
                pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT}s:\n{server_log()}")
            time.sleep(0.3)
        # It really is MLflow's server: Slipway's extensions are absent.
        r = requests.get(uri + "/api/2.0/slipway/registry/resolve", params={"uri": "models:/x/1"},
                         timeout=10)
        assert r.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" not in r.text, r.text
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


@pytest.fixture
def on_mlflow(mlflow_server):
    """The fluent API and a client pointed at the MLflow server; restored afterwards."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        yield MlflowClient(tracking_uri=mlflow_server)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


def log_onnx(client: MlflowClient, kind: str, x_train, y_train, name: str):
    """Fits MODELS[kind], logs it as ONNX registered under `name`; (model, run id, model info).

    The run's experiment is passed explicitly, not set with mlflow.set_experiment, so the
    fluent API's active experiment (an id on the Slipway server other tests use) stays."""
    model = MODELS[kind]().fit(x_train, y_train)
    onx = to_onnx(model, x_train.to_numpy(dtype=np.float32)[:1],
                  target_opset={"": 17, "ai.onnx.ml": 3})
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(EXPERIMENT))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.onnx.log_model(
            onx, "model", signature=infer_signature(x_train, model.predict_proba(x_train)),
            registered_model_name=name,
        )
    return model, run.info.run_id, info


def predictions(base: str, x_test):
    """(labels, probabilities) for every test row through /invocations."""
    split = {"columns": list(x_test.columns), "data": x_test.to_numpy().tolist()}
    labels = requests.post(base + "/invocations", json={"dataframe_split": split}, timeout=60)
    assert labels.status_code == 200, labels.text
    proba = requests.post(
        base + "/invocations",
        json={"dataframe_split": split, "params": {"predict_method": "predict_proba"}},
        timeout=60,
    )
    assert proba.status_code == 200, proba.text
    return ([int(v) for v in labels.json()["predictions"]],
            np.asarray(proba.json()["predictions"], dtype=np.float64))


def assert_serves(base: str, model, x_test):
    labels, proba = predictions(base, x_test)
    expected = model.predict_proba(x_test)
    assert proba.shape == expected.shape
    diff = np.max(np.abs(proba - expected))
    assert diff <= 1e-5, f"max diff {diff:.3e}"
    assert labels == [int(v) for v in model.predict(x_test)]


def served_version(base: str, x_test) -> str:
    """The model version /predict answers with."""
    features = {c: float(v) for c, v in x_test.iloc[0].items()}
    body = {"customer_id": "C1", "features": features}
    r = requests.post(base + "/predict", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


@pytest.fixture(scope="module")
def registered(mlflow_server, breast_cancer):  # noqa: F811
    """Version 1 of a registered ONNX model on the MLflow server, in Production and @champion."""
    x_train, _, y_train, _ = breast_cancer
    name = f"mlflow-srv-{uuid.uuid4().hex[:8]}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        client = MlflowClient(tracking_uri=mlflow_server)
        model, run_id, info = log_onnx(client, "logreg", x_train, y_train, name)
        client.transition_model_version_stage(name, "1", "Production")
        client.set_registered_model_alias(name, "champion", "1")
    finally:
        mlflow.set_tracking_uri(previous)
    return {"name": name, "model": model, "run_id": run_id,
            "model_id": getattr(info, "model_id", None)}


def uri_forms() -> list[str]:
    forms = ["stage", "alias", "version", "latest", "run"]
    return forms + (["logged-model"] if IS_MLFLOW3 else [])


@pytest.mark.parametrize("form", uri_forms())
def test_every_uri_form_serves_from_a_plain_mlflow_server(
    mlflow_server, slipway_bin, registered, breast_cancer, form  # noqa: F811
):
    _, x_test, _, _ = breast_cancer
    name = registered["name"]
    uri = {
        "stage": f"models:/{name}/Production",
        "alias": f"models:/{name}@champion",
        "version": f"models:/{name}/1",
        "latest": f"models:/{name}/latest",
        "run": f"runs:/{registered['run_id']}/model",
        "logged-model": f"models:/{registered['model_id']}",
    }[form]
    with slipway_serve(slipway_bin, "--model", uri, "--tracking-uri", mlflow_server,
                       "--no-prediction-log") as base:
        assert_serves(base, registered["model"], x_test)
        if form in ("stage", "alias", "version", "latest"):
            assert served_version(base, x_test) == "1"


def test_a_promotion_on_the_mlflow_server_is_served_by_polling(
    on_mlflow, mlflow_server, slipway_bin, breast_cancer  # noqa: F811
):
    x_train, x_test, y_train, _ = breast_cancer
    client = on_mlflow
    name = f"mlflow-srv-reload-{uuid.uuid4().hex[:8]}"
    v1, _, _ = log_onnx(client, "logreg", x_train, y_train, name)
    client.transition_model_version_stage(name, "1", "Production")
    client.set_registered_model_alias(name, "champion", "1")
    common = ("--tracking-uri", mlflow_server, "--poll-interval", "1", "--no-prediction-log")
    with slipway_serve(slipway_bin, "--model", f"models:/{name}/Production", *common) as prod, \
            slipway_serve(slipway_bin, "--model", f"models:/{name}@champion", *common) as champ:
        for base in (prod, champ):
            assert_serves(base, v1, x_test)
        # Several polls with nothing moved: still version 1, same answers (no reload loop).
        time.sleep(3)
        for base in (prod, champ):
            assert served_version(base, x_test) == "1"
            assert_serves(base, v1, x_test)

        v2, _, _ = log_onnx(client, "gbc", x_train, y_train, name)
        client.transition_model_version_stage(name, "2", "Production",
                                              archive_existing_versions=True)
        client.set_registered_model_alias(name, "champion", "2")
        for base in (prod, champ):
            deadline = time.time() + RELOAD_TIMEOUT
            while served_version(base, x_test) != "2":
                assert time.time() < deadline, f"{base} still serves version 1"
                time.sleep(0.25)
            assert_serves(base, v2, x_test)


def test_uris_naming_nothing_on_the_mlflow_server_are_clear_errors(
    mlflow_server, slipway_bin, registered  # noqa: F811
):
    name = registered["name"]
    cases = {
        f"models:/{name}/Staging": f"No versions of model '{name}' are in stage 'Staging'",
        f"models:/{name}@nope": "alias nope not found",
        f"models:/{name}/7": "not found",
        "models:/no-such-model/Production": "not found",
    }
    for uri, why in cases.items():
        done = subprocess.run(
            [slipway_bin, "serve", "--model", uri, "--tracking-uri", mlflow_server, "--port", "0",
             "--no-prediction-log"],
            env=cli_env(), capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 1, (uri, done.stderr)
        assert f"{uri} resolves to no model version" in done.stderr, (uri, done.stderr)
        assert why in done.stderr, (uri, done.stderr)
