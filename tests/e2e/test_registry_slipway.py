"""Slipway's registry guarantees beyond MLflow (all `slipway_specific`).

- concurrent stage transitions with archive_existing_versions=True leave exactly one version in
  Production (MLflow's SQL store races: two versions end up in Production);
- the registry history GET /api/2.0/slipway/registry/events (every stage and alias change with
  kind, version, from, to, and who/why from X-Slipway-User and the transition's "comment");
- lineage GET /api/2.0/slipway/registry/lineage (source run, logged model, training datasets);
- URI resolution GET /api/2.0/slipway/registry/resolve?uri=models:/... ;
- archive_existing_versions with a non-active target stage is a 400 (MLflow raises the same
  refusal as a 500 INTERNAL_ERROR).
"""

from __future__ import annotations

import os
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
import requests
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from helpers import IS_MLFLOW3, log_sklearn

pytestmark = pytest.mark.slipway_specific

API = "/api/2.0/mlflow"
SW = "/api/2.0/slipway/registry"


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def http(tracking_uri):
    s = requests.Session()
    yield SimpleNamespace(
        base=tracking_uri,
        get=lambda path, **kw: s.get(tracking_uri + path, timeout=60, **kw),
        post=lambda path, **kw: s.post(tracking_uri + path, timeout=60, **kw),
        delete=lambda path, **kw: s.delete(tracking_uri + path, timeout=60, **kw),
    )
    s.close()


def _ok(resp):
    assert resp.status_code == 200, (resp.request.method, resp.url, resp.status_code, resp.text)
    return resp.json()


@pytest.fixture(scope="module")
def run(http):
    """A bare run whose artifact root is a valid model version source."""
    exp = _ok(http.post(f"{API}/experiments/create", json={"name": _name("reg-sw")}))
    info = _ok(http.post(f"{API}/runs/create", json={"experiment_id": exp["experiment_id"]}))
    return info["run"]["info"]


def _model_with_versions(http, run, n):
    name = _name("reg-sw")
    _ok(http.post(f"{API}/registered-models/create", json={"name": name}))
    for _ in range(n):
        _ok(
            http.post(
                f"{API}/model-versions/create",
                json={"name": name, "source": run["artifact_uri"], "run_id": run["run_id"]},
            )
        )
    return name


def _stages(http, name):
    body = _ok(http.get(f"{API}/model-versions/search", params={"filter": f"name='{name}'"}))
    return {m["version"]: m["current_stage"] for m in body["model_versions"]}


def _events(http, name, **params):
    body = _ok(http.get(f"{SW}/events", params={"name": name, **params}))
    return body["events"]


# ---------------------------------------------------------------- concurrency


@pytest.mark.parametrize("n_versions", [2, 4])
def test_concurrent_transitions_leave_exactly_one_in_production(http, run, n_versions):
    """16 parallel transition-stage requests to Production with archive_existing_versions=True,
    several rounds: after each round exactly one version is in Production, and it is one of
    the versions promoted in that round. (Against `mlflow server` 3.17 two versions end up in
    Production within a few rounds.)"""
    name = _model_with_versions(http, run, n_versions)
    rng = random.Random(n_versions)
    url = f"{http.base}{API}/model-versions/transition-stage"

    def promote(version):
        with requests.Session() as s:
            r = s.post(
                url,
                json={
                    "name": name,
                    "version": str(version),
                    "stage": "Production",
                    "archive_existing_versions": True,
                },
                timeout=60,
            )
            return version, r.status_code, r.text

    with ThreadPoolExecutor(16) as pool:
        for rnd in range(8):
            wanted = [rng.randint(1, n_versions) for _ in range(16)]
            results = list(pool.map(promote, wanted))
            bad = [r for r in results if r[1] != 200]
            assert not bad, f"round {rnd}: {bad[:3]}"
            stages = _stages(http, name)
            prod = [v for v, s in stages.items() if s == "Production"]
            assert len(prod) == 1, f"round {rnd}: {stages}"
            assert int(prod[0]) in wanted, (rnd, prod, wanted)
            assert set(stages.values()) <= {"Production", "Archived", "None"}, stages
            latest = _ok(
                http.post(
                    f"{API}/registered-models/get-latest-versions",
                    json={"name": name, "stages": ["Production"]},
                )
            )
            assert [m["version"] for m in latest["model_versions"]] == prod, (rnd, latest)


