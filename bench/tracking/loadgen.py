"""One concurrent logger for the concurrency workload (run as a subprocess).

Protocol: after its imports it prints "ready" and waits for a line on stdin
(the parent sends "go" to all loggers at once); then it POSTs
/api/2.0/mlflow/runs/log-metric on a keep-alive requests.Session for
`duration` seconds (or `max_calls`, whichever comes first) and prints JSON with
call/error counts, per-call latencies in microseconds, its own CPU time and
its begin/end on the system-wide monotonic clock.  Only talks to the URL it is
given (127.0.0.1).
"""

import json
import os
import sys
import time

import requests


def main():
    url, run_id, key = sys.argv[1], sys.argv[2], sys.argv[3]
    duration, max_calls = float(sys.argv[4]), int(sys.argv[5])
    endpoint = url.rstrip("/") + "/api/2.0/mlflow/runs/log-metric"
    session = requests.Session()
    lat_us, errors, error_samples = [], 0, []
    print("ready", flush=True)
    if not sys.stdin.readline().startswith("go"):
        return
    cpu0 = os.times()
    t_begin = time.monotonic()
    deadline = t_begin + duration
    ts = int(time.time() * 1000)
    step = 0
    while step < max_calls:
        t0 = time.perf_counter()
        if time.monotonic() >= deadline:
            break
        body = {"run_id": run_id, "key": key, "value": step * 0.5, "timestamp": ts + step, "step": step}
        try:
            r = session.post(endpoint, json=body, timeout=30)
            ok = r.status_code == 200
            if not ok and len(error_samples) < 3:
                error_samples.append(f"HTTP {r.status_code}: {r.text[:200]}")
        except requests.RequestException as e:  # counted, then keep going until the deadline
            ok = False
            if len(error_samples) < 3:
                error_samples.append(repr(e)[:200])
            time.sleep(0.01)
        t1 = time.perf_counter()
        if ok:
            lat_us.append(int((t1 - t0) * 1e6))
        else:
            errors += 1
        step += 1
    t_end = time.monotonic()
    cpu1 = os.times()
    json.dump({"calls": step, "ok": len(lat_us), "errors": errors, "error_samples": error_samples,
               "begin": t_begin, "end": t_end, "elapsed_s": t_end - t_begin,
               "client_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
               "lat_us": lat_us}, sys.stdout)


if __name__ == "__main__":
    main()
