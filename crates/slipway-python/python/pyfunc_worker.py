"""Slipway's Python worker: serves one MLflow python_function model to `slipway serve`.

Runs on any Python 3 an MLflow model may need (3.8 and later): no newer syntax.

slipway starts it as `python pyfunc_worker.py`, with this file written out by slipway (it is
embedded in the binary), and talks to it over stdin/stdout in frames: 1 byte kind, 4 bytes
little-endian payload length, the payload (UTF-8 JSON).

  slipway -> worker
    H  hello    {"model_dir", "columns": [{"name", "type"}, ...]}
                (tests: {"plain_module": path, "columns"}: that module's predict(rows) is the model)
    P  predict  {"segments": [n1, n2, ...], "columns": [[column 0's values], ...]}
                one batch: the rows of several requests (n1 rows, then n2, ...), column-major,
                validated by slipway against the signature (null: a missing value)
  worker -> slipway
    R  ready    {"pid", "python", "mlflow", "pandas", "loader_module"}
    O  output   {"results": [{"ok": predictions} or {"error": message}, ...]}: one per segment,
                `predictions` as `mlflow models serve` answers them for those rows alone
    E  fatal    {"message", "traceback"}, then the worker exits 1 (the model cannot be loaded)

The end of stdin (slipway closed the pipe) ends the worker. stdout carries frames only: whatever
the model prints goes to stderr, which slipway logs.
"""

import json
import os
import struct
import sys
import traceback

HEADER = struct.Struct("<cI")

# MLflow column types -> numpy dtypes of the DataFrame handed to the model.
DTYPES = {
    "long": "int64",
    "integer": "int32",
    "double": "float64",
    "float": "float32",
    "boolean": "bool",
    "string": "object",
}


def read_frame(stream):
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None, None
    kind, length = HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None, None
    return kind, payload


def write_frame(stream, kind, payload):
    stream.write(HEADER.pack(kind, len(payload)))
    stream.write(payload)
    stream.flush()


def describe(error):
    message = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def without_nan(value):
    """JSON has no NaN or Infinity: they become null (mlflow's server writes the bare tokens)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, list):
        return [without_nan(v) for v in value]
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    return value


class MlflowModel:
    """The model as `mlflow models serve` runs it: mlflow.pyfunc.load_model, predict on a
    DataFrame typed by the signature, the answer made JSON as the scoring server does."""

    def __init__(self, model_dir, columns):
        os.environ.setdefault("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
        import mlflow
        import mlflow.pyfunc
        import numpy
        import pandas
        from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

        self.np, self.pd = numpy, pandas
        self.encoder, self.jsonable_of = NumpyEncoder, _get_jsonable_obj
        self.columns = columns
        self.model = mlflow.pyfunc.load_model(model_dir)
        self.info = {
            "mlflow": mlflow.__version__,
            "pandas": pandas.__version__,
            "loader_module": getattr(self.model.metadata, "flavors", {})
            .get("python_function", {})
            .get("loader_module"),
        }

    def frame(self, values):
        np = self.np
        data = {}
        for column, column_values in zip(self.columns, values):
            kind = column["type"]
            if kind == "string":
                array = np.array(column_values, dtype=object)
            elif None in column_values:
                # A missing value: NaN in a float column, as pandas reads it from JSON.
                if kind == "boolean":
                    array = np.array(column_values, dtype=object)
                else:
                    floats = [np.nan if v is None else v for v in column_values]
                    array = np.array(floats, dtype="float64")
            else:
                array = np.array(column_values, dtype=DTYPES[kind])
            data[column["name"]] = array
        return self.pd.DataFrame(data, copy=False)

    def predict(self, frame):
        return self.jsonable_of(self.model.predict(frame), pandas_orient="records")

    def dumps(self, value):
        return json.dumps(value, cls=self.encoder, allow_nan=False, separators=(",", ":"))


class PlainModule:
    """Tests: a Python file whose predict(rows) (rows: lists in column order) is the model."""

    def __init__(self, path, columns):
        import importlib.util

        spec = importlib.util.spec_from_file_location("slipway_plain_model", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.module = module
        self.info = {"mlflow": None, "pandas": None, "loader_module": None}

    def frame(self, values):
        return [list(row) for row in zip(*values)] if values else []

    def predict(self, frame):
        return self.module.predict(frame)

    def dumps(self, value):
        return json.dumps(value, allow_nan=False, separators=(",", ":"))


def answer(model, columns):
    try:
        return {"ok": model.predict(model.frame(columns))}
    except Exception as error:  # the model refused these rows: this request's answer
        return {"error": describe(error)}


def predict_segments(model, columns, segments):
    """One answer per segment (request). The whole batch goes through predict at once; when
    the model does not answer one item per row, or raises, each request is scored alone, so
    a request gets exactly what it would get alone and one bad request fails only itself."""
    if len(segments) == 1:
        return [answer(model, columns)]
    total = sum(segments)
    try:
        out = model.predict(model.frame(columns))
        if isinstance(out, list) and len(out) == total:
            results, start = [], 0
            for n in segments:
                results.append({"ok": out[start : start + n]})
                start += n
            return results
    except Exception:
        pass
    results, start = [], 0
    for n in segments:
        results.append(answer(model, [values[start : start + n] for values in columns]))
        start += n
    return results


def encode(model, results):
    try:
        return model.dumps({"results": results})
    except ValueError:
        # NaN or an infinity in an answer.
        return encode(model, without_nan(results))
    except TypeError:
        # An answer that is not JSON: that request's error, the others still answered.
        fixed = []
        for result in results:
            try:
                model.dumps(result)
                fixed.append(result)
            except ValueError:
                fixed.append(without_nan(result))
            except TypeError as error:
                fixed.append({"error": f"the model's answer is not JSON-serializable: {error}"})
        return model.dumps({"results": fixed})


def main():
    frames_in = sys.stdin.buffer
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the model's prints go to stderr, never into the frames

    kind, payload = read_frame(frames_in)
    if kind != b"H":
        return 0
    hello = json.loads(payload)
    try:
        if hello.get("plain_module"):
            model = PlainModule(hello["plain_module"], hello["columns"])
        else:
            model = MlflowModel(hello["model_dir"], hello["columns"])
    except BaseException as error:
        fatal = {"message": describe(error), "traceback": traceback.format_exc()}
        write_frame(frames_out, b"E", json.dumps(fatal).encode())
        return 1
    ready = dict(model.info, pid=os.getpid(), python=sys.version.split()[0])
    write_frame(frames_out, b"R", json.dumps(ready).encode())

    while True:
        kind, payload = read_frame(frames_in)
        if kind is None:
            return 0
        if kind != b"P":
            message = {"message": f"unknown frame kind {kind!r}", "traceback": ""}
            write_frame(frames_out, b"E", json.dumps(message).encode())
            return 1
        batch = json.loads(payload)
        results = predict_segments(model, batch["columns"], batch["segments"])
        write_frame(frames_out, b"O", encode(model, results).encode())


if __name__ == "__main__":
    sys.exit(main())
