"""scikit-learn models as MLflow users log them, served by `slipway serve` with no change to
their code: `mlflow.sklearn.log_model(model, ..., registered_model_name=...)` in every
serialization format the installed client writes (skops, pickle, cloudpickle), the guide's
GradientBoostingClassifier and DataFrame pipelines with categorical columns (ColumnTransformer:
OneHotEncoder on strings, SimpleImputer + StandardScaler on numbers), and LightGBM's sklearn
wrapper. Slipway converts each to ONNX once (skl2onnx in the model's Python environment),
checks parity (labels equal, probabilities within 1e-5 on the input example plus >= 1,000 drawn
rows), serves the graph natively, and stores it with the model version (the artifact
slipway/model.onnx, the tag slipway.onnx) so the next start loads it instead of converting.
Every held-out row is compared with the Python model through /predict, /invocations and the
Open Inference Protocol v2. `slipway models convert` does the same explicitly, and names the
estimator when a model cannot be converted.

The fast path is `--env-manager local` with this venv's interpreter (SLIPWAY_PYTHON; skl2onnx,
onnx, onnxmltools and lightgbm are pinned in requirements-mlflow*.txt). One test
(test_virtualenv_is_built_from_the_model_requirements) builds the model's environment for real
with `--env-manager virtualenv`: uv from PyPI into the test's SLIPWAY_HOME, the model's
requirements from PyPI (uv's cache: $UV_CACHE_DIR, else ~/.cache/slipway/uv).

Needs $SLIPWAY_BIN and $SLIPWAY_TEST_URI.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from helpers import IS_MLFLOW3, cli_env, slipway_serve

pytestmark = pytest.mark.slipway_specific

TOL = 1e-5
FORMATS = [f for f in ("skops", "pickle", "cloudpickle") if f in mlflow.sklearn.SUPPORTED_SERIALIZATION_FORMATS]
NUMERIC = ["tenure_days", "monthly_charges", "support_tickets", "logins_30d", "days_since_last_login"]
STRINGS = ["plan", "region", "contract"]
# What the start-up report says on each path.
CONVERTING = "converting the scikit-learn model"
STORED = "using the ONNX conversion stored with it"
# Conversion imports mlflow in a fresh Python: allow for a loaded CI machine.
START_TIMEOUT = 240


def churn_frame(n: int = 3000, seed: int = 7):
    """A churn-like table: ints, floats (with missing values), string categories; a label
    drawn from a logistic model of them."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north_america", "europe", "asia_pacific", "latam"], n)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.55, 0.25, 0.2])
    df = pd.DataFrame({
        "tenure_days": rng.integers(1, 1500, n).astype("int64"),
        "monthly_charges": np.round(rng.normal(60, 18, n).clip(10, 150), 2),
        "support_tickets": rng.poisson(1.2, n).astype("int64"),
        "logins_30d": rng.integers(0, 60, n).astype("int64"),
        "days_since_last_login": rng.integers(0, 90, n).astype("int64"),
        "plan": plan.astype(object),
        "region": region.astype(object),
        "contract": contract.astype(object),
    })
    logit = (
        -1.0 + 0.7 * df.support_tickets - 0.0015 * df.tenure_days - 0.03 * df.logins_30d
        + 0.02 * df.days_since_last_login + 0.01 * (df.monthly_charges - 60)
        + np.where(df.contract == "month-to-month", 0.8, -0.4) + np.where(df.plan == "basic", 0.3, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return df, pd.Series(y, name="churn")


@pytest.fixture(scope="module")
def numeric_split():
    """The guide's Step 1 data: numeric features."""
    x, y = churn_frame()
    return train_test_split(x[NUMERIC], y, test_size=0.2, random_state=42, stratify=y)


@pytest.fixture(scope="module")
def frame_split():
    """Strings and numbers, missing monthly charges; held-out rows with an unseen region."""
    x, y = churn_frame(seed=11)
    x.loc[x.index[::17], "monthly_charges"] = np.nan
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    x_test = x_test.copy()
    x_test.loc[x_test.index[::9], "region"] = "antarctica"
    return x_train, x_test, y_train, y_test


def local_env(tmp_path: Path) -> dict:
    """The CLI environment for the fast path: this interpreter, a fresh SLIPWAY_HOME."""
    return {"SLIPWAY_HOME": str(tmp_path / "home"), "SLIPWAY_PYTHON": sys.executable}


def pinned_requirements() -> list[str]:
    """What MLflow would infer here, given so the test skips its slow inference."""
    return [f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]


def skops_trusted_types(model) -> list[str]:
    """What mlflow's error tells a user to pass for a GradientBoosting or a pipeline: the
    types skops reports, and numpy.dtype, which mlflow's check also asks for."""
    import skops.io

    return sorted(set(skops.io.get_untrusted_types(data=skops.io.dumps(model))) | {"numpy.dtype"})


def log_sklearn_model(model, x_train, name: str, fmt: str | None, infer_requirements: bool = False):
    """The guide's Step 1 call, `mlflow.sklearn.log_model(model, "model", signature=...,
    input_example=..., registered_model_name=...)`, in serialization format `fmt` (None: the
    client's default)."""
    kw = {
        "signature": infer_signature(x_train, model.predict(x_train)),
        "input_example": x_train.head(5),
        "registered_model_name": name,
    }
    if not infer_requirements:
        kw["pip_requirements"] = pinned_requirements()
    if fmt is not None:
        kw["serialization_format"] = fmt
    # mlflow 3's default (serialization_format=None) is skops.
    if fmt == "skops" or (fmt is None and "skops" in mlflow.sklearn.SUPPORTED_SERIALIZATION_FORMATS):
        kw["skops_trusted_types"] = skops_trusted_types(model)
    mlflow.set_experiment("serve-sklearn-e2e")
    with mlflow.start_run() as run:
        if IS_MLFLOW3:
            mlflow.sklearn.log_model(model, name="model", **kw)
        else:
            mlflow.sklearn.log_model(model, "model", **kw)
    return run.info.run_id


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN as null, numpy scalars as Python numbers)."""
    out = []
    for row in frame.itertuples(index=False):
        rec = {}
        for c, v in zip(frame.columns, row, strict=True):
            if isinstance(v, float) and math.isnan(v):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            rec[c] = v
        out.append(rec)
    return out


def assert_serves_as_python(base: str, name: str, model, x_test: pd.DataFrame):
    """Every held-out row through /invocations, /predict, /predict/batch and v2: labels equal,
    probabilities within 1e-5 of the Python model's."""
    expected = model.predict_proba(x_test)
    labels = [v.item() for v in model.predict(x_test)]
    recs = records(x_test)
    columns = list(x_test.columns)

    def close(what, got, want):
        got = np.asarray(got, dtype=np.float64)
        assert got.shape == want.shape, (what, got.shape, want.shape)
        diff = float(np.max(np.abs(got - want)))
        assert diff <= TOL, f"{what}: max probability difference {diff:.3e}"

    post = lambda path, body: requests.post(base + path, json=body, timeout=60)  # noqa: E731
    split = {"columns": columns[::-1], "data": [[r[c] for c in columns[::-1]] for r in recs]}
    r = post("/invocations", {"dataframe_split": split})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == labels
    r = post("/invocations", {"dataframe_records": recs, "params": {"predict_method": "predict_proba"}})
    assert r.status_code == 200, r.text
    close("/invocations predict_proba", r.json()["predictions"], expected)

    got = []
    for i, rec in enumerate(recs):
        r = post("/predict", {"customer_id": f"C{i}", "features": rec})
        assert r.status_code == 200, r.text
        assert r.json()["prediction"] == labels[i], (i, rec)
        got.append(r.json()["probability"])
    close("/predict", got, expected[:, 1])
    r = post("/predict/batch", {"instances": [{"customer_id": f"C{i}", "features": rec}
                                              for i, rec in enumerate(recs)]})
    assert r.status_code == 200, r.text
    close("/predict/batch", [p["probability"] for p in r.json()["predictions"]], expected[:, 1])

    meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
    n = len(recs)
    inputs = [
        {"name": i["name"], "shape": [n, 1], "datatype": i["datatype"], "data": [r[i["name"]] for r in recs]}
        for i in meta["inputs"]
    ]
    r = post(f"/v2/models/{name}/infer", {"inputs": inputs})
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert outputs["predict"]["data"] == labels
    close("v2 infer", np.asarray(outputs["predict_proba"]["data"]).reshape(n, 2), expected)


def stored_conversion(name: str, version: str = "1") -> dict:
    tags = MlflowClient().get_model_version(name, version).tags
    assert "slipway.onnx" in tags, f"no slipway.onnx tag on {name} version {version}: {tags}"
    record = json.loads(tags["slipway.onnx"])
    parity = record["parity"]
    assert parity["rows"] >= 1000 + parity["example_rows"], parity
    assert parity["label_mismatches"] == 0 and parity["max_probability_diff"] <= TOL, parity
    assert record["converter"]["skl2onnx"] == "1.20.0" and record["converter"]["onnx"] == "1.23.2", record
    assert record["onnx"] == "slipway/model.onnx", record
    return record


@pytest.mark.parametrize("fmt", FORMATS)
def test_guide_model_is_converted_once_and_served_natively(
    mlflow_uri, slipway_bin, numeric_split, fmt, tmp_path
):
    x_train, x_test, y_train, _ = numeric_split
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=42).fit(x_train, y_train)
    name = f"churn-classifier-{fmt}-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(model, x_train, name, fmt)
    MlflowClient().transition_model_version_stage(name, "1", "Production")
    uri = f"models:/{name}/Production"
    env = local_env(tmp_path)
    serve_args = ("--model", uri, "--tracking-uri", mlflow_uri, "--env-manager", "local", "--no-prediction-log")

    first = tmp_path / "first.log"
    with slipway_serve(slipway_bin, *serve_args, env=env, log_path=first, startup_timeout=START_TIMEOUT) as base:
        assert_serves_as_python(base, name, model, x_test)
    log = first.read_text()
    assert CONVERTING in log and "parity holds on" in log and "stored the ONNX graph" in log, log

    record = stored_conversion(name)
    assert record["source"]["serialization_format"] == fmt, record
    assert record["source"]["estimator"] == "sklearn.ensemble._gb.GradientBoostingClassifier", record
    assert record["env_manager"] == "local", record

    # The next start loads the stored graph: no conversion, the same answers.
    second = tmp_path / "second.log"
    with slipway_serve(slipway_bin, *serve_args, env=env, log_path=second, startup_timeout=START_TIMEOUT) as base:
        r = requests.post(base + "/invocations", json={"dataframe_records": records(x_test)}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [v.item() for v in model.predict(x_test)]
    log = second.read_text()
    assert STORED in log and CONVERTING not in log, log


PIPELINES = {
    "logreg": lambda: LogisticRegression(max_iter=2000),
    "rf": lambda: RandomForestClassifier(n_estimators=60, max_depth=8, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=60, random_state=0),
}


def frame_pipeline(estimator):
    return Pipeline([
        ("prep", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), STRINGS),
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
             NUMERIC),
        ])),
        ("model", estimator),
    ])


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_pipeline_with_categorical_columns_takes_the_native_path(
    mlflow_uri, slipway_bin, frame_split, kind, tmp_path
):
    x_train, x_test, y_train, _ = frame_split
    model = frame_pipeline(PIPELINES[kind]()).fit(x_train, y_train)
    name = f"churn-pipeline-{kind}-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(model, x_train, name, None)
    assert "antarctica" in set(x_test["region"]) and x_test["monthly_charges"].isna().any()
    log_path = tmp_path / "serve.log"
    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri, "--env-manager", "local",
        "--no-prediction-log", env=local_env(tmp_path), log_path=log_path, startup_timeout=START_TIMEOUT,
    ) as base:
        meta = requests.get(f"{base}/v2/models/{name}", timeout=10).json()
        # One ONNX input per column, strings as BYTES.
        assert {i["name"]: i["datatype"] for i in meta["inputs"] if i["name"] in STRINGS} == {
            c: "BYTES" for c in STRINGS
        }, meta
        assert_serves_as_python(base, name, model, x_test)
    record = stored_conversion(name)
    assert record["inputs"] == "columns" and record["source"]["estimator"] == "sklearn.pipeline.Pipeline", record
    # Before trees, the scaler is folded into the thresholds (float64 scaling, as scikit-learn).
    folded = ["sklearn.preprocessing._data.StandardScaler (num)"] if kind != "logreg" else []
    assert record.get("folded_scalers", []) == folded, record


