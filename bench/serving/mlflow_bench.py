"""Python side of mlflow_serve.sh: logs the benchmark's models to a tracking server with the
official MLflow client, writes the request-body pools, checks a server's answers against the
Python models, and prints the report.

  prepare  --data training.parquet --work DIR --tracking-uri URI [--pool N] [--samples K]
           Splits the table (seeded, stratified 80/20), fits the guide's pipeline with
           train_sklearn.py, and logs and registers (version 1 of each):
             churn-sklearn   mlflow.sklearn.log_model (the guide's Step 1; skops by default)
             churn-onnx      the same pipeline converted with skl2onnx, mlflow.onnx.log_model
             churn-pyfunc    a custom mlflow.pyfunc.PythonModel wrapping the same pipeline
             churn-xgboost   xgboost.train Booster, mlflow.xgboost.log_model (native file)
             churn-lightgbm  lightgbm.train Booster, mlflow.lightgbm.log_model (native file)
           and writes DIR/bodies/<features>.{invocations,predict}.jsonl (one body per line, one
           held-out row per body, every body a different row), DIR/expected.json (the Python
           models' answers for the first K bodies) and DIR/models.json.
  check    --work DIR --features raw|coded --expect MODEL --base URL --endpoint PATH [--samples K]
           Sends the first K bodies one by one and compares: labels equal, probabilities within
           1e-5 where the answer has them. Exit 1 on any difference.
  report   --work DIR
           Tables, ratios and the issue's goals from DIR/servers.tsv, points.tsv, checks.tsv.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBABILITY_TOLERANCE = 1e-5
STRING_COLUMNS_KINDS = ("O", "U", "S")


# ---------------------------------------------------------------------------------------------
# prepare


def split_frame(data: Path, seed: int = 42):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_parquet(data)
    train, holdout = train_test_split(df, test_size=0.2, random_state=seed, stratify=df["churn"])
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def string_columns(x) -> list[str]:
    return [
        c
        for c in x.columns
        if x[c].dtype.kind in STRING_COLUMNS_KINDS or str(x[c].dtype).startswith(("string", "category"))
    ]


def category_codes(x_train):
    """Per string column, its training categories in sorted order (code = position)."""
    return {c: sorted(x_train[c].dropna().unique().tolist()) for c in string_columns(x_train)}


def encode_codes(x, codes):
    """String columns as float category codes (unknown: NaN), every column float64."""
    out = x.copy()
    for c, cats in codes.items():
        index = {v: float(i) for i, v in enumerate(cats)}
        out[c] = out[c].map(lambda v, index=index: index.get(v, math.nan))
    return out.astype("float64")


def json_value(v):
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def records(frame) -> list[dict]:
    return [
        {c: json_value(v) for c, v in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False)
    ]


def write_bodies(path_base: Path, frame, customer_ids) -> None:
    """One body per line: /invocations dataframe_split (one row) and the guide's /predict."""
    columns = list(frame.columns)
    rows = records(frame)
    with open(f"{path_base}.invocations.jsonl", "w") as inv, open(f"{path_base}.predict.jsonl", "w") as pred:
        for cid, row in zip(customer_ids, rows, strict=True):
            split = {"dataframe_split": {"columns": columns, "data": [[row[c] for c in columns]]}}
            inv.write(json.dumps(split, separators=(",", ":")) + "\n")
            pred.write(json.dumps({"customer_id": str(cid), "features": row}, separators=(",", ":")) + "\n")


