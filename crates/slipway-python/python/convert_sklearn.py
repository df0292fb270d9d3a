"""Slipway: converts an MLflow scikit-learn model to ONNX and scores the parity rows.

Run by Slipway (crates/slipway-python, embedded in the binary) with the model's own Python
environment plus skl2onnx/onnx (and onnxmltools for LightGBM/XGBoost estimators):

    python convert_sklearn.py MODEL_DIR OUT_DIR --rows N --seed S [--profile data_profile.json]

It loads the model with MLflow's loader for its flavor (skops, pickle or cloudpickle), converts
it with skl2onnx (a DataFrame model with string columns or a ColumnTransformer: one [None, 1]
input per signature column; a numeric model: one float tensor), draws parity rows (the input
example plus N rows drawn from the signature: numbers from the training data profile or the
example's range, strings from the categories the OneHotEncoders know plus an unseen one when
they ignore unknown ones), and scores them with the Python model.

Always writes OUT_DIR/result.json: {"status": "ok" | "unconvertible" | "error", ...}; on success
also OUT_DIR/model.onnx and OUT_DIR/parity.json. Exit status 0 (ok), 3 (unconvertible: the
result names the estimator), 1 (any other error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
import traceback
import warnings

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
UNSEEN_CATEGORY = "slipway-unseen-category"
# Share of generated rows with a missing value in a nullable column (no profile).
MISSING_SHARE = 0.05
# Share of generated numbers drawn a little outside the known range.
OUTSIDE_SHARE = 0.05


class Unconvertible(Exception):
    """The model cannot take the ONNX path; `estimator` names the part that cannot."""

    def __init__(self, estimator: str, message: str):
        super().__init__(message)
        self.estimator = estimator
        self.message = message


def class_path(obj) -> str:
    t = obj if isinstance(obj, type) else type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def versions(extra_modules=()) -> dict:
    out = {"python": platform.python_version()}
    for name, module in [
        ("mlflow", "mlflow"),
        ("scikit-learn", "sklearn"),
        ("skl2onnx", "skl2onnx"),
        ("onnx", "onnx"),
        ("numpy", "numpy"),
        *extra_modules,
    ]:
        mod = sys.modules.get(module)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    return out


# ------------------------------------------------------------------------------ loading


def load_model(model_dir: str):
    """(flavor name, flavor config, estimator, MLmodel) with MLflow's loader for the flavor."""
    from mlflow.models import Model

    meta = Model.load(os.path.join(model_dir, "MLmodel"))
    flavors = meta.flavors
    pyfunc = flavors.get("python_function") or {}
    predict_fn = pyfunc.get("predict_fn")
    if predict_fn not in (None, "predict"):
        raise Unconvertible(
            "python_function",
            f"the model's pyfunc predict_fn is {predict_fn!r}: MLflow serves that method's output, "
            "the ONNX path serves predict",
        )
    if "sklearn" in flavors:
        import mlflow.sklearn

        return "sklearn", flavors["sklearn"], mlflow.sklearn.load_model(model_dir), meta
    lgb = flavors.get("lightgbm")
    if lgb and str(lgb.get("model_class", "")).startswith("lightgbm.sklearn."):
        import mlflow.lightgbm

        return "lightgbm", lgb, mlflow.lightgbm.load_model(model_dir), meta
    if pyfunc.get("loader_module") == "mlflow.sklearn":
        import mlflow.pyfunc

        wrapper = mlflow.pyfunc.load_model(model_dir)
        impl = getattr(wrapper, "_model_impl", None)
        model = getattr(impl, "sklearn_model", impl)
        return "python_function", pyfunc, model, meta
    raise Unconvertible(
        ", ".join(sorted(flavors)) or "no flavor",
        f"flavors [{', '.join(sorted(flavors))}] are not a scikit-learn model",
    )


def source_file(flavor: str, conf: dict) -> str | None:
    return conf.get("pickled_model") or conf.get("data") or conf.get("model_path")