def test_archive_existing_with_inactive_target_stage_is_refused(http, run):
    """archive_existing_versions only makes sense for Staging/Production. MLflow raises
    'Model version transition cannot archive existing model versions because ... is not an
    Active stage' but as a 500 INTERNAL_ERROR; Slipway answers 400 INVALID_PARAMETER_VALUE and
    changes nothing."""
    name = _model_with_versions(http, run, 2)
    for v in ("1", "2"):
        _ok(
            http.post(
                f"{API}/model-versions/transition-stage",
                json={"name": name, "version": v, "stage": "Production"},
            )
        )
    for stage in ("Archived", "None"):
        r = http.post(
            f"{API}/model-versions/transition-stage",
            json={"name": name, "version": "1", "stage": stage, "archive_existing_versions": True},
        )
        assert r.status_code == 400, (stage, r.status_code, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    assert _stages(http, name) == {"1": "Production", "2": "Production"}


# ---------------------------------------------------------------- events


def test_registry_events_record_every_stage_and_alias_change(http, run):
    name = _model_with_versions(http, run, 2)
    other = _model_with_versions(http, run, 1)  # its events must not show up under `name`
    tr = f"{API}/model-versions/transition-stage"
    alias = f"{API}/registered-models/alias"

    _ok(
        http.post(
            tr,
            json={
                "name": name,
                "version": "1",
                "stage": "Production",
                "archive_existing_versions": False,
                "comment": "passed offline eval",
            },
            headers={"X-Slipway-User": "alice"},
        )
    )
    _ok(http.post(tr, json={"name": name, "version": "2", "stage": "Staging"}))
    _ok(
        http.post(
            tr,
            json={
                "name": name,
                "version": "2",
                "stage": "Production",
                "archive_existing_versions": True,
                "comment": "canary ok",
            },
            headers={"X-Slipway-User": "bob"},
        )
    )
    _ok(
        http.post(
            alias,
            json={"name": name, "alias": "champion", "version": "2"},
            headers={"X-Slipway-User": "carol"},
        )
    )
    _ok(http.post(alias, json={"name": name, "alias": "champion", "version": "1"}))
    _ok(http.delete(alias, json={"name": name, "alias": "champion"}))
    _ok(http.post(alias, json={"name": name, "alias": "shadow", "version": "2"}))
    _ok(http.delete(f"{API}/model-versions/delete", json={"name": name, "version": "2"}))
    _ok(http.post(tr, json={"name": other, "version": "1", "stage": "Production"}))

    events = _events(http, name)
    assert events, "no events recorded"
    assert {e["name"] for e in events} == {name}
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and all(t > 0 for t in stamps), stamps

    kinds = [e["kind"] for e in events]
    assert kinds[0] == "registered_model_created", kinds
    created = [e for e in events if e["kind"] == "model_version_created"]
    assert [e["version"] for e in created] == ["1", "2"], created

    changes = [
        (e["kind"], e.get("version"), e.get("alias"), e.get("from"), e.get("to"))
        for e in events
        if e["kind"] in ("stage_transitioned", "alias_set", "alias_deleted")
    ]
    expected = [
        ("stage_transitioned", "1", None, "None", "Production"),
        ("stage_transitioned", "2", None, "None", "Staging"),
        # one archive_existing_versions transition: the demotion and the promotion
        {
            ("stage_transitioned", "1", None, "Production", "Archived"),
            ("stage_transitioned", "2", None, "Staging", "Production"),
        },
        ("alias_set", "2", "champion", None, "2"),
        ("alias_set", "1", "champion", "2", "1"),
        ("alias_deleted", "1", "champion", "1", None),
        ("alias_set", "2", "shadow", None, "2"),
        # deleting version 2 drops the alias pointing at it
        ("alias_deleted", "2", "shadow", "2", None),
    ]
    flat = []
    for item in expected:
        if isinstance(item, set):
            n = len(item)
            got = set(changes[len(flat) : len(flat) + n])
            assert got == item, (changes, item)
            flat.extend(changes[len(flat) : len(flat) + n])
        else:
            flat.append(item)
    assert changes == flat, changes

    deleted = [e for e in events if e["kind"] == "model_version_deleted"]
    assert [(e["version"], e.get("from")) for e in deleted] == [("2", "Production")], deleted
    assert kinds.index("model_version_deleted") > max(
        i for i, e in enumerate(events) if e["kind"] == "alias_set"
    )

    first = next(e for e in events if e["kind"] == "stage_transitioned")
    assert (first.get("user"), first.get("reason")) == ("alice", "passed offline eval"), first
    promo = next(
        e
        for e in events
        if e["kind"] == "stage_transitioned" and e.get("to") == "Production" and e["version"] == "2"
    )
    assert (promo.get("user"), promo.get("reason")) == ("bob", "canary ok"), promo
    demo = next(e for e in events if e.get("from") == "Production" and e.get("to") == "Archived")
    assert demo.get("user") == "bob", demo
    champ = next(e for e in events if e["kind"] == "alias_set")
    assert champ.get("user") == "carol", champ

    # incremental reads: only what happened after a given event id
    cut = events[3]["id"]
    assert [e["id"] for e in _events(http, name, after=cut)] == [e["id"] for e in events[4:]]
    assert [e["name"] for e in _events(http, other)][0] == other
    assert _events(http, name + "-never-existed") == []


# ---------------------------------------------------------------- lineage + resolve


@pytest.fixture(scope="module")
def trained(tracking_uri):
    """A training run with an input dataset and a registered model (version 1)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(_name("reg-lineage"))
    X, y = make_classification(n_samples=100, n_features=4, random_state=3)
    model = LogisticRegression(max_iter=300).fit(X, y)
    name = _name("lineage")
    with mlflow.start_run() as r:
        dataset = mlflow.data.from_numpy(X, targets=y, name="churn-train", source="s3://data/x")
        mlflow.log_input(dataset, context="training")
        info = log_sklearn(model, X, registered_model_name=name)
    c = MlflowClient(tracking_uri)
    c.set_registered_model_alias(name, "champion", "1")
    return SimpleNamespace(
        name=name, run_id=r.info.run_id, info=info, model=model, X=X, c=c, dataset=dataset
    )


def test_lineage_returns_source_run_and_datasets(http, trained):
    body = _ok(http.get(f"{SW}/lineage", params={"name": trained.name, "version": "1"}))
    mv = body["model_version"]
    assert (mv["name"], mv["version"], mv["run_id"]) == (trained.name, "1", trained.run_id)
    assert body["run"]["info"]["run_id"] == trained.run_id
    datasets = body["datasets"]
    assert len(datasets) == 1, datasets
    ds = datasets[0]["dataset"]
    assert ds["name"] == "churn-train"
    assert ds["digest"] == trained.dataset.digest
    tags = {t["key"]: t["value"] for t in datasets[0].get("tags", [])}
    assert tags.get("mlflow.data.context") == "training", datasets[0]
    if IS_MLFLOW3:
        assert body["logged_model"]["info"]["model_id"] == trained.info.model_id, body
        assert body["logged_model"]["info"]["source_run_id"] == trained.run_id
    # what the client sees agrees
    run = trained.c.get_run(trained.run_id)
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == [ds["digest"]]

    r = http.get(f"{SW}/lineage", params={"name": trained.name, "version": "9"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text
    r = http.get(f"{SW}/lineage", params={"name": trained.name, "version": "x"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    r = http.get(f"{SW}/lineage", params={"name": trained.name + "-nope", "version": "1"})
    assert r.status_code == 404, r.text


def test_resolve_models_uris(http, trained, tmp_path):
    name, c = trained.name, trained.c
    want_uri = c.get_model_version_download_uri(name, "1")
    c.transition_model_version_stage(name, "1", "Production")
    for uri in (
        f"models:/{name}@champion",
        f"models:/{name}/1",
        f"models:/{name}/Production",
        f"models:/{name}/latest",
    ):
        body = _ok(http.get(f"{SW}/resolve", params={"uri": uri}))
        assert (body["name"], body["version"]) == (name, "1"), (uri, body)
        assert body["artifact_uri"] == want_uri, (uri, body)
        assert body.get("run_id") == trained.run_id, body

    body = _ok(http.get(f"{SW}/resolve", params={"uri": f"models:/{name}@champion"}))
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=body["artifact_uri"], dst_path=str(tmp_path)
    )
    assert "MLmodel" in os.listdir(local)
    loaded = mlflow.pyfunc.load_model(body["artifact_uri"])
    np.testing.assert_array_equal(
        np.asarray(loaded.predict(trained.X)), trained.model.predict(trained.X)
    )

    for uri, status in (
        (f"models:/{name}@nope", (400, 404)),
        (f"models:/{name}/Staging", (404,)),
        (f"models:/{name}/7", (404,)),
        (f"models:/{name}-nope/1", (404,)),
        ("not-a-uri", (400,)),
        ("models:/", (400,)),
    ):
        r = http.get(f"{SW}/resolve", params={"uri": uri})
        assert r.status_code in status, (uri, r.status_code, r.text)
        assert r.json().get("error_code"), r.text
