"""Raw HTTP error contract: 4xx with a JSON {"error_code", "message"} body, never a 5xx.

The official client turns these bodies into MlflowException(error_code=...), and its control
flow depends on the codes (e.g. RESOURCE_DOES_NOT_EXIST from get-by-name makes set_experiment
create the experiment).
"""

from __future__ import annotations

import json

import pytest

from helpers import assert_json_error

API = "/api/2.0/mlflow"
BAD_REQUEST_CODES = ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST", "BAD_REQUEST")


@pytest.fixture
def run_id(raw, unique):
    r = raw.post(f"{API}/experiments/create", json={"name": unique("http")})
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    r = raw.post(f"{API}/runs/create", json={"experiment_id": exp_id, "start_time": 1})
    assert r.status_code == 200, r.text
    return r.json()["run"]["info"]["run_id"]


def post_raw(raw, path, data: bytes | str):
    return raw.post(path, data=data, headers={"Content-Type": "application/json"})


def test_success_shapes(raw, run_id):
    """Shapes the client relies on: numbers stay numbers, step 0 is present, ids are strings."""
    r = raw.post(
        f"{API}/runs/log-metric",
        json={"run_id": run_id, "key": "m", "value": 0.5, "timestamp": 123, "step": 0},
    )
    assert r.status_code == 200 and r.json() == {}, r.text
    r = raw.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"})
    assert r.status_code == 200, r.text
    assert r.json()["metrics"] == [{"key": "m", "value": 0.5, "timestamp": 123, "step": 0}]
    r = raw.get(f"{API}/runs/get", params={"run_id": run_id})
    info = r.json()["run"]["info"]
    assert info["run_id"] == run_id and info["run_uuid"] == run_id
    assert isinstance(info["experiment_id"], str)
    assert info["start_time"] == 1
    assert info["status"] == "RUNNING" and info["lifecycle_stage"] == "active"
    assert info["artifact_uri"].endswith(f"/{run_id}/artifacts")
    # deprecated run_uuid alone is accepted too (the client sends both)
    r = raw.get(f"{API}/runs/get", params={"run_uuid": run_id})
    assert r.status_code == 200 and r.json()["run"]["info"]["run_id"] == run_id


def test_missing_experiment_by_name_is_404(raw, unique):
    r = raw.get(f"{API}/experiments/get-by-name", params={"experiment_name": unique("nope")})
    assert_json_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_run_is_404(raw):
    r = raw.get(f"{API}/runs/get", params={"run_id": "f" * 32})
    assert_json_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_duplicate_experiment_is_400_already_exists(raw, unique):
    name = unique("dup")
    assert raw.post(f"{API}/experiments/create", json={"name": name}).status_code == 200
    r = raw.post(f"{API}/experiments/create", json={"name": name})
    assert_json_error(r, 400, "RESOURCE_ALREADY_EXISTS")


SS = pytest.mark.slipway_specific
MALFORMED_BODIES = ['{"name": ', "not json at all", '{"a": 1,}', "[1, 2", "\xff\xfe garbage"]
# MLflow 3.17 answers 200 to a malformed body on log-batch and runs/search (it parses the body
# as empty); Slipway answers 400. Those combinations are marked slipway_specific.
MALFORMED_CASES = [
    pytest.param(path, body, marks=[SS] if path in ("/runs/log-batch", "/runs/search") else [])
    for path in [
        "/experiments/create",
        "/runs/create",
        "/runs/log-metric",
        "/runs/log-parameter",
        "/runs/log-batch",
        "/runs/search",
        "/runs/update",
        "/experiments/search",
    ]
    for body in MALFORMED_BODIES
]


@pytest.mark.parametrize("path, body", MALFORMED_CASES)
def test_malformed_json_is_400(raw, path, body):
    r = post_raw(raw, API + path, body.encode("utf-8", "surrogateescape"))
    b = assert_json_error(r, 400)
    assert b["error_code"] in BAD_REQUEST_CODES, b