def run_cli(slipway_bin, *args, env=None, timeout=600):
    return subprocess.run(
        [slipway_bin, *args], capture_output=True, text=True, env={**cli_env(), **(env or {})}, timeout=timeout
    )


def test_models_convert_stores_the_graph_and_names_what_it_cannot_convert(
    mlflow_uri, slipway_bin, frame_split, tmp_path
):
    x_train, x_test, y_train, _ = frame_split
    model = frame_pipeline(GradientBoostingClassifier(n_estimators=40, random_state=0)).fit(x_train, y_train)
    name = f"churn-convert-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(model, x_train, name, "cloudpickle")
    env = local_env(tmp_path)
    convert = ("--tracking-uri", mlflow_uri, "models", "convert", f"models:/{name}/1", "--env-manager", "local")

    done = run_cli(slipway_bin, *convert, "--json", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "converted", out
    assert out["stored"]["tag_on"] == f"model version {name}/1", out
    assert out["stored"]["artifact"].endswith("/slipway/model.onnx"), out
    parity = out["conversion"]["parity"]
    assert parity["rows"] >= 1005 and parity["example_rows"] == 5, parity
    assert parity["label_mismatches"] == 0 and parity["max_probability_diff"] <= TOL, parity
    assert out["conversion"] == stored_conversion(name), "the tag holds the printed record"
    # The stored graph sits next to the model's files: the client downloads it with them.
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path / "dl")))
    assert (local / "slipway" / "model.onnx").stat().st_size > 1000
    assert json.loads((local / "slipway" / "conversion.json").read_text()) == out["conversion"]

    # Stored: not converted again; --force converts again.
    done = run_cli(slipway_bin, *convert, env=env)
    assert done.returncode == 0, done.stderr
    assert "already has a stored ONNX conversion" in done.stdout, done.stdout
    assert "parity" in done.stdout and "skl2onnx 1.20.0" in done.stdout, done.stdout
    done = run_cli(slipway_bin, *convert, "--force", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "converted"

    # A URI that names no registered version (runs:/): the record goes with the files, and on
    # the logged model as a tag when there is one (MLflow 3).
    run_id = log_sklearn_model(model, x_train, f"churn-run-{uuid.uuid4().hex[:8]}", "cloudpickle")
    by_run = ("--tracking-uri", mlflow_uri, "models", "convert", f"runs:/{run_id}/model", "--env-manager", "local")
    done = run_cli(slipway_bin, *by_run, "--json", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "converted" and out["version"] is None, out
    if IS_MLFLOW3:
        assert out["stored"]["tag_on"] == f"logged model {out['model_id']}", out
        tags = MlflowClient().get_logged_model(out["model_id"]).tags
        assert json.loads(tags["slipway.onnx"]) == out["conversion"]
    else:
        assert out["stored"]["tag_on"] is None, out
    done = run_cli(slipway_bin, *by_run, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "stored"

    # A step skl2onnx has no converter for: the error names it.
    unconvertible = f"churn-custom-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(custom_step_pipeline().fit(x_train[NUMERIC], y_train), x_train[NUMERIC],
                      unconvertible, "cloudpickle")
    done = run_cli(slipway_bin, "--tracking-uri", mlflow_uri, "models", "convert", f"models:/{unconvertible}/1",
                   "--env-manager", "local", env=env)
    assert done.returncode == 1, done.stdout
    assert "ClipOutliers cannot be converted to ONNX" in done.stderr, done.stderr
    assert "skl2onnx has no converter" in done.stderr, done.stderr

    # Not a scikit-learn model at all.
    pyfunc = f"churn-pyfunc-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run():
        kw = {"python_model": Doubler(), "registered_model_name": pyfunc, "pip_requirements": ["pandas"]}
        if IS_MLFLOW3:
            mlflow.pyfunc.log_model(name="model", **kw)
        else:
            mlflow.pyfunc.log_model("model", **kw)
    done = run_cli(slipway_bin, "--tracking-uri", mlflow_uri, "models", "convert", f"models:/{pyfunc}/1",
                   "--env-manager", "local", env=env)
    assert done.returncode == 1, done.stdout
    assert "not a scikit-learn model" in done.stderr, done.stderr


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def custom_step_pipeline():
    """A pipeline with a user-defined transformer (defined here, so cloudpickle keeps it by
    value and the converter's process can load it)."""
    from sklearn.base import BaseEstimator, TransformerMixin

    class ClipOutliers(TransformerMixin, BaseEstimator):
        def fit(self, x, y=None):
            self.high_ = np.nanpercentile(np.asarray(x, dtype=float), 99, axis=0)
            return self

        def transform(self, x):
            return np.minimum(np.asarray(x, dtype=float), self.high_)

    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("clip", ClipOutliers()),
        ("gbc", GradientBoostingClassifier(n_estimators=20)),
    ])


