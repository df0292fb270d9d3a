"""Model registry through the official client, operation by operation (MLflow-compatible).

Every registry REST call MlflowClient makes: registered models (create/get/rename/update/delete,
search with filter/order_by/max_results/page_token, tags), model versions (register_model,
create_model_version, update/delete, download URI, tags, search, get_latest_versions, stage
transitions with and without archive_existing_versions), aliases; loads through every models:/
URI form with both the pyfunc and the sklearn flavors; MLflow's error codes for misuse; names
with spaces and unicode (and MLflow 3's refusal of '/' and ':' in names).

Expected behaviour was checked against `mlflow server` 3.17.2 (SQLite backend), with both clients.
"""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from helpers import IS_MLFLOW3, assert_mlflow_error, log_sklearn

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID = "INVALID_PARAMETER_VALUE"


@pytest.fixture(scope="module")
def trained(tracking_uri):
    """Two runs, each with a logged (not registered) sklearn model. The models disagree on
    every row (the second is trained on inverted labels), so a load that picks the wrong
    version cannot pass."""
    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.set_experiment(f"registry-api-{uuid.uuid4().hex[:10]}")
    X, y = make_classification(n_samples=120, n_features=5, random_state=7)
    runs = []
    for i, labels in enumerate((y, 1 - y)):
        model = LogisticRegression(C=1.0, max_iter=500).fit(X, labels)
        with mlflow.start_run(run_name=f"train-{i}") as run:
            mlflow.log_param("labels", "inverted" if i else "plain")
            info = log_sklearn(model, X)
        runs.append(SimpleNamespace(run_id=run.info.run_id, model=model, info=info, run=run))
    assert (runs[0].model.predict(X) != runs[1].model.predict(X)).all()
    return SimpleNamespace(
        X=X,
        runs=runs,
        exp_id=exp.experiment_id,
        client=MlflowClient(tracking_uri),
        uri=tracking_uri,
    )


