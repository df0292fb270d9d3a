"""MlflowClient.search_runs: filters, ordering, pagination, lifecycle views.

Six runs with known values are created in a fresh experiment; every query asserts the exact
list of returned run names, in order.
"""

from __future__ import annotations

import time
import uuid

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from helpers import assert_mlflow_error

T0 = 1_710_000_000_000  # fixed start times make attribute filters exact

# name, auc_roc (None = never logged), max_depth, model, tags, final status, start offset
SPEC = [
    ("r0", 0.95, "3", "gbm", {"team": "alpha", "env": "prod"}, "FINISHED", 0),
    ("r1", 0.85, "3", "gbm", {"team": "beta", "env": "prod"}, "FINISHED", 1000),
    ("r2", 0.75, "3", "rf", {"team": "alpha", "env": "dev"}, "FAILED", 2000),
    ("r3", 0.90, "5", "rf", {"team": "gamma", "env": "dev"}, "FINISHED", 3000),
    ("r4", 0.82, "3", "gbm", {"team": "Alpha-Two"}, "KILLED", 4000),
    ("r5", None, "7", "lr", {"team": "beta"}, "RUNNING", 5000),
]


@pytest.fixture(scope="module")
def runs(tracking_uri):
    c = MlflowClient(tracking_uri)
    exp_id = c.create_experiment(f"search-{uuid.uuid4().hex[:12]}")
    ids = {}
    for name, auc, depth, model, tags, status, off in SPEC:
        r = c.create_run(exp_id, start_time=T0 + off, tags=tags, run_name=name)
        rid = r.info.run_id
        ids[name] = rid
        metrics = [Metric("loss", 1.0 - (auc or 0.5), T0 + off, 0)]
        if auc is not None:
            metrics.append(Metric("auc_roc", auc, T0 + off, 0))
        c.log_batch(
            rid,
            metrics=metrics,
            params=[Param("max_depth", depth), Param("model", model)],
            tags=[RunTag("seed_batch", "b1")],
        )
        if status != "RUNNING":
            c.set_terminated(rid, status=status, end_time=T0 + off + 500)
    return {"c": c, "exp_id": exp_id, "ids": ids, "names": {v: k for k, v in ids.items()}}


def names(runs, result):
    return [runs["names"][r.info.run_id] for r in result]


def search(runs, filter_string="", order_by=None, **kw):
    res = runs["c"].search_runs(
        [runs["exp_id"]], filter_string=filter_string, order_by=order_by, **kw
    )
    return names(runs, res)


def test_guide_query_metric_and_param(runs):
    q = "metrics.auc_roc > 0.8 and params.max_depth = '3'"
    assert search(runs, q, ["metrics.auc_roc DESC"]) == ["r0", "r1", "r4"]
    assert search(runs, q, ["metrics.auc_roc ASC"]) == ["r4", "r1", "r0"]


def test_default_order_is_start_time_desc(runs):
    assert search(runs) == ["r5", "r4", "r3", "r2", "r1", "r0"]


@pytest.mark.parametrize(
    "filter_string, expected",
    [
        ("metrics.auc_roc >= 0.9", ["r0", "r3"]),
        ("metrics.auc_roc = 0.85", ["r1"]),
        ("metrics.auc_roc != 0.85", ["r0", "r2", "r3", "r4"]),
        ("metrics.auc_roc < 0.8", ["r2"]),
        ("metrics.auc_roc <= 0.82 and metrics.loss > 0.2", ["r2"]),
        ("metrics.loss = 0.5", ["r5"]),
        ("params.max_depth = '3'", ["r0", "r1", "r2", "r4"]),
        ("params.max_depth != '3'", ["r3", "r5"]),
        ("params.model = 'rf' and params.max_depth = '5'", ["r3"]),
        ("params.model LIKE 'g%'", ["r0", "r1", "r4"]),
        ("params.model ILIKE 'R_'", ["r2", "r3"]),
        ("tags.team = 'alpha'", ["r0", "r2"]),
        ("tags.team != 'alpha'", ["r1", "r3", "r4", "r5"]),
        ("tags.team LIKE 'alpha%'", ["r0", "r2"]),
        ("tags.team LIKE '%Two'", ["r4"]),
        ("tags.team ILIKE 'alpha%'", ["r0", "r2", "r4"]),
        ("tags.env = 'prod' and tags.team = 'beta'", ["r1"]),
        ("tags.seed_batch = 'b1'", ["r0", "r1", "r2", "r3", "r4", "r5"]),
        ("tags.`team` = 'gamma'", ["r3"]),
        ("attributes.run_name = 'r2'", ["r2"]),
        ("attributes.run_name LIKE 'r%'", ["r0", "r1", "r2", "r3", "r4", "r5"]),
        ("attributes.run_name ILIKE 'R1'", ["r1"]),
        ("run_name = 'r3'", ["r3"]),
        ("attributes.status = 'FAILED'", ["r2"]),
        ("attributes.status = 'RUNNING'", ["r5"]),
        ("attributes.status != 'FINISHED'", ["r2", "r4", "r5"]),
        (f"attributes.start_time >= {T0 + 2000}", ["r2", "r3", "r4", "r5"]),
        (f"attributes.start_time < {T0 + 2000}", ["r0", "r1"]),
        (f"attributes.start_time = {T0 + 3000}", ["r3"]),
        (f"attributes.end_time <= {T0 + 1500}", ["r0", "r1"]),
        ("params.max_depth = '3' and tags.team = 'alpha' and metrics.auc_roc > 0.9", ["r0"]),
        ("params.max_depth = '99'", []),
    ],
)
def test_filters(runs, filter_string, expected):
    got = search(runs, filter_string, ["attributes.start_time ASC"])
    assert got == expected, filter_string


