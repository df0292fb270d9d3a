#!/usr/bin/env python3
"""Tracking-server benchmark: `mlflow server` vs `slipway server`.

Same workloads, same official client (MlflowClient) and the same raw HTTP
calls, same machine, same invocation; the two servers run one after the other
(never at the same time), each on a fresh SQLite database in a temp dir, and
bound to 127.0.0.1 only.  Every workload reports wall time per call and the
server's CPU time per call (utime+stime summed over the server's whole process
tree, read from /proc before and after).  See README.md.
"""

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import requests

import procstat

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVERS = ("mlflow", "slipway")

# Counts per server.  Per-call figures are reported, so counts may differ
# between servers (MLflow is slow, so it gets fewer sequential calls); the
# shared settings (data sizes, run count, concurrency) are identical.
PROFILES = {
    "full": {
        "shared": dict(batch_size=1000, runs=500, history_steps=10_000, concurrency=8,
                       concurrent_seconds=10.0, settle_seconds=5.0),
        "slipway": dict(log_metric_client=2000, log_metric_raw=2000, batch_repeats=100,
                        search_repeats=200, history_repeats=100),
        "mlflow": dict(log_metric_client=300, log_metric_raw=300, batch_repeats=20,
                       search_repeats=20, history_repeats=5),
    },
    "quick": {
        "shared": dict(batch_size=1000, runs=100, history_steps=10_000, concurrency=8,
                       concurrent_seconds=3.0, settle_seconds=2.0),
        "slipway": dict(log_metric_client=300, log_metric_raw=300, batch_repeats=5,
                        search_repeats=20, history_repeats=5),
        "mlflow": dict(log_metric_client=50, log_metric_raw=50, batch_repeats=3,
                       search_repeats=5, history_repeats=2),
    },
}

SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'x'"
SEARCH_ORDER = ["metrics.m2 DESC"]

# (key, label, unit of one "call") in table order
ROWS = [
    ("log_metric_client", "log_metric, MlflowClient (sequential)", "call"),
    ("log_metric_raw", "log_metric, raw HTTP keep-alive (sequential)", "call"),
    ("log_batch", "log_batch of 1,000 metrics", "batch"),
    ("create_runs", "create run + 5 params/5 metrics/3 tags", "run"),
    ("search_runs", "search_runs filter + order by", "search"),
    ("search_runs_raw", "search_runs, raw HTTP (body not parsed)", "search"),
    ("metric_history", "get_metric_history, 10,000 steps", "read"),
    ("metric_history_raw", "get-history 10,000 steps, raw HTTP (not parsed)", "read"),
    ("concurrent_1", "log_metric raw HTTP, 1 logger (rate ref)", "call"),
    ("concurrent_n", "log_metric raw HTTP, 8 concurrent loggers", "call"),
]


