"""Artifact-proxy security: path traversal and hostile artifact locations.

Reproduces the request shapes of CVE-2023-1177 (model-version source / get-artifact LFI),
CVE-2024-1483 and CVE-2024-3848 (experiment artifact_location with '#', '..', query strings),
plus the usual traversal encodings against every endpoint that maps a request path onto the
artifact store:

  GET/PUT/DELETE /api/2.0/mlflow-artifacts/artifacts/{path}
  GET            /api/2.0/mlflow-artifacts/artifacts?path=...
  GET            /api/2.0/mlflow/artifacts/list?run_id=...&path=...
  GET            /get-artifact?path=...&run_uuid=...          (UI endpoint)
  GET            /model-versions/get-artifact?path=...&name=...&version=...

Every hostile request must be refused with a 4xx, or, where accepted, must never read or write
outside the artifact root. No response body may ever contain /etc/passwd ("root:x:0:0").

Requests are sent with http.client so that '..' segments and percent-encodings reach the server
exactly as written (requests/urllib3 would normalise them away).

Symlinks planted inside the artifact root are covered by the Rust tests, not here.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
import uuid

import pytest

from helpers import PASSWD_MARKER

ART = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow"
UP = "../" * 30  # more than enough to climb from any artifact root to /


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


def send(base: str, method: str, path: str, body: bytes | None = None, headers=None) -> Resp:
    """Send `path` verbatim (no normalisation, no re-encoding)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        h = {"Content-Type": "application/octet-stream"} if body is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, dict(r.getheaders()), data)
    finally:
        conn.close()


def assert_safe(resp: Resp, what: str, allow_ok: bool = False):
    assert resp.status < 500, f"{what}: server error {resp!r}"
    assert PASSWD_MARKER not in resp.text, f"{what}: /etc/passwd content leaked! {resp!r}"
    if not allow_ok:
        assert 400 <= resp.status < 500, f"{what}: expected a 4xx refusal, got {resp!r}"


def assert_listing_safe(resp: Resp, what: str):
    """A listing may answer 200 only if it lists nothing from outside the root."""
    assert_safe(resp, what, allow_ok=True)
    if resp.status == 200:
        body = resp.json() if hasattr(resp, "json") else json.loads(resp.text or "{}")
        names = {os.path.basename(f.get("path", "").rstrip("/")) for f in body.get("files", [])}
        leaked = names & {"passwd", "shadow", "hostname", "hosts", "os-release", "group"}
        assert not leaked, f"{what}: listing shows files from outside the artifact root {body}"


