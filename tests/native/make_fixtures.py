#!/usr/bin/env python3
"""XGBoost and LightGBM fixtures for slipway-serve's native tree scorers
(crates/slipway-serve/src/trees.rs), and the Python side of their parity check.

  make_fixtures.py generate OUT_DIR [--extended]
                                      train on seeded churn-like data, save every model in
                                      the files `mlflow.xgboost.log_model` /
                                      `mlflow.lightgbm.log_model` write, and write
                                      OUT_DIR/data.json (the held-out rows) and
                                      OUT_DIR/NAME.expected.json (what the library predicts
                                      for every row; the model's file named inside).
                                      --extended adds a model for every other objective
                                      served natively (check_parity.sh; the committed
                                      fixtures are the smaller default set)

Every model listed in MODELS must be written: any failure is an exception and a non-zero
exit (the check counts the models). Seeded and reproducible with the versions pinned in
requirements.txt.
"""

import json
import math
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import xgboost as xgb

# The churn-like table: (name, MLflow signature type). `contract` is an integer code
# (0 month-to-month, 1 one-year, 2 two-year), categorical for one LightGBM model.
COLUMNS = [
    ("tenure_months", "long"),
    ("monthly_charges", "double"),
    ("total_charges", "double"),
    ("support_tickets", "long"),
    ("contract", "long"),
    ("logins_30d", "long"),
    ("days_since_login", "double"),
    ("paperless_billing", "long"),
]
N_TRAIN, N_VALID, N_TEST = 2000, 400, 300


def churn_table(seed=7):
    """Features (float64, NaN = missing) and three targets: churn (binary), next month's
    spend (regression) and a 3-level risk tier (multiclass)."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_VALID + N_TEST
    tenure = rng.integers(0, 73, n)
    monthly = np.round(rng.uniform(18.0, 120.0, n), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, n), 2)
    total[rng.random(n) < 0.05] = np.nan
    tickets = rng.poisson(1.2, n)
    contract = rng.choice(3, n, p=[0.55, 0.25, 0.2])
    logins = rng.poisson(12, n)
    days = np.round(rng.exponential(9.0, n), 1)
    days[rng.random(n) < 0.08] = np.nan
    paperless = rng.integers(0, 2, n)
    x = np.column_stack(
        [tenure, monthly, total, tickets, contract, logins, days, paperless]
    ).astype(np.float64)
    days_filled = np.where(np.isnan(days), 30.0, days)
    logit = (
        -0.04 * tenure
        + 0.02 * monthly
        + 0.45 * tickets
        - 1.1 * contract
        - 0.08 * logins
        + 0.05 * days_filled
        + 0.3 * paperless
        - 0.6
    )
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    spend = monthly * (1 + 0.01 * tickets) - 2.0 * contract + rng.normal(0, 3.0, n)
    risk = np.digitize(logit + rng.normal(0, 0.7, n), [-1.0, 0.8]).astype(np.int64)
    # Held-out rows only: contract missing, unseen (3) or negative, a row with nothing
    # known, values at LightGBM's zero threshold.
    test = slice(N_TRAIN + N_VALID, n)
    xt = x[test]
    xt[rng.random(len(xt)) < 0.04, 4] = np.nan
    xt[rng.random(len(xt)) < 0.02, 4] = 3
    xt[5, 4] = -1
    xt[7, :] = np.nan
    xt[9, 6] = 1e-40
    xt[11, 6] = -1e-36
    return x, {"binary": churn, "regression": spend, "multiclass": risk, "count": tickets}


def split(a):
    return a[:N_TRAIN], a[N_TRAIN : N_TRAIN + N_VALID], a[N_TRAIN + N_VALID :]


def _xgb_booster(params, x, y, rounds):
    params = {"max_depth": 3, "eta": 0.3, "seed": 1, "nthread": 1, **params}
    return xgb.train(params, xgb.DMatrix(x, label=y, nthread=1), rounds)


def _lgb_booster(params, x, y, rounds, **dataset):
    params = {
        "num_leaves": 8,
        "learning_rate": 0.2,
        "min_data_in_leaf": 20,
        "seed": 1,
        "num_threads": 1,
        "deterministic": True,
        "verbose": -1,
        **params,
    }
    return lgb.train(params, lgb.Dataset(x, label=y, **dataset), rounds)


def _tolist(a):
    """Exact JSON values: float32 widened to float64 (as `mlflow models serve` does),
    NaN as None."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        return [
            _tolist(r) if isinstance(r, np.ndarray) else (None if math.isnan(r) else float(r))
            for r in a
        ]
    return a.tolist()