# --------------------------------------------------------------------------
# server lifecycle


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv_fn, workdir):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        os.makedirs(os.path.join(workdir, "artifacts"), exist_ok=True)
        self.argv = argv_fn(self.port, workdir)
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.known = {}  # pid -> starttime, every process ever seen in the tree

    def start(self, timeout, settle, quiet_max=180.0):
        """Start; poll GET /health until 200. Returns start-up measurements."""
        log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.workdir)
        log.close()
        deadline = t0 + timeout
        ok = False
        session = requests.Session()
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start-up; "
                                   f"log tail:\n{self.log_tail()}")
            try:
                if session.get(self.url + "/health", timeout=2).status_code == 200:
                    ok = True
                    break
            except requests.RequestException:
                pass
            self.remember_tree()
            time.sleep(0.02)
        startup_s = time.perf_counter() - t0
        if not ok:
            raise RuntimeError(f"{self.name} did not answer /health with 200 within {timeout:.0f}s; "
                               f"log tail:\n{self.log_tail()}")
        startup_cpu = self.cpu()
        # A server may keep working after /health answers (MLflow goes on
        # spawning its job-runner processes).  Wait until it is quiet (three
        # 1-s samples in a row under 5% of a core, at most quiet_max s), so
        # that start-up work is not billed to the first workload.
        prev, streak, quiet = startup_cpu, 0, False
        while time.perf_counter() - t0 < timeout + quiet_max and self.alive():
            time.sleep(1.0)
            self.remember_tree()
            cur = self.cpu()
            streak = streak + 1 if cur - prev < 0.05 else 0
            prev = cur
            if streak >= 3:
                quiet = True
                break
            if time.perf_counter() - t0 - startup_s > quiet_max:
                break
        quiet_s = time.perf_counter() - t0
        quiet_cpu = self.cpu()
        # idle: measure CPU burnt while idle, then memory
        time.sleep(settle)
        idle_cpu = self.cpu() - quiet_cpu
        self.remember_tree()
        mem = procstat.tree_memory(self.proc.pid)
        return {"startup_s": startup_s, "startup_cpu_s": startup_cpu,
                "quiet_reached": quiet, "start_to_quiet_s": quiet_s, "start_to_quiet_cpu_s": quiet_cpu,
                "settle_s": settle, "idle_cpu_s_per_s": idle_cpu / settle, "idle": mem}

    def remember_tree(self):
        if self.proc is not None:
            self.known.update(procstat.tree_snapshot(self.proc.pid))

    def cpu(self):
        return procstat.tree_cpu_seconds(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def memory(self):
        return procstat.tree_memory(self.proc.pid)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM the process group we created, then SIGKILL what is left,
        including any tree member that changed group (matched by pid AND
        start time, so an unrelated recycled pid is never touched)."""
        if self.proc is None:
            return
        self.remember_tree()
        pgid = self.proc.pid  # start_new_session=True => pgid == pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        for _ in range(100):  # up to ~10 s for the rest of the tree
            left = [p for p, st in self.known.items() if procstat.still_same_process(p, st)]
            if not left:
                break
            time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid, st in self.known.items():
            if procstat.still_same_process(pid, st):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


def mlflow_argv(mlflow_bin):
    def argv(port, d):
        return [mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", f"sqlite:///{d}/mlflow.db",
                "--serve-artifacts", "--artifacts-destination", f"{d}/artifacts"]
    return argv


def slipway_argv(slipway_bin):
    def argv(port, d):
        return [slipway_bin, "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", f"sqlite:///{d}/mlflow.db",
                "--artifacts-destination", f"{d}/artifacts"]
    return argv


# --------------------------------------------------------------------------
# measurement helpers


def measure(server, calls, fn):
    """Run fn() once (it performs `calls` operations) and return wall and
    server-CPU totals and per-call figures."""
    cpu0 = server.cpu()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    cpu = server.cpu() - cpu0
    return finish(calls, wall, cpu)


def finish(calls, wall, cpu):
    tick = 1.0 / procstat.CLK_TCK
    res = {"calls": calls, "wall_s": wall, "server_cpu_s": cpu,
           "wall_per_call_s": wall / calls if calls else None,
           "cpu_per_call_s": cpu / calls if calls else None,
           "cpu_below_resolution": False}
    if calls and cpu < tick / 2:
        # Nothing measurable: report the upper bound (one clock tick).
        res["cpu_per_call_s"] = tick / calls
        res["cpu_below_resolution"] = True
    return res


def now_ms():
    return int(time.time() * 1000)


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def make_search_data(n_runs):
    rnd = random.Random(42)
    runs = []
    for i in range(n_runs):
        params = {"p1": rnd.choice(["x", "y", "z"])}
        params.update({f"p{j}": f"v{rnd.randrange(1000)}" for j in range(2, 6)})
        metrics = {f"m{j}": round(rnd.random(), 6) for j in range(1, 6)}
        tags = {"t1": f"team-{rnd.randrange(4)}", "t2": "bench", "t3": str(i)}
        runs.append((params, metrics, tags))
    return runs


# --------------------------------------------------------------------------
# workloads


class Ctx:
    def __init__(self, server, counts, shared):
        from mlflow import MlflowClient  # imported late: slow import
        self.server = server
        self.url = server.url
        self.counts = counts
        self.shared = shared
        self.client = MlflowClient(tracking_uri=server.url)
        self.session = requests.Session()
        self.exp = self.client.create_experiment("bench-tracking")
        self.warm_exp = self.client.create_experiment("bench-warmup")
        self.warm_run = self.client.create_run(self.warm_exp).info.run_id
        self.search_exp = None
        self.checks = {}

    def new_run(self, exp=None):
        return self.client.create_run(exp or self.exp).info.run_id

    def raw_log_metric(self, run_id, key, value, ts, step):
        r = self.session.post(self.url + "/api/2.0/mlflow/runs/log-metric",
                              json={"run_id": run_id, "key": key, "value": value,
                                    "timestamp": ts, "step": step}, timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"log-metric: HTTP {r.status_code}: {r.text[:300]}")

    def check(self, name, ok, detail=""):
        self.checks[name] = {"ok": bool(ok), "detail": detail}


def w_log_metric_client(ctx):
    c, n = ctx.client, ctx.counts["log_metric_client"]
    for i in range(10):
        c.log_metric(ctx.warm_run, "warm", float(i), step=i)
    run = ctx.new_run()
    ts = now_ms()

    def go():
        for i in range(n):
            c.log_metric(run, "loss", 1.0 / (i + 1), timestamp=ts + i, step=i)
    res = measure(ctx.server, n, go)
    hist = c.get_metric_history(run, "loss")
    ctx.check("log_metric_client", len(hist) == n, f"history has {len(hist)} of {n} points")
    return res


def w_log_metric_raw(ctx):
    n = ctx.counts["log_metric_raw"]
    ts = now_ms()
    for i in range(10):
        ctx.raw_log_metric(ctx.warm_run, "warm_raw", float(i), ts, i)
    run = ctx.new_run()

    def go():
        for i in range(n):
            ctx.raw_log_metric(run, "loss", 1.0 / (i + 1), ts + i, i)
    res = measure(ctx.server, n, go)
    hist = ctx.client.get_metric_history(run, "loss")
    ctx.check("log_metric_raw", len(hist) == n, f"history has {len(hist)} of {n} points")
    return res


def w_log_batch(ctx):
    from mlflow.entities import Metric
    size, reps = ctx.shared["batch_size"], ctx.counts["batch_repeats"]
    ts = now_ms()
    batches = [[Metric(f"k{j}", float(j * rep), ts + rep, rep) for j in range(size)]
               for rep in range(reps)]
    ctx.client.log_batch(ctx.warm_run, metrics=[Metric(f"k{j}", 0.0, ts, 0) for j in range(size)])
    run = ctx.new_run()

    def go():
        for b in batches:
            ctx.client.log_batch(run, metrics=b)
    res = measure(ctx.server, reps, go)
    res["metrics_per_call"] = size
    hist = ctx.client.get_metric_history(run, f"k{size - 1}")
    ctx.check("log_batch", len(hist) == reps, f"k{size - 1} history has {len(hist)} of {reps} points")
    return res


def w_create_runs(ctx):
    from mlflow.entities import Metric, Param, RunTag
    data = make_search_data(ctx.shared["runs"])
    ctx.search_data = data
    ctx.search_exp = ctx.client.create_experiment("bench-search")
    ts = now_ms()

    def one(exp, params, metrics, tags):
        run = ctx.client.create_run(exp, start_time=ts).info.run_id
        ctx.client.log_batch(run,
                             metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
                             params=[Param(k, v) for k, v in params.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])
    for item in data[:3]:
        one(ctx.warm_exp, *item)

    def go():
        for item in data:
            one(ctx.search_exp, *item)
    res = measure(ctx.server, len(data), go)
    res["http_calls_per_run"] = 2
    return res


def w_search_runs(ctx):
    if ctx.search_exp is None:
        raise RuntimeError("create_runs workload did not run")
    reps = ctx.counts["search_repeats"]
    expected = sorted((m["m2"] for p, m, t in ctx.search_data if m["m1"] > 0.5 and p["p1"] == "x"),
                      reverse=True)

    def search():
        return ctx.client.search_runs([ctx.search_exp], filter_string=SEARCH_FILTER,
                                      order_by=SEARCH_ORDER, max_results=1000)
    search()
    out = []

    def go():
        for _ in range(reps):
            out.append(search())
    res = measure(ctx.server, reps, go)
    got = [r.data.metrics.get("m2") for r in out[-1]]
    ctx.check("search_runs", got == expected,
              f"{len(got)} runs returned, {len(expected)} expected, order "
              f"{'matches' if got == expected else 'DIFFERS'}")
    res["matched_runs"] = len(got)
    res["searched_runs"] = len(ctx.search_data)
    return res


def w_metric_history(ctx):
    from mlflow.entities import Metric
    steps, reps, size = ctx.shared["history_steps"], ctx.counts["history_repeats"], ctx.shared["batch_size"]
    run = ctx.new_run()
    ts = now_ms()
    t0 = time.perf_counter()
    for start in range(0, steps, size):
        ctx.client.log_batch(run, metrics=[Metric("curve", 1.0 / (s + 1), ts + s, s)
                                           for s in range(start, min(steps, start + size))])
    setup_s = time.perf_counter() - t0
    ctx.client.get_metric_history(run, "curve")
    out = []

    def go():
        for _ in range(reps):
            out.append(ctx.client.get_metric_history(run, "curve"))
    res = measure(ctx.server, reps, go)
    h = out[-1]
    ok = len(h) == steps and sorted(m.step for m in h) == list(range(steps))
    ctx.check("metric_history", ok, f"{len(h)} of {steps} points returned")
    res["points_per_call"] = steps
    res["setup_log_batch_s"] = setup_s
    ctx.history_run = run
    return res


def w_search_runs_raw(ctx):
    if ctx.search_exp is None:
        raise RuntimeError("create_runs workload did not run")
    reps = ctx.counts["search_repeats"]
    body = {"experiment_ids": [ctx.search_exp], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER,
            "max_results": 1000}

    def search():
        r = ctx.session.post(ctx.url + "/api/2.0/mlflow/runs/search", json=body, timeout=120)
        if r.status_code != 200:
            raise RuntimeError(f"runs/search: HTTP {r.status_code}: {r.text[:300]}")
        return r.content
    search()
    out = []

    def go():
        for _ in range(reps):
            out.append(search())
    res = measure(ctx.server, reps, go)
    n = len(json.loads(out[-1]).get("runs", []))
    expected = ctx.results["search_runs"]["matched_runs"] if "search_runs" in ctx.results else None
    ctx.check("search_runs_raw", n == expected, f"{n} runs returned, {expected} expected")
    return res


def w_metric_history_raw(ctx):
    run = getattr(ctx, "history_run", None)
    if run is None:
        raise RuntimeError("metric_history workload did not run")
    reps, steps = ctx.counts["history_repeats"], ctx.shared["history_steps"]
    params = {"run_id": run, "metric_key": "curve"}

    def read():
        r = ctx.session.get(ctx.url + "/api/2.0/mlflow/metrics/get-history", params=params, timeout=120)
        if r.status_code != 200:
            raise RuntimeError(f"metrics/get-history: HTTP {r.status_code}: {r.text[:300]}")
        return r.content
    read()
    out = []

    def go():
        for _ in range(reps):
            out.append(read())
    res = measure(ctx.server, reps, go)
    n = len(json.loads(out[-1]).get("metrics", []))
    ctx.check("metric_history_raw", n == steps, f"{n} of {steps} points returned")
    res["response_bytes"] = len(out[-1])
    return res


def run_loggers(ctx, n_workers, duration):
    """n_workers logger processes (loadgen.py), each on its own run, released
    together once all have imported; server CPU is read just before the
    release and after the last one finished."""
    import select
    runs = [ctx.new_run() for _ in range(n_workers)]
    max_calls = 1_000_000
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "loadgen.py"), ctx.url, run,
                               "conc", str(duration), str(max_calls)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=HERE)
             for run in runs]
    try:
        waiting = {p.stdout.fileno(): p for p in procs}
        deadline = time.monotonic() + 120
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(list(waiting), [], [], 1.0)
            for fd in ready:
                p = waiting.pop(fd)
                if p.stdout.readline().strip() != b"ready":
                    raise RuntimeError(f"load generator failed to start: {p.stderr.read().decode()[-500:]}")
        if waiting:
            raise RuntimeError("load generators not ready after 120 s")
        cpu0 = ctx.server.cpu()
        for p in procs:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=duration + 120)
            if p.returncode != 0:
                raise RuntimeError(f"load generator failed: {err.decode()[-500:]}")
            results.append(json.loads(out))
        cpu = ctx.server.cpu() - cpu0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    window = max(r["end"] for r in results) - min(r["begin"] for r in results)
    calls = sum(r["calls"] for r in results)
    ok = sum(r["ok"] for r in results)
    lat = sorted(x for r in results for x in r["lat_us"])
    res = finish(calls, window, cpu)
    client_cpu = sum(r["client_cpu_s"] for r in results)
    res.update({
        "loggers": n_workers, "duration_s": duration, "ok": ok,
        "errors": sum(r["errors"] for r in results),
        "error_samples": [s for r in results for s in r["error_samples"]][:5],
        "throughput_per_s": ok / window if window else None,
        "latency_p50_s": percentile(lat, 50) / 1e6 if lat else None,
        "latency_p99_s": percentile(lat, 99) / 1e6 if lat else None,
        "latency_max_s": lat[-1] / 1e6 if lat else None,
        "calls_per_logger": [r["calls"] for r in results],
        "client_cpu_s": client_cpu,
        "client_cpu_per_call_s": client_cpu / calls if calls else None,
    })
    return res


def w_concurrent_1(ctx):
    return run_loggers(ctx, 1, ctx.shared["concurrent_seconds"])


def w_concurrent_n(ctx):
    res = run_loggers(ctx, ctx.shared["concurrency"], ctx.shared["concurrent_seconds"])
    one = ctx.results.get("concurrent_1")
    if one and one.get("throughput_per_s"):
        res["speedup_vs_1_logger"] = res["throughput_per_s"] / one["throughput_per_s"]
    return res


WORKLOADS = [
    ("log_metric_client", w_log_metric_client),
    ("log_metric_raw", w_log_metric_raw),
    ("log_batch", w_log_batch),
    ("create_runs", w_create_runs),
    ("search_runs", w_search_runs),
    ("search_runs_raw", w_search_runs_raw),
    ("metric_history", w_metric_history),
    ("metric_history_raw", w_metric_history_raw),
    ("concurrent_1", w_concurrent_1),
    ("concurrent_n", w_concurrent_n),
]


def bench_server(name, argv_fn, counts, shared, args):
    print(f"\n=== {name} ===", flush=True)
    workdir = tempfile.mkdtemp(prefix=f"slipway-bench-{name}-")
    server = Server(name, argv_fn, workdir)
    out = {"argv": server.argv, "counts": counts, "workloads": {}, "errors": {}}
    try:
        print(f"starting: {' '.join(server.argv)}", flush=True)
        st = server.start(args.startup_timeout, shared["settle_seconds"])
        out["startup"] = st
        print(f"  start-up {st['startup_s']:.2f} s (quiet after {st['start_to_quiet_s']:.1f} s), idle {st['idle']['processes']} processes, "
              f"RSS {st['idle']['rss_bytes'] / 2**20:.1f} MiB, PSS {st['idle']['pss_bytes'] / 2**20:.1f} MiB",
              flush=True)
        ctx = Ctx(server, counts, shared)
        ctx.results = out["workloads"]
        for key, fn in WORKLOADS:
            if not server.alive():
                out["errors"][key] = "server process exited"
                print(f"  {key}: SKIPPED, server exited", flush=True)
                continue
            try:
                res = fn(ctx)
                out["workloads"][key] = res
                extra = ""
                if "throughput_per_s" in res:
                    extra = (f", {res['throughput_per_s']:.0f}/s, errors {res['errors']}, "
                             f"p50 {fmt_t(res['latency_p50_s'])}, p99 {fmt_t(res['latency_p99_s'])}")
                print(f"  {key}: {res['calls']} calls, wall/call {fmt_t(res['wall_per_call_s'])}, "
                      f"server CPU/call {fmt_t(res['cpu_per_call_s'])}{extra}", flush=True)
            except Exception as e:  # record and go on with the next workload
                out["errors"][key] = f"{type(e).__name__}: {e}"
                print(f"  {key}: FAILED: {type(e).__name__}: {str(e)[:300]}", flush=True)
                if args.verbose:
                    traceback.print_exc()
            server.remember_tree()
        out["checks"] = ctx.checks
        out["memory_after"] = server.memory() if server.alive() else None
    except Exception as e:
        out["errors"]["startup"] = f"{type(e).__name__}: {e}"
        print(f"  FAILED: {e}", flush=True)
    finally:
        server.stop()
        if args.keep:
            print(f"  data and log kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return out


# --------------------------------------------------------------------------
# reporting


def fmt_t(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_ratio(m, s, s_is_bound=False, m_is_bound=False):
    if m is None or s is None or s <= 0:
        return "-"
    r = m / s
    txt = f"{r:.1f}x" if r < 100 else f"{r:.0f}x"
    if s_is_bound and not m_is_bound:
        return ">" + txt
    if m_is_bound and not s_is_bound:
        return "<" + txt
    return txt


def compare(results):
    rows = []
    for key, label, unit in ROWS:
        m = results.get("mlflow", {}).get("workloads", {}).get(key)
        s = results.get("slipway", {}).get("workloads", {}).get(key)
        row = {"workload": key, "label": label, "unit": unit}
        for name, r in (("mlflow", m), ("slipway", s)):
            row[f"{name}_wall_per_call_s"] = r["wall_per_call_s"] if r else None
            row[f"{name}_cpu_per_call_s"] = r["cpu_per_call_s"] if r else None
            row[f"{name}_cpu_is_upper_bound"] = r["cpu_below_resolution"] if r else False
            row[f"{name}_calls"] = r["calls"] if r else None
        row["wall_ratio"] = (m["wall_per_call_s"] / s["wall_per_call_s"]) if (m and s) else None
        row["cpu_ratio"] = (m["cpu_per_call_s"] / s["cpu_per_call_s"]) if (m and s) else None
        rows.append(row)
    return rows


def print_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def report(results, rows):
    print("\nPer-call figures (ratio = mlflow / slipway, i.e. 'slipway faster by Nx'):\n")
    table = []
    for r in rows:
        def cpu(name):
            v = fmt_t(r[f"{name}_cpu_per_call_s"])
            return ("<" + v) if r[f"{name}_cpu_is_upper_bound"] and v != "-" else v
        table.append([
            f"{r['label']} (per {r['unit']})",
            fmt_t(r["mlflow_wall_per_call_s"]), fmt_t(r["slipway_wall_per_call_s"]),
            fmt_ratio(r["mlflow_wall_per_call_s"], r["slipway_wall_per_call_s"]),
            cpu("mlflow"), cpu("slipway"),
            fmt_ratio(r["mlflow_cpu_per_call_s"], r["slipway_cpu_per_call_s"],
                      r["slipway_cpu_is_upper_bound"], r["mlflow_cpu_is_upper_bound"]),
            f"{r['mlflow_calls'] or '-'} / {r['slipway_calls'] or '-'}",
        ])
    print_table(["workload", "mlflow wall/call", "slipway wall/call", "wall ratio",
                 "mlflow CPU/call", "slipway CPU/call", "CPU ratio", "calls (mlflow / slipway)"], table)

    # concurrency details
    print("\nConcurrent loggers (raw HTTP log-metric, each logger its own process and run):\n")
    t = []
    for name in SERVERS:
        w = results.get(name, {}).get("workloads", {})
        for key in ("concurrent_1", "concurrent_n"):
            r = w.get(key)
            if not r:
                continue
            t.append([name, r["loggers"], r["ok"], r["errors"], f"{r['throughput_per_s']:.0f}/s",
                      fmt_t(r["latency_p50_s"]), fmt_t(r["latency_p99_s"]),
                      f"{r['speedup_vs_1_logger']:.2f}x" if "speedup_vs_1_logger" in r else "",
                      fmt_t(r["cpu_per_call_s"]), fmt_t(r.get("client_cpu_per_call_s"))])
    if t:
        print_table(["server", "loggers", "ok calls", "errors", "throughput", "p50", "p99",
                     "vs 1 logger", "server CPU/call", "client CPU/call"], t)
        print(f"(the {os.cpu_count()} cores are shared by the server and the logger processes: when "
              "client CPU/call is the larger figure, throughput is bound by the Python clients)")

    print("\nStart-up and memory:\n")
    t = []
    for name in SERVERS:
        r = results.get(name)
        if not r or "startup" not in r:
            continue
        st = r["startup"]
        after = r.get("memory_after") or {}
        t.append([name, f"{st['startup_s']:.2f} s", f"{st['startup_cpu_s']:.2f} s",
                  f"{st['start_to_quiet_s']:.1f} s" + ("" if st["quiet_reached"] else " (never quiet)"),
                  st["idle"]["processes"], f"{st['idle']['rss_bytes'] / 2**20:.1f} MiB",
                  f"{st['idle']['pss_bytes'] / 2**20:.1f} MiB",
                  f"{100 * st['idle_cpu_s_per_s']:.1f}%",
                  f"{after['rss_bytes'] / 2**20:.1f} MiB" if after else "-"])
    if t:
        print_table(["server", "start-up (to /health 200)", "start-up CPU", "until idle", "processes",
                     "idle RSS (sum)", "idle PSS (sum)", "idle CPU", "RSS after workloads"], t)
    if len(t) == 2:
        m, s = results["mlflow"]["startup"], results["slipway"]["startup"]
        print(f"\nstart-up: slipway faster by {fmt_ratio(m['startup_s'], s['startup_s'])}; "
              f"idle RSS: slipway smaller by {fmt_ratio(m['idle']['rss_bytes'], s['idle']['rss_bytes'])}")

    for name in SERVERS:
        r = results.get(name)
        if not r:
            continue
        bad = {k: v for k, v in r.get("checks", {}).items() if not v["ok"]}
        errs = r.get("errors", {})
        status = "all result checks passed" if not bad and not errs else "PROBLEMS"
        print(f"\n{name}: {status}")
        for k, v in bad.items():
            print(f"  check {k} FAILED: {v['detail']}")
        for k, v in errs.items():
            print(f"  {k}: {v[:300]}")


# --------------------------------------------------------------------------


def binary_info(path):
    import hashlib
    try:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return {"path": path, "bytes": st.st_size, "sha256": h.hexdigest(),
                "mtime": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(st.st_mtime))}
    except OSError as e:
        return {"path": path, "error": str(e)}


# Slipway's goals from the project brief, judged on the server-CPU ratio (the
# steadier figure); informational only, never an exit status.
GOALS = [
    ("writes >= 100x MLflow (server CPU/call)", ["log_metric_client", "log_metric_raw", "log_batch",
                                                  "create_runs", "concurrent_n"], 100.0),
    ("search / history reads >= 50x MLflow (server CPU/call)", ["search_runs", "search_runs_raw",
                                                                "metric_history", "metric_history_raw"], 50.0),
]


def goals(results, rows):
    out = []
    by_key = {r["workload"]: r for r in rows}
    for label, keys, target in GOALS:
        for k in keys:
            r = by_key.get(k)
            if r and r["cpu_ratio"] is not None:
                out.append({"goal": label, "workload": k, "target": target, "cpu_ratio": r["cpu_ratio"],
                            "wall_ratio": r["wall_ratio"], "met": r["cpu_ratio"] >= target})
    sw = results.get("slipway", {}).get("startup")
    if sw:
        out.append({"goal": "start-up < 1 s", "value_s": sw["startup_s"], "met": sw["startup_s"] < 1.0})
        mb = sw["idle"]["rss_bytes"] / 1e6
        out.append({"goal": "idle memory < 30 MB (RSS)", "value_mb": mb, "met": mb < 30.0})
    return out


def print_goals(gs):
    if not gs:
        return
    print("\nSlipway goals (informational; ratios are MLflow / Slipway server CPU per call):\n")
    t = []
    for g in gs:
        if "cpu_ratio" in g:
            fig = f"{g['workload']}: CPU {g['cpu_ratio']:.1f}x, wall {g['wall_ratio']:.1f}x"
        elif "value_s" in g:
            fig = f"{g['value_s']:.2f} s"
        else:
            fig = f"{g['value_mb']:.1f} MB"
        t.append([g["goal"], fig, "met" if g["met"] else "NOT met"])
    print_table(["goal", "measured", ""], t)


def meta(args):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:
            return None
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    try:
        import mlflow
        mlflow_version = mlflow.__version__
    except Exception:
        mlflow_version = None
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:],
        "cores": os.cpu_count(), "cpu_model": cpu_model,
        "mem_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "loadavg_start": os.getloadavg(),
        "python": platform.python_version(), "mlflow_client_version": mlflow_version,
        "slipway_version": cmd([args.slipway_bin, "--version"]) if args.only != "mlflow" else None,
        "git_head": cmd(["git", "-C", REPO, "rev-parse", "HEAD"]) or None,
        # the binary may be built from a work tree with uncommitted changes
        "git_dirty_sources": bool(cmd(["git", "-C", REPO, "status", "--porcelain", "--",
                                       "crates", "Cargo.toml", "Cargo.lock"])),
        "slipway_bin": binary_info(args.slipway_bin) if args.only != "mlflow" else None,
        "clk_tck": procstat.CLK_TCK,
        "search": {"filter": SEARCH_FILTER, "order_by": SEARCH_ORDER},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=SERVERS, help="benchmark only this server")
    p.add_argument("--quick", action="store_true", help="small counts (smoke run)")
    p.add_argument("--slipway-bin", default=os.environ.get("SLIPWAY_BIN", os.path.join(REPO, "target/release/slipway")))
    p.add_argument("--mlflow-bin", default=os.path.join(os.path.dirname(sys.executable), "mlflow"))
    p.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--keep", action="store_true", help="keep server data dirs and logs")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    args.slipway_bin = os.path.abspath(args.slipway_bin)

    # Surface server errors instead of letting the client retry them away.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    # Let SIGTERM unwind through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    profile = PROFILES["quick" if args.quick else "full"]
    shared = profile["shared"]
    plan = []
    if args.only != "slipway":
        if not os.access(args.mlflow_bin, os.X_OK):
            sys.exit(f"mlflow executable not found: {args.mlflow_bin}")
        plan.append(("mlflow", mlflow_argv(args.mlflow_bin)))
    if args.only != "mlflow":
        if not os.access(args.slipway_bin, os.X_OK):
            sys.exit(f"slipway binary not found: {args.slipway_bin} (build: cargo build --release -p slipway)")
        plan.append(("slipway", slipway_argv(args.slipway_bin)))
    # Slipway first: fast, so a broken endpoint shows up before MLflow's minutes.
    plan.sort(key=lambda x: x[0] != "slipway")

    results = {"meta": meta(args), "shared": shared}
    t0 = time.perf_counter()
    for name, argv_fn in plan:
        counts = profile[name]
        results[name] = bench_server(name, argv_fn, counts, shared, args)
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["total_s"] = time.perf_counter() - t0
    rows = compare(results)
    results["comparison"] = rows
    results["goals"] = goals(results, rows) if len(plan) == 2 else []
    report(results, rows)
    print_goals(results["goals"])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {args.out} (total {results['meta']['total_s']:.0f} s, "
          f"load average {results['meta']['loadavg_start'][0]:.2f} -> {results['meta']['loadavg_end'][0]:.2f})")
    failed = any(results[n].get("errors") for n, _ in plan)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