def _name(prefix="reg"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _register(trained, name, *which):
    """register_model('runs:/<id>/model', name) for each run index; returns the versions."""
    out = []
    for i in which:
        mv = mlflow.register_model(f"runs:/{trained.runs[i].run_id}/model", name)
        out.append(mv)
    return out


def _stages(client, name):
    return {str(m.version): m.current_stage for m in client.search_model_versions(f"name='{name}'")}


def _raises(code, fn, *args, **kw):
    with pytest.raises(MlflowException) as e:
        fn(*args, **kw)
    assert_mlflow_error(e, code)
    return e.value


# ---------------------------------------------------------------- registered models


def test_registered_model_create_get_update_rename_delete(trained):
    c = trained.client
    name = _name("crud")
    rm = c.create_registered_model(name, tags={"team": "churn", "tier": "1"}, description="first")
    assert rm.name == name
    assert rm.description == "first"
    assert rm.tags == {"team": "churn", "tier": "1"}
    assert rm.creation_timestamp > 0 and rm.last_updated_timestamp >= rm.creation_timestamp

    got = c.get_registered_model(name)
    assert (got.name, got.description, got.tags) == (name, "first", {"team": "churn", "tier": "1"})
    assert got.latest_versions == [] and got.aliases == {}

    updated = c.update_registered_model(name, description="second")
    assert updated.description == "second"
    assert c.get_registered_model(name).description == "second"

    _register(trained, name, 0, 1)
    c.set_registered_model_alias(name, "champion", "2")
    new = name + "-renamed"
    c.rename_registered_model(name, new)
    _raises(NOT_FOUND, c.get_registered_model, name)
    _raises(NOT_FOUND, c.get_model_version, name, "1")
    moved = c.get_registered_model(new)
    assert moved.description == "second" and moved.tags["team"] == "churn"
    assert moved.aliases == {"champion": "2"}
    assert sorted(str(v.version) for v in c.search_model_versions(f"name='{new}'")) == ["1", "2"]
    assert {v.name for v in c.search_model_versions(f"name='{new}'")} == {new}
    assert str(c.get_model_version_by_alias(new, "champion").version) == "2"
    assert c.search_model_versions(f"name='{name}'") == []

    c.delete_registered_model(new)
    _raises(NOT_FOUND, c.get_registered_model, new)
    _raises(NOT_FOUND, c.get_model_version, new, "1")
    assert c.search_model_versions(f"name='{new}'") == []
    assert c.search_registered_models(f"name='{new}'") == []
    # the name is free again; a re-created model starts at version 1
    c.create_registered_model(new)
    mv = c.create_model_version(
        new, f"runs:/{trained.runs[0].run_id}/model", run_id=trained.runs[0].run_id
    )
    assert str(mv.version) == "1"


def test_registered_model_tags(trained):
    c = trained.client
    name = _name("tags")
    c.create_registered_model(name, tags={"a": "1"})
    c.set_registered_model_tag(name, "b", "2")
    c.set_registered_model_tag(name, "a", "overwritten")
    assert c.get_registered_model(name).tags == {"a": "overwritten", "b": "2"}
    c.delete_registered_model_tag(name, "a")
    assert c.get_registered_model(name).tags == {"b": "2"}
    assert [m.name for m in c.search_registered_models(f"name='{name}' AND tags.b = '2'")] == [name]
    assert c.search_registered_models(f"name='{name}' AND tags.a = 'overwritten'") == []


def test_delete_missing_tag_is_a_no_op(trained):
    """MLflow: deleting a tag key that is not set succeeds silently (registered model and
    model version alike); only an unknown model / version is an error."""
    c = trained.client
    name = _name("tagnoop")
    c.create_registered_model(name, tags={"keep": "me"})
    c.create_model_version(
        name, f"runs:/{trained.runs[0].run_id}/model", run_id=trained.runs[0].run_id
    )
    c.delete_registered_model_tag(name, "never-set")
    c.delete_model_version_tag(name, "1", "never-set")
    assert c.get_registered_model(name).tags == {"keep": "me"}
    _raises(NOT_FOUND, c.delete_registered_model_tag, name + "-nope", "k")
    _raises(NOT_FOUND, c.delete_model_version_tag, name, "99", "k")


def test_search_registered_models_filter_order_pages(trained):
    c = trained.client
    prefix = _name("srch")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, n in enumerate(names):
        c.create_registered_model(n, tags={"team": "a" if i % 2 else "b", "i": str(i)})

    def found(*a, **kw):
        return [m.name for m in c.search_registered_models(*a, **kw)]

    assert found(f"name LIKE '{prefix}-%'") == names  # default order: name ASC
    assert found(f"name LIKE '{prefix}-%'", order_by=["name DESC"]) == names[::-1]
    assert found(f"name ILIKE '{prefix.upper()}-%'") == names
    assert found(f"name = '{names[3]}'") == [names[3]]
    assert found(f"name != '{names[3]}' AND name LIKE '{prefix}%'") == names[:3] + names[4:]
    assert found(f"name LIKE '{prefix}-%' AND tags.team = 'a'") == [names[1], names[3]]
    assert found(f"tags.i LIKE '%4' AND name LIKE '{prefix}%'") == [names[4]]
    assert found(f"name = '{prefix}-nope'") == []
    # newest first by last update
    assert found(f"name LIKE '{prefix}-%'", order_by=["last_updated_timestamp DESC"])[0] == names[4]

    for order, want in ((["name DESC"], names[::-1]), (None, names)):
        pages, token = [], None
        while True:
            page = c.search_registered_models(
                f"name LIKE '{prefix}-%'", max_results=2, order_by=order, page_token=token
            )
            pages.append([m.name for m in page])
            token = page.token
            if not token:
                break
            assert len(pages) < 10, pages
        assert pages == [want[0:2], want[2:4], want[4:5]], pages

    _raises(INVALID, c.search_registered_models, "bogus = 'x'")
    _raises(INVALID, c.search_registered_models, f"name LIKE '{prefix}%'", order_by=["bogus"])
    _raises(INVALID, c.search_registered_models, "name = ")


# ---------------------------------------------------------------- model versions


def test_register_model_and_create_model_version(trained):
    c = trained.client
    name = _name("mv")
    r0, r1 = trained.runs
    mv1 = mlflow.register_model(f"runs:/{r0.run_id}/model", name)
    assert (mv1.name, str(mv1.version), mv1.run_id, mv1.status) == (name, "1", r0.run_id, "READY")
    assert mv1.current_stage == "None"
    if IS_MLFLOW3:
        assert mv1.source == f"models:/{r0.info.model_id}", mv1.source
    else:
        assert mv1.source == f"{r0.run.info.artifact_uri}/model", mv1.source

    mv2 = c.create_model_version(
        name,
        f"runs:/{r1.run_id}/model",
        run_id=r1.run_id,
        tags={"stage": "candidate"},
        description="second version",
    )
    assert str(mv2.version) == "2"
    assert mv2.source == f"runs:/{r1.run_id}/model"
    assert mv2.run_id == r1.run_id
    assert mv2.tags == {"stage": "candidate"}
    assert mv2.description == "second version"
    assert mv2.status == "READY" and mv2.current_stage == "None"

    got = c.get_model_version(name, "2")
    assert (got.source, got.run_id, got.description, got.tags) == (
        mv2.source,
        r1.run_id,
        "second version",
        {"stage": "candidate"},
    )
    assert got.creation_timestamp > 0
    rm = c.get_registered_model(name)
    assert [(str(v.version), v.current_stage) for v in rm.latest_versions] == [("2", "None")]


def test_model_version_from_models_uri_inherits_lineage(trained):
    """create_model_version(source='models:/NAME/1') copies a version: MLflow keeps the
    source URI and takes run_id (and model_id) from the referenced version; it loads as it."""
    c, X = trained.client, trained.X
    name = _name("copy")
    _register(trained, name, 1)
    mv = c.create_model_version(name, f"models:/{name}/1")
    assert str(mv.version) == "2"
    assert mv.source == f"models:/{name}/1"
    assert mv.run_id == trained.runs[1].run_id, mv
    got = mlflow.pyfunc.load_model(f"models:/{name}/2").predict(X)
    np.testing.assert_array_equal(np.asarray(got), trained.runs[1].model.predict(X))


def test_update_and_delete_model_version(trained):
    c = trained.client
    name = _name("upd")
    _register(trained, name, 0, 1)
    assert c.update_model_version(name, "1", description="validated").description == "validated"
    assert c.get_model_version(name, "1").description == "validated"

    c.delete_model_version(name, "1")
    _raises(NOT_FOUND, c.get_model_version, name, "1")
    _raises(NOT_FOUND, c.delete_model_version, name, "1")
    _raises(NOT_FOUND, c.update_model_version, name, "1", description="x")
    assert [str(v.version) for v in c.search_model_versions(f"name='{name}'")] == ["2"]
    assert [str(v.version) for v in c.get_registered_model(name).latest_versions] == ["2"]


def test_version_numbers_are_never_reused(trained):
    """MLflow keeps deleted versions as tombstones: after deleting the newest version the next
    one gets a fresh number (models:/NAME/N never silently changes meaning)."""
    c = trained.client
    name = _name("renum")
    _register(trained, name, 0, 1, 0)
    c.delete_model_version(name, "3")
    mv = c.create_model_version(
        name, f"runs:/{trained.runs[1].run_id}/model", run_id=trained.runs[1].run_id
    )
    assert str(mv.version) == "4"
    assert sorted(str(v.version) for v in c.search_model_versions(f"name='{name}'")) == [
        "1",
        "2",
        "4",
    ]
    _raises(NOT_FOUND, c.get_model_version, name, "3")


def test_download_uri_points_at_the_model(trained, tmp_path):
    c = trained.client
    name = _name("dl")
    _register(trained, name, 0)
    uri = c.get_model_version_download_uri(name, "1")
    assert isinstance(uri, str) and uri, uri
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
    assert "MLmodel" in os.listdir(local), os.listdir(local)
    assert "sklearn" in open(os.path.join(local, "MLmodel")).read()
    _raises(NOT_FOUND, c.get_model_version_download_uri, name, "9")


def test_model_version_tags(trained):
    c = trained.client
    name = _name("mvtag")
    _register(trained, name, 0, 1)
    c.set_model_version_tag(name, "1", "validated", "yes")
    c.set_model_version_tag(name, "1", "owner", "alice")
    c.set_model_version_tag(name, "1", "owner", "bob")
    c.set_model_version_tag(name, "2", "validated", "no")
    assert c.get_model_version(name, "1").tags == {"validated": "yes", "owner": "bob"}
    c.delete_model_version_tag(name, "1", "owner")
    assert c.get_model_version(name, "1").tags == {"validated": "yes"}
    hits = c.search_model_versions(f"name='{name}' AND tags.validated = 'yes'")
    assert [str(v.version) for v in hits] == ["1"]


def test_search_model_versions_filters_order_pages(trained):
    c = trained.client
    name = _name("smv")
    r0, r1 = trained.runs
    c.create_registered_model(name)
    for i, r in enumerate((r0, r1, r0)):
        c.create_model_version(name, f"runs:/{r.run_id}/model", run_id=r.run_id, tags={"k": str(i)})

    def versions(*a, **kw):
        return [str(v.version) for v in c.search_model_versions(*a, **kw)]

    assert versions(f"name='{name}'") == ["3", "2", "1"]  # default: newest first
    assert versions(f"name='{name}' AND run_id='{r0.run_id}'") == ["3", "1"]
    assert versions(f"name='{name}' AND run_id IN ('{r0.run_id}', '{r1.run_id}')") == [
        "3",
        "2",
        "1",
    ]
    assert versions(f"name='{name}' AND tags.k = '1'") == ["2"]
    assert versions(f"name='{name}' AND version_number > 1") == ["3", "2"]
    assert versions(f"name='{name}' AND version_number = 2") == ["2"]
    assert versions(f"name='{name}' AND source_path = 'runs:/{r1.run_id}/model'") == ["2"]
    assert versions(f"name LIKE '{name[:-2]}%' AND run_id = '{r1.run_id}'") == ["2"]
    assert versions(f"name='{name}'", order_by=["version_number ASC"]) == ["1", "2", "3"]
    assert versions(f"name='{name}-nope'") == []

    pages, token = [], None
    while True:
        page = c.search_model_versions(
            f"name='{name}'", max_results=2, order_by=["version_number ASC"], page_token=token
        )
        pages.append([str(v.version) for v in page])
        token = page.token
        if not token:
            break
        assert len(pages) < 10, pages
    assert pages == [["1", "2"], ["3"]]

    _raises(INVALID, c.search_model_versions, "bogus = 'x'")
    _raises(INVALID, c.search_model_versions, "current_stage = 'None'")


# ---------------------------------------------------------------- stages


def test_get_latest_versions_with_and_without_stages(trained):
    c = trained.client
    name = _name("latest")
    _register(trained, name, 0, 1, 0, 1)
    c.transition_model_version_stage(name, "1", "Production")
    c.transition_model_version_stage(name, "2", "Staging")
    c.transition_model_version_stage(name, "3", "Archived")

    def latest(stages=None):
        return sorted(
            (str(v.version), v.current_stage) for v in c.get_latest_versions(name, stages)
        )

    everything = [("1", "Production"), ("2", "Staging"), ("3", "Archived"), ("4", "None")]
    assert latest() == sorted(everything)
    assert latest([]) == sorted(everything)
    assert latest(["Production"]) == [("1", "Production")]
    assert latest(["production", "STAGING"]) == [("1", "Production"), ("2", "Staging")]
    assert latest(["None"]) == [("4", "None")]
    assert latest(["Archived"]) == [("3", "Archived")]
    assert sorted(
        (str(v.version), v.current_stage) for v in c.get_registered_model(name).latest_versions
    ) == sorted(everything)

    c.transition_model_version_stage(name, "4", "Production")  # newest per stage wins
    assert latest(["Production"]) == [("4", "Production")]
    _raises(INVALID, c.get_latest_versions, name, ["Prod"])
    _raises(NOT_FOUND, c.get_latest_versions, name + "-nope")


def test_transition_archive_existing_versions(trained):
    c = trained.client
    name = _name("arch")
    _register(trained, name, 0, 1, 0, 1)
    mv = c.transition_model_version_stage(name, "1", "Production")
    assert mv.current_stage == "Production" and str(mv.version) == "1"
    c.transition_model_version_stage(name, "4", "Staging")

    mv = c.transition_model_version_stage(name, "2", "Production", archive_existing_versions=False)
    assert mv.current_stage == "Production"
    assert _stages(c, name) == {"1": "Production", "2": "Production", "3": "None", "4": "Staging"}

    mv = c.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    # only versions in the *target* stage are archived; Staging is untouched
    assert _stages(c, name) == {"1": "Archived", "2": "Archived", "3": "Production", "4": "Staging"}

    c.transition_model_version_stage(name, "1", "Staging", archive_existing_versions=True)
    assert _stages(c, name) == {"1": "Staging", "2": "Archived", "3": "Production", "4": "Archived"}
    # stage names are case-insensitive and stored canonically
    assert c.transition_model_version_stage(name, "2", "production").current_stage == "Production"
    assert c.transition_model_version_stage(name, "2", "NONE").current_stage == "None"
    assert [str(v.version) for v in c.get_latest_versions(name, ["Production"])] == ["3"]


# ---------------------------------------------------------------- aliases


def test_aliases_set_move_get_delete(trained):
    c = trained.client
    name = _name("alias")
    _register(trained, name, 0, 1)
    c.set_registered_model_alias(name, "champion", "1")
    c.set_registered_model_alias(name, "challenger", "2")
    assert c.get_registered_model(name).aliases == {"champion": "1", "challenger": "2"}
    mv = c.get_model_version_by_alias(name, "champion")
    assert (mv.name, str(mv.version), mv.run_id) == (name, "1", trained.runs[0].run_id)
    assert c.get_model_version(name, "1").aliases == ["champion"]

    c.set_registered_model_alias(name, "champion", "2")  # moving an alias
    assert c.get_registered_model(name).aliases == {"champion": "2", "challenger": "2"}
    assert str(c.get_model_version_by_alias(name, "champion").version) == "2"
    assert sorted(c.get_model_version(name, "2").aliases) == ["challenger", "champion"]
    assert c.get_model_version(name, "1").aliases == []

    c.delete_registered_model_alias(name, "champion")
    assert c.get_registered_model(name).aliases == {"challenger": "2"}
    # MLflow: unknown alias -> 400 INVALID_PARAMETER_VALUE "Registered model alias ... not found."
    _raises(INVALID, c.get_model_version_by_alias, name, "champion")
    _raises(NOT_FOUND, c.get_model_version_by_alias, name + "-nope", "champion")


def test_delete_unknown_alias_is_a_no_op(trained):
    """MLflow: deleting an alias that is not set succeeds (the model must exist)."""
    c = trained.client
    name = _name("aliasnoop")
    _register(trained, name, 0)
    c.set_registered_model_alias(name, "keep", "1")
    c.delete_registered_model_alias(name, "never-set")
    assert c.get_registered_model(name).aliases == {"keep": "1"}
    _raises(NOT_FOUND, c.delete_registered_model_alias, name + "-nope", "keep")


def test_alias_latest_resolves_to_newest_version(trained):
    """MLflow 3 serves the reserved alias 'latest' (any case) as the newest version (any stage)."""
    c = trained.client
    name = _name("aliaslatest")
    _register(trained, name, 0, 1)
    c.transition_model_version_stage(name, "1", "Production")
    assert str(c.get_model_version_by_alias(name, "latest").version) == "2"
    assert str(c.get_model_version_by_alias(name, "LATEST").version) == "2"


def test_deleting_a_version_removes_its_aliases(trained):
    c = trained.client
    name = _name("aliasdel")
    _register(trained, name, 0, 1)
    c.set_registered_model_alias(name, "champion", "2")
    c.set_registered_model_alias(name, "shadow", "2")
    c.set_registered_model_alias(name, "stable", "1")
    c.delete_model_version(name, "2")
    _raises(INVALID, c.get_model_version_by_alias, name, "champion")
    _raises(INVALID, c.get_model_version_by_alias, name, "shadow")
    assert c.get_registered_model(name).aliases == {"stable": "1"}
    assert str(c.get_model_version_by_alias(name, "stable").version) == "1"
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model(f"models:/{name}@champion")
    # a new version does not inherit the deleted version's aliases
    mv = c.create_model_version(
        name, f"runs:/{trained.runs[1].run_id}/model", run_id=trained.runs[1].run_id
    )
    assert c.get_model_version(name, mv.version).aliases == []


# ---------------------------------------------------------------- models:/ loads


@pytest.mark.parametrize("flavor", ["pyfunc", "sklearn"])
def test_load_by_models_uri(trained, flavor):
    c, X = trained.client, trained.X
    m0, m1 = trained.runs[0].model, trained.runs[1].model
    name = _name(f"load-{flavor}")
    _register(trained, name, 0, 1)
    c.transition_model_version_stage(name, "1", "Production")
    c.set_registered_model_alias(name, "champion", "1")

    load = mlflow.pyfunc.load_model if flavor == "pyfunc" else mlflow.sklearn.load_model

    def check(uri, want):
        loaded = load(uri)
        np.testing.assert_array_equal(np.asarray(loaded.predict(X)), want.predict(X), err_msg=uri)
        if flavor == "sklearn":
            np.testing.assert_array_equal(loaded.predict_proba(X), want.predict_proba(X))
            assert loaded.get_params() == want.get_params()

    check(f"models:/{name}/1", m0)
    check(f"models:/{name}/2", m1)
    check(f"models:/{name}/Production", m0)
    check(f"models:/{name}/production", m0)
    check(f"models:/{name}/latest", m1)
    check(f"models:/{name}@champion", m0)

    # the registry, not a client cache, decides: move alias and stage, load again
    c.set_registered_model_alias(name, "champion", "2")
    c.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    check(f"models:/{name}@champion", m1)
    check(f"models:/{name}/Production", m1)
    with pytest.raises(MlflowException):
        load(f"models:/{name}/Staging")
    with pytest.raises(MlflowException):
        load(f"models:/{name}/7")


# ---------------------------------------------------------------- names


def test_names_with_spaces_and_unicode(trained):
    c, X = trained.client, trained.X
    m0, m1 = trained.runs[0].model, trained.runs[1].model
    uid = uuid.uuid4().hex[:8]
    name = f"churn model é {uid}"
    _register(trained, name, 0, 1)
    rm = c.get_registered_model(name)
    assert rm.name == name
    assert [m.name for m in c.search_registered_models(f"name = '{name}'")] == [name]
    assert [
        m.name for m in c.search_registered_models(f"name LIKE 'churn model é {uid[:4]}%'")
    ] == [name]
    assert sorted(str(v.version) for v in c.search_model_versions(f"name = '{name}'")) == ["1", "2"]
    assert c.get_model_version(name, "2").name == name
    c.transition_model_version_stage(name, "1", "Production")
    c.set_registered_model_alias(name, "champion", "1")
    assert str(c.get_model_version_by_alias(name, "champion").version) == "1"
    for uri, want in (
        (f"models:/{name}/2", m1),
        (f"models:/{name}/Production", m0),
        (f"models:/{name}/latest", m1),
        (f"models:/{name}@champion", m0),
    ):
        got = mlflow.pyfunc.load_model(uri).predict(X)
        np.testing.assert_array_equal(np.asarray(got), want.predict(X), err_msg=uri)

    other = f"modèle 予測 🚀 {uid}"
    c.rename_registered_model(name, other)
    assert c.get_registered_model(other).aliases == {"champion": "1"}
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(f"models:/{other}@champion").predict(X), m0.predict(X)
    )
    c.delete_registered_model(other)
    _raises(NOT_FOUND, c.get_registered_model, other)


