#!/usr/bin/env bash
# The Python-worker path: a trivial mlflow.pyfunc.PythonModel (pyfunc_model.py) logged to a
# `slipway server`, served by `slipway serve` (Python workers, adaptive batching, several
# settings) and by `mlflow models serve --env-manager local` (its defaults, and --workers 2), same
# machine, one run: wrk on /invocations with one-row dataframe_split bodies, each request a
# different row (256 bodies in turn), at concurrency 64 and 1. Prints req/s, p50/p99, the rows per
# batch slipway formed, and the ratio to mlflow. Used to pick the batching defaults.
#
#   bash bench/serving/pyfunc.sh                   # 10 s per point
#   DURATION=5 POINTS="2:64:0 2:64:2" bash bench/serving/pyfunc.sh
#
# Env: SLIPWAY_CACHE (venv in $SLIPWAY_CACHE/venvs/bench-pyfunc from requirements-pyfunc.txt),
# PYFUNC_PYTHON (use this interpreter instead: needs the same packages), SLIPWAY_BIN (default:
# cargo build --release -p slipway), DURATION (s per point), POINTS (slipway settings,
# WORKERS:MAX_BATCH_SIZE:MAX_BATCH_WAIT_MS). Needs wrk.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
DURATION="${DURATION:-10}"
POINTS="${POINTS:-1:1:0 1:64:0 1:64:2 2:1:0 2:64:0 2:64:1 2:64:2 2:64:5 2:256:2}"
BODIES=256
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }

if [ -n "${PYFUNC_PYTHON:-}" ]; then
  PY="$PYFUNC_PYTHON"
else
  VENV="$CACHE/venvs/bench-pyfunc"
  REQ="$HERE/requirements-pyfunc.txt"
  stamp="$VENV/.requirements.sha256"
  want="$(sha256sum "$REQ" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[bench] creating venv $VENV from $REQ" >&2
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$REQ" >&2
    echo "$want" > "$stamp"
  fi
  PY="$VENV/bin/python"
fi
PYBIN="$(dirname "$PY")"
[ -x "$PYBIN/mlflow" ] || { echo "$PYBIN/mlflow not found: PYFUNC_PYTHON needs mlflow" >&2; exit 2; }

if [ -z "${SLIPWAY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p slipway)
  SLIPWAY_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/slipway"
fi

W="$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-pyfunc.XXXXXX")"
PIDS=()
GROUPS_=()  # mlflow models serve: the CLI, uvicorn and its workers, in their own process group
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for g in "${GROUPS_[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  sleep 1
  if [ -n "${KEEP:-}" ]; then echo "[bench] kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { # url path seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do curl -sf "$1$2" >/dev/null && return 0; sleep 0.1; done
  echo "server $1 did not start; logs in $W" >&2; tail -n 20 "$W"/serve-*.log >&2 2>/dev/null || true; return 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

TP="$(free_port)"
SLIPWAY_HOME="$W/home" "$SLIPWAY_BIN" server --port "$TP" --backend-store-uri "sqlite:///$W/mlflow.db" \
  --artifacts-destination "$W/artifacts" 2>"$W/server.log" &
PIDS+=($!)
TRACKING="http://127.0.0.1:$TP"
wait_up "$TRACKING" /health 60
MLFLOW_TRACKING_URI="$TRACKING" "$PY" "$HERE/pyfunc_model.py" bench-pyfunc "$W/bodies" "$BODIES" 2>"$W/log_model.log"
export BODY_DIR="$W/bodies" BODY_COUNT="$BODIES"

results="$W/results.txt"; : > "$results"
run_wrk() { # name conc url -> appends "name conc rps p50 p99 errors"
  local t=$(( $2 < 2 ? 1 : 2 ))
  local out
  out="$(wrk -t"$t" -c"$2" -d"${DURATION}s" --timeout 10s --latency -s "$HERE/pyfunc_bodies.lua" "$3/invocations")"
  local rps p50 p99 errs
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  errs="$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr ' \n' '_ ')"
  echo "$1 $2 $rps $p50 $p99 ${errs:-none} ${4:-}" >> "$results"
}
# Rows per batch slipway formed since the last call: "rows/batches".
batch_rows() {
  curl -s "$1/metrics" | awk '/^slipway_python_batch_rows_sum/ {s=$2} /^slipway_python_batch_rows_count/ {c=$2} END {printf "%s/%s", s, c}'
}
per_batch() { # before after -> rows per batch between the two
  awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, "/"); split(b, y, "/"); n = y[2] - x[2]; printf "%.1f", (n > 0 ? (y[1] - x[1]) / n : 0)}'
}