WRAPPERS = {
    # (estimator, the flavor that logs it, its library)
    "lgbm-sklearn": (lambda: __import__("lightgbm").LGBMClassifier(
        n_estimators=60, num_leaves=15, random_state=0, verbose=-1), "sklearn", "lightgbm"),
    "lgbm-lightgbm": (lambda: __import__("lightgbm").LGBMClassifier(
        n_estimators=60, num_leaves=15, random_state=0, verbose=-1), "lightgbm", "lightgbm"),
    "xgb-sklearn": (lambda: __import__("xgboost").XGBClassifier(
        n_estimators=60, max_depth=4, random_state=0), "sklearn", "xgboost"),
}


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_gbdt_sklearn_wrappers_take_the_native_path(mlflow_uri, slipway_bin, numeric_split, kind, tmp_path):
    """LGBMClassifier through the sklearn flavor or the lightgbm flavor's skops/pickle file, and
    XGBClassifier through the sklearn flavor: converted with onnxmltools' converters. (The
    xgboost flavor and LightGBM Boosters are scored natively without conversion.)"""
    make, flavor, library = WRAPPERS[kind]
    x_train, x_test, y_train, _ = numeric_split
    x_train = x_train.astype("float64")
    x_test = x_test.astype("float64")
    model = make().fit(x_train, y_train)
    name = f"churn-{kind}-{uuid.uuid4().hex[:8]}"
    kw = {
        "signature": infer_signature(x_train, model.predict(x_train)),
        "input_example": x_train.head(5),
        "registered_model_name": name,
        "pip_requirements": [*pinned_requirements(), library],
    }
    module = mlflow.sklearn if flavor == "sklearn" else mlflow.lightgbm
    if IS_MLFLOW3 and module is mlflow.sklearn:
        # The lightgbm flavor trusts LightGBM's types itself; the sklearn flavor asks the user.
        kw["skops_trusted_types"] = skops_trusted_types(model)
    mlflow.set_experiment("serve-sklearn-e2e")
    with mlflow.start_run():
        if IS_MLFLOW3:
            module.log_model(model, name="model", **kw)
        else:
            module.log_model(model, "model", **kw)
    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri, "--env-manager", "local",
        "--no-prediction-log", env=local_env(tmp_path), log_path=tmp_path / "serve.log",
        startup_timeout=START_TIMEOUT,
    ) as base:
        assert_serves_as_python(base, name, model, x_test)
    record = stored_conversion(name)
    assert record["source"]["flavor"] == flavor and record["converter"].get("onnxmltools") == "1.16.0", record
    assert record["converter"].get(library), record