def walk(est):
    """The estimator and every estimator inside it (pipelines, column transformers, ensembles)."""
    yield est
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(est, Pipeline):
        for _, step in est.steps:
            if step not in (None, "passthrough"):
                yield from walk(step)
    elif isinstance(est, ColumnTransformer):
        for _, trans, _cols in getattr(est, "transformers_", est.transformers):
            if not isinstance(trans, str):
                yield from walk(trans)
    elif isinstance(est, FeatureUnion):
        for _, trans in est.transformer_list:
            if not isinstance(trans, str):
                yield from walk(trans)
    else:
        for attr in ("estimators_", "estimator", "final_estimator_", "base_estimator"):
            inner = getattr(est, attr, None)
            if isinstance(inner, list):
                for e in inner:
                    if hasattr(e, "fit"):
                        yield from walk(e)
            elif inner is not None and hasattr(inner, "fit") and not isinstance(inner, type):
                yield from walk(inner)


# ------------------------------------------------------------------------------ converting


def register_gbdt_converters(model) -> list:
    """Registers onnxmltools' LightGBM/XGBoost converters for the wrappers inside `model`."""
    modules = {type(e).__module__.split(".")[0] for e in walk(model)}
    wanted = modules & {"lightgbm", "xgboost"}
    if not wanted:
        return []
    try:
        import onnxmltools  # noqa: F401
    except ImportError:
        names = ", ".join(sorted(class_path(e) for e in walk(model) if type(e).__module__.split(".")[0] in wanted))
        raise Unconvertible(names, "converting it needs onnxmltools (onnxmltools==1.16.0), which is not installed")
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    extra = [("onnxmltools", "onnxmltools")]
    if "lightgbm" in wanted:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
            convert_lightgbm, options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
            convert_lightgbm, options={"split": None},
        )
        extra.append(("lightgbm", "lightgbm"))
    if "xgboost" in wanted:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(
            XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
            convert_xgboost, options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost,
        )
        extra.append(("xgboost", "xgboost"))
    return extra


def without_xgboost_feature_names(model):
    """onnxmltools reads XGBoost's tree dump expecting features named f0, f1, ...; a model fit
    on a DataFrame names them after its columns ("could not convert string to float"). A copy
    whose boosters forget the names (the features stay in the same order)."""
    import copy

    if not any(type(e).__module__.split(".")[0] == "xgboost" for e in walk(model)):
        return model
    model = copy.deepcopy(model)
    for est in walk(model):
        if type(est).__module__.split(".")[0] == "xgboost" and hasattr(est, "get_booster"):
            est.get_booster().feature_names = None
    return model


def signature_columns(meta):
    """[(name, type, required)] of a column signature, or None for a tensor signature."""
    sig = meta.signature
    if sig is None:
        raise Unconvertible("signature", "the model has no signature: log it with signature=infer_signature(X, ...)")
    inputs = sig.inputs
    if inputs.is_tensor_spec():
        return None
    cols = []
    for spec in inputs.inputs:
        name = getattr(spec, "name", None)
        if not name:
            raise Unconvertible("signature", "a signature column has no name")
        t = spec.type.name if hasattr(spec.type, "name") else str(spec.type)
        if t not in ("long", "integer", "double", "float", "string", "boolean"):
            raise Unconvertible("signature", f"signature column {name!r} has type {t}; the ONNX path takes "
                                "long, integer, double, float, string and boolean columns")
        cols.append((name, t, bool(getattr(spec, "required", True))))
    return cols


def tensor_width(meta, model):
    spec = meta.signature.inputs.inputs[0]
    shape = tuple(spec.shape)
    if len(meta.signature.inputs.inputs) != 1 or len(shape) != 2 or shape[1] in (-1, None):
        raise Unconvertible("signature", f"tensor signature of shape {shape}: the ONNX path takes one 2-D "
                            "tensor of known width or named columns")
    kind = spec.type.kind if hasattr(spec.type, "kind") else "f"
    if kind not in "fiub":
        raise Unconvertible("signature", f"tensor signature of type {spec.type}: not numeric")
    return int(shape[1])


# ------------------------------------------------------------------------------ scalers before trees
#
# scikit-learn scales in float64, casts the result to float32, and compares it with the tree's
# threshold, which recent versions place half a float32 step above a training value. A graph
# that scales in float32 (as ONNX's Scaler does) lands a step away now and then, and that row
# takes the other branch: RandomForest pipelines differed on 8% of held-out rows. So a
# per-feature affine scaler whose output only trees read is folded into the trees instead: the
# scaler is dropped and each threshold on its output becomes the largest float32 raw value that
# scikit-learn sends left. For inputs that are float32 values (integers, most measurements) the
# graph then decides exactly as scikit-learn does; the parity check verifies it. (Trees,
# forests and gradient boosting compare float32 features; HistGradientBoosting float64 ones.)


