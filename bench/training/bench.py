"""Training benchmark: `slipway train` vs scikit-learn and LightGBM.

Run through run.sh (it makes the venv, builds Slipway and exports the data):

    bash bench/training/run.sh [--quick] [--reps N] [--skip-slipway] ...

Everything here runs on one machine in one run: the baselines fit on the same
Parquet files Slipway reads, and the ratios against the issue's targets are
printed at the end. See README.md for what each row means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

LABEL = "y"
AUC_DATASETS = ["breast_cancer", "credit", "churn"]
AUC_GAP = 0.005
GBC_SPEEDUP = 10.0
LGBM_SLOWDOWN = 2.0
PREDICT_US = 20.0


# ----------------------------------------------------------------- data ---

def load(data_dir: str, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = os.path.join(data_dir, name)
    return pd.read_parquet(os.path.join(d, "train.parquet")), pd.read_parquet(
        os.path.join(d, "test.parquet")
    )


def split_xy(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    return df.drop(columns=[LABEL]), df[LABEL].to_numpy()


def string_columns(x: pd.DataFrame) -> list[str]:
    return [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]


def one_hot(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """pd.get_dummies(dummy_na=True) on the string columns, columns fixed on
    train (a level seen only in test is all zeros). Numeric NaN kept."""
    cats = string_columns(train)
    if not cats:
        return train.astype("float64"), test.astype("float64")
    tr = pd.get_dummies(train, columns=cats, dummy_na=True, dtype="float64")
    te = pd.get_dummies(test, columns=cats, dummy_na=True, dtype="float64")
    te = te.reindex(columns=tr.columns, fill_value=0.0)
    return tr.astype("float64"), te.astype("float64")


def median_impute(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    med = train.median()
    return train.fillna(med), test.fillna(med)


def as_category(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """String columns as pandas `category` with the sorted train levels (a
    missing or unseen level is NaN); LightGBM treats them as categorical."""
    tr, te = train.copy(), test.copy()
    for c in string_columns(train):
        levels = sorted(train[c].dropna().unique())
        tr[c] = pd.Categorical(train[c], categories=levels)
        te[c] = pd.Categorical(test[c], categories=levels)
    return tr, te


# ------------------------------------------------------------- timing ---

def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def fit_gbc(xtr, ytr, xte, yte, note=""):
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=0)
    _, cpu, wall = timed(lambda: model.fit(xtr, ytr))
    return model, {"auc": auc(yte, model.predict_proba(xte)[:, 1]) if xte is not None else None,
                   "fit_cpu_s": cpu, "fit_wall_s": wall, "note": note}


def fit_lgbm(xtr, ytr, xte, yte, note=""):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(verbose=-1)
    _, cpu, wall = timed(lambda: model.fit(xtr, ytr))
    return model, {"auc": auc(yte, model.predict_proba(xte)[:, 1]) if xte is not None else None,
                   "fit_cpu_s": cpu, "fit_wall_s": wall, "note": note}


# ------------------------------------------------------------ slipway ---

def run_slipway(bin_path: str, data_dir: str, name: str, verbose: bool) -> dict:
    """`slipway train --config CFG --quiet --json` in a throwaway SLIPWAY_HOME.
    Returns its JSON plus the whole process's CPU (rusage of the child)."""
    home = tempfile.mkdtemp(prefix="slipway-bench-train-")
    try:
        d = os.path.abspath(os.path.join(data_dir, name))
        cfg = os.path.join(home, "train.yaml")
        with open(cfg, "w") as f:
            f.write(
                "experiment: bench-training\n"
                f"data: {{path: {json.dumps(os.path.join(d, 'train.parquet'))}, "
                f"test_path: {json.dumps(os.path.join(d, 'test.parquet'))}}}\n"
                f"label: {LABEL}\n"
                "drop: []\n"
                "model: {type: gbm_classifier}\n"
            )
        env = dict(os.environ, SLIPWAY_HOME=home)
        for k in ("SLIPWAY_TRACKING_URI", "MLFLOW_TRACKING_URI"):
            env.pop(k, None)
        cmd = [bin_path, "train", "--config", cfg, "--quiet", "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True)
        wall = time.perf_counter() - w0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
            )
        if verbose and proc.stderr.strip():
            print(proc.stderr, file=sys.stderr)
        # --json prints one (pretty-printed) JSON object on stdout.
        text = proc.stdout.strip()
        try:
            out = json.loads(text)
        except json.JSONDecodeError:
            out = json.loads(text[text.index("{"):text.rindex("}") + 1])
        out["_process_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        out["_process_wall_s"] = wall
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def slipway_row(out: dict) -> dict:
    m = out.get("metrics", {})
    return {
        "auc": m.get("auc_roc"),
        "fit_cpu_s": out.get("fit_cpu_seconds"),
        "fit_wall_s": out.get("fit_seconds"),
        "process_cpu_s": out["_process_cpu_s"],
        "process_wall_s": out["_process_wall_s"],
        "run_id": out.get("run_id"),
        "model_type": out.get("model_type"),
        "train_rows": out.get("train_rows"),
        "test_rows": out.get("test_rows"),
    }


# ------------------------------------------------------------ latency ---

def one_row_latency(fn, rows: np.ndarray, calls: int) -> dict:
    for i in range(min(200, calls)):
        fn(rows[i % len(rows): i % len(rows) + 1])
    ns = []
    for i in range(calls):
        r = rows[i % len(rows): i % len(rows) + 1]
        t = time.perf_counter_ns()
        fn(r)
        ns.append(time.perf_counter_ns() - t)
    ns.sort()
    return {"calls": calls, "median_us": ns[len(ns) // 2] / 1e3,
            "p99_us": ns[min(len(ns) - 1, int(round((len(ns) - 1) * 0.99)))] / 1e3,
            "mean_us": sum(ns) / len(ns) / 1e3}


def rust_predict_row(repo: str, calls: int) -> dict | None:
    cmd = ["cargo", "bench", "-q", "-p", "slipway-train", "--bench", "predict_row", "--",
           "--calls", str(calls), "--json"]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[bench] {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["predict_row"]
    return None


# -------------------------------------------------------------- main ---

def machine_info(repo: str) -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def cmd(*a):
        try:
            return subprocess.run(a, cwd=repo, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    import lightgbm
    import sklearn

    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host_cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "rustc": cmd("rustc", "--version"),
        "git_commit": cmd("git", "rev-parse", "--short", "HEAD")
        + (" + uncommitted changes under crates/" if cmd("git", "status", "--porcelain", "--", "crates", "Cargo.lock") else ""),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="directory written by export.py")
    ap.add_argument("--slipway-bin", default=os.environ.get("SLIPWAY_BIN"))
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--quick", action="store_true",
                    help="GBC speed fit on a 50,000-row subsample of the 500k rows, CPU/wall scaled x10 (labelled 'est.'); 1 rep")
    ap.add_argument("--gbc-subsample", type=int, default=50_000, help="rows for the --quick GBC speed fit")
    ap.add_argument("--reps", type=int, default=None, help="repeats of the 500k LightGBM and Slipway fits (median; default 3, --quick 1)")
    ap.add_argument("--skip-slipway", action="store_true", help="baselines only (before `slipway train` exists)")
    ap.add_argument("--skip-rust-latency", action="store_true")
    ap.add_argument("--synth-gbc", action="store_true", help="also fit GBC on the 400k synth split for its AUC (~450 CPU-s more)")
    ap.add_argument("--out", default=None, help="results directory (default bench/training/results)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    warnings.filterwarnings("ignore", category=UserWarning)

    results: dict = {"machine": machine_info(args.repo), "mode": "quick" if args.quick else "full",
                     "rows": [], "targets": [], "latency": {}}
    load_start = os.getloadavg()
    rows = results["rows"]

    def add(dataset, model, r):
        r = dict(r, dataset=dataset, model=model)
        rows.append(r)
        print(f"[bench] {dataset:14s} {model:34s} AUC {fmt(r.get('auc'), '.4f')}  "
              f"fit {fmt(r.get('fit_cpu_s'), '.2f')} CPU-s / {fmt(r.get('fit_wall_s'), '.2f')} s",
              file=sys.stderr, flush=True)
        return r

    # 1. AUC on the real datasets (plus the 400k synth split, for information).
    for name in AUC_DATASETS + ["synth500k"]:
        train, test = load(args.data, name)
        xtr, ytr = split_xy(train)
        xte, yte = split_xy(test)
        oh_tr, oh_te = one_hot(xtr, xte)
        has_strings = bool(string_columns(xtr))
        has_nan = bool(xtr.isna().any().any() or xte.isna().any().any())
        if name == "synth500k":
            # No GBC here: a 400k GBC fit costs ~450 CPU-s and this AUC is
            # for information only (the 500k GBC fit below is the speed row).
            if args.synth_gbc:
                _, r = fit_gbc(oh_tr.to_numpy(), ytr, oh_te.to_numpy(), yte)
                add(name, "sklearn GBC", r)
            _, r = fit_lgbm(oh_tr.to_numpy(), ytr, oh_te.to_numpy(), yte)
            add(name, "LightGBM", r)
        else:
            gtr, gte = median_impute(oh_tr, oh_te) if has_nan else (oh_tr, oh_te)
            note = ("one-hot" if has_strings else "") + (" + median impute" if has_nan else "")
            _, r = fit_gbc(gtr, ytr, gte, yte, note=note.strip(" +"))
            add(name, "sklearn GBC", r)
            if has_strings:
                _, r = fit_lgbm(oh_tr, ytr, oh_te, yte, note="one-hot, NaN kept")
                add(name, "LightGBM one-hot", r)
                ctr, cte = as_category(xtr, xte)
                _, r = fit_lgbm(ctr, ytr, cte, yte, note="pandas category")
                add(name, "LightGBM category", r)
            else:
                _, r = fit_lgbm(oh_tr, ytr, oh_te, yte)
                add(name, "LightGBM", r)
        if not args.skip_slipway:
            r = slipway_row(run_slipway(args.slipway_bin, args.data, name, args.verbose))
            add(name, "Slipway (defaults)", dict(r, note="raw Parquet"))

    # 2. Speed on all 500,000 rows x 30.
    full, _ = load(args.data, "synthall")
    xall, yall = split_xy(full)
    xall = xall.to_numpy()
    if args.quick:
        n = min(args.gbc_subsample, len(xall))
        idx = np.random.default_rng(0).choice(len(xall), n, replace=False)
        gbc_model, r = fit_gbc(xall[idx], yall[idx], None, None)
        scale = len(xall) / n
        r = dict(r, fit_cpu_s=r["fit_cpu_s"] * scale, fit_wall_s=r["fit_wall_s"] * scale,
                 estimated=True, note=f"est.: fit on {n:,} rows, x{scale:g}")
        add("synthall", "sklearn GBC", r)
    else:
        gbc_model, r = fit_gbc(xall, yall, None, None, note="500,000 rows")
        add("synthall", "sklearn GBC", r)
    lgbm_runs = []
    for _ in range(reps):
        lgbm_model, r = fit_lgbm(xall, yall, None, None)
        lgbm_runs.append(r)
    r = dict(lgbm_runs[0], fit_cpu_s=statistics.median(x["fit_cpu_s"] for x in lgbm_runs),
             fit_wall_s=statistics.median(x["fit_wall_s"] for x in lgbm_runs),
             reps=[(x["fit_cpu_s"], x["fit_wall_s"]) for x in lgbm_runs],
             note=f"median of {reps}" if reps > 1 else "")
    add("synthall", "LightGBM", r)
    if not args.skip_slipway:
        sl_runs = [slipway_row(run_slipway(args.slipway_bin, args.data, "synthall", args.verbose)) for _ in range(reps)]
        r = dict(sl_runs[0], auc=None,
                 fit_cpu_s=statistics.median(x["fit_cpu_s"] for x in sl_runs),
                 fit_wall_s=statistics.median(x["fit_wall_s"] for x in sl_runs),
                 process_cpu_s=statistics.median(x["process_cpu_s"] for x in sl_runs),
                 process_wall_s=statistics.median(x["process_wall_s"] for x in sl_runs),
                 reps=[(x["fit_cpu_s"], x["fit_wall_s"]) for x in sl_runs],
                 note=f"median of {reps}" if reps > 1 else "")
        add("synthall", "Slipway (defaults)", r)

    # 3. Single-row prediction latency (models from the 500k fits).
    lat = results["latency"]
    probe = xall[:1000].copy()
    lat["sklearn GBC predict_proba"] = one_row_latency(gbc_model.predict_proba, probe, 2000)
    lat["LightGBM predict_proba"] = one_row_latency(lgbm_model.predict_proba, probe, 5000)
    booster = lgbm_model.booster_
    lat["LightGBM Booster.predict"] = one_row_latency(booster.predict, probe, 5000)
    if not args.skip_rust_latency:
        rl = rust_predict_row(args.repo, 100_000)
        if rl:
            lat["Slipway predict_proba (Rust, in process)"] = rl

    # 4. Targets.
    targets = results["targets"]

    def pick(dataset, model):
        return next((r for r in rows if r["dataset"] == dataset and r["model"] == model), None)

    for name in AUC_DATASETS:
        refs = [r for r in rows if r["dataset"] == name and r["model"] != "Slipway (defaults)"]
        gbc = pick(name, "sklearn GBC")
        lg = max((r for r in refs if r["model"].startswith("LightGBM")), key=lambda r: r["auc"])
        ref = max([gbc, lg], key=lambda r: r["auc"])
        sl = pick(name, "Slipway (defaults)")
        t = {"target": f"AUC {name}", "reference": f"{ref['model']} {ref['auc']:.4f}",
             "best_lightgbm": f"{lg['model']} {lg['auc']:.4f}"}
        if sl and sl["auc"] is not None:
            gap = sl["auc"] - ref["auc"]
            t.update(slipway=f"{sl['auc']:.4f}", value=f"{gap:+.4f} (bar -{AUC_GAP})",
                     gap=gap, verdict="PASS" if gap >= -AUC_GAP else "MISS")
        else:
            t.update(slipway="-", value="-", verdict="NOT RUN")
        targets.append(t)

    gbc, lg, sl = pick("synthall", "sklearn GBC"), pick("synthall", "LightGBM"), pick("synthall", "Slipway (defaults)")
    if sl:
        cpu_x, wall_x = gbc["fit_cpu_s"] / sl["fit_cpu_s"], gbc["fit_wall_s"] / sl["fit_wall_s"]
        targets.append({"target": "fit 500k x 30 vs sklearn GBC (>= 10x faster)",
                        "reference": f"GBC {gbc['fit_cpu_s']:.1f} CPU-s / {gbc['fit_wall_s']:.1f} s" + (" (est.)" if gbc.get("estimated") else ""),
                        "slipway": f"{sl['fit_cpu_s']:.2f} CPU-s / {sl['fit_wall_s']:.2f} s",
                        "value": f"{cpu_x:.0f}x CPU, {wall_x:.0f}x wall",
                        "cpu_ratio": cpu_x, "wall_ratio": wall_x,
                        "verdict": "PASS" if min(cpu_x, wall_x) >= GBC_SPEEDUP else "MISS"})
        cpu_r, wall_r = sl["fit_cpu_s"] / lg["fit_cpu_s"], sl["fit_wall_s"] / lg["fit_wall_s"]
        targets.append({"target": "fit 500k x 30 vs LightGBM (<= 2x its time)",
                        "reference": f"LightGBM {lg['fit_cpu_s']:.2f} CPU-s / {lg['fit_wall_s']:.2f} s",
                        "slipway": f"{sl['fit_cpu_s']:.2f} CPU-s / {sl['fit_wall_s']:.2f} s",
                        "value": f"{cpu_r:.2f}x CPU, {wall_r:.2f}x wall",
                        "cpu_ratio": cpu_r, "wall_ratio": wall_r,
                        "verdict": "PASS" if max(cpu_r, wall_r) <= LGBM_SLOWDOWN else "MISS"})
    else:
        targets.append({"target": "fit 500k x 30 vs sklearn GBC / LightGBM", "value": "-", "verdict": "NOT RUN"})
    rl = lat.get("Slipway predict_proba (Rust, in process)")
    if rl:
        g = lat["sklearn GBC predict_proba"]["median_us"]
        l = lat["LightGBM Booster.predict"]["median_us"]
        targets.append({"target": "predict one row in process (< 20 us)",
                        "reference": f"GBC {g:.0f} us, LightGBM Booster {l:.0f} us (Python)",
                        "slipway": f"median {rl['median_us']:.2f} us, p99 {rl['p99_us']:.2f} us",
                        "value": f"{rl['median_us'] / PREDICT_US:.3f}x target; GBC/Slipway {g / rl['median_us']:.0f}x, LightGBM/Slipway {l / rl['median_us']:.0f}x",
                        "verdict": "PASS" if rl["median_us"] < PREDICT_US else "MISS"})
    else:
        targets.append({"target": "predict one row in process (< 20 us)", "value": "-", "verdict": "NOT RUN"})

    results["machine"]["loadavg_start"] = load_start
    results["machine"]["loadavg_end"] = os.getloadavg()

    # 5. Report.
    md = render(results)
    print(md)
    out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(md)
    print(f"[bench] wrote {out_dir}/latest.md and latest.json", file=sys.stderr)
    return 0


def render(results: dict) -> str:
    m = results["machine"]
    out = [f"# Training benchmark ({results['mode']} run, {m['date']})", "",
           f"Machine: {m['host_cpu']}, {m['cores']} cores, {m['memory']}; kernel {m['kernel']}; "
           f"load average {' '.join(f'{x:.2f}' for x in m['loadavg_start'])} at start, "
           f"{' '.join(f'{x:.2f}' for x in m.get('loadavg_end', ()))} at end. "
           f"Python {m['python']}, scikit-learn {m['scikit_learn']}, LightGBM {m['lightgbm']}, "
           f"pandas {m['pandas']}, numpy {m['numpy']}; {m['rustc']}; Slipway at {m['git_commit']}; "
           f"OMP_NUM_THREADS={m['OMP_NUM_THREADS']} OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}.", "",
           "| dataset | model | test AUC | fit CPU s | fit wall s | notes |",
           "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        note = r.get("note", "") or ""
        if r["model"].startswith("Slipway") and r.get("process_cpu_s") is not None:
            note = (note + "; " if note else "") + f"whole `slipway train` process {r['process_cpu_s']:.2f} CPU-s / {r['process_wall_s']:.2f} s"
        if r.get("reps") and len(r["reps"]) > 1:
            note += "; reps (CPU/wall): " + ", ".join(f"{c:.2f}/{w:.2f}" for c, w in r["reps"])
        auc = fmt(r.get("auc"), ".4f") if r["dataset"] != "synthall" else "(timing only)"
        out.append(f"| {r['dataset']} | {r['model']} | {auc} | {fmt(r.get('fit_cpu_s'), '.2f')} | "
                   f"{fmt(r.get('fit_wall_s'), '.2f')} | {note} |")
    out += ["", "| single-row predict | median µs | p99 µs | calls |", "|---|---|---|---|"]
    for k, v in results["latency"].items():
        out.append(f"| {k} | {v['median_us']:.2f} | {v['p99_us']:.2f} | {v['calls']:,} |")
    out += ["", "| target | reference | Slipway | ratio / gap | verdict |", "|---|---|---|---|---|"]
    for t in results["targets"]:
        out.append(f"| {t['target']} | {t.get('reference', '-')} | {t.get('slipway', '-')} | {t['value']} | **{t['verdict']}** |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
