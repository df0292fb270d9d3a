"""Experiments: create/get/by-name/search/rename/tags/delete/restore and their errors."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from helpers import assert_mlflow_error


def test_create_and_get(client, unique):
    name = unique("exp-create")
    exp_id = client.create_experiment(name, tags={"team": "ml", "empty": ""})
    assert isinstance(exp_id, str) and exp_id
    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags.get("team") == "ml"
    assert exp.tags.get("empty") == ""
    assert exp.artifact_location  # server picks a default location
    assert isinstance(exp.creation_time, int) and exp.creation_time > 0
    assert isinstance(exp.last_update_time, int)
    by_name = client.get_experiment_by_name(name)
    assert by_name.experiment_id == exp_id and by_name.name == name


def test_default_experiment_exists(client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_get_experiment_by_name_missing_is_none(client, unique):
    assert client.get_experiment_by_name(unique("missing")) is None


def test_get_experiment_unknown_id(client):
    with pytest.raises(MlflowException) as e:
        client.get_experiment("987654321")
    assert_mlflow_error(e, "RESOURCE_DOES_NOT_EXIST")


def test_duplicate_name_rejected(client, unique):
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    assert_mlflow_error(e, "RESOURCE_ALREADY_EXISTS")


def test_set_experiment_fluent_creates_once(mlflow_uri, client, unique):
    name = unique("fluent")
    e1 = mlflow.set_experiment(name)
    e2 = mlflow.set_experiment(name)
    assert e1.experiment_id == e2.experiment_id
    assert client.get_experiment_by_name(name).experiment_id == e1.experiment_id
    e3 = mlflow.set_experiment(experiment_id=e1.experiment_id)
    assert e3.name == name


def test_rename(client, unique):
    old, new = unique("old"), unique("new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(new).experiment_id == exp_id
    assert client.get_experiment_by_name(old) is None


@pytest.mark.slipway_specific
def test_rename_onto_existing_name_refused(client, unique):
    """MLflow 3.17 answers BAD_REQUEST with the raw SQLite IntegrityError text; Slipway must
    answer RESOURCE_ALREADY_EXISTS without leaking SQL."""
    exp_id = client.create_experiment(unique("ren"))
    other = unique("other")
    client.create_experiment(other)
    with pytest.raises(MlflowException) as e:
        client.rename_experiment(exp_id, other)
    assert_mlflow_error(e, "RESOURCE_ALREADY_EXISTS")
    assert "sqlite" not in str(e.value).lower() and "SQL" not in str(e.value)


def test_experiment_tags(client, unique):
    exp_id = client.create_experiment(unique("tags"))
    client.set_experiment_tag(exp_id, "k", "v1")
    client.set_experiment_tag(exp_id, "k", "v2")
    client.set_experiment_tag(exp_id, "unicode", "é ✓")
    tags = client.get_experiment(exp_id).tags
    assert tags["k"] == "v2" and tags["unicode"] == "é ✓"
    if hasattr(client, "delete_experiment_tag"):
        client.delete_experiment_tag(exp_id, "k")
        assert "k" not in client.get_experiment(exp_id).tags


def test_delete_and_restore(client, unique):
    name = unique("del")
    exp_id = client.create_experiment(name)
    client.delete_experiment(exp_id)
    exp = client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    # a deleted experiment is still found by name (with its lifecycle stage)
    assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    # its name is still taken
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    assert_mlflow_error(e, "RESOURCE_ALREADY_EXISTS")
    # runs cannot be created in a deleted experiment (MLflow: INVALID_PARAMETER_VALUE,
    # "The experiment N must be in the 'active' state. Current state is deleted.")
    with pytest.raises(MlflowException) as e:
        client.create_run(exp_id)
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")

    names_active = [x.name for x in client.search_experiments(filter_string=f"name = '{name}'")]
    names_deleted = [
        x.name
        for x in client.search_experiments(
            view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'"
        )
    ]
    assert names_active == [] and names_deleted == [name]

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [x.name for x in client.search_experiments(filter_string=f"name = '{name}'")] == [name]


def test_search_experiments_filter_order_pagination(client, unique):
    prefix = unique("srch")
    names = [f"{prefix}-{c}" for c in ("c", "a", "d", "b")]
    ids = {}
    for i, n in enumerate(names):
        ids[n] = client.create_experiment(n, tags={"idx": str(i), "group": "g" if i % 2 else "h"})

    def search(**kw):
        return [x.name for x in client.search_experiments(**kw)]

    like = f"name LIKE '{prefix}%'"
    assert search(filter_string=like, order_by=["name ASC"]) == sorted(names)
    assert search(filter_string=like, order_by=["name DESC"]) == sorted(names, reverse=True)
    # newest first by creation time (ids increase with creation)
    assert (
        search(filter_string=like, order_by=["creation_time DESC", "experiment_id DESC"])
        == (names[::-1])
    )
    assert search(filter_string=like, order_by=["experiment_id ASC"]) == names
    assert search(filter_string=f"name ILIKE '{prefix.upper()}-A'") == [f"{prefix}-a"]
    assert search(filter_string=f"name = '{prefix}-d'") == [f"{prefix}-d"]
    assert search(
        filter_string=f"name != '{prefix}-d' and name LIKE '{prefix}%'", order_by=["name ASC"]
    ) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    assert search(filter_string=f"{like} and tags.group = 'g'", order_by=["name ASC"]) == [
        f"{prefix}-a",
        f"{prefix}-b",
    ]
    assert search(filter_string=f"{like} and tags.idx LIKE '%3'") == [f"{prefix}-b"]

    # pagination: 3 pages of <=2, together exactly the ordered list
    seen, token, pages = [], None, 0
    while True:
        page = client.search_experiments(
            filter_string=like, order_by=["name ASC"], max_results=2, page_token=token
        )
        pages += 1
        assert len(page) <= 2
        seen += [x.name for x in page]
        token = page.token
        if not token:
            break
        assert pages < 10
    assert seen == sorted(names)


def test_search_experiments_invalid_filter(client):
    with pytest.raises(MlflowException) as e:
        client.search_experiments(filter_string="nme = 'x'")
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")


def test_experiment_name_validation(client):
    with pytest.raises(MlflowException) as e:
        client.create_experiment("")
    assert_mlflow_error(e, "INVALID_PARAMETER_VALUE")