def test_run_id_in(runs):
    ids = runs["ids"]
    q = f"attributes.run_id IN ('{ids['r0']}', '{ids['r3']}')"
    assert search(runs, q, ["attributes.start_time ASC"]) == ["r0", "r3"]
    q = f"attributes.run_id NOT IN ('{ids['r0']}', '{ids['r3']}')"
    assert search(runs, q, ["attributes.start_time ASC"]) == ["r1", "r2", "r4", "r5"]


@pytest.mark.parametrize(
    "bad_filter",
    [
        # MLflow: "Only ['run_id'] attributes support comparison with a list of quoted string
        # values." (IN / NOT IN otherwise only for datasets.*)
        "params.max_depth IN ('3', '5')",
        "attributes.status IN ('FAILED', 'KILLED')",
        "attributes.run_name NOT IN ('r0', 'r1')",
        "tags.team NOT IN ('alpha')",
        "metrics.auc_roc LIKE '0.9%'",
        "metrics.auc_roc > 'abc'",
        "attributes.start_time LIKE '1%'",
        "foo.bar = '1'",
        "metrics.auc_roc >> 1",
        "params.max_depth = 3",  # param values are strings and must be quoted
    ],
)
def test_invalid_filters_rejected(runs, bad_filter):
    with pytest.raises(MlflowException) as e:
        search(runs, bad_filter)
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "order_by, expected",
    [
        (["attributes.start_time ASC"], ["r0", "r1", "r2", "r3", "r4", "r5"]),
        (["start_time DESC"], ["r5", "r4", "r3", "r2", "r1", "r0"]),
        (["attributes.run_name DESC"], ["r5", "r4", "r3", "r2", "r1", "r0"]),
        # runs without the metric sort last in both directions
        (["metrics.auc_roc DESC"], ["r0", "r3", "r1", "r4", "r2", "r5"]),
        (["metrics.auc_roc ASC"], ["r2", "r4", "r1", "r3", "r0", "r5"]),
        (["metrics.auc_roc"], ["r2", "r4", "r1", "r3", "r0", "r5"]),
        # ties broken by start_time DESC, then run id
        (["params.max_depth DESC", "metrics.auc_roc ASC"], ["r5", "r3", "r2", "r4", "r1", "r0"]),
        (["tags.team ASC"], ["r4", "r2", "r0", "r5", "r1", "r3"]),
        (["tags.env DESC"], ["r1", "r0", "r3", "r2", "r5", "r4"]),
    ],
)
def test_order_by(runs, order_by, expected):
    assert search(runs, "", order_by) == expected, order_by


def collect_pages(runs, page_size, **kw):
    c = runs["c"]
    out, token, pages = [], None, 0
    while True:
        page = c.search_runs([runs["exp_id"]], max_results=page_size, page_token=token, **kw)
        pages += 1
        assert len(page) <= page_size
        out.extend(names(runs, page))
        token = page.token
        if not token:
            break
        assert pages < 50, "pagination does not terminate"
    return out, pages