@pytest.mark.parametrize(
    "bad",
    [
        "team/churn model é {u}",
        "team:churn {u}",
        "/lead {u}",
        "trail {u}/",
        "a//b {u}",
        ".",
        "..",
        "..hidden {u}",
    ],
)
def test_path_like_names_refused(trained, bad):
    """MLflow 3 refuses registered model names containing '/' or ':' and names that are not
    their own normalised path ('.', '..', '..x'): such names are ambiguous in models:/ URIs
    and unsafe as file names."""
    c = trained.client
    bad = bad.format(u=uuid.uuid4().hex[:8])
    _raises(INVALID, c.create_registered_model, bad)
    _raises(INVALID, c.get_registered_model, bad)
    _raises(INVALID, mlflow.register_model, f"runs:/{trained.runs[0].run_id}/model", bad)
    ok = _name("rename-src")
    c.create_registered_model(ok)
    _raises(INVALID, c.rename_registered_model, ok, bad)
    assert c.get_registered_model(ok).name == ok


def test_blank_names_refused(tracking_uri):
    """MLflow: a whitespace-only name counts as missing (400 INVALID_PARAMETER_VALUE). Raw HTTP:
    the 3.x client refuses blank names before sending them."""
    for blank in ("   ", "\t", " \n "):
        r = requests.post(
            f"{tracking_uri}/api/2.0/mlflow/registered-models/create",
            json={"name": blank},
            timeout=30,
        )
        assert r.status_code == 400, (blank, r.status_code, r.text[:300])
        assert r.json()["error_code"] == INVALID, r.text[:300]