def scaler_function(scaler):
    """(per-column float64 transform as scikit-learn computes it, columns) for an affine scaler."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    import numpy as np

    if isinstance(scaler, StandardScaler):
        mean = scaler.mean_ if scaler.with_mean else None
        scale = scaler.scale_ if scaler.with_std else None
        n = scaler.n_features_in_

        def f(j, y):
            y = np.float64(y)
            if mean is not None:
                y = y - mean[j]
            if scale is not None:
                y = y / scale[j]
            return y
        return f, n
    if isinstance(scaler, MinMaxScaler) and not scaler.clip:
        return (lambda j, y: np.float64(y) * scaler.scale_[j] + scaler.min_[j]), scaler.n_features_in_
    if isinstance(scaler, RobustScaler):
        center = scaler.center_ if scaler.with_centering else None
        scale = scaler.scale_ if scaler.with_scaling else None
        n = scaler.n_features_in_

        def g(j, y):
            y = np.float64(y)
            if center is not None:
                y = y - center[j]
            if scale is not None:
                y = y / scale[j]
            return y
        return g, n
    if isinstance(scaler, MaxAbsScaler):
        return (lambda j, y: np.float64(y) / scaler.scale_[j]), scaler.n_features_in_
    return None


F32_MAX = 3.4028234663852886e38


def f32_order(values):
    """float32 values -> integers in the same order (negative floats included)."""
    import numpy as np

    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)
    return np.where(bits < 0x80000000, bits, 0x80000000 - bits)


def f32_from_order(order):
    import numpy as np

    order = np.asarray(order, dtype=np.int64)
    bits = np.where(order >= 0, order, 0x80000000 - order).astype(np.uint32)
    return bits.view(np.float32)


def shortest_decimal(values32):
    """The decimal number each float32 value most likely stands for (its shortest repr,
    59.72 for float32(59.72)), as float64: what a request or an imputer statistic held."""
    import numpy as np

    return np.asarray(np.asarray(values32, dtype=np.float32).astype(str), dtype=np.float64)


def raw_thresholds(transform, j, thresholds, cast32):
    """For each threshold t: the largest float32 raw value y that scikit-learn sends left,
    float32(transform(x)) <= t (or transform(x) <= t when the model compares float64), x being
    the decimal y stands for: a threshold can sit exactly on a data value (59.72, an imputed
    median), which float32 cannot hold, and the graph sees float32(59.72)."""
    import numpy as np

    t = np.asarray(thresholds, dtype=np.float64)

    def decide(x64):
        scaled = transform(j, x64)
        if cast32:
            scaled = np.float32(scaled).astype(np.float64)
        return scaled <= t

    lo = np.full(t.shape, f32_order(np.float32(-F32_MAX)), dtype=np.int64)
    hi = np.full(t.shape, f32_order(np.float32(F32_MAX)), dtype=np.int64)
    all_left = decide(f32_from_order(hi).astype(np.float64))
    none_left = ~decide(f32_from_order(lo).astype(np.float64))
    # Bisection on the float32 values themselves (monotone; fast), ...
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = (lo + hi) // 2
        left = decide(f32_from_order(mid).astype(np.float64))
        lo = np.where(open_ & left, mid, lo)
        hi = np.where(open_ & ~left, mid, hi)
    # ... then a few steps to where the decimals they stand for change sides.
    inner = ~(all_left | none_left)
    for _ in range(4):
        up = decide(shortest_decimal(f32_from_order(lo + 1))) & inner
        lo = np.where(up, lo + 1, lo)
    for _ in range(4):
        down = ~decide(shortest_decimal(f32_from_order(lo))) & inner
        lo = np.where(down, lo - 1, lo)
    raw = f32_from_order(lo).astype(np.float64)
    raw = np.where(all_left, F32_MAX, raw)
    return np.where(none_left, -F32_MAX, raw)


def tree_splits(est):
    """[(feature per node (-1: leaf), threshold per node (a writable view), float32 compare)]
    of a tree model's trees, or None for another model. scikit-learn's trees, forests and
    gradient boosting compare float32 features; HistGradientBoosting compares float64 ones."""
    from sklearn.ensemble import BaseEnsemble
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.tree import BaseDecisionTree

    import numpy as np

    if isinstance(est, BaseDecisionTree):
        trees = [est]
    elif isinstance(est, (BaseForest, BaseGradientBoosting)) and isinstance(est, BaseEnsemble):
        trees = list(np.asarray(est.estimators_, dtype=object).ravel())
    elif isinstance(est, BaseHistGradientBoosting):
        out = []
        for predictors in est._predictors:
            for p in predictors:
                nodes = p.nodes
                if nodes["is_categorical"].any():
                    return None
                features = np.where(nodes["is_leaf"].astype(bool), -1, nodes["feature_idx"].astype(np.int64))
                out.append((features, nodes["num_threshold"], False))
        return out
    else:
        return None
    return [(t.tree_.feature, t.tree_.threshold, True) for t in trees]


def fold_scalers_into_trees(model):
    """A copy of `model` with the affine scalers that only its trees read folded into the trees'
    thresholds (see above); (copy, folded scaler names) or (model, []) when nothing applies."""
    import copy

    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return model, []
    if tree_splits(model.steps[-1][1]) is None:
        return model, []
    model = copy.deepcopy(model)
    final = model.steps[-1][1]
    last_name, last = model.steps[-2]
    features = {}  # final-estimator feature index -> (transform, scaler column)
    folded = []

    def strip_scaler(branch):
        """(branch without its last step when that is a scaler, the scaler) or (branch, None)."""
        if scaler_function(branch) is not None:
            return "passthrough", branch
        if isinstance(branch, Pipeline) and scaler_function(branch.steps[-1][1]) is not None:
            rest = branch.steps[:-1]
            if not rest:
                return "passthrough", branch.steps[-1][1]
            return (rest[0][1] if len(rest) == 1 else Pipeline(rest)), branch.steps[-1][1]
        return branch, None

    if isinstance(last, ColumnTransformer) and hasattr(last, "output_indices_"):
        for i, (name, trans, cols) in enumerate(last.transformers_):
            if isinstance(trans, str):
                continue
            rest, scaler = strip_scaler(trans)
            if scaler is None:
                continue
            transform, n = scaler_function(scaler)
            out = last.output_indices_[name]
            if out.stop - out.start != n:
                continue
            for k in range(n):
                features[out.start + k] = (transform, k)
            last.transformers_[i] = (name, rest, cols)
            folded.append(f"{class_path(scaler)} ({name})")
    else:
        rest, scaler = strip_scaler(last)
        if scaler is not None:
            transform, n = scaler_function(scaler)
            for k in range(n):
                features[k] = (transform, k)
            if isinstance(rest, str):
                model.steps.pop(-2)
            else:
                model.steps[-2] = (last_name, rest)
            folded.append(class_path(scaler))
    if not features:
        return model, []
    for node_features, thresholds, cast32 in tree_splits(final):
        # `thresholds` is a view: writing it changes the (copied) model's trees.
        for feature, (transform, j) in features.items():
            nodes = node_features == feature
            if nodes.any():
                thresholds[nodes] = raw_thresholds(transform, j, thresholds[nodes], cast32)
    if len(model.steps) == 1:
        return model.steps[0][1], folded
    return model, folded


def uses_named_columns(model) -> bool:
    from sklearn.compose import ColumnTransformer

    return any(isinstance(e, ColumnTransformer) for e in walk(model))


def patch_skl2onnx():
    """skl2onnx 1.20.0 passes a Python bool (and numpy uint8) as HistGradientBoosting's
    nodes_missing_value_tracks_true, an int attribute the protobuf under onnx 1.23 refuses
    ("Expected an int, got a boolean"): cast it."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node
    if getattr(original, "slipway_patched", False):
        return

    def add_node(*args, **kwargs):
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
        return original(*args, **kwargs)

    add_node.slipway_patched = True
    tree_ensemble.add_node = add_node