def jpost(base, path, payload):
    r = send(base, "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return r, (json.loads(r.text) if r.text.strip().startswith("{") else None)


@pytest.fixture(scope="module")
def target(tracking_uri):
    """An experiment + run holding real artifacts (ok.txt, model/MLmodel)."""
    base = tracking_uri
    name = f"sec-{uuid.uuid4().hex[:12]}"
    r, b = jpost(base, f"{API}/experiments/create", {"name": name})
    assert r.status == 200, r
    exp_id = b["experiment_id"]
    r, b = jpost(base, f"{API}/runs/create", {"experiment_id": exp_id, "start_time": 1})
    assert r.status == 200, r
    run = b["run"]["info"]
    artifact_uri = run["artifact_uri"]
    assert artifact_uri.startswith("mlflow-artifacts:"), artifact_uri
    prefix = urllib.parse.urlparse(artifact_uri).path.lstrip("/")  # {exp}/{run}/artifacts
    for rel, data in (("ok.txt", b"fine\n"), ("model/MLmodel", b"flavors: {}\n")):
        r = send(base, "PUT", f"{ART}/{prefix}/{rel}", data)
        assert r.status == 200, r
    return {
        "base": base,
        "exp_id": exp_id,
        "run_id": run["run_id"],
        "artifact_uri": artifact_uri,
        "prefix": prefix,
    }


@pytest.fixture(scope="module")
def registered(target):
    """A registered model version whose source is the target run's model dir."""
    base = target["base"]
    model = f"sec-model-{uuid.uuid4().hex[:8]}"
    r, _ = jpost(base, f"{API}/registered-models/create", {"name": model})
    assert r.status == 200, r
    r, b = jpost(
        base,
        f"{API}/model-versions/create",
        {"name": model, "source": f"{target['artifact_uri']}/model", "run_id": target["run_id"]},
    )
    assert r.status == 200, r
    return {**target, "model": model, "version": b["model_version"]["version"]}


# ---------------------------------------------------------------- positive controls


def test_positive_controls(target):
    """The endpoints under attack do work for legitimate paths (so refusals are meaningful)."""
    base, p = target["base"], target["prefix"]
    r = send(base, "GET", f"{ART}/{p}/ok.txt")
    assert r.status == 200 and r.body == b"fine\n", r
    r = send(base, "GET", f"{ART}?path={urllib.parse.quote(p)}")
    assert r.status == 200, r
    files = {f["path"]: f for f in json.loads(r.text)["files"]}
    assert files["ok.txt"]["is_dir"] is False and files["ok.txt"]["file_size"] == 5
    assert files["model"]["is_dir"] is True
    r = send(base, "GET", f"{API}/artifacts/list?run_id={target['run_id']}")
    assert r.status == 200, r
    body = json.loads(r.text)
    assert {f["path"] for f in body["files"]} == {"ok.txt", "model"}


def test_positive_control_model_version_download_uri(registered):
    t = registered
    r = send(
        t["base"],
        "GET",
        f"{API}/model-versions/get-download-uri?name={t['model']}&version={t['version']}",
    )
    assert r.status == 200, r
    assert json.loads(r.text)["artifact_uri"].endswith(f"{t['run_id']}/artifacts/model")


# ---------------------------------------------------------------- traversal payloads

# {p} is the run's own artifact prefix "{exp_id}/{run_id}/artifacts".
TRAVERSALS = [
    "../../../../../../../../../../etc/passwd",
    "{p}/../../../../../../../../../../../../etc/passwd",
    "{p}/./../../../../../../../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f" * 10 + "etc%2fpasswd",
    "{p}/" + "%2e%2e%2f" * 12 + "etc%2fpasswd",
    "%252e%252e%252f" * 10 + "etc%252fpasswd",
    "..%252f" * 10 + "etc%252fpasswd",
    "%25252e%25252e%25252f" * 10 + "etc%25252fpasswd",
    "..%5c" * 10 + "etc%5cpasswd",
    "..\\" * 10 + "etc\\passwd",
    "{p}/..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
    "/etc/passwd",
    "//etc/passwd",
    "%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "file:%2f%2f%2fetc%2fpasswd",
    "file:///etc/passwd",
    "{p}/ok.txt%00/../../../../../../../../../../../../etc/passwd",
    "..%00/" * 10 + "etc/passwd",
    "{p}/ok.txt%00.png",
    "%00../../../../../../../../../../etc/passwd",
    "....//....//....//....//....//....//etc/passwd",
    "..;/..;/..;/..;/..;/..;/..;/..;/..;/..;/etc/passwd",
    "%c0%ae%c0%ae/" * 10 + "etc/passwd",
    "{p}/#/../../../../../../../../../../../../etc/passwd",
    "{p}/%23/../../../../../../../../../../../../etc/passwd",
]


def _full_unquote(s: str) -> str:
    for _ in range(10):
        u = urllib.parse.unquote(s)
        if u == s:
            break
        s = u
    return s


def _is_traversal(path: str) -> bool:
    """'..' as a path segment or an absolute path, after any amount of percent-decoding.
    (A backslash is an ordinary file-name character on Linux: '..\\x' is one odd name.)"""
    # a raw '#' ends the request target (fragment): the server never sees what follows
    p = _full_unquote(path.split("#", 1)[0])
    return p.startswith("/") or ".." in p.split("/") or p.startswith("file:")


def _payloads(target):
    return [t.replace("{p}", target["prefix"]) for t in TRAVERSALS]


def test_proxy_download_traversal(target):
    for t in _payloads(target):
        r = send(target["base"], "GET", f"{ART}/{t}")
        assert_safe(r, f"GET {ART}/{t}")


def test_proxy_download_traversal_ajax_api(target):
    for t in _payloads(target):
        r = send(target["base"], "GET", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{t}")
        assert_safe(r, f"GET ajax-api .../{t}")


def test_proxy_list_traversal(target):
    for t in _payloads(target) + ["..", "../", "/", "/etc", "{}/../../..".format(target["prefix"])]:
        for path in (t, urllib.parse.quote(t, safe="")):
            r = send(target["base"], "GET", f"{ART}?path={path}")
            assert_listing_safe(r, f"LIST ?path={path}")


def test_proxy_list_traversal_refused_with_4xx(target):
    for t in ["../../../../../../../../../etc", "/etc", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc"]:
        r = send(target["base"], "GET", f"{ART}?path={t}")
        assert_safe(r, f"LIST ?path={t}")


def test_run_artifacts_list_traversal(target):
    rid = target["run_id"]
    extra = [
        "..",
        "../..",
        "/etc",
        "/",
        "file:///etc",
        "model/../../..",
        "model/../../../../../etc",
    ]
    for t in _payloads(target) + extra:
        for path in (t, urllib.parse.quote(t, safe="")):
            r = send(target["base"], "GET", f"{API}/artifacts/list?run_id={rid}&path={path}")
            assert_listing_safe(r, f"artifacts/list path={path}")
            if _is_traversal(path):
                assert 400 <= r.status < 500, f"artifacts/list path={path}: {r!r}"


def test_get_artifact_ui_endpoint_traversal(target):
    rid = target["run_id"]
    for t in _payloads(target) + ["../../../etc/passwd", "/etc/passwd", "passwd"]:
        for path in (t, urllib.parse.quote(t, safe="")):
            for key in ("run_uuid", "run_id"):
                url = f"/get-artifact?path={path}&{key}={rid}"
                assert_safe(send(target["base"], "GET", url), url, allow_ok=(t == "passwd"))


def test_model_version_get_artifact_traversal(registered):
    target = registered
    name, ver = target["model"], target["version"]
    for t in _payloads(target) + ["../../../etc/passwd", "/etc/passwd", "../ok.txt"]:
        for path in (t, urllib.parse.quote(t, safe="")):
            url = f"/model-versions/get-artifact?path={path}&name={name}&version={ver}"
            assert_safe(send(target["base"], "GET", url), url)


def test_proxy_upload_traversal_writes_nothing_outside(target, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    rel = str(outside).lstrip("/")
    attempts = {
        "plain": f"{UP}{rel}/pwned-plain",
        "prefixed": f"{target['prefix']}/{UP}{rel}/pwned-prefixed",
        "enc": ("%2e%2e%2f" * 30) + urllib.parse.quote(rel, safe="") + "%2fpwned-enc",
        "dbl": ("%252e%252e%252f" * 30) + urllib.parse.quote(rel, safe="") + "%252fpwned-dbl",
        "bs": ("..\\" * 30) + rel.replace("/", "\\") + "\\pwned-bs",
        "abs": f"/{rel}/pwned-abs",
        "abs-enc": urllib.parse.quote(f"/{rel}/pwned-absenc", safe=""),
        "nul": f"{target['prefix']}/x%00/{UP}{rel}/pwned-nul",
    }
    for label, t in attempts.items():
        r = send(target["base"], "PUT", f"{ART}/{t}", b"root:x:0:0 pwned\n")
        # the file system is the oracle: a 2xx/3xx is fine if nothing landed outside the root
        # (MLflow stores '..\\..\\x' as one literal file name inside the root)
        assert_safe(r, f"PUT {label}: {t}", allow_ok=True)
    assert os.listdir(outside) == [], f"upload escaped the artifact root: {os.listdir(outside)}"


def test_proxy_delete_traversal_deletes_nothing_outside(target, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    rel = str(victim).lstrip("/")
    for t in [
        f"{UP}{rel}",
        f"{target['prefix']}/{UP}{rel}",
        ("%2e%2e%2f" * 30) + urllib.parse.quote(rel, safe=""),
        ("%252e%252e%252f" * 30) + urllib.parse.quote(rel, safe=""),
        f"/{rel}",
        urllib.parse.quote(f"/{rel}", safe=""),
    ]:
        r = send(target["base"], "DELETE", f"{ART}/{t}")
        assert_safe(r, f"DELETE {t}", allow_ok=True)  # MLflow: 308 for '//tmp/...'; FS decides
        assert victim.exists() and victim.read_text() == "keep me", f"DELETE {t} removed it"


# ---------------------------------------------------------------- hostile artifact locations

EVIL_LOCATIONS = [
    "file:///etc/",
    "file:///etc",
    "/etc",
    "/etc/",
    "http:///#/../../../../../../../../etc/",
    "file:///tmp/#/../../../../../../etc/",
    "mlflow-artifacts:/../../../../../../etc",
    "mlflow-artifacts:/%2e%2e/%2e%2e/%2e%2e/etc",
    "mlflow-artifacts:/x/../../../../../../../etc",
    "file:///etc/?x=1",
    "file:///tmp/?path=../../etc",
    "mlflow-artifacts:/ok?path=../../../../etc",
    "mlflow-artifacts:/ok;params=../../etc",
    "file:///tmp/../etc",
    "file:///tmp/%2e%2e/etc",
    "../../../../etc",
    "s3://bucket/prefix#/../../etc",
]


def _exploit_reads(base, run_id, model_name, version):
    """Every read an attacker would try once a hostile location was accepted."""
    reads = []
    for path in (
        "passwd",
        "../passwd",
        "../../passwd",
        "../../../passwd",
        "../../../../etc/passwd",
    ):
        q = urllib.parse.quote(path, safe="")
        reads.append(f"/get-artifact?path={q}&run_uuid={run_id}")
        reads.append(f"{API}/artifacts/list?run_id={run_id}&path={q}")
        if model_name:
            reads.append(
                f"/model-versions/get-artifact?path={q}&name={model_name}&version={version}"
            )
    reads.append(f"{API}/artifacts/list?run_id={run_id}")
    return [(u, send(base, "GET", u)) for u in reads]


@pytest.mark.parametrize("location", EVIL_LOCATIONS)
def test_hostile_experiment_artifact_location_never_leaks(tracking_uri, location):
    base = tracking_uri
    r, b = jpost(
        base,
        f"{API}/experiments/create",
        {"name": f"evil-{uuid.uuid4().hex[:10]}", "artifact_location": location},
    )
    assert r.status < 500, r
    if r.status != 200:
        assert 400 <= r.status < 500 and b and b.get("error_code"), r
        return
    # Accepted: nothing reachable through it may come from outside the artifact root.
    exp_id = b["experiment_id"]
    r, b = jpost(base, f"{API}/runs/create", {"experiment_id": exp_id})
    assert r.status < 500, r
    if r.status != 200:
        return
    run_id = b["run"]["info"]["run_id"]
    art_uri = b["run"]["info"]["artifact_uri"]
    model = f"evil-model-{uuid.uuid4().hex[:8]}"
    jpost(base, f"{API}/registered-models/create", {"name": model})
    version = None
    for source in (art_uri, location, f"{location.rstrip('/')}/passwd"):
        r, b = jpost(
            base,
            f"{API}/model-versions/create",
            {"name": model, "source": source, "run_id": run_id},
        )
        assert r.status < 500, r
        assert PASSWD_MARKER not in r.text
        if r.status == 200:
            version = b["model_version"]["version"]
    for url, resp in _exploit_reads(base, run_id, model if version else None, version):
        if "/artifacts/list" in url:
            assert_listing_safe(resp, url)
        else:
            assert_safe(resp, url, allow_ok=True)


@pytest.mark.slipway_specific
@pytest.mark.parametrize("location", EVIL_LOCATIONS)
def test_hostile_experiment_artifact_location_refused(tracking_uri, location):
    """Slipway refuses artifact locations outside its artifact store. MLflow 3.17 accepts
    file:///etc, /etc, mlflow-artifacts:/../../etc and friends (it only rejects '#', ';params'
    and '..' in query strings), so most cases fail against `mlflow server`."""
    r, b = jpost(
        tracking_uri,
        f"{API}/experiments/create",
        {"name": f"evil-{uuid.uuid4().hex[:10]}", "artifact_location": location},
    )
    assert 400 <= r.status < 500, f"{location!r} accepted: {r!r}"
    assert b and b.get("error_code") == "INVALID_PARAMETER_VALUE", b


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/",
        "/etc",
        "file:///etc/passwd",
        "file:///etc/../etc",
        "mlflow-artifacts:/../../../../etc",
        "mlflow-artifacts:/x/%2e%2e/%2e%2e/%2e%2e/etc",
        "mlflow-artifacts://host:1234/../../../../",
        "http://127.0.0.1/api/2.0/mlflow-artifacts/artifacts/../../../../etc",
        "http:///#/../../../../etc/",
        "s3:/my_bucket/models/path/../../other/path",
        "mlflow-artifacts:/artifacts%00",
        "runs:/../../etc",
        "models:/../../etc",
    ],
)
def test_model_version_source_outside_run_refused(target, source):
    """CVE-2023-1177: a model version whose source points at the server's file system."""
    base = target["base"]
    model = f"cve-{uuid.uuid4().hex[:8]}"
    r, _ = jpost(base, f"{API}/registered-models/create", {"name": model})
    assert r.status == 200, r
    for payload in (
        {"name": model, "source": source},
        {"name": model, "source": source, "run_id": target["run_id"]},
    ):
        r, b = jpost(base, f"{API}/model-versions/create", payload)
        assert 400 <= r.status < 500, f"source {source!r} accepted: {r!r}"
        assert b and b.get("error_code") == "INVALID_PARAMETER_VALUE", b
    for path in ("passwd", "../passwd", "etc/passwd"):
        url = f"/model-versions/get-artifact?path={urllib.parse.quote(path)}&name={model}&version=1"
        assert_safe(send(base, "GET", url), url)


@pytest.mark.slipway_specific
def test_file_artifact_location_outside_root_is_never_served(tracking_uri, tmp_path):
    """A planted file in a local directory given as artifact_location must not be served:
    the server reads only below --artifacts-destination. MLflow 3.17 accepts the location and
    serves (lists / get-artifact) files from it, so this fails against `mlflow server`."""
    outside = tmp_path / "outside-root"
    outside.mkdir()
    r, b = jpost(
        tracking_uri,
        f"{API}/experiments/create",
        {"name": f"outside-{uuid.uuid4().hex[:10]}", "artifact_location": outside.as_uri()},
    )
    if r.status != 200:
        assert 400 <= r.status < 500, r
        return
    r, b = jpost(tracking_uri, f"{API}/runs/create", {"experiment_id": b["experiment_id"]})
    if r.status != 200:
        assert 400 <= r.status < 500, r
        return
    run_id = b["run"]["info"]["run_id"]
    secret_dir = outside / run_id / "artifacts"
    secret_dir.mkdir(parents=True)
    (secret_dir / "secret.txt").write_text("TOP-SECRET-OUTSIDE-ROOT")
    for url in (
        f"/get-artifact?path=secret.txt&run_uuid={run_id}",
        f"{API}/artifacts/list?run_id={run_id}",
        f"{API}/artifacts/list?run_id={run_id}&path=secret.txt",
    ):
        resp = send(tracking_uri, "GET", url)
        assert resp.status < 500, (url, resp)
        assert "TOP-SECRET" not in resp.text and "secret.txt" not in resp.text, (url, resp)