for workers in 1 2; do
  port="$(free_port)"
  wflag=(); [ "$workers" = 1 ] || wflag=(--workers "$workers")
  PATH="$PYBIN:$PATH" MLFLOW_TRACKING_URI="$TRACKING" setsid "$PYBIN/mlflow" models serve \
     -m models:/bench-pyfunc/1 --env-manager local --host 127.0.0.1 -p "$port" "${wflag[@]}" \
     >"$W/mlflow-$workers.log" 2>&1 &
  pid=$!; GROUPS_+=("$pid")
  wait_up "http://127.0.0.1:$port" /ping 180
  curl -sf "http://127.0.0.1:$port/invocations" -H 'Content-Type: application/json' -d @"$W/bodies/0.json" >&2; echo >&2
  for c in 64 1; do run_wrk "mlflow-serve:workers=$workers" "$c" "http://127.0.0.1:$port"; done
  kill -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done

for point in $POINTS; do
  IFS=: read -r workers size wait <<< "$point"
  port="$(free_port)"
  SLIPWAY_HOME="$W/home" SLIPWAY_PYTHON="$PY" RUST_LOG=warn "$SLIPWAY_BIN" serve --model models:/bench-pyfunc/1 \
    --tracking-uri "$TRACKING" --port "$port" --prediction-log "$W/predictions-$port" \
    --workers "$workers" --max-batch-size "$size" --max-batch-wait-ms "$wait" 2>"$W/serve-$port.log" &
  pid=$!; PIDS+=("$pid")
  wait_up "http://127.0.0.1:$port" /health 180
  curl -sf "http://127.0.0.1:$port/invocations" -H 'Content-Type: application/json' -d @"$W/bodies/0.json" >&2; echo >&2
  for c in 64 1; do
    before="$(batch_rows "http://127.0.0.1:$port")"
    run_wrk "slipway:workers=$workers,batch=$size,wait=${wait}ms" "$c" "http://127.0.0.1:$port" "__rows/batch=PENDING"
    after="$(batch_rows "http://127.0.0.1:$port")"
    sed -i "\$s|__rows/batch=PENDING|rows/batch=$(per_batch "$before" "$after")|" "$results"
  done
  stop "$pid"
done

echo
echo "Python-worker path, $(date -u +%F), $(nproc) cores, ${DURATION}s per point, wrk, /invocations, one-row bodies ($BODIES different rows)"
"$PY" -c 'import mlflow, pandas, sys; print(f"python {sys.version.split()[0]}, mlflow {mlflow.__version__}, pandas {pandas.__version__}")'
printf "%-44s %-5s %10s %10s %10s  %s\n" server conc "req/s" p50 p99 "errors / slipway rows per batch"
while read -r name c rps p50 p99 errs extra; do
  printf "%-44s %-5s %10s %10s %10s  %s %s\n" "$name" "$c" "$rps" "$p50" "$p99" "$errs" "$extra"
done < "$results"
for c in 64 1; do
  m1="$(awk -v c="$c" '$1=="mlflow-serve:workers=1" && $2==c {print $3}' "$results")"
  m2="$(awk -v c="$c" '$1=="mlflow-serve:workers=2" && $2==c {print $3}' "$results")"
  best="$(awk -v c="$c" '$1 ~ /^slipway/ && $2==c {if ($3 > b) {b = $3; n = $1}} END {print b, n}' "$results")"
  awk -v c="$c" -v m1="$m1" -v m2="$m2" -v best="$best" 'BEGIN {split(best, b, " ");
    printf "concurrency %s: best slipway %s req/s (%s) = %.1fx mlflow models serve (%s req/s), %.1fx with --workers 2 (%s req/s)\n",
      c, b[1], b[2], b[1] / m1, m1, b[1] / m2, m2}'
done
