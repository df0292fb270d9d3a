"""The Python side of one batch received by a worker: the frame's payload turned into the
DataFrame handed to the model, for 1 and 100 rows, per encoding. Uses the worker's own
DataFrame builder (crates/slipway-python/python/pyfunc_worker.py) for the column-major JSON
it receives. Prints microseconds per batch (best and median of 15 runs of 500).

    python bench/serving/pyfunc-codec/decode.py   # needs pandas, numpy, pyarrow
"""

import io
import json
import pathlib
import random
import statistics
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "crates" / "slipway-python" / "python"))
import pyfunc_worker  # noqa: E402

COLUMNS = [("tenure_days", "long"), ("plan", "string"), ("region", "string"),
           ("contract", "string"), ("logins_30d", "long"), ("tickets_90d", "long"),
           ("monthly_charges", "double"), ("spend_30d", "double"), ("avg_session_min", "double"),
           ("age", "long")]
NAMES = [c for c, _ in COLUMNS]
DTYPES = {c: pyfunc_worker.DTYPES[t] for c, t in COLUMNS}

worker = pyfunc_worker.MlflowModel.__new__(pyfunc_worker.MlflowModel)
worker.np, worker.pd = np, pd
worker.columns = [{"name": c, "type": t} for c, t in COLUMNS]

random.seed(0)


def row():
    return [random.randint(0, 999), random.choice(["basic", "premium", "pro"]),
            random.choice(["eu", "us", "apac"]), random.choice(["monthly", "annual"]),
            random.randint(0, 60), random.randint(0, 5), random.randint(0, 99999) / 100,
            random.randint(0, 99999) / 100, random.randint(0, 99999) / 100, random.randint(18, 80)]


def json_columns(payload):  # what the worker receives and does
    return worker.frame(json.loads(payload)["columns"])


def json_split_rows(payload):  # dataframe_split rows, pandas from rows
    return pd.DataFrame(json.loads(payload)["data"], columns=NAMES).astype(DTYPES)


def json_split_transposed(payload):  # dataframe_split rows, transposed in Python
    return worker.frame([list(c) for c in zip(*json.loads(payload)["data"])])


def arrow_ipc(payload):
    return pa.ipc.open_stream(payload).read_all().to_pandas()


def time_it(f, arg, n=500):
    t = time.perf_counter()
    for _ in range(n):
        f(arg)
    return (time.perf_counter() - t) / n * 1e6


schema = pa.schema([(c, pa.int64() if t == "long" else pa.float64() if t == "double" else pa.string())
                    for c, t in COLUMNS])
print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
      f"pyarrow {pa.__version__}")
for n in (1, 100):
    rows = [row() for _ in range(n)]
    columns_payload = json.dumps({"segments": [n], "columns": [list(c) for c in zip(*rows)]})
    split_payload = json.dumps({"segments": [n], "data": rows})
    table = pa.Table.from_pylist([dict(zip(NAMES, r)) for r in rows], schema=schema)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as w:
        w.write_table(table)
    arrow_payload = sink.getvalue()
    ways = {
        "json columns (the worker's)": (json_columns, columns_payload),
        "json dataframe_split, pandas from rows": (json_split_rows, split_payload),
        "json dataframe_split, transposed": (json_split_transposed, split_payload),
        "arrow ipc": (arrow_ipc, arrow_payload),
    }
    reference = json_columns(columns_payload)
    for name, (f, payload) in ways.items():
        got = f(payload)
        assert got.equals(reference), (name, got.dtypes, reference.dtypes)
    runs = {name: [] for name in ways}
    for _ in range(15):
        for name, (f, payload) in ways.items():
            runs[name].append(time_it(f, payload))
    for name, (f, payload) in ways.items():
        print(f"python decode, {n:3d} rows x {len(COLUMNS)} columns: {name:40s} best {min(runs[name]):6.0f} us, "
              f"median {statistics.median(runs[name]):6.0f} us ({len(payload)} bytes)")
