"""MlflowClient run API: get_run, run updates, metric history, nested artifacts."""

from __future__ import annotations

import filecmp
import hashlib
import os

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from helpers import assert_mlflow_error


def test_get_run_returns_what_was_written(client, experiment_id):
    run = client.create_run(
        experiment_id, run_name="full", tags={"owner": "qa", "k.with.dots": "v"}
    )
    rid = run.info.run_id
    assert len(rid) == 32 and all(ch in "0123456789abcdef" for ch in rid)
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "full"
    params = {"alpha": "0.5", "layers": "[64, 32]", "empty": "", "spaces in key": "x y"}
    for k, v in params.items():
        client.log_param(rid, k, v)
    client.log_metric(rid, "acc", 0.25, timestamp=1000, step=0)
    client.log_metric(rid, "acc", 0.5, timestamp=2000, step=1)
    client.log_metric(rid, "acc", 0.75, timestamp=3000, step=2)
    client.log_metric(rid, "neg", -3.5, timestamp=1000, step=-1)
    client.log_metric(rid, "big", 1.7976931348623157e308, timestamp=1000)
    client.log_metric(rid, "tiny", 5e-324, timestamp=1000)
    client.set_tag(rid, "stage", "dev")
    client.set_tag(rid, "stage", "prod")  # tags are overwritable
    client.set_tag(rid, "long", "x" * 5000)

    got = client.get_run(rid)
    assert got.data.params == params
    assert got.data.metrics == {
        "acc": 0.75,
        "neg": -3.5,
        "big": 1.7976931348623157e308,
        "tiny": 5e-324,
    }
    tags = got.data.tags
    assert tags["owner"] == "qa" and tags["k.with.dots"] == "v"
    assert tags["stage"] == "prod"
    assert tags["long"] == "x" * 5000
    assert tags["mlflow.runName"] == "full"
    assert got.info.experiment_id == experiment_id
    assert got.info.lifecycle_stage == "active"


