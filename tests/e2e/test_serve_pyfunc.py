"""A custom `mlflow.pyfunc.PythonModel` (string inputs in; a DataFrame with a label and a
probability out), logged with a signature and registered by the official client, is served by
`slipway serve` through Python worker processes (the test venv's interpreter, SLIPWAY_PYTHON) and
answers as the Python model does: /invocations exactly as `mlflow models serve` answers (MLflow's
own scoring function is the reference) for dataframe_split, dataframe_records and CSV bodies, and
/predict, /predict/batch and the v2 protocol row by row. Bad input is a 4xx naming the field;
requests arriving together are batched (the batch-size histogram on /metrics); a worker killed
while scoring fails its request with a clear 500 and the next requests are answered after its
restart; a promotion (alias moved) is served by a new set of workers and the old ones stop.

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import cloudpickle
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server

from helpers import IS_MLFLOW3, slipway_serve

pytestmark = pytest.mark.slipway_specific

# The models below are pickled with their code, so the workers need no test module to import them.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class ChurnRules(mlflow.pyfunc.PythonModel):
    """A hand-written churn rule: strings and numbers in, a label and a probability out. The
    plan "slow" makes it take 30 s (to be killed meanwhile); "explode" makes it raise."""

    def __init__(self, labels=("churn", "stay"), delay=0.02):
        self.labels = labels
        self.delay = delay

    def predict(self, context, model_input, params=None):
        import time as _time

        plans = model_input["plan"]
        if (plans == "slow").any():
            _time.sleep(30)
        if (plans == "explode").any():
            raise ValueError("plan 'explode' is not a plan")
        # Every call takes a moment, as real models do: requests arriving meanwhile queue.
        _time.sleep(self.delay)
        score = (
            0.45 * (model_input["tenure"] < 12)
            + 0.25 * (plans == "basic")
            + 0.1 * model_input["region"].str.startswith("us")
            + model_input["charges"] / 1000.0
        )
        probability = score.clip(0.0, 1.0).round(6)
        label = np.where(probability >= 0.5, self.labels[0], self.labels[1])
        return pd.DataFrame({"label": label, "probability": probability})


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "premium", "student plan ü"], n).astype(object),
            "region": rng.choice(["us-east", "eu-west", "apac", "us-west"], n).astype(object),
            "tenure": rng.integers(0, 72, n).astype("int64"),
            "charges": np.round(rng.uniform(10, 120, n), 2),
        }
    )


def log_model(model, name: str, train: pd.DataFrame):
    kw = {
        "python_model": model,
        "signature": infer_signature(train, model.predict(None, train)),
        "input_example": train.head(3),
        "registered_model_name": name,
        # No requirement inference (a subprocess per model): the workers use the test venv.
        "pip_requirements": ["mlflow", "pandas", "numpy"],
    }
    with mlflow.start_run():
        if IS_MLFLOW3:
            mlflow.pyfunc.log_model(name="model", **kw)
        else:
            mlflow.pyfunc.log_model(artifact_path="model", **kw)


@contextlib.contextmanager
def serve(slipway_bin: str, tmp_path, *args: str, startup_timeout: float = 180):
    """`slipway serve ARGS` with the test venv's interpreter for the workers; yields the base URL
    and the path of its stderr log."""
    log_path = tmp_path / f"serve-{uuid.uuid4().hex[:8]}.log"
    env = {
        "SLIPWAY_PYTHON": sys.executable,
        "SLIPWAY_ENV_MANAGER": "local",
        "SLIPWAY_HOME": str(tmp_path / "home"),
    }
    with slipway_serve(slipway_bin, *args, startup_timeout=startup_timeout, env=env,
                       log_path=log_path) as base:
        yield base, log_path


def records(df: pd.DataFrame) -> list[dict]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample on /metrics (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.rindex("}") + 1]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def served(tracking_uri, slipway_bin, tmp_path_factory):
    """The model logged, registered and served with 2 workers."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("serve-pyfunc-e2e")
    name = f"pyfunc-{uuid.uuid4().hex[:8]}"
    log_model(ChurnRules(), name, frame(200, seed=1))
    tmp = tmp_path_factory.mktemp("pyfunc")
    reference = mlflow.pyfunc.load_model(f"models:/{name}/1")
    with serve(
        slipway_bin,
        tmp,
        "--model",
        f"models:/{name}/1",
        "--tracking-uri",
        tracking_uri,
        "--workers",
        "2",
        "--prediction-log",
        str(tmp / "predictions"),
    ) as (base, log):
        yield {"base": base, "name": name, "reference": reference, "log": log, "tmp": tmp}


