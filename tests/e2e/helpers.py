"""Helpers shared by the end-to-end tests (importable as ``helpers``)."""

from __future__ import annotations

import os

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