def test_latest_metric_is_max_step_then_max_timestamp(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    # logged out of order: the "latest" value is the one with the highest step,
    # then the highest timestamp (MLflow semantics), not the last one written
    client.log_metric(rid, "m", 3.0, timestamp=100, step=5)
    client.log_metric(rid, "m", 1.0, timestamp=900, step=1)
    client.log_metric(rid, "m", 4.0, timestamp=200, step=5)
    client.log_metric(rid, "m", 2.0, timestamp=50, step=5)
    assert client.get_run(rid).data.metrics["m"] == 4.0
    hist = client.get_metric_history(rid, "m")
    assert sorted((h.step, h.timestamp, h.value) for h in hist) == [
        (1, 900, 1.0),
        (5, 50, 2.0),
        (5, 100, 3.0),
        (5, 200, 4.0),
    ]


def test_metric_history_many_keys_and_missing_key(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    expected = {}
    for key in ("a", "b/c", "d-e", "f.g", "h i"):
        pts = [(step, step * 0.5 + len(key), 1_000 + step) for step in range(25)]
        client.log_batch(rid, metrics=[Metric(key, v, ts, s) for s, v, ts in pts])
        expected[key] = pts
    for key, pts in expected.items():
        hist = client.get_metric_history(rid, key)
        assert sorted((m.step, m.value, m.timestamp) for m in hist) == pts, key
    assert client.get_metric_history(rid, "never-logged") == []


def test_update_and_terminate_run(client, experiment_id):
    rid = client.create_run(experiment_id, run_name="before").info.run_id
    client.update_run(rid, name="after")
    got = client.get_run(rid)
    assert got.info.run_name == "after"
    assert got.data.tags["mlflow.runName"] == "after"
    client.set_terminated(rid, status="KILLED", end_time=got.info.start_time + 42)
    got = client.get_run(rid)
    assert got.info.status == "KILLED"
    assert got.info.end_time == got.info.start_time + 42


def test_delete_tag(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.set_tag(rid, "temp", "1")
    client.set_tag(rid, "keep", "2")
    client.delete_tag(rid, "temp")
    tags = client.get_run(rid).data.tags
    assert "temp" not in tags and tags["keep"] == "2"
    with pytest.raises(MlflowException) as e:
        client.delete_tag(rid, "temp")
    assert_mlflow_error(e, "RESOURCE_DOES_NOT_EXIST")


def test_fluent_run_lifecycle_and_status(mlflow_uri, experiment_id, client):
    with mlflow.start_run(experiment_id=experiment_id, run_name="fluent") as run:
        mlflow.log_metric("x", 1.0)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run(experiment_id=experiment_id) as run2:
            1 / 0  # noqa: B018
    assert client.get_run(run2.info.run_id).info.status == "FAILED"


def _make_tree(root):
    files = {
        "top.txt": b"top level\n",
        "a/one.csv": b"x,y\n1,2\n",
        "a/b/deep.json": b'{"deep": true}',
        "a/b/c/deeper.bin": bytes(range(256)) * 40,
        "empty.txt": b"",
        "unicode-ñ/файл.txt": "héllo\n".encode(),
    }
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return files


def test_nested_artifacts_list_and_download_directory(client, experiment_id, tmp_path):
    rid = client.create_run(experiment_id).info.run_id
    src = tmp_path / "src"
    files = _make_tree(src)
    client.log_artifacts(rid, str(src), artifact_path="bundle")
    client.log_artifact(rid, str(src / "top.txt"))  # at the root too

    def ls(path=None):
        # MLflow omits file_size for an empty file (proto3 default); 0 is equally fine
        return sorted(
            (f.path, f.is_dir, 0 if (f.file_size is None and not f.is_dir) else f.file_size)
            for f in client.list_artifacts(rid, path)
        )

    assert ls() == [("bundle", True, None), ("top.txt", False, 10)]
    assert ls("bundle") == [
        ("bundle/a", True, None),
        ("bundle/empty.txt", False, 0),
        ("bundle/top.txt", False, 10),
        ("bundle/unicode-ñ", True, None),
    ]
    assert ls("bundle/a") == [("bundle/a/b", True, None), ("bundle/a/one.csv", False, 8)]
    assert ls("bundle/a/b") == [
        ("bundle/a/b/c", True, None),
        ("bundle/a/b/deep.json", False, 14),
    ]
    assert ls("bundle/a/b/c") == [("bundle/a/b/c/deeper.bin", False, 256 * 40)]
    assert ls("bundle/unicode-ñ") == [("bundle/unicode-ñ/файл.txt", False, 7)]
    assert ls("does-not-exist") == []

    dst = tmp_path / "dst"
    dst.mkdir()
    local = client.download_artifacts(rid, "bundle", str(dst))
    got = {}
    for dirpath, _, filenames in os.walk(local):
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                got[os.path.relpath(p, local)] = f.read()
    assert got == files

    # single nested file, via the fluent helper
    one = mlflow.artifacts.download_artifacts(
        run_id=rid, artifact_path="bundle/a/b/c/deeper.bin", dst_path=str(tmp_path / "one")
    )
    assert filecmp.cmp(one, src / "a/b/c/deeper.bin", shallow=False)

    # whole run
    whole = mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(tmp_path / "whole"))
    assert sorted(os.listdir(whole)) == ["bundle", "top.txt"]
    with open(os.path.join(whole, "bundle", "a", "b", "c", "deeper.bin"), "rb") as f:
        assert (
            hashlib.sha256(f.read()).digest() == hashlib.sha256(files["a/b/c/deeper.bin"]).digest()
        )


def test_artifact_overwrite_replaces_content(client, experiment_id, tmp_path):
    rid = client.create_run(experiment_id).info.run_id
    p = tmp_path / "f.txt"
    p.write_bytes(b"first version, longer")
    client.log_artifact(rid, str(p))
    p.write_bytes(b"second")
    client.log_artifact(rid, str(p))
    (tmp_path / "d").mkdir()
    out = client.download_artifacts(rid, "f.txt", str(tmp_path / "d"))
    with open(out, "rb") as f:
        assert f.read() == b"second"


def test_log_batch_mixed_then_read(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("m1", 1.0, 10, 0), Metric("m1", 2.0, 20, 1), Metric("m2", -1.0, 10, 0)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x"), RunTag("t2", "")],
    )
    got = client.get_run(rid)
    assert got.data.metrics == {"m1": 2.0, "m2": -1.0}
    assert got.data.params == {"p1": "a", "p2": "b"}
    assert got.data.tags["t1"] == "x" and got.data.tags["t2"] == ""
