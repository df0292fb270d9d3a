"""Helpers shared by the end-to-end tests (importable as ``helpers``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time

import mlflow
import pytest
import requests

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
IS_MLFLOW3 = MLFLOW_MAJOR >= 3
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# First line of /etc/passwd on every Linux box: must never appear in any response.
PASSWD_MARKER = "root:x:0:0"


class Raw:
    """Tiny raw-HTTP helper bound to the server base URL."""

    def __init__(self, base: str):
        self.base = base
        self.s = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.s.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.s.post(self.url(path), **kw)

    def put(self, path, **kw):
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.s.put(self.url(path), **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.url(path), **kw)


def assert_mlflow_error(exc_info, code: str):
    """The MlflowException carries the server's error_code."""
    err = exc_info.value
    assert getattr(err, "error_code", None) == code, (
        f"expected error_code {code}, got {getattr(err, 'error_code', None)}: {err}"
    )


def assert_json_error(resp, status: int | tuple | None = 400, code: str | None = None):
    """An error response: the status, a JSON {error_code, message} body."""
    body_text = resp.text
    assert resp.status_code < 500, f"server error {resp.status_code}: {body_text[:500]}"
    if status is not None:
        allowed = status if isinstance(status, tuple) else (status,)
        assert resp.status_code in allowed, (
            f"expected HTTP {allowed}, got {resp.status_code}: {body_text[:500]}"
        )
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON (HTTP {resp.status_code}): {body_text[:500]!r}")
    assert isinstance(body, dict), body
    assert isinstance(body.get("error_code"), str) and body["error_code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["error_code"] == code, body
    return body


# ------------------------------------------------------------------ registry helpers


def log_sklearn(model, X, name: str = "model", registered_model_name: str | None = None):
    """mlflow.sklearn.log_model for either client (3.x: name=, 2.x: artifact_path).

    pip_requirements is given so MLflow skips its slow requirement inference (a subprocess
    that imports the model): the registry tests need the model files, not an environment."""
    from mlflow.models import infer_signature

    kw = {
        "signature": infer_signature(X, model.predict(X)),
        "registered_model_name": registered_model_name,
        "pip_requirements": ["scikit-learn", "numpy"],
    }
    if IS_MLFLOW3:
        return mlflow.sklearn.log_model(model, name=name, **kw)
    return mlflow.sklearn.log_model(model, name, **kw)


class RawResp:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.status_code = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.text)

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


def send_verbatim(base: str, method: str, path: str, json_body=None, headers=None) -> RawResp:
    """One HTTP request whose target is sent exactly as written (no normalisation of '..'
    or percent-encodings, unlike requests/urllib3)."""
    import http.client
    import json
    import urllib.parse

    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        h = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return RawResp(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def cli_env() -> dict:
    """The environment minus tracking-URI variables, so a CLI test names its server itself."""
    return {k: v for k, v in os.environ.items() if k not in ("SLIPWAY_TRACKING_URI", "MLFLOW_TRACKING_URI")}


@contextlib.contextmanager
def slipway_serve(binary: str, *args: str, startup_timeout: float = 60, env: dict | None = None,
                  log_path=None):
    """`slipway serve ARGS --port <free>` until the block ends; yields its base URL.

    env: variables added to the CLI environment; log_path: a file that receives the server's
    stderr (its start-up report), read by the caller."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_path, "w") if log_path else None  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [binary, "serve", *args, "--port", str(port)],
        env={**cli_env(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=log or subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_timeout
        while True:
            try:
                if requests.get(base + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                proc.wait(timeout=30)
                stderr = open(log_path).read() if log else proc.stderr.read()
                pytest.fail(f"slipway serve did not start: {stderr}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log:
            log.close()
