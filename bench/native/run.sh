#!/usr/bin/env bash
# In-process latency of Slipway's native XGBoost/LightGBM scorers against the Python
# libraries' own predict, same models, same rows, same machine, one run. See README.md.
#
#   bash bench/native/run.sh        # writes bench/native/results/<date>.{md,json}
#
# Uses tests/native's pinned venv (~/.cache/slipway/venvs/native, built by
# tests/native/check_parity.sh) and its model generator.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SLIPWAY_NATIVE_VENV:-$HOME/.cache/slipway/venvs/native}"
py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
  echo "no venv at $venv: run tests/native/check_parity.sh first (it builds it)" >&2
  exit 1
fi
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -W "ignore::UserWarning" "$root/tests/native/make_fixtures.py" generate "$tmp/models" >/dev/null
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
"$py" -W ignore "$here/bench.py" "$tmp/models" > "$tmp/python.json"
(cd "$root" && cargo bench -q -p slipway-serve --bench native_predict -- "$tmp/models" --json) \
  | tee "$tmp/rust.txt"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$here/results"
day="$(date -u +%Y-%m-%d)"
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load average $load_start at start, $load_end at end"
"$py" - "$tmp/python.json" "$tmp/rust.txt" "$here/results/$day" "$machine" "$(git -C "$root" rev-parse --short HEAD)" <<'EOF'
import json, sys, datetime, platform
py = json.load(open(sys.argv[1]))
rust = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])["rust"]
out, machine, commit = sys.argv[3], sys.argv[4], sys.argv[5]
lines = [
    f"# Native XGBoost/LightGBM scoring, in process ({datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')})",
    "",
    f"Machine: {machine}. Python {platform.python_version()}, xgboost {py['xgboost']}, lightgbm {py['lightgbm']}, "
    f"one thread (OMP_NUM_THREADS=1); Slipway at {commit}. Models and held-out rows: "
    "tests/native/make_fixtures.py (300 distinct rows; batches of 1,000). Python: the library's predict "
    "on a float64 numpy array (MLflow's pyfunc adds pandas on top). Slipway: the `Scorer` of "
    "`slipway serve` (JSON parsing and HTTP not included). µs per row, best of 5.",
    "",
    "| model | Python 1 row | Slipway 1 row | ratio | Python 1,000 rows | Slipway 1,000 rows | ratio |",
    "|---|---|---|---|---|---|---|",
]
for name, r in rust.items():
    p, s = py["python"][name], r["slipway"]
    lines.append(
        f"| {name} | {p['single_row_us']:.1f} | {s['single_row_us']:.2f} | "
        f"{p['single_row_us'] / s['single_row_us']:.0f}x | {p['batch_1000_us_per_row']:.2f} | "
        f"{s['batch_1000_us_per_row']:.2f} | {p['batch_1000_us_per_row'] / s['batch_1000_us_per_row']:.1f}x |"
    )
alts = [(n, k, v) for n, r in rust.items() for k, v in r.items() if k != "slipway"]
if alts:
    lines += ["", "LightGBM readers measured (same rows; parity against LightGBM's predict):", "",
              "| model | reader | 1 row µs | 1,000 rows µs/row | max abs diff |", "|---|---|---|---|---|"]
    for n, r in rust.items():
        if n.startswith("lgb_"):
            lines.append(f"| {n} | slipway (own reader) | {r['slipway']['single_row_us']:.2f} | "
                         f"{r['slipway']['batch_1000_us_per_row']:.2f} | 0 (bit-identical) |")
    for n, k, v in alts:
        lines.append(f"| {n} | {k} | {v['single_row_us']:.2f} | {v['batch_1000_us_per_row']:.2f} | "
                     f"{v['max_abs_diff']:.1e} |")
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"python": py, "rust": rust, "machine": machine, "commit": commit}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
print(f"\nwrote {out}.md and {out}.json")
EOF
