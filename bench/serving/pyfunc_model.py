"""bench/serving/pyfunc.sh's model and bodies: logs a trivial mlflow.pyfunc.PythonModel (string
and number columns in; a DataFrame with a label and a probability out, vectorised pandas) with
a signature to the tracking server in MLFLOW_TRACKING_URI, registered as NAME version 1, and
writes N different one-row /invocations bodies (dataframe_split) as OUT/0.json ... OUT/N-1.json.

    python pyfunc_model.py NAME OUT N
"""

import json
import pathlib
import sys

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature


class Trivial(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        p = (model_input["tenure"] / 72.0 * 0.5 + (model_input["plan"] == "basic") * 0.3).clip(0, 1)
        return pd.DataFrame({"label": np.where(p >= 0.5, "churn", "stay"), "probability": p})


def frame(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "plan": rng.choice(["basic", "pro", "premium"], n).astype(object),
        "region": rng.choice(["us-east", "eu-west", "apac"], n).astype(object),
        "tenure": rng.integers(0, 72, n).astype("int64"),
        "charges": np.round(rng.uniform(10, 120, n), 2),
        "logins": rng.integers(0, 60, n).astype("int64"),
    })


def main():
    name, out, n = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
    train = frame(500, seed=0)
    model = Trivial()
    mlflow.set_experiment("bench-pyfunc")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(train, model.predict(None, train)),
            input_example=train.head(2),
            registered_model_name=name,
            pip_requirements=["mlflow", "pandas", "numpy"],
        )
    out.mkdir(parents=True, exist_ok=True)
    rows = frame(n, seed=1)
    for i in range(n):
        split = json.loads(rows.iloc[[i]].to_json(orient="split", index=False))
        (out / f"{i}.json").write_text(json.dumps({"dataframe_split": split}))


if __name__ == "__main__":
    main()
