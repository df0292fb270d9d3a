#!/usr/bin/env python3
"""ONNX fixtures for crates/slipway-onnx, and the Python side of the parity check.

  make_fixtures.py generate OUT_DIR     train, convert, run onnxruntime on the full
                                        test set; write NAME.onnx + NAME.expected.json
  make_fixtures.py compare EXPECTED.json RUST_OUTPUT.json
                                        exit 1 unless every row matches within 1e-5
                                        (probabilities/values) and labels are identical
  make_fixtures.py bench OUT_DIR NAME.. onnxruntime single-row latency (µs/row, 1 thread)

Seeded and reproducible with the versions pinned in requirements.txt.
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

TOL = 1e-5


def _datasets():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
    from sklearn.model_selection import train_test_split

    out = {}
    x, y = load_breast_cancer(return_X_y=True)
    out["breast_cancer"] = train_test_split(
        x.astype(np.float32), y, test_size=0.25, random_state=42, stratify=y
    )
    # churn-like: binary, imbalanced, some missing values
    x, y = make_classification(
        n_samples=1500, n_features=12, n_informative=6, n_redundant=2,
        weights=[0.75], flip_y=0.03, random_state=7,
    )
    x = x.astype(np.float32)
    out["churn_complete"] = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    x = x.copy()
    rng = np.random.RandomState(7)
    x[rng.rand(*x.shape) < 0.03] = np.nan
    out["churn"] = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    # churn-like with a categorical column, as two inputs (numeric block, category)
    x, y = make_classification(
        n_samples=1000, n_features=6, n_informative=4, n_redundant=1,
        weights=[0.75], flip_y=0.03, random_state=11,
    )
    contract = np.where(x[:, 0] < -0.5, "month-to-month", np.where(x[:, 0] < 0.7, "one year", "two year"))
    num = x[:, 1:].astype(np.float32)
    num[np.random.RandomState(11).rand(*num.shape) < 0.03] = np.nan
    xm = np.empty((len(y), 6), dtype=object)
    xm[:, :5] = num
    xm[:, 5] = contract
    out["churn_columns"] = train_test_split(xm, y, test_size=0.2, random_state=42, stratify=y)
    out["churn_frame"] = _churn_frame()
    x, y = load_diabetes(return_X_y=True)
    out["diabetes"] = train_test_split(x.astype(np.float32), y, test_size=0.25, random_state=42)
    iris = load_iris()
    names = np.array(iris.target_names)[iris.target]
    out["iris"] = train_test_split(
        iris.data.astype(np.float32), names, test_size=0.3, random_state=42, stratify=names
    )
    return out


def _churn_frame():
    """A churn-like DataFrame as skl2onnx users convert it (one ONNX input per column):
    int64 and float32 numbers (some missing), string categories and an int64 category. A few
    test rows carry a region never seen in training (OneHotEncoder(handle_unknown="ignore"):
    all zeros)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(13)
    n = 1200
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north_america", "europe", "asia_pacific", "latam"], n)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.55, 0.25, 0.2])
    tenure = rng.randint(1, 72, n).astype(np.int64)
    tickets = rng.poisson(1.0, n).astype(np.int64)
    addons = rng.randint(0, 4, n).astype(np.int64)
    charges = (20 + 80 * rng.rand(n) + 30 * (plan == "premium")).astype(np.float32)
    logit = (-1.0 + 1.5 * (contract == "month-to-month") - 0.04 * tenure + 0.3 * tickets
             + 0.01 * charges + 0.4 * (region == "latam") - 0.3 * (addons == 2)
             + rng.normal(0, 0.5, n))
    y = (rng.rand(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    charges[rng.rand(n) < 0.05] = np.nan
    x = pd.DataFrame({"tenure_months": tenure, "monthly_charges": charges, "support_tickets": tickets,
                      "plan": plan, "region": region, "contract": contract, "addons": addons})
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    x_test = x_test.copy()
    x_test.loc[x_test.index[::17], "region"] = "antarctica"
    return x_train, x_test, y_train, y_test


def _frame_types(x):
    """skl2onnx initial types for a DataFrame, one [None, 1] input per column."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    kinds = {"i": Int64TensorType, "f": FloatTensorType, "O": StringTensorType}
    return [(c, kinds[x[c].dtype.kind]([None, 1])) for c in x.columns]


def _models():
    """(name, dataset, factory, converter, convert options)."""
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import (
        GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
    )
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from xgboost import XGBClassifier

    return [
        # skl2onnx default output: label + ZipMap'ed probabilities
        ("gbc_breast_cancer", "breast_cancer",
         lambda: GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0), "skl", {}),
        # no missing values: skl2onnx does not convert the missing-value routing that
        # scikit-learn >= 1.4 forests learn
        ("rf_churn", "churn_complete",
         lambda: RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), "skl",
         {"zipmap": False}),
        ("lr_pipeline_churn", "churn",
         lambda: Pipeline([("impute", SimpleImputer(strategy="median")),
                           ("scale", StandardScaler()),
                           ("lr", LogisticRegression(max_iter=1000))]), "skl", {}),
        # ColumnTransformer: one input per column group (numeric tensor, string category)
        ("gbc_columns_churn", "churn_columns",
         lambda: Pipeline([
             ("prep", ColumnTransformer([
                 ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                                   ("scale", StandardScaler())]), [0, 1, 2, 3, 4]),
                 ("cat", OneHotEncoder(handle_unknown="ignore"), [5]),
             ])),
             ("gbc", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)),
         ]), "skl-columns", {"zipmap": False}),
        # a DataFrame pipeline converted with one input per column (int64, float, string);
        # region ignores unknown categories, contract and addons (an int64 category; the default
        # handle_unknown) refuse them
        ("gbc_frame_churn", "churn_frame",
         lambda: Pipeline([
             ("prep", ColumnTransformer([
                 ("charges", Pipeline([("impute", SimpleImputer(strategy="median")),
                                       ("scale", StandardScaler())]), ["monthly_charges"]),
                 ("counts", StandardScaler(), ["tenure_months", "support_tickets"]),
                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
                 ("contract", OneHotEncoder(), ["contract"]),
                 ("addons", OneHotEncoder(), ["addons"]),
             ])),
             ("gbc", GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)),
         ]), "skl-frame", {}),
        ("gbr_diabetes", "diabetes",
         lambda: GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0), "skl", {}),
        ("gbc_iris", "iris",
         lambda: GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0), "skl",
         {"zipmap": False}),
        ("xgb_churn", "churn",
         lambda: XGBClassifier(n_estimators=40, max_depth=4, learning_rate=0.2, random_state=0,
                               n_jobs=1), "xgb", {}),
        ("lgbm_breast_cancer", "breast_cancer",
         lambda: LGBMClassifier(n_estimators=40, num_leaves=15, random_state=0, n_jobs=1,
                                verbose=-1), "lgbm", {}),
    ]


def _convert(model, kind, x_train, options):
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    n_features = x_train.shape[1]
    initial = [("input", FloatTensorType([None, n_features]))]
    if kind == "skl-frame":
        from skl2onnx import to_onnx

        opts = {id(model.steps[-1][1]): options} if options else None
        return to_onnx(model, initial_types=_frame_types(x_train), options=opts,
                       target_opset={"": 17, "ai.onnx.ml": 3})
    if kind == "skl-columns":
        from skl2onnx import to_onnx

        initial = [("num", FloatTensorType([None, n_features - 1])), ("contract", StringTensorType([None, 1]))]
        opts = {id(model.steps[-1][1]): options}
        return to_onnx(model, initial_types=initial, options=opts, target_opset={"": 17, "ai.onnx.ml": 3})
    if kind == "skl":
        from skl2onnx import to_onnx

        opts = {id(model): options} if options else None
        return to_onnx(model, initial_types=initial, options=opts, target_opset={"": 17, "ai.onnx.ml": 3})
    from onnxmltools.convert import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType as OFloat

    initial = [("input", OFloat([None, n_features]))]
    if kind == "xgb":
        return convert_xgboost(model, initial_types=initial, target_opset=15)
    return convert_lightgbm(model, initial_types=initial, target_opset=15, zipmap=True)


def _jsonable(v):
    """A float32 as the shortest decimal that reads back as the same float32 (NaN: null)."""
    v = np.float32(v)
    return None if math.isnan(v) else float(str(v))


def _feeds(sess, x):
    ins = sess.get_inputs()
    if hasattr(x, "columns"):  # a DataFrame: one [n, 1] input per column
        types = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(string)": str}
        return {i.name: x[[i.name]].to_numpy().astype(types[i.type]) for i in ins}
    if len(ins) == 1:
        return {ins[0].name: x}
    return {"num": x[:, :-1].astype(np.float32), "contract": x[:, -1:].astype(str)}


def _ort_outputs(sess, x):
    """Run onnxruntime; return dict with label / probabilities / values / class_labels."""
    outs = sess.run(None, _feeds(sess, x))
    res = {}
    for meta, val in zip(sess.get_outputs(), outs):
        if isinstance(val, list):  # ZipMap: list of {class: prob}
            keys = list(val[0].keys())
            res["class_labels"] = [k if isinstance(k, str) else int(k) for k in keys]
            res["probabilities"] = [[_jsonable(row[k]) for k in keys] for row in val]
        elif val.dtype.kind in "iuUSO" and "label" in meta.name:
            res["label"] = [v if isinstance(v, str) else int(v) for v in val.reshape(-1).tolist()]
        elif "label" in meta.name:
            res["label"] = val.reshape(-1).tolist()
        elif "prob" in meta.name:
            res["probabilities"] = [[_jsonable(v) for v in row] for row in val]
        else:
            res["values"] = [[_jsonable(v) for v in row] for row in val.reshape(len(x), -1)]
    return res


def _cell(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    return _jsonable(v)


def _inputs_json(sess, x):
    """The test rows: `inputs` (one float matrix) or `columns` (rows per graph input)."""
    if len(sess.get_inputs()) == 1 and not hasattr(x, "columns"):
        return {"inputs": [[_jsonable(v) for v in row] for row in x]}
    feeds = _feeds(sess, x)
    return {"columns": {name: [[_cell(v) for v in row] for row in f] for name, f in feeds.items()}}


def generate(out_dir: Path):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)

    out_dir.mkdir(parents=True, exist_ok=True)
    data = _datasets()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for name, ds, factory, kind, options in _models():
        x_train, x_test, y_train, y_test = data[ds]
        model = factory()
        model.fit(x_train, y_train)
        onx = _convert(model, kind, x_train, options)
        onx.doc_string = ""
        onx.graph.name = name  # onnxmltools names graphs with a random uuid
        opsets = sorted(((o.domain, o.version) for o in onx.opset_import))  # set order varies
        del onx.opset_import[:]
        for domain, version in opsets:
            onx.opset_import.add(domain=domain, version=version)
        path = out_dir / f"{name}.onnx"
        path.write_bytes(onx.SerializeToString())
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        res = _ort_outputs(sess, x_test)
        # the Python model itself, as a second reference
        if hasattr(model, "predict_proba"):
            sk = model.predict_proba(x_test)
            diff = float(np.max(np.abs(np.asarray(res["probabilities"]) - sk)))
        else:
            sk = model.predict(x_test)
            diff = float(np.max(np.abs(np.asarray(res["values"]).reshape(-1) - sk)))
            diff = diff / max(1.0, float(np.max(np.abs(sk))))
        expected = {
            "model": name,
            "producer": f"{onx.producer_name} {onx.producer_version}",
            "input_name": sess.get_inputs()[0].name,
            "n_rows": int(x_test.shape[0]),
            "n_features": int(x_test.shape[1]),
            **_inputs_json(sess, x_test),
            "onnxruntime_vs_python_max_abs_diff": diff,
            **res,
        }
        (out_dir / f"{name}.expected.json").write_text(json.dumps(expected, allow_nan=False) + "\n")
        ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onx.graph.node})
        print(f"{name}: {path.stat().st_size} bytes, {len(x_test)} rows, ort-vs-python {diff:.2e}, ops {ops}")


def compare(expected_path: Path, got_path: Path) -> int:
    exp = json.loads(expected_path.read_text())
    got = json.loads(got_path.read_text())
    errors = []
    n = exp["n_rows"]
    for key in ("label", "class_labels"):
        if key in exp:
            if got.get(key) != exp[key]:
                bad = [i for i, (a, b) in enumerate(zip(exp[key], got.get(key) or [])) if a != b]
                errors.append(f"{key} differs (first rows {bad[:5]}; got {str(got.get(key))[:80]})")
    worst = 0.0
    for key in ("probabilities", "values"):
        if key not in exp:
            continue
        if key not in got or len(got[key]) != n:
            errors.append(f"{key}: missing or wrong row count")
            continue
        for i, (er, gr) in enumerate(zip(exp[key], got[key])):
            if len(er) != len(gr):
                errors.append(f"{key} row {i}: {len(gr)} columns, expected {len(er)}")
                break
            for a, b in zip(er, gr):
                d = abs(a - b)
                worst = max(worst, d)
                if not d <= TOL * max(1.0, abs(a)):
                    errors.append(f"{key} row {i}: got {gr}, onnxruntime {er}")
                    break
    status = "OK" if not errors else "MISMATCH"
    print(f"{exp['model']}: {status} ({n} rows, max abs diff {worst:.2e})")
    for e in errors[:10]:
        print("  " + e)
    return 0 if not errors else 1


def bench(out_dir: Path, names):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    for name in names:
        exp = json.loads((out_dir / f"{name}.expected.json").read_text())
        rows = np.array([[np.nan if v is None else v for v in r] for r in exp["inputs"]], dtype=np.float32)
        sess = ort.InferenceSession(str(out_dir / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
        iname = sess.get_inputs()[0].name
        for r in rows[:50]:
            sess.run(None, {iname: r[None, :]})
        reps = 20
        t0 = time.process_time()
        for _ in range(reps):
            for r in rows:
                sess.run(None, {iname: r[None, :]})
        us = (time.process_time() - t0) / (reps * len(rows)) * 1e6
        t0 = time.process_time()
        for _ in range(reps):
            sess.run(None, {iname: rows})
        batch_us = (time.process_time() - t0) / (reps * len(rows)) * 1e6
        print(f"{name}: onnxruntime {ort.__version__} single-row {us:.1f} µs/row (CPU), "
              f"batch of {len(rows)} {batch_us:.2f} µs/row")


def main(argv):
    if len(argv) >= 2 and argv[0] == "generate":
        generate(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    if len(argv) >= 3 and argv[0] == "bench":
        bench(Path(argv[1]), argv[2:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
