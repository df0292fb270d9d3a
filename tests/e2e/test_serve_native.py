"""XGBoost and LightGBM models logged with the official client's `mlflow.xgboost.log_model` /
`mlflow.lightgbm.log_model` (their native files, with a signature, registered) are served by
`slipway serve` natively, and every held-out row must predict exactly as Python does (bit for
bit): the guide's /predict and /predict/batch (class and probability), /invocations
(dataframe_split and dataframe_records: what `mlflow.pyfunc.load_model(...).predict` returns,
as `mlflow models serve` answers) and the Open Inference Protocol v2. Every `model_format`
`mlflow.xgboost` writes (ubj, json, xgb) is logged and served.

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import math
import uuid

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from mlflow.models import infer_signature

from helpers import slipway_serve

pytestmark = pytest.mark.slipway_specific

N_TRAIN, N_VALID, N_TEST = 1500, 300, 200


@pytest.fixture(scope="module")
def churn():
    """A seeded churn-like table of numbers (ints and floats, some missing) and three targets."""
    rng = np.random.default_rng(11)
    n = N_TRAIN + N_VALID + N_TEST
    tenure = rng.integers(0, 73, n)
    monthly = np.round(rng.uniform(18.0, 120.0, n), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, n), 2)
    total[rng.random(n) < 0.05] = np.nan
    tickets = rng.poisson(1.2, n)
    contract = rng.choice(3, n, p=[0.55, 0.25, 0.2])
    days = np.round(rng.exponential(9.0, n), 1)
    days[rng.random(n) < 0.08] = np.nan
    x = pd.DataFrame(
        {
            "tenure_months": tenure.astype("int64"),
            "monthly_charges": monthly,
            "total_charges": total,
            "support_tickets": tickets.astype("int64"),
            "contract": contract.astype("int64"),
            "days_since_login": days,
        }
    )
    logit = (
        -0.04 * tenure
        + 0.02 * monthly
        + 0.45 * tickets
        - 1.1 * contract
        + 0.05 * np.nan_to_num(days, nan=30.0)
        - 0.6
    )
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    tier = np.digitize(logit + rng.normal(0, 0.7, n), [-1.0, 0.8]).astype("int64")
    parts = lambda a: (a[:N_TRAIN], a[N_TRAIN : N_TRAIN + N_VALID], a[N_TRAIN + N_VALID :])  # noqa: E731
    return parts(x), parts(churn), parts(tier)


def cell(v):
    """A DataFrame value as JSON: NaN as null, numpy scalars as Python numbers."""
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v


def records(frame: pd.DataFrame) -> list[dict]:
    return [
        {c: cell(v) for c, v in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False)
    ]


def register(log, model, x_train, prediction, **kw) -> str:
    name = f"native-{uuid.uuid4().hex[:10]}"
    mlflow.set_experiment("serve-native-e2e")
    with mlflow.start_run():
        log(
            model,
            "model",
            signature=infer_signature(x_train, prediction),
            registered_model_name=name,
            **kw,
        )
    return name


def exactly(what, got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    diff = np.max(np.abs(got - want)) if got.size else 0.0
    assert np.array_equal(got, want), f"{what}: not bit-identical, max abs diff {diff:.3e}"


def check_every_protocol(base, name, x_test, labels, probability, pyfunc_out):
    """/predict, /predict/batch, /invocations (split, records) and v2 against Python."""
    post = lambda path, body: requests.post(base + path, json=body, timeout=60)  # noqa: E731
    rows = records(x_test)
    columns = list(x_test.columns)

    got_labels, got_p = [], []
    for i, rec in enumerate(rows):
        r = post("/predict", {"customer_id": f"C{i}", "features": rec})
        assert r.status_code == 200, r.text
        got_labels.append(r.json()["prediction"])
        got_p.append(r.json()["probability"])
    assert got_labels == labels, "/predict labels"
    exactly("/predict probability", got_p, probability)

    r = post(
        "/predict/batch",
        {"instances": [{"customer_id": f"C{i}", "features": rec} for i, rec in enumerate(rows)]},
    )
    assert r.status_code == 200, r.text
    assert [p["prediction"] for p in r.json()["predictions"]] == labels
    exactly(
        "/predict/batch probability",
        [p["probability"] for p in r.json()["predictions"]],
        probability,
    )

    # /invocations answers what MLflow's pyfunc returns, in a shuffled column order too.
    order = columns[::-1]
    split = {"columns": order, "data": [[rec[c] for c in order] for rec in rows]}
    for what, body in [
        ("dataframe_split", {"dataframe_split": split}),
        ("dataframe_records", {"dataframe_records": rows}),
    ]:
        r = post("/invocations", body)
        assert r.status_code == 200, r.text
        exactly(f"/invocations {what}", r.json()["predictions"], pyfunc_out)

    n = len(rows)
    matrix = [[rec[c] for c in columns] for rec in rows]
    r = post(
        f"/v2/models/{name}/infer",
        {"inputs": [{"name": "x", "shape": [n, len(columns)], "datatype": "FP64", "data": matrix}]},
    )
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert outputs["predict"]["data"] == labels
    k = outputs["predict_proba"]["shape"][1]
    exactly(
        "v2 predict_proba",
        np.asarray(outputs["predict_proba"]["data"]).reshape(n, k)[:, 1],
        probability,
    )


def test_xgboost_classifier_serves_as_python(mlflow_uri, slipway_bin, churn):
    (x_train, x_valid, x_test), (y_train, y_valid, _), _ = churn
    # Early stopping: predict uses the best iteration, and so must Slipway.
    model = xgb.XGBClassifier(
        n_estimators=200,
        max_depth=4,
        learning_rate=0.3,
        early_stopping_rounds=5,
        random_state=0,
        n_jobs=1,
    )
    model.fit(x_train, y_train, eval_set=[(x_valid, y_valid)], verbose=False)
    assert model.best_iteration < 199
    name = register(mlflow.xgboost.log_model, model, x_train, model.predict(x_train))
    uri = f"models:/{name}/1"
    pyfunc_out = mlflow.pyfunc.load_model(uri).predict(x_test)
    labels = [int(v) for v in model.predict(x_test)]
    probability = model.predict_proba(x_test)[:, 1]
    # an XGBClassifier's pyfunc predicts labels
    assert [int(v) for v in pyfunc_out] == labels
    with slipway_serve(slipway_bin, "--model", uri, "--tracking-uri", mlflow_uri) as base:
        check_every_protocol(base, name, x_test, labels, probability, pyfunc_out)


def test_lightgbm_booster_serves_as_python(mlflow_uri, slipway_bin, churn):
    (x_train, _, x_test), (y_train, _, _), _ = churn
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 15,
            "learning_rate": 0.1,
            "seed": 0,
            "num_threads": 1,
            "deterministic": True,
            "verbose": -1,
        },
        lgb.Dataset(x_train, label=y_train),
        60,
    )
    name = register(mlflow.lightgbm.log_model, booster, x_train, booster.predict(x_train))
    uri = f"models:/{name}/1"
    pyfunc_out = mlflow.pyfunc.load_model(uri).predict(x_test)
    probability = booster.predict(x_test)
    # a Booster's pyfunc predicts P(class 1); Slipway's class is p > 0.5
    exactly("pyfunc", pyfunc_out, probability)
    labels = [int(p > 0.5) for p in probability]
    with slipway_serve(slipway_bin, "--model", uri, "--tracking-uri", mlflow_uri) as base:
        check_every_protocol(base, name, x_test, labels, probability, pyfunc_out)


FORMATS = ["ubj", "json", "xgb"]


@pytest.mark.parametrize(
    "kind", [f"xgboost-{f}" for f in FORMATS] + ["lightgbm-multiclass", "xgboost-regression"]
)
def test_every_native_format_serves_the_pyfunc_output(mlflow_uri, slipway_bin, churn, kind):
    (x_train, _, x_test), (y_train, _, _), (tier_train, _, _) = churn
    params = {"max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1}
    if kind.startswith("xgboost-") and kind != "xgboost-regression":
        fmt = kind.split("-")[1]
        model = xgb.train(
            {**params, "objective": "binary:logistic"}, xgb.DMatrix(x_train, label=y_train), 30
        )
        name = register(
            mlflow.xgboost.log_model,
            model,
            x_train,
            model.predict(xgb.DMatrix(x_train)),
            model_format=fmt,
        )
        info = mlflow.models.get_model_info(f"models:/{name}/1")
        assert info.flavors["xgboost"]["model_format"] == fmt
        assert info.flavors["xgboost"]["data"] == f"model.{fmt}"
    elif kind == "xgboost-regression":
        model = xgb.train(
            {**params, "objective": "reg:squarederror"},
            xgb.DMatrix(x_train, label=x_train["monthly_charges"] * 1.1),
            20,
        )
        name = register(
            mlflow.xgboost.log_model, model, x_train, model.predict(xgb.DMatrix(x_train))
        )
    else:
        model = lgb.train(
            {
                "objective": "multiclass",
                "num_class": 3,
                "num_leaves": 8,
                "seed": 0,
                "num_threads": 1,
                "deterministic": True,
                "verbose": -1,
            },
            lgb.Dataset(x_train, label=tier_train),
            20,
        )
        name = register(mlflow.lightgbm.log_model, model, x_train, model.predict(x_train))
    uri = f"models:/{name}/1"
    pyfunc_out = np.asarray(mlflow.pyfunc.load_model(uri).predict(x_test))
    rows = records(x_test)
    columns = list(x_test.columns)
    with slipway_serve(slipway_bin, "--model", uri, "--tracking-uri", mlflow_uri) as base:
        split = {"columns": columns, "data": [[rec[c] for c in columns] for rec in rows]}
        r = requests.post(base + "/invocations", json={"dataframe_split": split}, timeout=60)
        assert r.status_code == 200, r.text
        exactly(f"{kind} /invocations", r.json()["predictions"], pyfunc_out)
        meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
        assert meta["platform"] == kind.split("-")[0]
        if kind == "lightgbm-multiclass":
            # the class is the most probable one, with its probability
            r = requests.post(
                base + "/predict", json={"customer_id": "C0", "features": rows[0]}, timeout=10
            )
            assert r.status_code == 200, r.text
            assert r.json()["prediction"] == int(np.argmax(pyfunc_out[0]))
            assert r.json()["probability"] == float(np.max(pyfunc_out[0]))


def test_promotion_hot_reloads_on_the_native_path(mlflow_uri, slipway_bin, churn):
    """`@champion` moves from an XGBoost booster to a LightGBM one: the server swaps in the new
    version and answers as its library, without a restart."""
    import time

    from mlflow.tracking import MlflowClient

    (x_train, _, x_test), (y_train, _, _), _ = churn
    first = xgb.XGBClassifier(n_estimators=30, max_depth=3, random_state=0, n_jobs=1).fit(x_train, y_train)
    name = register(mlflow.xgboost.log_model, first, x_train, first.predict(x_train))
    second = lgb.train(
        {"objective": "binary", "num_leaves": 7, "seed": 0, "num_threads": 1, "deterministic": True,
         "verbose": -1},
        lgb.Dataset(x_train, label=y_train),
        20,
    )
    mlflow.set_experiment("serve-native-e2e")
    with mlflow.start_run():
        mlflow.lightgbm.log_model(second, "model", signature=infer_signature(x_train, second.predict(x_train)),
                                  registered_model_name=name)
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", "1")
    rows = x_test.head(20)
    with slipway_serve(slipway_bin, "--model", f"models:/{name}@champion", "--tracking-uri", mlflow_uri,
                       "--poll-interval", "1") as base:
        r = requests.post(base + "/invocations", json={"dataframe_records": records(rows)}, timeout=30)
        assert r.status_code == 200, r.text
        exactly("version 1", r.json()["predictions"], first.predict(rows))
        client.set_registered_model_alias(name, "champion", "2")
        deadline = time.time() + 30
        version = "1"
        while version != "2" and time.time() < deadline:
            time.sleep(0.3)
            version = requests.get(base + "/health", timeout=10).json()["model_version"]
        assert version == "2", "the server did not follow the alias"
        r = requests.post(base + "/invocations", json={"dataframe_records": records(rows)}, timeout=30)
        assert r.status_code == 200, r.text
        exactly("version 2", r.json()["predictions"], second.predict(rows))