def _metric(run_id, **over):
    m = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1000, "step": 0}
    m.update(over)
    return {k: v for k, v in m.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    "over, field",
    [
        ({"step": "abc"}, "step"),
        pytest.param({"step": 1.5}, "step", marks=SS),  # MLflow: 200 (accepts, truncates)
        pytest.param({"step": [1]}, "step", marks=SS),  # MLflow: 500
        ({"timestamp": "yesterday"}, "timestamp"),
        pytest.param({"timestamp": {"a": 1}}, "timestamp", marks=SS),  # MLflow: 500
        ({"value": "abc"}, "value"),
        pytest.param({"value": [1.0]}, "value", marks=SS),  # MLflow: 200
        pytest.param({"value": True}, "value", marks=SS),  # MLflow: 200 (stores 1.0)
        ({"key": 5}, "key"),
        ({"key": _DROP}, "key"),
        ({"value": _DROP}, "value"),
        ({"timestamp": _DROP}, "timestamp"),
    ],
)
def test_log_metric_field_errors_name_the_field(raw, run_id, over, field):
    r = raw.post(f"{API}/runs/log-metric", json=_metric(run_id, **over))
    b = assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert f"'{field}'" in b["message"] or field in b["message"], b


def test_log_metric_missing_run_id(raw):
    r = raw.post(f"{API}/runs/log-metric", json={"key": "m", "value": 1.0, "timestamp": 1})
    b = assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "run_id" in b["message"], b


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/experiments/create", {}, "name"),
        ("/experiments/create", {"name": 5}, "name"),
        ("/experiments/create", {"name": ["x"]}, "name"),
        ("/experiments/create", {"name": "x", "tags": "notalist"}, "tags"),
        ("/runs/create", {"experiment_id": 5.5}, "experiment_id"),
        ("/runs/create", {"experiment_id": "0", "start_time": "noon"}, "start_time"),
        ("/runs/log-parameter", {"key": "k", "value": "v"}, "run_id"),
        ("/runs/search", {"experiment_ids": "0"}, "experiment_ids"),
        ("/runs/search", {"experiment_ids": ["0"], "max_results": "ten"}, "max_results"),
        ("/runs/search", {"experiment_ids": ["0"], "filter": 7}, "filter"),
        ("/runs/log-batch", {"metrics": []}, "run_id"),
        ("/experiments/delete", {}, "experiment_id"),
        ("/experiments/update", {"experiment_id": "0"}, "new_name"),
        ("/experiments/set-experiment-tag", {"experiment_id": "0", "value": "v"}, "key"),
        ("/runs/delete", {}, "run_id"),
    ],
)
def test_bad_fields_name_the_field(raw, path, body, field):
    r = raw.post(API + path, json=body)
    b = assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert field in b["message"], b


@pytest.mark.parametrize(
    "over, field",
    [
        ({"metrics": "nope"}, "metrics"),
        ({"params": {"k": "v"}}, "params"),
        # MLflow: 500 for the next two
        pytest.param(
            {"metrics": [{"key": "m", "value": "x", "timestamp": 1, "step": 0}]}, "value", marks=SS
        ),
        pytest.param(
            {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": "x"}]}, "step", marks=SS
        ),
        ({"tags": [{"value": "v"}]}, "key"),
    ],
)
def test_log_batch_bad_fields(raw, run_id, over, field):
    r = raw.post(f"{API}/runs/log-batch", json={"run_id": run_id, **over})
    b = assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert field in b["message"], b


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/runs/get", {}, "run_id"),
        ("/experiments/get", {}, "experiment_id"),
        ("/experiments/get-by-name", {}, "experiment_name"),
        ("/metrics/get-history", {"run_id": "a" * 32}, "metric_key"),
    ],
)
def test_get_missing_query_params(raw, path, params, field):
    r = raw.get(API + path, params=params)
    b = assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert field in b["message"], b


@pytest.mark.slipway_specific
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/2.0/mlflow/nope"),
        ("POST", "/api/2.0/mlflow/runs/nope"),
        ("GET", "/api/2.0/mlflow/experiments/get/extra"),
        ("GET", "/api/9.9/mlflow/runs/get"),
    ],
)
def test_unknown_endpoint_is_json_404(raw, method, path):
    """MLflow answers an HTML 404 page here; Slipway answers JSON."""
    r = raw.request(method, path, json={} if method == "POST" else None)
    b = assert_json_error(r, 404)
    assert b["error_code"] in ("ENDPOINT_NOT_FOUND", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"), b


def test_unknown_endpoint_is_404(raw):
    r = raw.get("/api/2.0/mlflow/definitely-not-an-endpoint")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "method, path",
    [("DELETE", "/api/2.0/mlflow/runs/create"), ("PUT", "/api/2.0/mlflow/experiments/get")],
)
def test_wrong_method_is_4xx(raw, method, path):
    """MLflow: 405 with an HTML body."""
    r = raw.request(method, path)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])