def convert(model, columns, width):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

    per_column = columns is not None and (
        any(t in ("string",) for _, t, _ in columns) or uses_named_columns(model)
    )
    if per_column:
        # An integer column stays int64 when only OneHotEncoders read it (their categories are
        # integers); one that a scaler, imputer or passthrough reads beside float columns is a
        # float input (skl2onnx cannot mix the two in one transformer).
        categorical = one_hot_only_columns(model)
        initial_types = []
        for name, t, _ in columns:
            if t == "string":
                initial_types.append((name, StringTensorType([None, 1])))
            elif t in ("long", "integer", "boolean") and name in categorical:
                initial_types.append((name, Int64TensorType([None, 1])))
            else:
                initial_types.append((name, FloatTensorType([None, 1])))
        layout = "columns"
    else:
        n = len(columns) if columns is not None else width
        initial_types = [("input", FloatTensorType([None, n]))]
        layout = "tensor"
    patch_skl2onnx()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(model, initial_types=initial_types, target_opset=TARGET_OPSET)
    except (MissingShapeCalculator, MissingConverter) as e:
        text = str(e)
        m = re.search(r"<class '([^']+)'>", text) or re.search(r"type '([^']+)'", text)
        estimator = m.group(1) if m else class_path(model)
        raise Unconvertible(estimator, f"skl2onnx has no converter for {estimator} ({type(e).__name__})")
    except Exception as e:  # noqa: BLE001 -- any converter failure is the model's, named
        estimator = converting_estimator(e.__traceback__) or class_path(model)
        # The root cause says most ("Expected an int, got a boolean"); node dumps say little.
        cause = e.__cause__ or e.__context__ or e
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if len(first) > 300:
            first = first[:300] + "..."
        raise Unconvertible(
            estimator, f"skl2onnx {skl2onnx_version()} failed converting it: {type(cause).__name__}: {first}"
        )
    return onx.SerializeToString(), layout