def uv_cache() -> str:
    return os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "slipway" / "uv")


def test_virtualenv_is_built_from_the_model_requirements(mlflow_uri, slipway_bin, numeric_split, tmp_path):
    """--env-manager virtualenv for real: uv from PyPI (installed into SLIPWAY_HOME/tools), the
    model's inferred requirements.txt from PyPI plus the pinned converters, then reused."""
    x_train, x_test, y_train, _ = numeric_split
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(x_train, y_train)
    name = f"churn-venv-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(model, x_train, name, None, infer_requirements=True)
    home = tmp_path / "home"
    env = {"SLIPWAY_HOME": str(home), "UV_CACHE_DIR": uv_cache()}
    convert = ("--tracking-uri", mlflow_uri, "models", "convert", f"models:/{name}/1",
               "--env-manager", "virtualenv", "--json")
    done = run_cli(slipway_bin, *convert, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "converted" and out["conversion"]["env_manager"] == "virtualenv", out
    assert out["conversion"]["converter"]["scikit-learn"] == sklearn.__version__, out
    log = done.stderr
    assert "creating the Python environment" in log, log
    assert "installing the model's requirements (python_env.yaml, requirements.txt)" in log, log
    assert "Python environment ready" in log, log
    envs = [p for p in (home / "envs").iterdir()]
    assert len(envs) == 1 and (envs[0] / "slipway-env.json").is_file(), envs

    # The environment is reused: converting again builds nothing.
    done = run_cli(slipway_bin, *convert, "--force", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "using the Python environment" in done.stderr and "creating" not in done.stderr, done.stderr

    # And serving loads the stored graph without any Python.
    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri, "--no-prediction-log",
        env={**env, "SLIPWAY_PYTHON": "/nonexistent/python3"}, log_path=tmp_path / "serve.log",
        startup_timeout=START_TIMEOUT,
    ) as base:
        r = requests.post(base + "/invocations", json={"dataframe_records": records(x_test)}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [v.item() for v in model.predict(x_test)]
    assert STORED in (tmp_path / "serve.log").read_text()


def test_promotion_reloads_and_converts_the_new_version(mlflow_uri, slipway_bin, numeric_split, tmp_path):
    """Hot reload on the native path: the new Production version is converted (and stored)
    beside the old one, then swapped in."""
    x_train, x_test, y_train, _ = numeric_split
    first = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(x_train, y_train)
    second = GradientBoostingClassifier(n_estimators=80, max_depth=4, random_state=1).fit(x_train, y_train)
    assert (first.predict_proba(x_test) != second.predict_proba(x_test)).any()
    name = f"churn-reload-{uuid.uuid4().hex[:8]}"
    client = MlflowClient()
    log_sklearn_model(first, x_train, name, None)
    client.transition_model_version_stage(name, "1", "Production")
    recs = records(x_test)
    log_path = tmp_path / "serve.log"
    with slipway_serve(
        slipway_bin, "--model", f"models:/{name}/Production", "--tracking-uri", mlflow_uri,
        "--env-manager", "local", "--poll-interval", "1", "--no-prediction-log",
        env=local_env(tmp_path), log_path=log_path, startup_timeout=START_TIMEOUT,
    ) as base:
        def predict_all():
            r = requests.post(base + "/predict/batch", json={"instances": [
                {"customer_id": f"C{i}", "features": rec} for i, rec in enumerate(recs)]}, timeout=60)
            assert r.status_code == 200, r.text
            return r.json()

        got = predict_all()
        assert got["model_version"] == "1"
        log_sklearn_model(second, x_train, name, None)
        client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline and got["model_version"] != "2":
            time.sleep(0.5)
            got = predict_all()
        assert got["model_version"] == "2", log_path.read_text()
        probability = np.array([p["probability"] for p in got["predictions"]])
        diff = np.max(np.abs(probability - second.predict_proba(x_test)[:, 1]))
        assert diff <= TOL, diff
    log = log_path.read_text()
    assert log.count(CONVERTING) == 2, log
    stored_conversion(name, "2")


def test_an_unconvertible_model_falls_back_to_python_workers_with_the_reason(
    mlflow_uri, slipway_bin, frame_split, tmp_path
):
    """A pipeline with a step skl2onnx cannot convert is served through Python workers, and the
    start-up report says why; its answers are the Python model's."""
    x_train, x_test, y_train, _ = frame_split
    model = custom_step_pipeline().fit(x_train[NUMERIC], y_train)
    name = f"churn-fallback-{uuid.uuid4().hex[:8]}"
    log_sklearn_model(model, x_train[NUMERIC], name, "cloudpickle")
    log_path = tmp_path / "serve.log"
    args = ("--model", f"models:/{name}/1", "--tracking-uri", mlflow_uri, "--env-manager", "local",
            "--no-prediction-log")
    with slipway_serve(slipway_bin, *args, env=local_env(tmp_path), log_path=log_path,
                       startup_timeout=START_TIMEOUT) as base:
        rows = x_test[NUMERIC].dropna().head(50)
        r = requests.post(base + "/invocations", json={"dataframe_split": rows.to_dict(orient="split")},
                          timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [v.item() for v in model.predict(rows)]
        health = requests.get(base + "/health", timeout=10).json()
        assert health["ready"] and health["models"][0]["flavor"] == "python_function", health
    log = log_path.read_text()
    assert "Python worker process(es), because its ONNX conversion failed" in log, log
    assert "ClipOutliers cannot be converted to ONNX" in log, log