def models(x, y, extended):
    """NAME -> (library, model, file extensions, model_class, task)."""
    x_tr, x_va, _ = split(x)
    t = {k: split(v) for k, v in y.items()}
    out = {}
    # XGBoost Boosters: the main case in every format mlflow.xgboost writes.
    out["xgb_binary"] = (
        "xgboost",
        _xgb_booster({"objective": "binary:logistic"}, x_tr, t["binary"][0], 20),
        ["ubj", "json", "xgb"],
        "xgboost.core.Booster",
        "binary",
    )
    out["xgb_regression"] = (
        "xgboost",
        _xgb_booster({"objective": "reg:squarederror"}, x_tr, t["regression"][0], 12),
        ["ubj"],
        "xgboost.core.Booster",
        "regression",
    )
    out["xgb_multiclass"] = (
        "xgboost",
        _xgb_booster({"objective": "multi:softprob", "num_class": 3}, x_tr, t["multiclass"][0], 6),
        ["ubj"],
        "xgboost.core.Booster",
        "multiclass",
    )
    out["xgb_poisson"] = (
        "xgboost",
        _xgb_booster({"objective": "count:poisson"}, x_tr, t["count"][0], 8),
        ["json"],
        "xgboost.core.Booster",
        "regression",
    )
    # scikit-learn wrappers, saved natively by mlflow.xgboost; early stopping: predict uses
    # the best iteration.
    clf = xgb.XGBClassifier(
        n_estimators=60,
        max_depth=3,
        learning_rate=0.3,
        early_stopping_rounds=5,
        random_state=1,
        n_jobs=1,
    )
    clf.fit(x_tr, t["binary"][0], eval_set=[(x_va, t["binary"][1])], verbose=False)
    if clf.best_iteration >= 59:
        raise RuntimeError("xgb_classifier: early stopping did not stop early")
    out["xgb_classifier"] = ("xgboost", clf, ["ubj"], "xgboost.sklearn.XGBClassifier", "binary")
    mclf = xgb.XGBClassifier(n_estimators=5, max_depth=3, random_state=1, n_jobs=1)
    mclf.fit(x_tr, t["multiclass"][0])
    out["xgb_multi_classifier"] = (
        "xgboost",
        mclf,
        ["json"],
        "xgboost.sklearn.XGBClassifier",
        "multiclass",
    )
    reg = xgb.XGBRegressor(n_estimators=8, max_depth=3, random_state=1, n_jobs=1)
    reg.fit(x_tr, t["regression"][0])
    out["xgb_regressor"] = ("xgboost", reg, ["ubj"], "xgboost.sklearn.XGBRegressor", "regression")
    # Categorical splits on an integer-coded column (no pandas categories).
    cat = xgb.train(
        {
            "objective": "binary:logistic",
            "max_depth": 3,
            "tree_method": "hist",
            "seed": 1,
            "nthread": 1,
        },
        xgb.DMatrix(
            x_tr,
            label=t["binary"][0],
            feature_types=["q"] * 4 + ["c"] + ["q"] * 3,
            enable_categorical=True,
            nthread=1,
        ),
        8,
    )
    out["xgb_categorical"] = ("xgboost", cat, ["json"], "xgboost.core.Booster", "binary")
    # LightGBM Boosters (mlflow.lightgbm writes a Booster as its text model, model.lgb).
    out["lgb_binary"] = (
        "lightgbm",
        _lgb_booster({"objective": "binary"}, x_tr, t["binary"][0], 15),
        ["lgb"],
        "lightgbm.basic.Booster",
        "binary",
    )
    out["lgb_categorical"] = (
        "lightgbm",
        _lgb_booster(
            {"objective": "binary", "cat_smooth": 1.0, "min_data_per_group": 10},
            x_tr,
            t["binary"][0],
            10,
            categorical_feature=[4],
        ),
        ["lgb"],
        "lightgbm.basic.Booster",
        "binary",
    )
    out["lgb_regression"] = (
        "lightgbm",
        _lgb_booster({"objective": "regression"}, x_tr, t["regression"][0], 12),
        ["lgb"],
        "lightgbm.basic.Booster",
        "regression",
    )
    out["lgb_multiclass"] = (
        "lightgbm",
        _lgb_booster({"objective": "multiclass", "num_class": 3}, x_tr, t["multiclass"][0], 6),
        ["lgb"],
        "lightgbm.basic.Booster",
        "multiclass",
    )
    out["lgb_poisson"] = (
        "lightgbm",
        _lgb_booster({"objective": "poisson"}, x_tr, t["count"][0], 8),
        ["lgb"],
        "lightgbm.basic.Booster",
        "regression",
    )
    if extended:
        out.update(extended_models(x_tr, t))
    return out