def mlflow_answer(reference, body: str, content_type: str = "application/json"):
    """What `mlflow models serve` answers for this body: MLflow's own scoring function."""
    r = scoring_server.invocations(
        body, content_type, reference, reference.metadata.get_input_schema()
    )
    assert r.status == 200, r.response
    return json.loads(r.response)


def test_start_up_says_the_model_takes_the_python_worker_path(served):
    text = served["log"].read_text()
    assert "serving through 2 Python worker process(es)" in text, text
    assert "this one has flavors [python_function]" in text, text
    assert sys.executable in text and "(SLIPWAY_PYTHON)" in text, text
    health = requests.get(served["base"] + "/health", timeout=10).json()
    assert health["ready"] and health["models"][0]["flavor"] == "python_function", health
    workers = health["models"][0]["python_workers"]
    assert workers["workers"] == 2 and len(workers["pids"]) == 2, health


def test_invocations_answer_as_mlflow_models_serve(served):
    base, reference = served["base"], served["reference"]
    test = frame(150, seed=2)
    split = {"dataframe_split": json.loads(test.to_json(orient="split", index=False))}
    # A shuffled column order is taken by name.
    shuffled = test[["charges", "tenure", "region", "plan"]]
    split_shuffled = {"dataframe_split": json.loads(shuffled.to_json(orient="split", index=False))}
    recs = {"dataframe_records": records(test)}
    for body in (split, split_shuffled, recs):
        text = json.dumps(body)
        r = requests.post(
            base + "/invocations",
            data=text,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert r.json() == mlflow_answer(reference, text), list(body)
        assert r.headers["x-model-version"] == "1"
    csv = test.to_csv(index=False)
    r = requests.post(
        base + "/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert r.json() == mlflow_answer(reference, csv, "text/csv")
    # The same rows as the Python model gives them.
    expected = reference.predict(test)
    assert [p["label"] for p in r.json()["predictions"]] == list(expected["label"])
    assert [p["probability"] for p in r.json()["predictions"]] == list(expected["probability"])


def test_predict_batch_and_v2_row_by_row(served):
    base, reference, name = served["base"], served["reference"], served["name"]
    test = frame(60, seed=3)
    expected = reference.predict(test)
    labels, probs = list(expected["label"]), list(expected["probability"])
    rows = records(test)
    for i, row in enumerate(rows[:20]):
        r = requests.post(
            base + "/predict", json={"customer_id": f"C{i}", "features": row}, timeout=60
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["customer_id"], body["prediction"], body["probability"]) == (
            f"C{i}",
            labels[i],
            probs[i],
        )
        assert body["model_version"] == "1"
    r = requests.post(
        base + "/predict/batch",
        json={
            "instances": [{"customer_id": f"C{i}", "features": row} for i, row in enumerate(rows)]
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["prediction"] for p in got] == labels
    assert [p["probability"] for p in got] == probs
    assert [p["customer_id"] for p in got] == [f"C{i}" for i in range(len(rows))]

    meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
    datatypes = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert datatypes == {"plan": "BYTES", "region": "BYTES", "tenure": "INT64", "charges": "FP64"}
    n = len(rows)
    inputs = [
        {"name": c, "shape": [n], "datatype": datatypes[c], "data": [row[c] for row in rows]}
        for c in test.columns
    ]
    r = requests.post(
        f"{base}/v2/models/{name}/infer", json={"id": "q1", "inputs": inputs}, timeout=60
    )
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["id"] == "q1"
    assert outputs["predict"]["datatype"] == "BYTES" and outputs["predict"]["data"] == labels
    assert outputs["probability"]["data"] == probs


def test_bad_input_is_a_4xx_naming_the_field(served):
    base = served["base"]
    row = records(frame(1, seed=4))[0]
    bad = dict(row, tenure="long ago")
    del bad["region"]
    r = requests.post(base + "/predict", json={"features": bad}, timeout=30)
    assert r.status_code == 422, r.text
    detail = {".".join(d["loc"][1:]): d["msg"] for d in r.json()["detail"]}
    assert set(detail) == {"features.tenure", "features.region"}, detail
    r = requests.post(
        base + "/invocations", json={"dataframe_records": [dict(row, plan=7)]}, timeout=30
    )
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "BAD_REQUEST" and "plan" in r.json()["message"], r.text
    # The model raising on a request: that request's 4xx, with the exception.
    r = requests.post(base + "/predict", json={"features": dict(row, plan="explode")}, timeout=30)
    assert r.status_code == 422, r.text
    assert "ValueError" in r.json()["error"] and "explode" in r.json()["error"], r.text
    r = requests.post(
        base + "/invocations", json={"dataframe_records": [dict(row, plan="explode")]}, timeout=30
    )
    assert r.status_code == 400 and "ValueError" in r.json()["message"], r.text


def test_concurrent_requests_are_batched(served):
    base, reference = served["base"], served["reference"]
    test = frame(256, seed=5)
    expected = reference.predict(test)
    before = requests.get(base + "/metrics", timeout=10).text
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def one(i):
        r = session.post(
            base + "/predict", json={"features": records(test.iloc[[i]])[0]}, timeout=60
        )
        return i, r.status_code, r.json()

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(len(test))))
    for i, status, body in results:
        assert status == 200, body
        assert (body["prediction"], body["probability"]) == (
            expected["label"][i],
            expected["probability"][i],
        )
    after = requests.get(base + "/metrics", timeout=10).text
    labels = {"role": "champion", "version": "1"}
    requests_ = metric(after, "slipway_python_batch_requests_total", **labels) - metric(
        before, "slipway_python_batch_requests_total", **labels
    )
    batches = metric(after, "slipway_python_batch_rows_count", **labels) - metric(
        before, "slipway_python_batch_rows_count", **labels
    )
    single = metric(after, "slipway_python_batch_rows_bucket", le="1", **labels) - metric(
        before, "slipway_python_batch_rows_bucket", le="1", **labels
    )
    assert requests_ == len(test), after
    assert batches < requests_ / 2, f"{requests_} requests in {batches} batches"
    assert single < batches, f"every batch had one row: {after}"


def test_prediction_log_has_the_strings_as_sent(served):
    base = served["base"]
    row = dict(records(frame(1, seed=6))[0], plan="a plan nobody trained on")
    r = requests.post(base + "/predict", json={"customer_id": "LOG1", "features": row}, timeout=30)
    assert r.status_code == 200, r.text
    log_dir = served["tmp"] / "predictions"
    deadline = time.time() + 10
    while True:
        frames = [pd.read_parquet(p) for p in sorted(log_dir.glob("*.parquet"))]
        df = pd.concat(frames) if frames else pd.DataFrame()
        hit = df[df["customer_id"] == "LOG1"] if len(df) else df
        if len(hit) or time.time() > deadline:
            break
        time.sleep(0.3)
    assert len(hit) == 1, df.tail()
    got = hit.iloc[0]
    assert got["plan"] == "a plan nobody trained on" and got["region"] == row["region"]
    assert got["tenure"] == row["tenure"] and got["charges"] == row["charges"]
    assert json.loads(got["prediction"]) == r.json()["prediction"]


def test_a_killed_worker_fails_its_request_cleanly_and_is_restarted(
    mlflow_uri, slipway_bin, tmp_path
):
    name = f"pyfunc-kill-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment("serve-pyfunc-e2e")
    log_model(ChurnRules(delay=0.0), name, frame(50, seed=7))
    row = records(frame(1, seed=8))[0]
    with serve(
        slipway_bin,
        tmp_path,
        "--model",
        f"models:/{name}/1",
        "--tracking-uri",
        mlflow_uri,
        "--workers",
        "1",
        "--no-prediction-log",
    ) as (base, _):
        [pid] = requests.get(base + "/health", timeout=10).json()["models"][0]["python_workers"][
            "pids"
        ]
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(
                requests.post,
                base + "/predict",
                json={"features": dict(row, plan="slow")},
                timeout=60,
            )
            time.sleep(1.5)  # the worker is inside predict
            started = time.time()
            os.kill(pid, signal.SIGKILL)
            r = slow.result()
        assert time.time() - started < 10, "the in-flight request waited for the model's 30 s"
        assert r.status_code == 500, r.text
        message = r.json()["error"]
        assert (
            f"pid {pid}" in message and "killed by signal 9" in message and "restarted" in message
        ), message
        # The next requests are answered, by a new process.
        r = requests.post(base + "/predict", json={"features": row}, timeout=120)
        assert r.status_code == 200, r.text
        health = requests.get(base + "/health", timeout=10).json()["models"][0]["python_workers"]
        assert health["restarts"] == 1 and health["pids"] != [pid], health
        assert not alive(pid)
        metrics = requests.get(base + "/metrics", timeout=10).text
        assert metric(metrics, "slipway_python_worker_restarts_total", role="champion") == 1


def test_hot_reload_on_promotion_starts_new_workers_and_stops_the_old(
    mlflow_uri, slipway_bin, tmp_path
):
    client = mlflow.MlflowClient(mlflow_uri)
    name = f"pyfunc-reload-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment("serve-pyfunc-e2e")
    train = frame(50, seed=9)
    log_model(ChurnRules(), name, train)
    client.set_registered_model_alias(name, "champion", "1")
    row = records(frame(1, seed=10))[0]
    with serve(
        slipway_bin,
        tmp_path,
        "--model",
        f"models:/{name}@champion",
        "--tracking-uri",
        mlflow_uri,
        "--workers",
        "1",
        "--poll-interval",
        "0.5",
        "--no-prediction-log",
    ) as (base, _):
        r = requests.post(base + "/predict", json={"features": row}, timeout=60).json()
        assert r["model_version"] == "1" and r["prediction"] in ("churn", "stay"), r
        [old_pid] = requests.get(base + "/health", timeout=10).json()["models"][0][
            "python_workers"
        ]["pids"]

        log_model(ChurnRules(labels=("leaves", "remains")), name, train)
        client.set_registered_model_alias(name, "champion", "2")
        deadline = time.time() + 120
        while True:
            r = requests.post(base + "/predict", json={"features": row}, timeout=60)
            assert r.status_code == 200, r.text
            if r.json()["model_version"] == "2" or time.time() > deadline:
                break
            time.sleep(0.3)
        assert r.json()["model_version"] == "2" and r.json()["prediction"] in (
            "leaves",
            "remains",
        ), r.text
        [new_pid] = requests.get(base + "/health", timeout=10).json()["models"][0][
            "python_workers"
        ]["pids"]
        assert new_pid != old_pid
        # The replaced model's worker stops once no request uses it.
        deadline = time.time() + 30
        while alive(old_pid) and time.time() < deadline:
            time.sleep(0.2)
        assert not alive(old_pid), "the old model's worker still runs"