@pytest.mark.parametrize("page_size", [1, 2, 4, 5, 6, 100])
def test_pagination(runs, page_size):
    got, pages = collect_pages(runs, page_size, order_by=["attributes.start_time ASC"])
    assert got == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert pages >= -(-6 // page_size)


def test_pagination_with_filter_and_metric_order(runs):
    got, _ = collect_pages(
        runs, 2, filter_string="params.max_depth = '3'", order_by=["metrics.auc_roc DESC"]
    )
    assert got == ["r0", "r1", "r4", "r2"]


def test_search_multiple_experiments(runs, tracking_uri):
    c = runs["c"]
    other = c.create_experiment(f"search-other-{uuid.uuid4().hex[:12]}")
    r = c.create_run(other, start_time=T0 + 10_000, run_name="o0")
    c.log_param(r.info.run_id, "max_depth", "3")
    res = c.search_runs(
        [runs["exp_id"], other], "params.max_depth = '3'", order_by=["attributes.start_time DESC"]
    )
    ids = [x.info.run_id for x in res]
    assert ids[0] == r.info.run_id
    assert [runs["names"][i] for i in ids[1:]] == ["r4", "r2", "r1", "r0"]


def test_search_returns_full_run_data(runs):
    (r,) = runs["c"].search_runs([runs["exp_id"]], "attributes.run_name = 'r3'")
    assert r.data.params == {"max_depth": "5", "model": "rf"}
    assert r.data.metrics == {"auc_roc": 0.90, "loss": 1.0 - 0.90}
    assert r.data.tags["team"] == "gamma" and r.data.tags["env"] == "dev"
    assert r.data.tags["mlflow.runName"] == "r3"
    assert r.info.status == "FINISHED"
    assert r.info.start_time == T0 + 3000 and r.info.end_time == T0 + 3500


def test_deleted_runs_views(tracking_uri, unique):
    c = MlflowClient(tracking_uri)
    exp_id = c.create_experiment(unique("views"))
    a = c.create_run(exp_id, run_name="keep", start_time=T0).info.run_id
    b = c.create_run(exp_id, run_name="gone", start_time=T0 + 1).info.run_id

    def ids(view):
        return [r.info.run_id for r in c.search_runs([exp_id], run_view_type=view)]

    assert ids(ViewType.ACTIVE_ONLY) == [b, a]
    c.delete_run(b)
    assert c.get_run(b).info.lifecycle_stage == "deleted"
    assert ids(ViewType.ACTIVE_ONLY) == [a]
    assert ids(ViewType.DELETED_ONLY) == [b]
    assert ids(ViewType.ALL) == [b, a]
    c.restore_run(b)
    assert c.get_run(b).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == [b, a]
    assert ids(ViewType.DELETED_ONLY) == []


def test_search_sees_fresh_writes_immediately(tracking_uri, unique):
    c = MlflowClient(tracking_uri)
    exp_id = c.create_experiment(unique("fresh"))
    rid = c.create_run(exp_id).info.run_id
    c.log_metric(rid, "m", 1.5, timestamp=int(time.time() * 1000))
    (r,) = c.search_runs([exp_id], "metrics.m = 1.5")
    assert r.info.run_id == rid


def test_dataset_filters(tracking_uri, unique):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    c = MlflowClient(tracking_uri)
    exp_id = c.create_experiment(unique("ds"))

    def run_with(name, ds_name, digest, context, start):
        rid = c.create_run(exp_id, run_name=name, start_time=start).info.run_id
        ds = Dataset(ds_name, digest, "local", '{"uri": "/data/x.parquet"}')
        c.log_inputs(rid, [DatasetInput(ds, [InputTag("mlflow.data.context", context)])])
        return rid

    a = run_with("a", "train-a", "d1a", "training", T0)
    b = run_with("b", "train-b", "d2b", "eval", T0 + 1)
    order = ["attributes.start_time ASC"]

    def ids(q):
        return [r.info.run_id for r in c.search_runs([exp_id], q, order_by=order)]

    assert ids("datasets.name = 'train-a'") == [a]
    assert ids("datasets.name IN ('train-a', 'train-b')") == [a, b]
    assert ids("datasets.name LIKE 'train-%'") == [a, b]
    assert ids("datasets.digest = 'd2b'") == [b]
    assert ids("datasets.context = 'eval'") == [b]
    assert ids("datasets.context IN ('training')") == [a]
    got = c.get_run(b).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest, d.dataset.source_type) for d in got] == [
        ("train-b", "d2b", "local")
    ]
    assert {t.key: t.value for t in got[0].tags} == {"mlflow.data.context": "eval"}
