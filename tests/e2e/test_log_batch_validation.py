"""log_batch at the limits, special float values, and validation errors (exact error codes)."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from helpers import assert_json_error, assert_mlflow_error

MISSING_RUN = "0" * 31 + "1"


@pytest.fixture
def run_id(client, experiment_id):
    return client.create_run(experiment_id).info.run_id


def test_log_batch_1000_metrics_100_params_tags(client, run_id):
    # exactly the per-request limits of one LogBatch: 1000 metrics, 100 params, 100 tags
    # (1000 metrics + 100 params would exceed MAX_ENTITIES_PER_BATCH=1000 in one request, so the
    # client splits it; the server must accept each request and keep everything)
    metrics = [
        Metric(f"m{k}", k * 1000.0 + s + 0.125, 1_600_000_000_000 + s, s)
        for k in range(10)
        for s in range(100)
    ]
    params = [Param(f"p{i:03d}", f"value-{i}" * (i % 7 + 1)) for i in range(100)]
    tags = [RunTag(f"t{i:03d}", f"tag-{i}") for i in range(100)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    run = client.get_run(run_id)
    assert run.data.params == {p.key: p.value for p in params}
    for t in tags:
        assert run.data.tags[t.key] == t.value
    assert run.data.metrics == {f"m{k}": k * 1000.0 + 99 + 0.125 for k in range(10)}
    for k in range(10):
        hist = client.get_metric_history(run_id, f"m{k}")
        got = sorted((m.step, m.timestamp, m.value) for m in hist)
        assert got == [(s, 1_600_000_000_000 + s, k * 1000.0 + s + 0.125) for s in range(100)]


def test_log_batch_raw_at_limits(raw, run_id):
    metrics = [
        {"key": f"k{i % 20}", "value": float(i), "timestamp": 1000 + i, "step": i}
        for i in range(1000)
    ]
    r = raw.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert r.status_code == 200, r.text
    r = raw.post(
        "/api/2.0/mlflow/runs/log-batch",
        json={
            "run_id": run_id,
            "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
            "tags": [{"key": f"t{i}", "value": str(i)} for i in range(100)],
        },
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "payload",
    [
        {"metrics": [{"key": "k", "value": 1.0, "timestamp": 1, "step": 0}] * 1001},
        {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
        {
            "metrics": [{"key": "k", "value": 1.0, "timestamp": i, "step": 0} for i in range(950)],
            "params": [{"key": f"p{i}", "value": "v"} for i in range(51)],
        },
    ],
    ids=["1001-metrics", "101-params", "101-tags", "1001-entities"],
)
def test_log_batch_raw_over_limits_rejected(raw, run_id, payload):
    r = raw.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, **payload})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")


def _log_special(client, run_id, values):
    for k, v in values.items():
        client.log_metric(run_id, k, v, timestamp=1000, step=0)
        client.log_metric(run_id, k, v, timestamp=2000, step=1)
    client.log_batch(run_id, metrics=[Metric("b_" + k, v, 1, 0) for k, v in values.items()])


def test_nan_metric(client, run_id):
    _log_special(client, run_id, {"nan": float("nan")})
    m = client.get_run(run_id).data.metrics
    assert math.isnan(m["nan"]) and math.isnan(m["b_nan"])
    hist = sorted(client.get_metric_history(run_id, "nan"), key=lambda x: x.step)
    assert [(h.step, h.timestamp) for h in hist] == [(0, 1000), (1, 2000)]
    assert all(math.isnan(h.value) for h in hist)
    # a NaN metric never matches a numeric comparison, and does not break search
    exp_id = client.get_run(run_id).info.experiment_id
    assert client.search_runs([exp_id], "metrics.nan > 0") == []
    client.search_runs([exp_id], order_by=["metrics.nan DESC"])


def test_infinite_metrics_searchable(client, run_id):
    _log_special(client, run_id, {"pinf": float("inf"), "ninf": float("-inf")})
    m = client.get_run(run_id).data.metrics
    # MLflow returns +/-1.7976931348623157e308 (it clamps infinities for SQL); Slipway +/-inf
    assert m["pinf"] >= 1.7976931348623157e308 and m["b_pinf"] >= 1.7976931348623157e308
    assert m["ninf"] <= -1.7976931348623157e308 and m["b_ninf"] <= -1.7976931348623157e308
    exp_id = client.get_run(run_id).info.experiment_id
    res = client.search_runs([exp_id], "metrics.pinf > 1e308 and metrics.ninf < -1e308")
    assert [r.info.run_id for r in res] == [run_id]


@pytest.mark.slipway_specific
def test_infinite_metrics_returned_as_infinity(client, run_id):
    """Slipway stores +Inf/-Inf as such. NOTE: MLflow 3.17 (SQL store) clamps them to
    +/-1.7976931348623157e308, so this test fails against `mlflow server`."""
    values = {"pinf": float("inf"), "ninf": float("-inf")}
    _log_special(client, run_id, values)
    m = client.get_run(run_id).data.metrics
    for prefix in ("", "b_"):
        assert math.isinf(m[prefix + "pinf"]) and m[prefix + "pinf"] > 0
        assert math.isinf(m[prefix + "ninf"]) and m[prefix + "ninf"] < 0
    for k, v in values.items():
        hist = sorted(client.get_metric_history(run_id, k), key=lambda x: x.step)
        assert [(h.step, h.timestamp, h.value) for h in hist] == [(0, 1000, v), (1, 2000, v)]


def test_duplicate_param(client, run_id):
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # same value again: fine
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "lr", "0.2")
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
    # same through log_batch
    client.log_batch(run_id, params=[Param("lr", "0.1")])
    with pytest.raises(MlflowException) as e:
        client.log_batch(run_id, params=[Param("lr", "0.3")])
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_duplicate_param_keys_in_one_batch(client, run_id):
    with pytest.raises(MlflowException) as e:
        client.log_batch(run_id, params=[Param("a", "1"), Param("a", "2")])
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


def test_values_at_the_length_limits_roundtrip(client, run_id):
    key = "k" * 250
    pval = "p" * 6000
    tval = "t" * 8000
    client.log_param(run_id, key, pval)
    client.set_tag(run_id, key, tval)
    client.log_metric(run_id, key, 1.0)
    run = client.get_run(run_id)
    assert run.data.params[key] == pval
    assert run.data.tags[key] == tval
    assert run.data.metrics[key] == 1.0


@pytest.mark.parametrize(
    "what",
    ["param-key", "metric-key", "tag-key", "batch-param-key"],
)
def test_overlong_keys_rejected(client, run_id, what):
    long_key = "k" * 251
    with pytest.raises(MlflowException) as e:
        if what == "param-key":
            client.log_param(run_id, long_key, "v")
        elif what == "metric-key":
            client.log_metric(run_id, long_key, 1.0)
        elif what == "tag-key":
            client.set_tag(run_id, long_key, "v")
        else:
            client.log_batch(run_id, params=[Param(long_key, "v")])
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


@pytest.mark.slipway_specific
@pytest.mark.parametrize("what", ["param-value", "tag-value", "batch-param-value"])
def test_overlong_values_rejected(client, run_id, what):
    """Slipway rejects over-long values. NOTE: MLflow 3.17's server *truncates* param values
    to 6000 and tag values to 8000 chars by default (MLFLOW_TRUNCATE_LONG_VALUES=true) and
    answers 200, so this test fails against `mlflow server`."""
    with pytest.raises(MlflowException) as e:
        if what == "param-value":
            client.log_param(run_id, "p", "v" * 6001)
        elif what == "tag-value":
            client.set_tag(run_id, "t", "v" * 8001)
        else:
            client.log_batch(run_id, params=[Param("p2", "v" * 6001)])
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("key", ["../evil", "/abs", "a/../../b", "bad\x00nul", "semi;colon", "."])
def test_bad_key_names_rejected(client, run_id, key):
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, key, "v")
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, key, 1.0)
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "call",
    [
        "get_run",
        "log_metric",
        "log_param",
        "set_tag",
        "log_batch",
        "set_terminated",
        "delete_run",
        "restore_run",
        "update_run",
    ],
)
def test_unknown_run_id(client, call):
    with pytest.raises(MlflowException) as e:
        if call == "get_run":
            client.get_run(MISSING_RUN)
        elif call == "log_metric":
            client.log_metric(MISSING_RUN, "m", 1.0)
        elif call == "log_param":
            client.log_param(MISSING_RUN, "p", "v")
        elif call == "set_tag":
            client.set_tag(MISSING_RUN, "t", "v")
        elif call == "log_batch":
            client.log_batch(MISSING_RUN, metrics=[Metric("m", 1.0, 1, 0)])
        elif call == "set_terminated":
            client.set_terminated(MISSING_RUN)
        elif call == "delete_run":
            client.delete_run(MISSING_RUN)
        elif call == "restore_run":
            client.restore_run(MISSING_RUN)
        else:
            client.update_run(MISSING_RUN, name="x")
    assert_mlflow_error(e, "RESOURCE_DOES_NOT_EXIST")


def test_metric_history_of_unknown_run(client):
    """MLflow answers an empty history for an unknown run; RESOURCE_DOES_NOT_EXIST is also OK."""
    try:
        assert client.get_metric_history(MISSING_RUN, "m") == []
    except MlflowException as e:
        assert e.error_code == "RESOURCE_DOES_NOT_EXIST", e


def test_writes_to_deleted_run_refused(client, run_id):
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, "m", 1.0)
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "p", "1")
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
