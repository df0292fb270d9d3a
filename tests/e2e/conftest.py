"""Shared fixtures for the Slipway end-to-end suite.

The suite drives a running tracking server with the *official* ``mlflow`` Python client
(2.x or 3.x, whichever is installed) and with raw HTTP (``requests``).

Environment:
  SLIPWAY_TEST_URI  base URL of the server under test, e.g. http://127.0.0.1:5000
  SLIPWAY_BIN       path to the ``slipway`` binary (only the kill -9 durability test uses it)
  CI=true           any skipped test is reported as a FAILURE (nothing may be skipped silently)

Markers:
  slipway_specific  the test asserts behaviour that Slipway guarantees but upstream MLflow does
                    not (e.g. JSON 404 bodies). Against ``mlflow server`` such a test may fail;
                    deselect with ``-m "not slipway_specific"`` when developing against MLflow.
"""

from __future__ import annotations

import os
import uuid

# Must be set before mlflow reads them: no telemetry (no network in CI), fail fast instead of
# retrying server errors for minutes (a 5xx is a bug we want to see, not to paper over).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from helpers import IN_CI, Raw


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slipway_specific: asserts Slipway-guaranteed behaviour that upstream MLflow may not have",
    )


def pytest_report_header(config):
    return [
        f"mlflow client {mlflow.__version__}",
        f"SLIPWAY_TEST_URI={os.environ.get('SLIPWAY_TEST_URI', '<unset>')}",
        f"SLIPWAY_BIN={os.environ.get('SLIPWAY_BIN', '<unset>')}",
        f"CI={IN_CI} (skips are failures)" if IN_CI else "CI=false",
    ]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skip is a failure: nothing may silently not run."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true forbids skips): {reason}"


@pytest.fixture(scope="session")
def slipway_bin() -> str:
    """The slipway binary under test, for tests that run its CLI (train, validate, serve)."""
    binary = os.environ.get("SLIPWAY_BIN", "").strip()
    if not binary:
        msg = "SLIPWAY_BIN is not set (path to the slipway binary)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return binary


@pytest.fixture(scope="session")
def tracking_uri() -> str:
    uri = os.environ.get("SLIPWAY_TEST_URI", "").strip().rstrip("/")
    if not uri:
        msg = "SLIPWAY_TEST_URI is not set (URL of the server under test)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return uri


@pytest.fixture
def mlflow_uri(tracking_uri):
    """Point the fluent API at the server under test; leave no active run behind."""
    mlflow.set_tracking_uri(tracking_uri)
    yield tracking_uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(mlflow_uri) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_uri)


@pytest.fixture
def unique():
    """unique('prefix') -> 'prefix-<random>' : fresh names so tests never collide."""

    def make(prefix: str = "e2e") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def experiment_id(client, unique) -> str:
    return client.create_experiment(unique("exp"))


@pytest.fixture
def raw(tracking_uri) -> Raw:
    r = Raw(tracking_uri)
    yield r
    r.s.close()
