"""Model registry as an attack path onto the server's file system (raw HTTP).

CVE-2024-1483 / CVE-2023-1177 chain: create an experiment with a crafted artifact_location, a
run in it, a registered model, then a model version whose `source` points at the server's
/etc (file:///etc/, /etc, file:/etc, mlflow-artifacts:/../../etc, http:///#/../../etc, ...),
then try to read it back through get-download-uri, the UI's /model-versions/get-artifact and
the artifact proxy. Every step must be refused with a 4xx or lead nowhere, and no response may
ever contain /etc/passwd ("root:x:0:0").

Also MLflow's rule that a version's source must lie inside the run named by run_id (otherwise
anyone can register - and download through the registry - another run's files under a false
lineage), and the positive control: /model-versions/get-artifact serves a registered model's
files.

Requests go through http.client so '..' and percent-encodings reach the server as written.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression

from helpers import PASSWD_MARKER, log_sklearn, send_verbatim

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"

# experiment artifact_location values of the published exploit and its variants
LOCATIONS = [
    "file:///etc/",
    "file:///etc",
    "/etc",
    "file:/etc",
    "mlflow-artifacts:/../../etc",
    "http:///#/../../etc",
    None,  # server default: the hostile part is then the model version source alone
]

# model version sources pointing at /etc
SOURCES = [
    "file:///etc/",
    "file:///etc",
    "/etc",
    "/etc/",
    "file:/etc",
    "file:/etc/passwd",
    "file:///etc/passwd",
    "/etc/passwd",
    "mlflow-artifacts:/../../etc",
    "mlflow-artifacts:/../../../../../../../../etc",
    "mlflow-artifacts:/../../../../../../../../etc/passwd",
    "mlflow-artifacts:/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc",
    "http:///#/../../etc",
    "http:///#/../../../../../../etc/",
    "file:///tmp/#/../../../../../../etc/",
]

READ_PATHS = ["passwd", "../passwd", "etc/passwd", "../../../../../../../../etc/passwd", ""]


def _post(base, path, payload, headers=None):
    r = send_verbatim(base, "POST", API + path, json_body=payload, headers=headers)
    try:
        body = json.loads(r.text) if r.text.strip() else None
    except ValueError:
        body = None
    return r, body


def _no_leak(resp, what):
    assert resp.status < 500, f"{what}: server error {resp!r}"
    assert PASSWD_MARKER not in resp.text, f"{what}: /etc/passwd content leaked! {resp!r}"


def _refused(resp, body, what):
    _no_leak(resp, what)
    assert 400 <= resp.status < 500, f"{what}: expected a 4xx refusal, got {resp!r}"
    assert body and body.get("error_code") == "INVALID_PARAMETER_VALUE", f"{what}: {resp!r}"


def _reads(base, name, version):
    """Every read an attacker tries once a version exists; returns (url, response)."""
    q = urllib.parse.quote(name, safe="")
    out = []
    r = send_verbatim(
        base, "GET", f"{API}/model-versions/get-download-uri?name={q}&version={version}"
    )
    out.append(("get-download-uri", r))
    for p in READ_PATHS:
        url = (
            f"/model-versions/get-artifact?name={q}&version={version}&path={urllib.parse.quote(p)}"
        )
        out.append((url, send_verbatim(base, "GET", url)))
    if r.status == 200:
        uri = json.loads(r.text)["artifact_uri"]
        if uri.startswith("mlflow-artifacts:"):
            path = urllib.parse.urlparse(uri).path.lstrip("/")
            for url in (
                f"{ART}/{path}/passwd",
                f"{ART}/{path}/../../../../../../../../etc/passwd",
                f"{ART}?path={urllib.parse.quote(path)}",
                f"{ART}/{path}",
            ):
                out.append((url, send_verbatim(base, "GET", url)))
    return out


@pytest.mark.parametrize("location", LOCATIONS, ids=lambda v: repr(v))
def test_cve_2024_1483_chain_never_reaches_etc(tracking_uri, location):
    base = tracking_uri
    # 1. experiment with the crafted artifact_location (refusing it is fine)
    payload = {"name": f"cve-chain-{uuid.uuid4().hex[:10]}"}
    if location is not None:
        payload["artifact_location"] = location
    r, b = _post(base, "/experiments/create", payload)
    _no_leak(r, f"experiments/create {location!r}")
    if r.status != 200:
        assert 400 <= r.status < 500 and b and b.get("error_code"), r
        # keep going with a default experiment: the hostile sources still get tried
        r, b = _post(base, "/experiments/create", {"name": payload["name"] + "-default"})
        assert r.status == 200, r
    exp_id = b["experiment_id"]

    # 2. a run in it
    r, b = _post(base, "/runs/create", {"experiment_id": exp_id})
    _no_leak(r, "runs/create")
    assert r.status == 200, r
    run_id = b["run"]["info"]["run_id"]
    run_art = b["run"]["info"]["artifact_uri"]

    # 3. a registered model
    name = f"cve-chain-{uuid.uuid4().hex[:10]}"
    r, b = _post(base, "/registered-models/create", {"name": name})
    assert r.status == 200, r

    # 4. versions whose source points at /etc: all refused, with or without the run id
    hostile = list(SOURCES)
    if location is not None:
        hostile += [location, location.rstrip("/") + "/passwd"]
    hostile.append(run_art.rstrip("/") + "/../../../../../../../../etc")
    accepted = []
    for source in hostile:
        for with_run in (False, True):
            body = {"name": name, "source": source}
            if with_run:
                body["run_id"] = run_id
            r, b = _post(base, "/model-versions/create", body)
            _refused(r, b, f"model-versions/create source={source!r} run_id={with_run}")

    # the run's own artifact directory is a legitimate source; under a hostile location it may
    # be accepted, but then it must lead nowhere
    r, b = _post(
        base, "/model-versions/create", {"name": name, "source": run_art, "run_id": run_id}
    )
    _no_leak(r, f"model-versions/create source={run_art!r}")
    if r.status == 200:
        accepted.append(b["model_version"]["version"])

    # 5. read back: download URI, the UI endpoint, the artifact proxy
    for version in accepted + ["1", "2", "3"]:
        for what, resp in _reads(base, name, version):
            _no_leak(resp, f"{what} (version {version})")
            if "get-artifact" in what and ".." in urllib.parse.unquote(what):
                assert 400 <= resp.status < 500, f"{what}: {resp!r}"


def test_model_version_source_must_belong_to_the_given_run(tracking_uri):
    """MLflow 3.17: runs:/ and mlflow-artifacts: sources need a run_id, and the source must lie
    inside that run (its artifact root). Otherwise a version could expose another run's files
    through the registry under a false lineage."""
    base = tracking_uri
    r, b = _post(base, "/experiments/create", {"name": f"src-run-{uuid.uuid4().hex[:10]}"})
    assert r.status == 200, r
    exp_id = b["experiment_id"]
    runs = []
    for _ in range(2):
        r, b = _post(base, "/runs/create", {"experiment_id": exp_id})
        assert r.status == 200, r
        runs.append(b["run"]["info"])
    a, other = runs
    name = f"src-run-{uuid.uuid4().hex[:10]}"
    r, _ = _post(base, "/registered-models/create", {"name": name})
    assert r.status == 200, r

    refused = [
        {"source": f"runs:/{a['run_id']}/model"},
        {"source": f"runs:/{a['run_id']}/model", "run_id": other["run_id"]},
        {"source": f"{a['artifact_uri']}/model"},
        {"source": f"{a['artifact_uri']}/model", "run_id": other["run_id"]},
        {"source": a["artifact_uri"], "run_id": other["run_id"]},
    ]
    accepted = []
    for payload in refused:
        r, b = _post(base, "/model-versions/create", {"name": name, **payload})
        _no_leak(r, f"model-versions/create {payload}")
        if not (400 <= r.status < 500 and b and b.get("error_code") == "INVALID_PARAMETER_VALUE"):
            accepted.append((payload, r))
    assert not accepted, "sources outside the given run accepted:\n" + "\n".join(
        f"  {p} -> {r!r}" for p, r in accepted
    )

    for payload in (
        {"source": f"runs:/{a['run_id']}/model", "run_id": a["run_id"]},
        {"source": f"{a['artifact_uri']}/model", "run_id": a["run_id"]},
        {"source": "s3://some-bucket/models/churn"},
    ):
        r, b = _post(base, "/model-versions/create", {"name": name, **payload})
        assert r.status == 200, (payload, r)
        assert b["model_version"]["source"] == payload["source"]
        assert b["model_version"].get("run_id", "") == payload.get("run_id", ""), b


@pytest.fixture(scope="module")
def real_version(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"reg-sec-{uuid.uuid4().hex[:10]}")
    X = [[0.0], [1.0], [2.0]]
    model = LinearRegression().fit(X, [0.0, 2.0, 4.0])
    name = f"reg-sec-{uuid.uuid4().hex[:10]}"
    with mlflow.start_run():
        log_sklearn(model, X, registered_model_name=name)
    return {"base": tracking_uri, "name": name, "version": "1", "client": MlflowClient()}


def test_model_version_get_artifact_serves_registered_files(real_version):
    """Positive control for the UI endpoint GET /model-versions/get-artifact?name=&version=&path=
    (the MLflow UI's registered-model file viewer): it serves the version's files, and only
    those, so refusals above are meaningful."""
    base, name = real_version["base"], real_version["name"]
    q = urllib.parse.quote(name, safe="")
    r = send_verbatim(base, "GET", f"/model-versions/get-artifact?name={q}&version=1&path=MLmodel")
    assert r.status == 200, r
    assert "flavors:" in r.text and "sklearn" in r.text, r
    r = send_verbatim(base, "GET", f"/model-versions/get-artifact?name={q}&version=1&path=nope.txt")
    assert 400 <= r.status < 500, r
    r = send_verbatim(base, "GET", f"/model-versions/get-artifact?name={q}&version=9&path=MLmodel")
    assert 400 <= r.status < 500, r
    for p in ("../MLmodel", "../../../../../../../../etc/passwd", "/etc/passwd"):
        url = f"/model-versions/get-artifact?name={q}&version=1&path={urllib.parse.quote(p)}"
        r = send_verbatim(base, "GET", url)
        _no_leak(r, url)
        assert 400 <= r.status < 500, (url, r)


def test_download_uri_of_a_real_version_is_served_by_the_proxy(real_version, tmp_path):
    """Positive control for the chain's last step: the download URI of a legitimate version is
    readable through the artifact proxy (and contains the MLmodel)."""
    c, name = real_version["client"], real_version["name"]
    uri = c.get_model_version_download_uri(name, "1")
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
    with open(f"{local}/MLmodel") as f:
        assert "flavors:" in f.read()
