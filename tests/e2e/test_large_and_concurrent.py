"""A 50 MB artifact round trip, and 8 threads logging to their own runs at full speed."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import mlflow
from mlflow.tracking import MlflowClient

SIZE = 50 * 1024 * 1024


def _sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_50mb_artifact_roundtrip(client, experiment_id, tmp_path):
    src = tmp_path / "big.bin"
    # incompressible, deterministic content
    block = hashlib.sha256(b"slipway").digest() * 32768  # 1 MiB
    with open(src, "wb") as f:
        for i in range(SIZE // len(block)):
            f.write(bytes([i % 251]) + block[1:])
    assert src.stat().st_size == SIZE
    want = _sha256(src)

    rid = client.create_run(experiment_id).info.run_id
    t0 = time.monotonic()
    client.log_artifact(rid, str(src), artifact_path="blobs")
    up = time.monotonic() - t0

    (entry,) = client.list_artifacts(rid, "blobs")
    assert entry.path == "blobs/big.bin" and entry.file_size == SIZE and not entry.is_dir

    dst = tmp_path / "dl"
    dst.mkdir()
    t0 = time.monotonic()
    local = mlflow.artifacts.download_artifacts(
        run_id=rid, artifact_path="blobs/big.bin", dst_path=str(dst)
    )
    down = time.monotonic() - t0
    assert os.path.getsize(local) == SIZE
    assert _sha256(local) == want
    print(f"50 MB upload {up:.2f}s, download {down:.2f}s")


THREADS = 8
CALLS = 300


def test_concurrent_logging_8_threads(tracking_uri, experiment_id):
    client = MlflowClient(tracking_uri)
    run_ids = [
        client.create_run(experiment_id, run_name=f"t{i}").info.run_id for i in range(THREADS)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(i: int):
        try:
            c = MlflowClient(tracking_uri)
            rid = run_ids[i]
            barrier.wait(timeout=60)
            for s in range(CALLS):
                c.log_metric(rid, "loss", i * 10_000 + s + 0.5, timestamp=1_000_000 + s, step=s)
                if s % 50 == 0:
                    c.log_param(rid, f"p{s}", f"{i}-{s}")
                    c.set_tag(rid, f"t{s}", f"{i}:{s}")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == [], f"{len(errors)} exceptions, first: {errors[0]!r}"
    print(f"{THREADS * CALLS} log_metric calls in {elapsed:.1f}s")

    for i, rid in enumerate(run_ids):
        run = client.get_run(rid)
        assert run.data.metrics == {"loss": i * 10_000 + CALLS - 1 + 0.5}
        assert run.data.params == {f"p{s}": f"{i}-{s}" for s in range(0, CALLS, 50)}
        for s in range(0, CALLS, 50):
            assert run.data.tags[f"t{s}"] == f"{i}:{s}"
        hist = client.get_metric_history(rid, "loss")
        got = sorted((m.step, m.timestamp, m.value) for m in hist)
        assert got == [(s, 1_000_000 + s, i * 10_000 + s + 0.5) for s in range(CALLS)], rid


def test_concurrent_writers_same_run(tracking_uri, experiment_id):
    """Several threads writing different keys to ONE run (SQLite write contention)."""
    client = MlflowClient(tracking_uri)
    rid = client.create_run(experiment_id).info.run_id
    errors: list[BaseException] = []

    def worker(i: int):
        try:
            c = MlflowClient(tracking_uri)
            for s in range(60):
                c.log_metric(rid, f"k{i}", float(s), timestamp=s, step=s)
            c.log_param(rid, f"param{i}", str(i))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [], f"{len(errors)} exceptions, first: {errors[0]!r}"
    run = client.get_run(rid)
    assert run.data.metrics == {f"k{i}": 59.0 for i in range(THREADS)}
    assert run.data.params == {f"param{i}": str(i) for i in range(THREADS)}
    for i in range(THREADS):
        assert len(client.get_metric_history(rid, f"k{i}")) == 60