def extended_models(x_tr, t):
    """Every other objective served natively, one small model each."""
    positive = np.abs(t["regression"][0]) + 1.0
    out = {}
    for objective, label, params in [
        ("reg:squaredlogerror", positive, {}),
        ("reg:logistic", t["binary"][0], {}),
        ("reg:pseudohubererror", t["regression"][0], {}),
        ("reg:absoluteerror", t["regression"][0], {}),
        ("reg:quantileerror", t["regression"][0], {"quantile_alpha": 0.7}),
        ("reg:gamma", positive, {}),
        ("reg:tweedie", positive, {}),
    ]:
        name = "xgb_" + objective.split(":")[1]
        out[name] = (
            "xgboost",
            _xgb_booster({"objective": objective, **params}, x_tr, label, 8),
            ["ubj"],
            "xgboost.core.Booster",
            "regression",
        )
    forest = xgb.train(
        {
            "objective": "binary:logistic",
            "num_parallel_tree": 4,
            "subsample": 0.8,
            "colsample_bynode": 0.8,
            "eta": 1.0,
            "max_depth": 3,
            "seed": 1,
            "nthread": 1,
        },
        xgb.DMatrix(x_tr, label=t["binary"][0], nthread=1),
        2,
    )
    out["xgb_forest"] = ("xgboost", forest, ["ubj"], "xgboost.core.Booster", "binary")
    for name, params, label, task in [
        (
            "lgb_multiclassova",
            {"objective": "multiclassova", "num_class": 3},
            t["multiclass"][0],
            "multiclass",
        ),
        (
            "lgb_regression_sqrt",
            {"objective": "regression", "reg_sqrt": True},
            positive,
            "regression",
        ),
        ("lgb_regression_l1", {"objective": "regression_l1"}, t["regression"][0], "regression"),
        ("lgb_huber", {"objective": "huber"}, t["regression"][0], "regression"),
        ("lgb_fair", {"objective": "fair"}, t["regression"][0], "regression"),
        ("lgb_quantile", {"objective": "quantile", "alpha": 0.7}, t["regression"][0], "regression"),
        ("lgb_mape", {"objective": "mape"}, positive, "regression"),
        ("lgb_gamma", {"objective": "gamma"}, positive, "regression"),
        ("lgb_tweedie", {"objective": "tweedie"}, positive, "regression"),
        ("lgb_cross_entropy", {"objective": "cross_entropy"}, t["binary"][0], "regression"),
        (
            "lgb_cross_entropy_lambda",
            {"objective": "cross_entropy_lambda"},
            t["binary"][0],
            "regression",
        ),
        ("lgb_binary_sigmoid", {"objective": "binary", "sigmoid": 0.7}, t["binary"][0], "binary"),
        (
            "lgb_rf",
            {
                "objective": "binary",
                "boosting": "rf",
                "bagging_fraction": 0.8,
                "bagging_freq": 1,
                "feature_fraction": 0.8,
            },
            t["binary"][0],
            "binary",
        ),
        (
            "lgb_zero_as_missing",
            {"objective": "binary", "zero_as_missing": True},
            t["binary"][0],
            "binary",
        ),
    ]:
        out[name] = (
            "lightgbm",
            _lgb_booster(params, x_tr, label, 6),
            ["lgb"],
            "lightgbm.basic.Booster",
            task,
        )
    return out


def predictions(model, x):
    """What MLflow's pyfunc `predict` returns for these rows (the model's own predict on
    the DataFrame), and predict_proba for the scikit-learn classifiers."""
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(x, nthread=1)), None
    if isinstance(model, xgb.XGBClassifier):
        return model.predict(x), model.predict_proba(x)
    if isinstance(model, xgb.XGBModel):
        return model.predict(x), None
    return model.predict(x), None


def _load(library, path):
    if library == "lightgbm":
        return lgb.Booster(model_file=str(path))
    raise AssertionError(library)


def generate(out_dir: Path, extended=False):
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y = churn_table()
    x_test = split(x)[2]
    (out_dir / "data.json").write_text(
        json.dumps(
            {
                "columns": [c for c, _ in COLUMNS],
                "types": [t for _, t in COLUMNS],
                "rows": _tolist(x_test),
            }
        )
    )
    written = 0
    for name, (library, model, exts, model_class, task) in models(x, y, extended).items():
        for ext in exts:
            stem = name if len(exts) == 1 else f"{name}_{ext}"
            path = out_dir / f"{stem}.{'lgb' if library == 'lightgbm' else ext}"
            if library == "xgboost":
                # what mlflow.xgboost.save_model does: model.save_model("model.<format>")
                model.save_model(str(path))
                loaded = model.__class__()
                loaded.load_model(str(path))
            else:
                # what mlflow.lightgbm.save_model does for a Booster
                model.save_model(str(path))
                loaded = _load(library, path)
            predict, proba = predictions(loaded, x_test)
            direct, _ = predictions(model, x_test)
            if not np.array_equal(np.asarray(direct), np.asarray(predict), equal_nan=True):
                raise RuntimeError(
                    f"{stem}: the saved model predicts differently from the trained one"
                )
            expected = {
                "library": library,
                "file": path.name,
                "model_class": model_class,
                "model_format": ext if library == "xgboost" else None,
                "task": task,
                "version": xgb.__version__ if library == "xgboost" else lgb.__version__,
                "predict": _tolist(predict),
            }
            if proba is not None:
                expected["predict_proba"] = _tolist(proba)
            (out_dir / f"{stem}.expected.json").write_text(json.dumps(expected))
            written += 1
            print(f"{stem}: {path.name} ({path.stat().st_size} bytes)")
    print(f"generated {written} models in {out_dir}")


def main(argv):
    if len(argv) in (2, 3) and argv[0] == "generate" and argv[2:] in ([], ["--extended"]):
        generate(Path(argv[1]), extended=argv[2:] == ["--extended"])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