# ---------------------------------------------------------------- error codes


def test_error_codes(trained):
    c = trained.client
    name = _name("errors")
    run_id = trained.runs[0].run_id
    _register(trained, name, 0)
    nope = name + "-nope"

    # unknown registered model
    _raises(NOT_FOUND, c.get_registered_model, nope)
    _raises(NOT_FOUND, c.update_registered_model, nope, description="x")
    _raises(NOT_FOUND, c.rename_registered_model, nope, nope + "2")
    _raises(NOT_FOUND, c.delete_registered_model, nope)
    _raises(NOT_FOUND, c.set_registered_model_tag, nope, "k", "v")
    _raises(NOT_FOUND, c.get_latest_versions, nope)
    _raises(NOT_FOUND, c.create_model_version, nope, f"runs:/{run_id}/model", run_id=run_id)
    _raises(NOT_FOUND, c.get_model_version, nope, "1")
    _raises(NOT_FOUND, c.transition_model_version_stage, nope, "1", "Production")
    _raises(NOT_FOUND, c.set_registered_model_alias, nope, "champion", "1")
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model(f"models:/{nope}/1")

    # unknown version of a known model
    for fn, args in (
        (c.get_model_version, (name, "99")),
        (c.update_model_version, (name, "99", "d")),
        (c.delete_model_version, (name, "99")),
        (c.get_model_version_download_uri, (name, "99")),
        (c.set_model_version_tag, (name, "99", "k", "v")),
        (c.transition_model_version_stage, (name, "99", "Staging")),
    ):
        _raises(NOT_FOUND, fn, *args)

    # duplicates
    _raises(EXISTS, c.create_registered_model, name)
    other = _name("errors-other")
    c.create_registered_model(other)
    _raises(EXISTS, c.rename_registered_model, other, name)

    # stages
    for bad_stage in ("Prod", "Deployed", "Archive"):
        _raises(INVALID, c.transition_model_version_stage, name, "1", bad_stage)
    assert c.get_model_version(name, "1").current_stage == "None"

    # aliases
    _raises(NOT_FOUND, c.set_registered_model_alias, name, "champion", "99")
    for reserved in ("latest", "LATEST", "Latest", "v1", "V12", "v007"):
        _raises(INVALID, c.set_registered_model_alias, name, reserved, "1")
    for bad_alias in ("has space", "semi;colon", "a/b"):
        _raises(INVALID, c.set_registered_model_alias, name, bad_alias, "1")
    for fine in ("v", "v1a", "version1", "champion_2", "blue-green"):
        c.set_registered_model_alias(name, fine, "1")
    assert set(c.get_registered_model(name).aliases) == {
        "v",
        "v1a",
        "version1",
        "champion_2",
        "blue-green",
    }

    # non-integer versions
    for bad_version in ("abc", "1.5", "one"):
        for fn, args in (
            (c.get_model_version, (name, bad_version)),
            (c.update_model_version, (name, bad_version, "d")),
            (c.delete_model_version, (name, bad_version)),
            (c.get_model_version_download_uri, (name, bad_version)),
            (c.set_model_version_tag, (name, bad_version, "k", "v")),
            (c.delete_model_version_tag, (name, bad_version, "k")),
            (c.transition_model_version_stage, (name, bad_version, "Staging")),
            (c.set_registered_model_alias, (name, "champion", bad_version)),
        ):
            _raises(INVALID, fn, *args)
    assert c.get_model_version(name, "1").tags == {}