def onnx_initial_types(x):
    """One ONNX input per column: strings as strings, every number as float (the pipeline's
    SimpleImputer takes the integer and float columns together, and skl2onnx's imputer needs
    one input type)."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    strings = set(string_columns(x))
    return [
        (c, StringTensorType([None, 1]) if c in strings else FloatTensorType([None, 1])) for c in x.columns
    ]


def prepare(args) -> int:
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    work = Path(args.work)
    (work / "bodies").mkdir(parents=True, exist_ok=True)
    train, holdout = split_frame(Path(args.data))
    train.to_parquet(work / "train.parquet")

    # The guide's pipeline, fitted by the existing benchmark's script (same code FastAPI serves).
    subprocess.run(
        [
            sys.executable,
            str(HERE / "train_sklearn.py"),
            str(work / "train.parquet"),
            str(work / "model.pkl"),
            str(work / "fastapi_body.json"),
        ],
        check=True,
    )
    with open(work / "model.pkl", "rb") as f:
        pipeline = pickle.load(f)

    y_train = train.pop("churn").astype(int)
    x_train = train.drop(columns=["customer_id"])
    # The request pool: held-out rows without missing values (the guide's FastAPI app declares
    # features as dict[str, float | str], so a null would be a 422 there, not a prediction).
    holdout = holdout.dropna().reset_index(drop=True)
    if len(holdout) < args.pool:
        raise SystemExit(f"only {len(holdout)} complete held-out rows; ask for fewer than --pool {args.pool}")
    pool = holdout.iloc[: args.pool]
    ids = pool["customer_id"].tolist()
    x_pool = pool.drop(columns=["customer_id", "churn"])[list(x_train.columns)]

    codes = category_codes(x_train)
    xc_train = encode_codes(x_train, codes)
    xc_pool = encode_codes(x_pool, codes)
    write_bodies(work / "bodies" / "raw", x_pool, ids)
    write_bodies(work / "bodies" / "coded", xc_pool, ids)

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("bench-mlflow-serve")
    example = x_train.iloc[:5]
    models = {}

    # 1. the guide's Step 1: mlflow.sklearn.log_model with signature, input example, registry.
    sk_format = args.sklearn_format
    sk_kwargs = {"serialization_format": sk_format}
    if sk_format == "skops":
        import skops.io

        # mlflow 3.17 refuses to write a skops file with types it does not trust; the user
        # passes the pipeline's own list (what skops says the file holds), as its message asks.
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
        sk_kwargs["skops_trusted_types"] = untrusted
    with mlflow.start_run(run_name="sklearn"):
        signature = infer_signature(x_train, pipeline.predict(x_train))
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name="churn-sklearn",
            **sk_kwargs,
        )
    models["churn-sklearn"] = {"flavor": f"mlflow.sklearn ({sk_format})", "features": "raw"}

    # 2. the same pipeline as ONNX (one input per column), what a user could log for issue 6.
    from skl2onnx import to_onnx

    onx = to_onnx(
        pipeline,
        initial_types=onnx_initial_types(x_train),
        target_opset={"": 17, "ai.onnx.ml": 3},
        options={"zipmap": False},
    )
    with mlflow.start_run(run_name="onnx"):
        signature = infer_signature(x_train, pipeline.predict_proba(x_train))
        mlflow.onnx.log_model(onx, name="model", signature=signature, registered_model_name="churn-onnx")
    models["churn-onnx"] = {"flavor": "mlflow.onnx (skl2onnx of the same pipeline)", "features": "raw"}

    # 3. a custom PythonModel doing the same work as the sklearn flavor's pyfunc (predict).
    with mlflow.start_run(run_name="pyfunc"):
        signature = infer_signature(x_train, pipeline.predict(x_train))
        mlflow.pyfunc.log_model(
            name="model",
            python_model=churn_pipeline_model(pipeline),
            signature=signature,
            input_example=example,
            registered_model_name="churn-pyfunc",
        )
    models["churn-pyfunc"] = {
        "flavor": "mlflow.pyfunc PythonModel (wraps the same pipeline)",
        "features": "raw",
    }

    # 4./5. native GBDT Boosters on the same rows (string columns as category codes), the
    # guide's hyper-parameters (100 trees, depth 3, learning rate 0.1).
    import lightgbm
    import xgboost

    booster_x = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "seed": 42, "nthread": 1},
        xgboost.DMatrix(xc_train, label=y_train),
        num_boost_round=100,
    )
    booster_l = lightgbm.train(
        {
            "objective": "binary",
            "num_leaves": 8,
            "max_depth": 3,
            "learning_rate": 0.1,
            "seed": 42,
            "num_threads": 1,
            "verbose": -1,
        },
        lightgbm.Dataset(xc_train, label=y_train),
        num_boost_round=100,
    )
    xc_example = xc_train.iloc[:5]
    with mlflow.start_run(run_name="xgboost"):
        signature = infer_signature(xc_train, booster_x.predict(xgboost.DMatrix(xc_train)))
        mlflow.xgboost.log_model(
            booster_x,
            name="model",
            signature=signature,
            input_example=xc_example,
            registered_model_name="churn-xgboost",
        )
    with mlflow.start_run(run_name="lightgbm"):
        signature = infer_signature(xc_train, booster_l.predict(xc_train))
        mlflow.lightgbm.log_model(
            booster_l,
            name="model",
            signature=signature,
            input_example=xc_example,
            registered_model_name="churn-lightgbm",
        )
    models["churn-xgboost"] = {"flavor": "mlflow.xgboost (Booster, model.ubj)", "features": "coded"}
    models["churn-lightgbm"] = {"flavor": "mlflow.lightgbm (Booster, model.lgb)", "features": "coded"}

    # The Python models' answers for the sample bodies (the first K of each pool).
    k = args.samples
    sk_proba = pipeline.predict_proba(x_pool.iloc[:k])[:, 1]
    sk_labels = pipeline.predict(x_pool.iloc[:k])
    px = booster_x.predict(xgboost.DMatrix(xc_pool.iloc[:k]))
    pl = booster_l.predict(xc_pool.iloc[:k])
    sklearn_expected = [
        {"label": int(lab), "probability": float(p)} for lab, p in zip(sk_labels, sk_proba, strict=True)
    ]
    expected = {
        "churn-sklearn": sklearn_expected,
        "churn-onnx": sklearn_expected,
        "churn-pyfunc": sklearn_expected,
        "fastapi": sklearn_expected,
        "churn-xgboost": [{"label": int(p > 0.5), "probability": float(p)} for p in px],
        "churn-lightgbm": [{"label": int(p > 0.5), "probability": float(p)} for p in pl],
    }
    (work / "expected.json").write_text(json.dumps(expected, indent=1))
    (work / "models.json").write_text(json.dumps(models, indent=1))
    print(
        f"[bench] logged {len(models)} models; pool: {len(x_pool)} held-out rows "
        f"({len(np.unique(ids))} distinct customers), {k} sample bodies checked per server",
        file=sys.stderr,
    )
    return 0


def churn_pipeline_model(pipeline):
    """The guide's pipeline behind a custom mlflow.pyfunc.PythonModel whose predict returns the
    pipeline's labels (the same work as the sklearn flavor's pyfunc). The class is made here, not
    imported, so cloudpickle stores it by value: the served model needs no file of this bench."""
    import mlflow.pyfunc

    class ChurnPipelineModel(mlflow.pyfunc.PythonModel):
        def __init__(self, pipeline):
            self.pipeline = pipeline

        def predict(self, context, model_input, params=None):
            return self.pipeline.predict(model_input)

    return ChurnPipelineModel(pipeline)


# ---------------------------------------------------------------------------------------------
# check


def is_integral(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()


def answer_from(value) -> dict:
    """One row's answer as {label, probability?}: a label, a probability of class 1, a [p0, p1]
    pair, or a record with label / probability fields (what the servers here return)."""
    if isinstance(value, bool):
        return {"label": int(value)}
    if isinstance(value, (int, float)):
        if is_integral(value):
            return {"label": int(value)}
        return {"label": int(value > 0.5), "probability": float(value)}
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return {"label": int(value[1] > value[0]), "probability": float(value[1])}
    if isinstance(value, list) and len(value) == 1:
        return answer_from(value[0])
    if isinstance(value, dict):
        out = {}
        for key in ("prediction", "label", "output_label", "predict"):
            if key in value:
                out.update(answer_from(value[key]))
                break
        for key in ("probability", "probabilities", "output_probability", "predict_proba"):
            if key in value and value[key] is not None:
                p = answer_from(value[key])
                if "probability" in p:
                    out["probability"] = p["probability"]
                    out.setdefault("label", p["label"])
                break
        if "label" in out:
            return out
    raise ValueError(f"cannot read a prediction from {json.dumps(value)[:200]}")


def parse_response(endpoint: str, body) -> dict:
    if endpoint == "/predict":
        out = {"label": int(body["prediction"])}
        if body.get("probability") is not None:
            out["probability"] = float(body["probability"])
        return out
    predictions = body["predictions"]
    if isinstance(predictions, dict):  # columnar: {"label": [..], "probabilities": [[..]]}
        predictions = [{k: v[0] for k, v in predictions.items()}]
    if not isinstance(predictions, list) or len(predictions) != 1:
        raise ValueError(f"expected one prediction, got {json.dumps(predictions)[:200]}")
    return answer_from(predictions[0])


def check(args) -> int:
    import requests

    work = Path(args.work)
    expected = json.loads((work / "expected.json").read_text())[args.expect][: args.samples]
    kind = "invocations" if args.endpoint == "/invocations" else "predict"
    with open(work / "bodies" / f"{args.features}.{kind}.jsonl") as f:
        bodies = [next(f) for _ in range(len(expected))]
    worst = 0.0
    shown = 0
    problems = []
    for i, (body, want) in enumerate(zip(bodies, expected, strict=True)):
        try:
            r = requests.post(
                args.base + args.endpoint, data=body, headers={"Content-Type": "application/json"}, timeout=60
            )
            if r.status_code != 200:
                problems.append(f"row {i}: HTTP {r.status_code}: {r.text[:300]}")
                continue
            got = parse_response(args.endpoint, r.json())
        except Exception as e:  # noqa: BLE001 - any failure is reported as this row's problem
            problems.append(f"row {i}: {type(e).__name__}: {e}")
            continue
        if got["label"] != want["label"]:
            problems.append(
                f"row {i}: label {got['label']}, Python {want['label']} (p={want['probability']:.6f})"
            )
        if "probability" in got:
            shown += 1
            diff = abs(got["probability"] - want["probability"])
            worst = max(worst, diff)
            if not diff <= PROBABILITY_TOLERANCE:
                problems.append(
                    f"row {i}: probability {got['probability']!r}, "
                    f"Python {want['probability']!r} (|diff| {diff:.2e})"
                )
    n = len(expected)
    if problems:
        # One line: it becomes a field of checks.tsv.
        text = f"DIFFERS ({len(problems)} problem(s) in {n} rows): " + "; ".join(problems[:3])
        print(" ".join(text.split()))
        return 1
    proba = (
        f", probabilities within {worst:.1e} ({shown}/{n} rows had one)"
        if shown
        else ", labels only (no probability in the answer)"
    )
    print(f"same as Python: {n}/{n} labels equal{proba}")
    return 0


# ---------------------------------------------------------------------------------------------
# report

GOAL_NATIVE_RATIO = 300.0
GOAL_NATIVE_P99_MS = 5.0
GOAL_WORKERS_RATIO = 5.0
ALL_GROUPS = ("sklearn", "xgboost", "lightgbm", "pyfunc")


def read_tsv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]


def fmt_us(us: float) -> str:
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.2f} ms" if us < 1_000_000 else f"{us / 1e6:.2f} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    r = a / b
    return f"{r:,.0f}x" if r >= 10 else f"{r:.1f}x"


def report(args) -> int:
    work = Path(args.work)
    servers = read_tsv(work / "servers.tsv")
    points = read_tsv(work / "points.tsv")
    checks = read_tsv(work / "checks.tsv")
    concurrencies = sorted({int(p["conc"]) for p in points}) or [int(c) for c in args.concurrency.split()]

    def point(row: str, endpoint: str, conc: int) -> dict | None:
        for p in points:
            if p["row"] == row and p["endpoint"] == endpoint and int(p["conc"]) == conc:
                return p
        return None

    def rps(row, endpoint, conc):
        p = point(row, endpoint, conc)
        return float(p["rps"]) if p else None

    out = []
    say = out.append
    groups = []
    for s in servers:
        if s["group"] not in groups:
            groups.append(s["group"])

    say(
        "Prediction checks (sample bodies, each server against the Python model; "
        "labels equal, probabilities within 1e-5):"
    )
    for c in checks:
        say(f"  {c['row']:<34} {c['endpoint']:<13} {c['result']}: {c['detail']}")
    say("")

    models = json.loads((work / "models.json").read_text()) if (work / "models.json").exists() else {}
    for group in groups:
        rows = [s for s in servers if s["group"] == group]
        logged = sorted({s["model"] for s in rows if s["model"] in models})
        described = "; ".join(f"{m} = {models[m]['flavor']}" for m in logged)
        say(f"== {group}{': ' + described if described else ''} ==")
        say(
            f"  {'server':<44} {'endpoint':<13} {'conc':>4} {'req/s':>10} {'p50':>10} {'p99':>10} "
            f"{'errors':>7}  {'/mlflow':>8} {'/mlflow-w2':>10} {'/FastAPI':>9}"
        )
        mlflow_row = next((s["row"] for s in rows if s["server"] == "mlflow" and s["status"] == "ok"), None)
        mlflow_w2_row = next(
            (s["row"] for s in rows if s["server"] == "mlflow-w2" and s["status"] == "ok"), None
        )
        fastapi_row = next(
            (
                s["row"]
                for s in servers
                if s["server"] == "fastapi" and s["group"] == group and s["status"] == "ok"
            ),
            None,
        )
        for conc in concurrencies:
            for s in rows:
                if s["status"] == "unavailable":
                    continue
                for endpoint in s["endpoints"].split(","):
                    p = point(s["row"], endpoint, conc)
                    if not p:
                        continue
                    errors = int(p["status_errors"]) + int(p["socket_errors"])
                    ratios = ["", "", ""]
                    # Like for like: /invocations against mlflow's /invocations, /predict
                    # against the FastAPI app's /predict.
                    if s["server"] == "slipway" and endpoint == "/invocations":
                        ratios[0] = (
                            fmt_ratio(float(p["rps"]), rps(mlflow_row, endpoint, conc))
                            if mlflow_row
                            else "n/a"
                        )
                        ratios[1] = (
                            fmt_ratio(float(p["rps"]), rps(mlflow_w2_row, endpoint, conc))
                            if mlflow_w2_row
                            else "n/a"
                        )
                    if s["server"] == "slipway" and endpoint == "/predict" and fastapi_row:
                        ratios[2] = fmt_ratio(float(p["rps"]), rps(fastapi_row, endpoint, conc))
                    say(
                        f"  {s['label']:<44} {endpoint:<13} {conc:>4} {float(p['rps']):>10,.0f} "
                        f"{fmt_us(float(p['p50_us'])):>10} {fmt_us(float(p['p99_us'])):>10} {errors:>7}  "
                        f"{ratios[0]:>8} {ratios[1]:>10} {ratios[2]:>9}"
                    )
        for s in rows:
            if s["status"] == "ok":
                say(
                    f"  RSS after the load: {s['label']}: {float(s['rss_mib']):.1f} MiB "
                    f"({s['processes']} process(es)); ready {float(s['startup_s']):.1f} s after start"
                )
            elif s["status"] == "crashed":
                say(f"  EXITED DURING THE LOAD: {s['label']}: {s['note']}")
            else:
                say(f"  NOT MEASURED: {s['label']}: {s['note']}")
        say("")

    say(
        "Ratios: req/s of a slipway row over the named server's at the same concurrency, same endpoint "
        "(/invocations over mlflow models serve, /predict over the FastAPI app)."
    )
    say("")
    goal_conc = 64 if 64 in concurrencies else max(concurrencies)
    say(
        f"Against the issue's goals at concurrency {goal_conc}"
        + ("" if goal_conc == 64 else " (this run has no concurrency 64: NOT the issue's point)")
        + ": slipway /invocations req/s over mlflow models serve /invocations req/s, each mlflow setting"
    )
    say("on its own (the ratio must hold against each) and the p99 bound:")
    for s in servers:
        if s["server"] != "slipway":
            continue
        ml = [r for r in servers if r["group"] == s["group"] and r["server"] in ("mlflow", "mlflow-w2")]
        name = f"{s['label']} ({s['model']})"
        if s["status"] == "unavailable":
            say(f"  {name}: NOT MEASURED (the server did not start; see its group above)")
            continue
        mine = point(s["row"], "/invocations", goal_conc)
        if mine is None or int(mine["requests"]) < 0:
            say(f"  {name}: no /invocations result at concurrency {goal_conc}: NOT MET")
            continue
        need = GOAL_NATIVE_RATIO if s["goal"] == "native" else GOAL_WORKERS_RATIO
        parts, met = [], True
        for r in ml:
            theirs = rps(r["row"], "/invocations", goal_conc) if r["status"] == "ok" else None
            if not theirs:
                parts.append(f"vs {r['label']}: not measured")
                met = False
                continue
            ratio = float(mine["rps"]) / theirs
            ok = ratio >= need
            met = met and ok
            judged = "" if s["goal"] == "none" else (" (met)" if ok else " (not met)")
            parts.append(f"{ratio:,.1f}x {r['label']}{judged}")
        p99_ms = float(mine["p99_us"]) / 1000
        if s["goal"] == "native":
            p99_ok = p99_ms < GOAL_NATIVE_P99_MS
            met = met and p99_ok
            parts.append(f"p99 {p99_ms:.2f} ms{' (met)' if p99_ok else ' (not met)'}")
        else:
            parts.append(f"p99 {p99_ms:.2f} ms")
        if s["status"] == "crashed":
            met = False
            parts.append("the server exited during the load")
        elif s["goal"] == "native" and int(s["processes"]) > 1:
            met = False
            parts.append(f"the server had {int(s['processes']) - 1} child process(es): not the native path")
        if s["goal"] == "native":
            goal = f"goal >= {GOAL_NATIVE_RATIO:.0f}x and p99 < {GOAL_NATIVE_P99_MS:.0f} ms: "
        else:
            goal = f"goal >= {GOAL_WORKERS_RATIO:.0f}x: "
        verdict = goal + ("MET" if met else "NOT MET") if s["goal"] != "none" else "for reference, no goal"
        say(f"  {name}: {float(mine['rps']):,.0f} req/s; {'; '.join(parts)}; {verdict}")
    say("")
    unavailable = [s for s in servers if s["status"] == "unavailable"]
    crashed = [s for s in servers if s["status"] == "crashed"]
    differing = [c for c in checks if c["result"] != "ok"]
    no_result = [p for p in points if int(p["requests"]) < 0]
    non_2xx = [p for p in points if int(p["status_errors"]) > 0]
    socket = [p for p in points if int(p["socket_errors"]) > 0]
    where = lambda ps: ", ".join(f"{p['row']} {p['endpoint']} c={p['conc']}" for p in ps)  # noqa: E731
    for s in crashed:
        say(f"Server exited during the load: {s['label']} ({s['model']}): {s['note']}")
    if no_result:
        say(f"wrk gave no result (see the raw output): {where(no_result)}")
    if non_2xx:
        say(f"Non-2xx answers to valid bodies: {where(non_2xx)}")
    if socket:
        say(f"Socket errors or timeouts (10 s) under load, counted in 'errors' above: {where(socket)}")
    problems = {
        "server(s) not measured": len(unavailable),
        "server(s) exited during the load": len(crashed),
        "prediction check(s) differ": len(differing),
        "point(s) without a wrk result": len(no_result),
        "point(s) with non-2xx answers": len(non_2xx),
    }
    not_run = [g for g in ALL_GROUPS if g not in args.groups.split()]
    if any(problems.values()):
        say("INCOMPLETE RUN: " + ", ".join(f"{n} {what}" for what, n in problems.items() if n) + ".")
    elif not_run:
        say(
            f"Complete for the groups asked for ({', '.join(g for g in ALL_GROUPS if g not in not_run)}); "
            f"not the whole benchmark: {', '.join(not_run)} not run (MODEL_GROUPS)."
        )
    else:
        say("Complete run: every server started, answered as the Python models, and held the load.")
    print("\n".join(line.rstrip() for line in out))
    return 1 if any(problems.values()) else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--pool", type=int, default=1000)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--sklearn-format", default="skops", choices=["skops", "cloudpickle", "pickle"])
    c = sub.add_parser("check")
    c.add_argument("--work", required=True)
    c.add_argument("--features", required=True, choices=["raw", "coded"])
    c.add_argument("--expect", required=True)
    c.add_argument("--base", required=True)
    c.add_argument("--endpoint", required=True, choices=["/invocations", "/predict"])
    c.add_argument("--samples", type=int, default=8)
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--concurrency", default="1 8 64")
    r.add_argument("--groups", default=" ".join(ALL_GROUPS), help="the model groups this run asked for")
    args = parser.parse_args()
    return {"prepare": prepare, "check": check, "report": report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
