"""`slipway validate` / `slipway promote` against the server under test, checked from Python:
the drift numbers against an independent numpy/scipy implementation of the classic PSI on
reference quantiles, and the verdict, report and promotion as the official mlflow client sees them.

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.special import rel_entr

from helpers import cli_env


pytestmark = pytest.mark.slipway_specific

FEATURES_NUMERIC = [
    "tenure_days",
    "monthly_charges",
    "total_spend_30d",
    "txn_count_30d",
    "logins_7d",
    "logins_30d",
    "days_since_last_login",
    "tickets_90d",
    "max_ticket_severity_90d",
]
FEATURES_CATEGORICAL = ["plan", "region", "contract"]



def slipway(binary, uri, *args, cwd=None):
    env = cli_env()
    env["SLIPWAY_TRACKING_URI"] = uri
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def data(slipway_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("validate-data")
    paths = {}
    for name, drift in (("train", "0.0"), ("current", "0.7")):
        subprocess.run(
            [slipway_bin, "datagen", "churn", "--customers", "3000", "--days", "60", "--quiet"]
            + ["--drift", drift, "--out", str(base / name)],
            check=True,
        )
        paths[name] = str(base / name / "training.parquet")
    return paths


def psi_reference_quantiles(reference: np.ndarray, current: np.ndarray) -> float:
    """The classic PSI, written independently: deciles of the reference (numpy 'linear'),
    de-duplicated; bins (-inf, c1), [c1, c2), ..., [c_last, inf); shares floored at 1e-4."""
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    cuts = np.unique(np.quantile(reference, np.arange(1, 10) / 10.0))
    bins = len(cuts) + 1
    ref = np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=bins) / len(reference)
    cur = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=bins) / len(current)
    ref, cur = np.maximum(ref, 1e-4), np.maximum(cur, 1e-4)
    # PSI = sum((r - c) ln(r / c)) = KL(r || c) + KL(c || r)
    return float(np.sum(rel_entr(ref, cur) + rel_entr(cur, ref)))


def psi_categories(reference: pd.Series, current: pd.Series) -> float:
    ref = reference.dropna().value_counts(normalize=True)
    cur = current.dropna().value_counts(normalize=True)
    keys = sorted(set(ref.index) | set(cur.index))
    r = np.maximum(np.array([ref.get(k, 0.0) for k in keys]), 1e-4)
    c = np.maximum(np.array([cur.get(k, 0.0) for k in keys]), 1e-4)
    return float(np.sum(rel_entr(r, c) + rel_entr(c, r)))


def test_drift_psi_matches_an_independent_implementation(mlflow_uri, slipway_bin, data, tmp_path):
    exp = f"validate-e2e-{uuid.uuid4().hex[:8]}"
    (tmp_path / "train.yaml").write_text(
        f"experiment: {exp}\ndata: {{path: {data['train']}}}\nlabel: churn\ndrop: [customer_id]\n"
        "model: {type: gbm_classifier, params: {n_estimators: 20}}\n"
    )
    done = slipway(slipway_bin, mlflow_uri, "train", "--quiet", "--config", str(tmp_path / "train.yaml"))
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()

    (tmp_path / "v.yaml").write_text(f"drift: {{psi: {{max: 0.2}}, current: {data['current']}}}\n")
    done = slipway(
        slipway_bin, mlflow_uri, "validate", "--run-id", run_id, "--config", str(tmp_path / "v.yaml"),
        "--format", "json", cwd=tmp_path,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}

    reference = pd.read_parquet(data["train"])
    current = pd.read_parquet(data["current"])
    for feature in FEATURES_NUMERIC:
        expected = psi_reference_quantiles(
            reference[feature].to_numpy(dtype=float), current[feature].to_numpy(dtype=float)
        )
        got = checks[f"drift.psi.{feature}"]["actual"]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), feature
        status = "PASS" if expected <= 0.1 else "WARN" if expected <= 0.2 else "FAIL"
        assert checks[f"drift.psi.{feature}"]["status"] == status, feature
    for feature in FEATURES_CATEGORICAL:
        expected = psi_categories(reference[feature], current[feature])
        got = checks[f"drift.psi.{feature}"]["actual"]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), feature

    verdict = "REJECTED" if any(c["status"] == "FAIL" for c in report["checks"]) else "APPROVED"
    assert report["verdict"] == verdict
    assert (tmp_path / "validation_result.txt").read_text().strip() == verdict
    run = MlflowClient().get_run(run_id)
    assert run.data.tags["slipway.validation.status"] == verdict
    local = MlflowClient().download_artifacts(run_id, "validation/report.json", str(tmp_path))
    with open(local) as f:
        assert json.load(f)["verdict"] == verdict


def test_approved_run_is_promoted_and_mlflow_sees_it(mlflow_uri, slipway_bin, data, tmp_path):
    exp = f"promote-e2e-{uuid.uuid4().hex[:8]}"
    name = f"churn-{uuid.uuid4().hex[:8]}"
    (tmp_path / "train.yaml").write_text(
        f"experiment: {exp}\ndata: {{path: {data['train']}}}\nlabel: churn\ndrop: [customer_id]\n"
        "model: {type: gbm_classifier}\n"
    )
    done = slipway(slipway_bin, mlflow_uri, "train", "--quiet", "--config", str(tmp_path / "train.yaml"))
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()

    refused = slipway(slipway_bin, mlflow_uri, "promote", "--run-id", run_id, "--stage", "Production", "--name", name)
    assert refused.returncode == 1 and "never validated" in refused.stderr

    (tmp_path / "v.yaml").write_text("performance: {auc_roc: {min: 0.6}}\n")
    done = slipway(
        slipway_bin, mlflow_uri, "validate", "--run-id", run_id, "--config", str(tmp_path / "v.yaml"),
        "--format", "markdown", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "APPROVED" in done.stdout and "|" in done.stdout

    done = slipway(
        slipway_bin, mlflow_uri, "promote", "--run-id", run_id, "--stage", "Production", "--alias", "champion",
        "--name", name,
    )
    assert done.returncode == 0, done.stderr
    client = MlflowClient()
    [latest] = client.get_latest_versions(name, ["Production"])
    assert latest.run_id == run_id
    assert client.get_model_version_by_alias(name, "champion").version == latest.version
    assert latest.tags["slipway.promotion.validation"] == "APPROVED"