def skl2onnx_version():
    import skl2onnx

    return skl2onnx.__version__


def converting_estimator(tb):
    """The estimator skl2onnx was converting when it raised: the deepest frame holding an
    `operator` (skl2onnx's wrapper of one estimator)."""
    found = None
    while tb is not None:
        op = tb.tb_frame.f_locals.get("operator")
        raw = getattr(op, "raw_operator", None)
        if raw is not None:
            found = raw
        tb = tb.tb_next
    return class_path(found) if found is not None else None


# ------------------------------------------------------------------------------ parity rows


def column_readers(model):
    """{column name: [transformers reading it]} over the ColumnTransformers in the model."""
    from sklearn.compose import ColumnTransformer

    readers = {}
    for est in walk(model):
        if not isinstance(est, ColumnTransformer):
            continue
        for _, trans, cols in getattr(est, "transformers_", est.transformers):
            if isinstance(trans, str) and trans == "drop":
                continue
            for name in [cols] if isinstance(cols, str) else list(cols):
                if isinstance(name, str):
                    readers.setdefault(name, []).append(trans)
    return readers


def one_hot_only_columns(model):
    """Columns every reader of which is a OneHotEncoder (or a pipeline starting with one)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    def one_hot(trans):
        if isinstance(trans, Pipeline):
            trans = trans.steps[0][1]
        return isinstance(trans, OneHotEncoder)

    return {name for name, readers in column_readers(model).items() if all(one_hot(t) for t in readers)}


def encoder_categories(model):
    """{column: (categories, unknown allowed)} from the OneHotEncoders of ColumnTransformers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    out = {}
    for est in walk(model):
        if not isinstance(est, ColumnTransformer):
            continue
        for _, trans, cols in getattr(est, "transformers_", []):
            if isinstance(trans, str):
                continue
            encoders = [trans] if isinstance(trans, OneHotEncoder) else (
                [s for _, s in trans.steps if isinstance(s, OneHotEncoder)] if isinstance(trans, Pipeline) else []
            )
            if not encoders or not hasattr(encoders[0], "categories_"):
                continue
            enc = encoders[0]
            names = list(cols) if not isinstance(cols, str) else [cols]
            if not all(isinstance(c, str) for c in names):
                continue
            unknown_ok = enc.handle_unknown in ("ignore", "infrequent_if_exist", "warn")
            for name, cats in zip(names, enc.categories_):
                values = [c.item() if hasattr(c, "item") else c for c in cats]
                values = [v for v in values if not (isinstance(v, float) and math.isnan(v)) and v is not None]
                prev = out.get(name)
                out[name] = (values, unknown_ok and (prev is None or prev[1]))
    return out


def load_profile(path):
    if not path:
        return {}
    with open(path) as f:
        doc = json.load(f)
    return {feat["name"]: feat for feat in doc.get("features", [])}


def example_frame(meta, model_dir):
    try:
        example = meta.load_input_example(model_dir)
    except Exception:  # noqa: BLE001 -- an unreadable example just means no example rows
        return None
    return example


