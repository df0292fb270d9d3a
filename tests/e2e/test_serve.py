"""`slipway serve` with the payloads Python users send: the guide's /predict body through
`requests`, MLflow's own serving-input shapes (`convert_input_example_to_serving_input`) on
/invocations and the Open Inference Protocol. (Models logged with `mlflow.sklearn`:
test_serve_sklearn.py.)

Needs $SLIPWAY_BIN (the binary under test) and the server under test ($SLIPWAY_TEST_URI).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import mlflow
import pandas as pd
import pytest
import requests

from helpers import cli_env, slipway_serve

pytestmark = pytest.mark.slipway_specific

FEATURES = {
    "tenure_days": 557,
    "plan": "basic",
    "region": "north_america",
    "contract": "two-year",
    "monthly_charges": 27.63,
    "total_spend_30d": 43.79,
    "txn_count_30d": 2,
    "logins_7d": 4,
    "logins_30d": 21,
    "days_since_last_login": 0,
    "tickets_90d": 0,
    "max_ticket_severity_90d": 0,
}



@pytest.fixture(scope="module")
def served(slipway_bin, tracking_uri, tmp_path_factory):
    """Train a churn model with `slipway train`, then `slipway serve` its version."""
    tmp = tmp_path_factory.mktemp("serve")
    subprocess.run(
        [slipway_bin, "datagen", "churn", "--customers", "1500", "--days", "60", "--quiet", "--out", str(tmp)],
        check=True,
    )
    name = f"churn-serve-{uuid.uuid4().hex[:8]}"
    config = tmp / "train.yaml"
    config.write_text(
        f"experiment: serve-e2e\ndata: {{path: {tmp / 'training.parquet'}}}\nlabel: churn\n"
        "drop: [customer_id]\nmodel: {type: gbm_classifier, params: {n_estimators: 20}}\n"
        f"register: {name}\n"
    )
    done = subprocess.run(
        [slipway_bin, "train", "--quiet", "--tracking-uri", tracking_uri, "--config", str(config)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", tracking_uri,
        "--prediction-log", str(tmp / "predictions"),
    ) as base:
        yield base, name, tmp / "predictions"


def test_guide_predict_request(served):
    base, name, _ = served
    r = requests.post(base + "/predict", json={"customer_id": "C1", "features": FEATURES}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"customer_id", "prediction", "probability", "model_version", "latency_ms"}
    assert body["customer_id"] == "C1"
    assert body["prediction"] in (0, 1)
    assert 0.0 <= body["probability"] <= 1.0
    assert body["model_version"] == "1"
    health = requests.get(base + "/health", timeout=10).json()
    assert {k: health[k] for k in ("status", "model_loaded", "model_name", "model_version", "ready")} == {
        "status": "healthy",
        "model_loaded": True,
        "model_name": name,
        "model_version": "1",
        "ready": True,
    }
    assert health["models"] == [
        {"role": "champion", "name": name, "version": "1", "flavor": "slipway", "ready": True}
    ]
    log = health["prediction_log"]
    assert log["on_full"] == "drop" and log["dropped"] == 0
    # The answered row reaches disk within the flush interval (1 s).
    deadline = time.time() + 10
    while log["written"] < 1 and time.time() < deadline:
        time.sleep(0.2)
        log = requests.get(base + "/health", timeout=10).json()["prediction_log"]
    assert log["written"] >= 1, log


def test_bad_requests_are_4xx_naming_each_field(served):
    base, _, _ = served
    bad = dict(FEATURES, tenure_days="long", unknown_feature=1)
    del bad["plan"]
    r = requests.post(base + "/predict", json={"customer_id": "C1", "features": bad}, timeout=10)
    assert r.status_code == 422
    fields = {".".join(d["loc"][1:]) for d in r.json()["detail"]}
    assert fields == {"features.tenure_days", "features.unknown_feature", "features.plan"}
    r = requests.post(base + "/predict", data="{not json", timeout=10)
    assert r.status_code == 400


def test_mlflow_serving_input_shapes(served):
    base, _, _ = served
    df = pd.DataFrame([FEATURES, dict(FEATURES, plan="premium", tenure_days=12)])
    payloads = [
        {"dataframe_split": json.loads(df.to_json(orient="split", index=False))},
        {"dataframe_records": df.to_dict(orient="records")},
        {"instances": df.to_dict(orient="records")},
        {"inputs": df.to_dict(orient="list")},
    ]
    convert = getattr(mlflow.models, "convert_input_example_to_serving_input", None)
    if convert is not None:
        payloads.append(json.loads(convert(df)))
    for payload in payloads:
        r = requests.post(base + "/invocations", json=payload, timeout=10)
        assert r.status_code == 200, (payload, r.text)
        preds = r.json()["predictions"]
        assert len(preds) == 2 and all(p in (0, 1) for p in preds)
    r = requests.post(base + "/invocations", data=df.to_csv(index=False), headers={"Content-Type": "text/csv"}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(base + "/invocations", json={"data": [[1.0]]}, timeout=10)
    assert r.status_code == 400
    assert r.json()["error_code"] == "BAD_REQUEST"
    assert requests.get(base + "/ping", timeout=10).status_code == 200


def test_prediction_log_is_typed_columns_pandas_reads(served):
    base, name, log_dir = served
    tag = uuid.uuid4().hex[:8]
    rows = [
        {"customer_id": f"L{tag}-0", "features": FEATURES},
        # An unseen category scores as missing and is logged as sent.
        {"customer_id": f"L{tag}-1", "features": dict(FEATURES, plan="platinum", tenure_days=3)},
    ]
    r = requests.post(base + "/predict/batch", json={"instances": rows}, timeout=10)
    assert r.status_code == 200, r.text
    fast = [{"customer_id": f"L{tag}-{i}", "features": dict(FEATURES, logins_7d=i)} for i in range(2, 300)]
    r = requests.post(base + "/predict/batch", json={"instances": fast}, timeout=10)
    assert r.status_code == 200, r.text
    deadline = time.time() + 15
    while True:
        df = pd.read_parquet(log_dir) if any(log_dir.glob("*.parquet")) else pd.DataFrame()
        mine = df[df["customer_id"].str.startswith(f"L{tag}-", na=False)] if len(df) else df
        if len(mine) == 300 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert len(mine) == 300
    mine = mine.set_index("customer_id")
    first, second = mine.loc[f"L{tag}-0"], mine.loc[f"L{tag}-1"]
    assert first["plan"] == "basic" and second["plan"] == "platinum"
    assert second["tenure_days"] == 3
    assert str(df["tenure_days"].dtype) == "int64"
    assert str(df["monthly_charges"].dtype) == "float64"
    assert df["monthly_charges"].iloc[-1] == FEATURES["monthly_charges"]
    assert mine.loc[f"L{tag}-299", "logins_7d"] == 299
    assert set(mine["model_name"]) == {name} and set(mine["route"]) == {"predict_batch"}
    assert mine["probability"].between(0, 1).all()


def test_open_inference_protocol(served):
    base, name, _ = served
    meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
    columns = [i["name"] for i in meta["inputs"]]
    body = {
        "id": "req-1",
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": c, "shape": [1], "datatype": "BYTES" if isinstance(FEATURES[c], str) else "FP64", "data": [FEATURES[c]]}
            for c in columns
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    r = requests.post(f"{base}/v2/models/{name}/infer", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-1" and out["model_name"] == name
    assert [o["name"] for o in out["outputs"]] == ["predict", "predict_proba"]
    assert abs(sum(out["outputs"][1]["data"]) - 1.0) < 1e-9
    assert requests.get(base + "/v2/health/ready", timeout=10).status_code == 200
    r = requests.post(f"{base}/v2/models/{name}/infer", json={"inputs": []}, timeout=10)
    assert r.status_code == 400 and "error" in r.json()