def test_error_responses_over_raw_http(trained):
    """The same contract on the wire: HTTP status + JSON {error_code, message}."""
    base = trained.uri + "/api/2.0/mlflow"
    name = _name("rawerr")
    trained.client.create_registered_model(name)
    s = requests.Session()
    cases = [
        ("GET", "/registered-models/get", {"name": name + "-nope"}, 404, NOT_FOUND),
        ("POST", "/registered-models/create", {"name": name}, 400, EXISTS),
        ("GET", "/model-versions/get", {"name": name, "version": "abc"}, 400, INVALID),
        ("GET", "/model-versions/get", {"name": name, "version": "5"}, 404, NOT_FOUND),
        (
            "POST",
            "/model-versions/transition-stage",
            {"name": name, "version": "1", "stage": "Prod", "archive_existing_versions": False},
            400,
            INVALID,
        ),
        (
            "POST",
            "/registered-models/alias",
            {"name": name, "alias": "latest", "version": "1"},
            400,
            INVALID,
        ),
        (
            "POST",
            "/registered-models/alias",
            {"name": name, "alias": "champion", "version": "3"},
            404,
            NOT_FOUND,
        ),
        ("GET", "/registered-models/alias", {"name": name, "alias": "nope"}, 400, INVALID),
        # an empty stage counts as missing (the 3.x client refuses it itself)
        (
            "POST",
            "/model-versions/transition-stage",
            {"name": name, "version": "1", "stage": "", "archive_existing_versions": False},
            400,
            INVALID,
        ),
    ]
    for method, path, payload, status, code in cases:
        if method == "GET":
            r = s.get(base + path, params=payload, timeout=30)
        else:
            r = s.post(base + path, json=payload, timeout=30)
        assert r.status_code == status, (path, payload, r.status_code, r.text[:300])
        body = r.json()
        assert body.get("error_code") == code, (path, payload, body)
        assert isinstance(body.get("message"), str) and body["message"], body