def draw_rows(columns, example, profile, encoders, n, seed):
    """n rows as {column: values} drawn from the signature, the profile and the example."""
    import numpy as np

    rng = np.random.default_rng(seed)
    drawn = {}
    for name, t, required in columns:
        feat = profile.get(name)
        known = []
        if example is not None and name in getattr(example, "columns", []):
            known = [v for v in example[name].tolist() if v is not None and not (isinstance(v, float) and math.isnan(v))]
        null_share = 0.0 if required else (feat.get("null_rate", MISSING_SHARE) if feat else MISSING_SHARE)
        if t == "string" or name in encoders:
            # A string no OneHotEncoder reads gets no unseen value: its encoder may refuse one.
            cats, unknown_ok = encoders.get(name, ([], False))
            pool = list(dict.fromkeys([*cats, *known]))
            weights = None
            if feat and feat.get("kind") == "categorical":
                freq = {str(k): v for k, v in feat.get("frequencies", [])}
                pool = list(dict.fromkeys([*pool, *freq]))
                weights = np.array([freq.get(str(c), 0.0) + 0.01 for c in pool])
            if unknown_ok:
                numbers = [v for v in pool if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if t == "string":
                    pool.append(UNSEEN_CATEGORY)
                elif numbers:
                    pool.append(max(numbers) + 1)
                if weights is not None and len(weights) < len(pool):
                    weights = np.append(weights, 0.02)
            if not pool:
                pool = [UNSEEN_CATEGORY] if t == "string" else [0]
                weights = None
            p = None if weights is None else weights / weights.sum()
            idx = rng.choice(len(pool), size=n, p=p)
            values = [pool[i] for i in idx]
            if t != "string":
                values = [int(v) if t in ("long", "integer") else float(v) for v in values]
        else:
            values = draw_numbers(rng, t, known, feat, n)
        if null_share > 0:
            for i in np.flatnonzero(rng.random(n) < null_share):
                values[i] = None
        drawn[name] = values
    return drawn


def draw_numbers(rng, t, known, feat, n):
    import numpy as np

    if t == "boolean":
        return [bool(v) for v in rng.random(n) < 0.5]
    if feat and feat.get("kind") == "numeric" and feat.get("quantiles"):
        levels = np.array([q[0] for q in feat["quantiles"]], dtype=float)
        points = np.array([q[1] for q in feat["quantiles"]], dtype=float)
        values = np.interp(rng.random(n), levels, points)
        lo, hi = float(points[0]), float(points[-1])
    else:
        # An example has a few rows: half the draws within their range, half in a range
        # widened on both sides by its width or half its magnitude, whichever is larger.
        finite = [float(v) for v in known if isinstance(v, (int, float)) and math.isfinite(float(v))]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        widen = max(hi - lo, 0.5 * max(abs(lo), abs(hi)), 1.0)
        inner = rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
        values = np.where(rng.random(n) < 0.5, inner, rng.uniform(lo - widen, hi + widen, n))
        lo, hi = lo - widen, hi + widen
    # A few values outside what was seen: serving gets those too.
    span = max(hi - lo, 1e-9)
    outside = rng.random(n) < OUTSIDE_SHARE
    values = np.where(outside, np.where(rng.random(n) < 0.5, lo - rng.random(n) * 0.25 * span,
                                        hi + rng.random(n) * 0.25 * span), values)
    if t in ("long", "integer"):
        return [int(round(v)) for v in values]
    if t == "float":
        return [float(np.float32(v)) for v in values]
    return [float(v) for v in values]


def frame(columns, data):
    """A DataFrame typed as the signature says (what MLflow's schema enforcement gives a model)."""
    import numpy as np
    import pandas as pd

    out = {}
    for name, t, _ in columns:
        values = data[name]
        if t in ("long", "integer"):
            if any(v is None for v in values):
                out[name] = pd.array(values, dtype="Int64" if t == "long" else "Int32")
            else:
                out[name] = np.asarray(values, dtype=np.int64 if t == "long" else np.int32)
        elif t in ("double", "float"):
            out[name] = np.asarray([np.nan if v is None else v for v in values],
                                   dtype=np.float64 if t == "double" else np.float32)
        elif t == "boolean":
            out[name] = np.asarray(values, dtype=bool)
        else:
            out[name] = np.asarray(values, dtype=object)
    return pd.DataFrame(out)


def plain(v):
    """A JSON-ready Python value (numpy scalars unwrapped, NaN and pandas' NA as None)."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if not isinstance(v, (bool, int, float, str)):
        import pandas as pd

        if pd.isna(v):
            return None
        return str(v)
    return v


def parity_rows(model, meta, model_dir, columns, width, profile_path, n, seed):
    import numpy as np
    from sklearn.base import is_classifier, is_regressor

    example = example_frame(meta, model_dir)
    if columns is None:
        names = [f"f{i}" for i in range(width)]
        cols = [(c, "double", True) for c in names]
        if example is not None and not hasattr(example, "columns"):
            import pandas as pd

            example = pd.DataFrame(np.asarray(example, dtype=float).reshape(-1, width), columns=names)
    else:
        cols = columns
    profile = load_profile(profile_path)
    encoders = encoder_categories(model)
    example_rows = {}
    n_example = 0
    if example is not None and hasattr(example, "columns") and all(c in example.columns for c, _, _ in cols):
        n_example = len(example)
        for c, _, _ in cols:
            example_rows[c] = [plain(v) for v in example[c].tolist()]
    drawn = draw_rows(cols, example, profile, encoders, n, seed)
    data = {c: example_rows.get(c, []) + drawn[c] for c, _, _ in cols}
    df = frame(cols, data)
    x = df.to_numpy(dtype=np.float64) if columns is None else df
    result = {
        "columns": [c for c, _, _ in cols],
        "types": [t for _, t, _ in cols],
        "example_rows": n_example,
        "rows": [[plain(data[c][i]) for c, _, _ in cols] for i in range(len(df))],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if is_classifier(model):
            if not hasattr(model, "predict_proba"):
                raise Unconvertible(class_path(model), "a classifier without predict_proba; the ONNX path "
                                    "serves labels with their probabilities")
            result["task"] = "classifier"
            result["classes"] = [plain(c) for c in model.classes_]
            result["labels"] = [plain(v) for v in model.predict(x)]
            result["proba"] = [[float(p) for p in row] for row in model.predict_proba(x)]
        elif is_regressor(model):
            values = np.asarray(model.predict(x), dtype=np.float64).reshape(len(df), -1)
            if values.shape[1] != 1:
                raise Unconvertible(class_path(model), "the model predicts several values per row; "
                                    "the ONNX path serves one")
            result["task"] = "regressor"
            result["values"] = [float(v) for v in values[:, 0]]
        else:
            raise Unconvertible(class_path(model), "the model is neither a classifier nor a regressor")
    return result


# ------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    result_path = os.path.join(args.out_dir, "result.json")
    result = {"status": "error"}
    seconds = {}
    extra_versions = []
    code = 1
    try:
        t0 = time.perf_counter()
        flavor, conf, model, meta = load_model(args.model_dir)
        seconds["load"] = time.perf_counter() - t0
        result.update({
            "flavor": flavor,
            "source_file": source_file(flavor, conf),
            "serialization_format": conf.get("serialization_format"),
            "estimator": class_path(model),
            "model_sklearn_version": conf.get("sklearn_version"),
        })
        columns = signature_columns(meta)
        width = tensor_width(meta, model) if columns is None else None
        extra_versions = register_gbdt_converters(model)
        t0 = time.perf_counter()
        graph_model, folded = fold_scalers_into_trees(without_xgboost_feature_names(model))
        if folded:
            result["folded_into_trees"] = folded
        onnx_bytes, layout = convert(graph_model, columns, width)
        seconds["convert"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        parity = parity_rows(model, meta, args.model_dir, columns, width, args.profile, args.rows, args.seed)
        seconds["score"] = time.perf_counter() - t0
        with open(os.path.join(args.out_dir, "model.onnx"), "wb") as f:
            f.write(onnx_bytes)
        with open(os.path.join(args.out_dir, "parity.json"), "w") as f:
            json.dump(parity, f, allow_nan=False)
        result.update({"status": "ok", "inputs": layout, "opset": TARGET_OPSET})
        code = 0
    except Unconvertible as e:
        result.update({"status": "unconvertible", "unconvertible_estimator": e.estimator, "message": e.message})
        code = 3
    except BaseException as e:  # noqa: BLE001 -- reported to Slipway whole
        result.update({
            "status": "error",
            "message": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(limit=12),
        })
        code = 1
    result["versions"] = versions(extra_versions)
    result["seconds"] = seconds
    with open(result_path, "w") as f:
        json.dump(result, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
