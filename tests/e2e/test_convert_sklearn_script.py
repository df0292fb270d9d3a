"""The converter script Slipway embeds (crates/slipway-python/python/convert_sklearn.py), its
pieces tested directly in the pinned e2e venv (no server): scalers folded into trees decide as
scikit-learn does on every row, parity rows are seeded and drawn from what the pipeline knows,
and an estimator skl2onnx cannot convert is named.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

SCRIPT = Path(__file__).resolve().parents[2] / "crates" / "slipway-python" / "python" / "convert_sklearn.py"
spec = importlib.util.spec_from_file_location("convert_sklearn", SCRIPT)
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)


def frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Integers, two-decimal prices with missing values, a string column; a noisy label."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({
        "tenure": rng.integers(0, 1500, n).astype("int64"),
        "tickets": rng.poisson(1.3, n).astype("int64"),
        "price": np.round(rng.normal(60, 18, n), 2),
        "plan": rng.choice(["basic", "standard", "premium"], n).astype(object),
    })
    x.loc[x.index[::11], "price"] = np.nan
    logit = 0.6 * x.tickets - 0.002 * x.tenure + 0.02 * (x.price.fillna(60) - 60) + (x.plan == "basic") - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def as_graph_sees(x: pd.DataFrame) -> pd.DataFrame:
    """Numbers as the float32 graph receives them."""
    out = x.copy()
    for c in ("tenure", "tickets", "price"):
        out[c] = out[c].astype(np.float32).astype(np.float64)
    return out


SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
TREES = {
    "rf": lambda: RandomForestClassifier(n_estimators=40, max_depth=10, random_state=0),
    "gbc": lambda: GradientBoostingClassifier(n_estimators=40, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=40, random_state=0),
}


@pytest.mark.parametrize("scaler", sorted(SCALERS))
@pytest.mark.parametrize("tree", sorted(TREES))
def test_folded_scalers_decide_as_scikit_learn(scaler, tree):
    x, y = frame(3000, 1)
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", SCALERS[scaler]())]),
             ["tenure", "tickets", "price"]),
        ])),
        ("model", TREES[tree]()),
    ]).fit(x, y)
    folded, names = cs.fold_scalers_into_trees(model)
    assert names == [f"{type(model[0].named_transformers_['num'][-1]).__module__}."
                     f"{type(model[0].named_transformers_['num'][-1]).__name__} (num)"]
    # The copy, fed what the float32 graph computes (float32 inputs, float32 imputed medians),
    # decides as the original does on the float64 values.
    test, _ = frame(4000, 2)
    imputer = folded[0].named_transformers_["num"]  # the scaler is gone from the branch
    assert isinstance(imputer, SimpleImputer)
    imputer.statistics_ = imputer.statistics_.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(folded.predict_proba(as_graph_sees(test)), model.predict_proba(test))


def test_a_top_level_scaler_is_folded_and_removed():
    x, y = frame(2000, 3)
    x = x[["tenure", "tickets"]]
    model = Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=20, random_state=0))])
    model.fit(x, y)
    folded, names = cs.fold_scalers_into_trees(model)
    assert isinstance(folded, RandomForestClassifier) and names
    test, _ = frame(3000, 4)
    np.testing.assert_array_equal(
        folded.predict_proba(test[["tenure", "tickets"]].to_numpy(dtype=np.float64)),
        model.predict_proba(test[["tenure", "tickets"]]),
    )


def test_nothing_is_folded_before_a_linear_model():
    from sklearn.linear_model import LogisticRegression

    x, y = frame(500, 5)
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x[["tenure"]], y)
    assert cs.fold_scalers_into_trees(model) == (model, [])


def test_parity_rows_are_seeded_and_use_what_the_encoders_know():
    columns = [("plan", "string", True), ("region", "string", True), ("tenure", "long", True),
               ("price", "double", False)]
    example = pd.DataFrame({"plan": ["basic"], "region": ["eu"], "tenure": [10], "price": [50.0]})
    encoders = {"plan": (["basic", "premium", "standard"], True), "region": (["eu", "us"], False)}
    a = cs.draw_rows(columns, example, {}, encoders, 2000, seed=7)
    b = cs.draw_rows(columns, example, {}, encoders, 2000, seed=7)
    assert a == b
    assert a != cs.draw_rows(columns, example, {}, encoders, 2000, seed=8)
    # plan ignores unknown categories: an unseen one is drawn; region refuses them: never.
    assert set(a["plan"]) == {"basic", "premium", "standard", cs.UNSEEN_CATEGORY}
    assert set(a["region"]) == {"eu", "us"}
    # Numbers beyond the example's single value; missing values only where allowed.
    assert min(a["tenure"]) < 10 < max(a["tenure"]) and all(isinstance(v, int) for v in a["tenure"])
    assert any(v is None for v in a["price"]) and not any(v is None for v in a["tenure"])


def test_profile_quantiles_shape_the_numbers():
    columns = [("tenure", "long", True)]
    profile = {"tenure": {"name": "tenure", "kind": "numeric", "null_rate": 0.0,
                          "quantiles": [[0.0, 100.0], [0.5, 200.0], [1.0, 300.0]]}}
    drawn = np.asarray(cs.draw_rows(columns, None, profile, {}, 4000, seed=1)["tenure"])
    inside = drawn[(drawn >= 100) & (drawn <= 300)]
    assert len(inside) > 0.9 * len(drawn)
    assert abs(np.median(inside) - 200) < 10


def test_an_estimator_without_a_converter_is_named():
    class Clip(TransformerMixin, BaseEstimator):
        def fit(self, x, y=None):
            return self

        def transform(self, x):
            return np.clip(x, 0, 100)

    x, y = frame(300, 6)
    model = Pipeline([("clip", Clip()), ("gbc", GradientBoostingClassifier(n_estimators=5))])
    model.fit(x[["tenure", "tickets"]], y)
    with pytest.raises(cs.Unconvertible) as err:
        cs.convert(model, [("tenure", "long", True), ("tickets", "long", True)], None)
    assert err.value.estimator.endswith("Clip"), err.value.estimator
    assert "no converter" in err.value.message
