#!/usr/bin/env python3
"""The Python libraries' own predict on the rows bench/native/native_predict.rs times.

  bench.py DIR    DIR made by tests/native/make_fixtures.py generate; prints one JSON line:
                  {"python": {MODEL: {"single_row_us", "batch_1000_us_per_row"}}, versions}

Each model is loaded as MLflow loads it (a Booster, or the XGBoost scikit-learn class) and
predicts from a float64 numpy array, one thread: one row per call cycling over the held-out
rows, and 1,000-row batches (best of 5). numpy input is the libraries' fastest path; MLflow's
pyfunc adds a pandas DataFrame and schema enforcement on top of it.
"""

import json
import math
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import xgboost as xgb

CLASSES = {
    "xgboost.core.Booster": xgb.Booster,
    "xgboost.sklearn.XGBClassifier": xgb.XGBClassifier,
    "xgboost.sklearn.XGBRegressor": xgb.XGBRegressor,
}
SINGLE_CALLS = 2000
BATCH_ROWS = 1000
REPS = 5


def best_us(units, fn):
    best = math.inf
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / units * 1e6


def load(expected, path):
    if expected["library"] == "lightgbm":
        booster = lgb.Booster(model_file=str(path), params={"num_threads": 1})
        return booster.predict
    model = CLASSES[expected["model_class"]]()
    model.load_model(str(path))
    if isinstance(model, xgb.Booster):
        model.set_param({"nthread": 1})
        return lambda x: model.predict(xgb.DMatrix(x, nthread=1))
    model.set_params(n_jobs=1)
    return model.predict


def main(out_dir: Path):
    data = json.loads((out_dir / "data.json").read_text())
    rows = np.array(
        [[np.nan if v is None else v for v in r] for r in data["rows"]], dtype=np.float64
    )
    batch = np.resize(rows, (BATCH_ROWS, rows.shape[1]))
    results = {}
    for exp in sorted(out_dir.glob("*.expected.json")):
        expected = json.loads(exp.read_text())
        predict = load(expected, out_dir / expected["file"])
        predict(batch)  # warm-up: first-call costs are not per-row costs
        singles = [rows[i : i + 1] for i in range(len(rows))]

        def one(predict=predict, singles=singles):
            for i in range(SINGLE_CALLS):
                predict(singles[i % len(singles)])

        results[exp.name.removesuffix(".expected.json")] = {
            "single_row_us": best_us(SINGLE_CALLS, one),
            "batch_1000_us_per_row": best_us(BATCH_ROWS, lambda p=predict: p(batch)),
        }
    print(json.dumps({"python": results, "xgboost": xgb.__version__, "lightgbm": lgb.__version__}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