# Bodies that try to trip a parser or a store: each must end in a 2xx or a JSON 4xx.
# Entries marked SS make MLflow 3.17 answer 500 (Slipway must not).
FUZZ = [
    ("/runs/log-metric", {"value": 1e308, "step": 2**63 - 1}),
    ("/runs/log-metric", {"step": 2**63}),
    ("/runs/log-metric", {"step": -(2**63) - 1}),
    ("/runs/log-metric", {"timestamp": -1}),
    ("/runs/log-metric", {"timestamp": 2**64}),
    ("/runs/log-metric", {"value": 1e400}),
    ("/runs/log-metric", {"value": None}),
    ("/runs/log-metric", {"key": ""}),
    ("/runs/log-metric", {"key": "k" * 100_000}),
    ("/runs/log-metric", {"key": "ключ ✓"}),
    ("/runs/log-metric", {"run_id": "../../etc/passwd"}),
    ("/runs/log-metric", {"run_id": "' OR 1=1 --"}),
    ("/runs/log-metric", {"extra_unknown_field": {"deep": [1, 2, {"x": None}]}}),
    pytest.param("/runs/log-batch", {"metrics": [None]}, marks=SS),
    pytest.param("/runs/log-batch", {"metrics": [[]]}, marks=SS),
    ("/runs/log-batch", {"params": [{"key": "k", "value": None}]}),
    ("/runs/log-batch", {"tags": [{"key": None, "value": "v"}]}),
    ("/runs/search", {"experiment_ids": [None]}),
    pytest.param("/runs/search", {"experiment_ids": ["999999999999999999999999"]}, marks=SS),
    ("/runs/search", {"experiment_ids": ["0"], "filter": "metrics.m > 1 and (((("}),
    ("/runs/search", {"experiment_ids": ["0"], "filter": "params.p = 'x'; DROP TABLE runs"}),
    ("/runs/search", {"experiment_ids": ["0"], "order_by": ["metrics.`m DESC"]}),
    ("/runs/search", {"experiment_ids": ["0"], "max_results": -1}),
    ("/runs/search", {"experiment_ids": ["0"], "max_results": 10**12}),
    ("/runs/search", {"experiment_ids": ["0"], "page_token": "not-a-token"}),
    ("/runs/search", {"experiment_ids": ["0"], "page_token": "eyJvZmZzZXQiOiAtNX0="}),
    ("/experiments/search", {"max_results": 0}),
    ("/experiments/search", {"filter": "name LIKE"}),
    ("/experiments/create", {"name": "x" * 100_000}),
    ("/experiments/create", {"name": "\x00nul"}),
    ("/runs/create", {"experiment_id": "abc"}),
    ("/runs/update", {"status": "NOT_A_STATUS"}),
]


@pytest.mark.parametrize("path, over", FUZZ)
def test_never_5xx(raw, run_id, path, over):
    if path == "/runs/log-metric":
        body = _metric(run_id)
        body.update(over)
    elif path in ("/runs/log-batch", "/runs/update"):
        body = {"run_id": run_id, **over}
    else:
        body = dict(over)
    r = raw.post(API + path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    if r.status_code >= 300:
        assert_json_error(r, None)


@pytest.mark.parametrize(
    "params",
    [
        {"experiment_id": "-1"},
        {"experiment_id": "abc"},
        pytest.param({"experiment_id": "9" * 30}, marks=SS),  # MLflow: 500 int too large
    ],
)
def test_get_experiment_bad_ids_never_5xx(raw, params):
    r = raw.get(f"{API}/experiments/get", params=params)
    assert_json_error(r, (400, 404))


@pytest.mark.slipway_specific
def test_deep_nesting_never_5xx(raw, run_id):
    """MLflow answers 500 (RecursionError) here."""
    deep = "[" * 100_000 + "]" * 100_000
    r = post_raw(
        raw, f"{API}/runs/log-batch", '{"run_id": "' + run_id + '", "metrics": ' + deep + "}"
    )
    assert 400 <= r.status_code < 500, r.status_code


def test_huge_body_never_5xx(raw, run_id):
    big = json.dumps({"run_id": run_id, "tags": [{"key": "t", "value": "v" * (8 * 1024 * 1024)}]})
    r = post_raw(raw, f"{API}/runs/log-batch", big)
    assert r.status_code < 500, r.status_code
