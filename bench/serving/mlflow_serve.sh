#!/usr/bin/env bash
# Serving benchmark, issue 9: the models MLflow users log (mlflow.sklearn, mlflow.xgboost,
# mlflow.lightgbm, a custom mlflow.pyfunc.PythonModel, and the same pipeline as mlflow.onnx),
# registered in a `slipway server`, served by `mlflow models serve --env-manager local` (its
# defaults, and --workers 2), by `slipway serve` (native paths; Python workers for the pyfunc)
# and, for the guide's sklearn pipeline, by the guide's FastAPI app. One run, same machine, wrk
# at each concurrency on /invocations (dataframe_split, one held-out row per request, every
# request a different row) and /predict. Prints req/s, p50, p99, errors, ratios, RSS and the
# issue's goals; writes everything (and every raw wrk output) to results/mlflow-serve-<date>.txt.
#
#   bash bench/serving/mlflow_serve.sh                         # 10 s per point
#   SLIPWAY_BIN=/path/to/slipway DURATION=3 bash bench/serving/mlflow_serve.sh
#
# Env: SLIPWAY_BIN (default: cargo build --release -p slipway), SLIPWAY_CACHE (default
# ~/.cache/slipway; venv in $SLIPWAY_CACHE/venvs/bench-serving from requirements.txt), PYTHON
# (interpreter that creates the venv), DURATION (seconds per point, 10), WARMUP (seconds of load
# before the first point of each server, 3), CONCURRENCY ("1 8 64"), WRK_THREADS (2; 1 at
# concurrency 1), MODEL_GROUPS ("sklearn xgboost lightgbm pyfunc": which groups to run), POOL
# (distinct request bodies, 1000), SAMPLES (bodies checked against Python per server, 8),
# SKLEARN_FORMAT (skops | cloudpickle | pickle, default skops: mlflow 3.17's default),
# PYWORKER_ARGS (extra `slipway serve` flags for the Python-worker row, e.g. "--max-batch-size 64"),
# STARTUP_TIMEOUT (seconds a server may take to get ready, 600: conversion happens at first start),
# LABEL (added to the results file name and header, e.g. "validation"), RESULTS_DIR.
#
# A server that does not start (a path the given binary does not have yet) is reported as NOT
# MEASURED with the end of its log; the other rows still run, and the script exits 1 at the end.
# A server whose answers differ from the Python model's is measured, reported, and also exits 1.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
VENV="$CACHE/venvs/bench-serving"
REQ="$HERE/requirements.txt"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-3}"
CONCURRENCY="${CONCURRENCY:-1 8 64}"
WRK_THREADS="${WRK_THREADS:-2}"
GROUPS_TO_RUN="${MODEL_GROUPS:-sklearn xgboost lightgbm pyfunc}"  # not GROUPS: bash's own
POOL="${POOL:-1000}"
SAMPLES="${SAMPLES:-8}"
SKLEARN_FORMAT="${SKLEARN_FORMAT:-skops}"
PYWORKER_ARGS="${PYWORKER_ARGS:-}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-600}"
LABEL="${LABEL:-}"
RESULTS_DIR="${RESULTS_DIR:-$HERE/results}"
for group in $GROUPS_TO_RUN; do
  case "$group" in sklearn|xgboost|lightgbm|pyfunc) ;; *) echo "unknown model group '$group' (known: sklearn xgboost lightgbm pyfunc)" >&2; exit 2 ;; esac
done
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bench] creating venv $VENV from $REQ" >&2
  mkdir -p "$(dirname "$VENV")"
  "${PYTHON:-python3}" -m venv --clear "$VENV" || exit 2
  "$VENV/bin/python" -m pip install --quiet -r "$REQ" >&2 || exit 2
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"
# `mlflow models serve` starts `uvicorn` from PATH; the Python workers use SLIPWAY_PYTHON.
export PATH="$VENV/bin:$PATH"
export SLIPWAY_PYTHON="$PY"

if [ -z "${SLIPWAY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p slipway) || exit 2
  SLIPWAY_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/slipway"
fi
[ -x "$SLIPWAY_BIN" ] || { echo "SLIPWAY_BIN=$SLIPWAY_BIN is not an executable" >&2; exit 2; }

W="$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-mlflow.XXXXXX")"
SERVER_PIDS=()
stop_tree() {  # stops a server started by start_server: its own session and process group
  local pid="$1" p kept=()
  # Forget it first, so the exit trap never signals a process group id that was reused.
  for p in "${SERVER_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  SERVER_PIDS=("${kept[@]}")
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { local p; for p in "${SERVER_PIDS[@]}"; do stop_tree "$p"; done; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
log() { echo "[bench] $*" >&2; }
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k {print $2}'; }  # field KEY "BENCH k=v ..."

# The process tree under a pid (the server and every worker it started).
tree_pids() { local p="$1" c; echo "$p"; for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done; }
tree_rss_mib() { local sum=0 p r; for p in $(tree_pids "$1"); do r="$(ps -o rss= -p "$p" 2>/dev/null | tr -d ' ')"; sum=$(( sum + ${r:-0} )); done; awk -v k="$sum" 'BEGIN {printf "%.1f", k/1024}'; }
tree_count() { tree_pids "$1" | wc -l; }

# start_server NAME LOGFILE CMD...: starts CMD in its own session (so stop_tree ends all of its
# workers), sets STARTED_PID.
start_server() {
  local logfile="$2"; shift 2
  setsid "$@" >"$logfile" 2>&1 &
  STARTED_PID=$!
  SERVER_PIDS+=("$STARTED_PID")
}
# wait_ready PID URL: 0 when URL answers 200, 1 when the process exits or STARTUP_TIMEOUT passes.
wait_ready() {
  local pid="$1" url="$2" t0 now
  t0="$(date +%s.%N)"
  while true; do
    curl -sf -o /dev/null --max-time 2 "$url" && { READY_S="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')"; return 0; }
    kill -0 "$pid" 2>/dev/null || { WHY="exited before it was ready"; return 1; }
    now="$(date +%s.%N)"
    if awk -v a="$t0" -v b="$now" -v t="$STARTUP_TIMEOUT" 'BEGIN {exit !(b-a > t)}'; then WHY="not ready after ${STARTUP_TIMEOUT}s"; return 1; fi
    sleep 0.2
  done
}

stamp_utc="$(date -u +%Y-%m-%dT%H%MZ)"
mkdir -p "$RESULTS_DIR"
RESULTS="$RESULTS_DIR/mlflow-serve-${stamp_utc}${LABEL:+-$LABEL}.txt"
RAW="$W/raw.txt"; : > "$RAW"
printf 'row\tgroup\tserver\tmodel\tlabel\tendpoints\tgoal\tstatus\tstartup_s\trss_mib\tprocesses\tnote\n' > "$W/servers.tsv"
printf 'row\tendpoint\tconc\trps\tp50_us\tp99_us\trequests\tstatus_errors\tsocket_errors\n' > "$W/points.tsv"
printf 'row\tendpoint\tresult\tdetail\n' > "$W/checks.tsv"

# ---- the registry: a slipway server on an embedded store in the temp dir, and the models
RP="$(free_port)"
REGISTRY="http://127.0.0.1:$RP"
start_server registry "$W/registry.log" "$SLIPWAY_BIN" server --port "$RP" \
  --backend-store-uri "sqlite:///$W/registry/mlflow.db" --artifacts-destination "$W/registry/artifacts"
REGISTRY_PID="$STARTED_PID"
wait_ready "$REGISTRY_PID" "$REGISTRY/health" || { cat "$W/registry.log" >&2; echo "the registry (slipway server) $WHY" >&2; exit 2; }

log "data, models and request bodies in $W"
"$SLIPWAY_BIN" datagen churn --customers 10000 --days 180 --quiet --out "$W/data" || exit 2
"$PY" "$HERE/mlflow_bench.py" prepare --data "$W/data/training.parquet" --work "$W" \
  --tracking-uri "$REGISTRY" --pool "$POOL" --samples "$SAMPLES" --sklearn-format "$SKLEARN_FORMAT" >"$W/prepare.log" 2>&1 \
  || { tail -40 "$W/prepare.log" >&2; echo "logging the models failed" >&2; exit 2; }
grep '^\[bench\]' "$W/prepare.log" >&2 || true

# Flags that only binaries with the Python paths know: passing them to an older binary would
# only hide the real reason it refuses the model.
SLIPWAY_PY_ARGS=()
if "$SLIPWAY_BIN" serve --help 2>/dev/null | grep -q -- '--env-manager'; then
  SLIPWAY_PY_ARGS=(--env-manager local)
fi

# ---- one server: start, check answers, warm up, load at each concurrency, RSS, stop
# measure ROW GROUP SERVER MODEL LABEL FEATURES EXPECT ENDPOINTS GOAL HEALTH_PATH -- CMD...
measure() {
  local row="$1" group="$2" server="$3" model="$4" label="$5" features="$6" expect="$7" endpoints="$8" goal="$9" health="${10}"
  shift 11
  local base="http://127.0.0.1:$PORT" logfile="$W/$row.log" pid endpoint c t out line result
  log "$label ($model): starting"
  start_server "$row" "$logfile" "$@"
  pid="$STARTED_PID"
  echo "### $row: $*" >> "$RAW"
  if ! wait_ready "$pid" "$base$health"; then
    local why
    why="$WHY; its output ends: $(tail -n 3 "$logfile" | tr '\n\t' '  ' | cut -c1-400)"
    log "$label ($model): NOT MEASURED: $why"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\tunavailable\t\t\t\t%s\n' "$row" "$group" "$server" "$model" "$label" "$endpoints" "$goal" "$why" >> "$W/servers.tsv"
    { echo "NOT MEASURED: $why"; echo "--- full output:"; cat "$logfile"; } >> "$RAW"
    stop_tree "$pid"
    return 0
  fi
  { echo "--- start-up output (ready after ${READY_S}s):"; head -n 20 "$logfile"; } >> "$RAW"
  local ready_s="$READY_S"
  for endpoint in ${endpoints//,/ }; do
    if result="$("$PY" "$HERE/mlflow_bench.py" check --work "$W" --features "$features" --expect "$expect" \
        --base "$base" --endpoint "$endpoint" --samples "$SAMPLES")"; then
      printf '%s\t%s\tok\t%s\n' "$row" "$endpoint" "$result" >> "$W/checks.tsv"
    else
      printf '%s\t%s\tDIFFERS\t%s\n' "$row" "$endpoint" "$result" >> "$W/checks.tsv"
    fi
    log "  check $endpoint: $result"
  done
  local first="${endpoints%%,*}"
  if [ "$WARMUP" != 0 ]; then
    BODIES="$W/bodies/$features.$( [ "$first" = /invocations ] && echo invocations || echo predict ).jsonl" \
      wrk -t2 -c8 -d"${WARMUP}s" --timeout 10s -s "$HERE/bodies.lua" "$base$first" >/dev/null 2>&1
  fi
  for c in $CONCURRENCY; do
    for endpoint in ${endpoints//,/ }; do
      t=$(( c < WRK_THREADS ? c : WRK_THREADS ))
      out="$(BODIES="$W/bodies/$features.$( [ "$endpoint" = /invocations ] && echo invocations || echo predict ).jsonl" \
        wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency -s "$HERE/bodies.lua" "$base$endpoint" 2>&1)"
      { echo "--- wrk -t$t -c$c -d${DURATION}s $endpoint"; echo "$out"; } >> "$RAW"
      line="$(echo "$out" | grep '^BENCH ' | tail -n1)"
      if [ -z "$line" ]; then
        log "  $endpoint c=$c: wrk gave no result: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
        printf '%s\t%s\t%s\t0\t0\t0\t-1\t0\t0\n' "$row" "$endpoint" "$c" >> "$W/points.tsv"  # -1: no result
        continue
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$endpoint" "$c" "$(field rps "$line")" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field requests "$line")" \
        "$(field status_errors "$line")" "$(field socket_errors "$line")" >> "$W/points.tsv"
      log "  $endpoint c=$c: $(field rps "$line") req/s, p50 $(field p50_us "$line") µs, p99 $(field p99_us "$line") µs, errors $(field status_errors "$line")+$(field socket_errors "$line")"
    done
  done
  local rss procs note=""
  if ! kill -0 "$pid" 2>/dev/null; then
    note="exited during the load; its output ends: $(tail -n 3 "$logfile" | tr '\n\t' '  ' | cut -c1-400)"
    log "$label ($model): $note"
  fi
  rss="$(tree_rss_mib "$pid")"; procs="$(tree_count "$pid")"
  echo "--- RSS after the load: $rss MiB in $procs process(es): $(tree_pids "$pid" | tr '\n' ' ')" >> "$RAW"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$group" "$server" "$model" "$label" "$endpoints" "$goal" \
    "$( [ -z "$note" ] && echo ok || echo crashed )" "$ready_s" "$rss" "$procs" "$note" >> "$W/servers.tsv"
  stop_tree "$pid"
}

mlflow_rows() {  # GROUP MODEL FEATURES
  local group="$1" model="$2" features="$3"
  PORT="$(free_port)"
  measure "$group-mlflow" "$group" mlflow "$model" "mlflow models serve" "$features" "$model" /invocations none /ping -- \
    env MLFLOW_TRACKING_URI="$REGISTRY" mlflow models serve -m "models:/$model/1" --env-manager local -h 127.0.0.1 -p "$PORT"
  PORT="$(free_port)"
  measure "$group-mlflow-w2" "$group" mlflow-w2 "$model" "mlflow models serve --workers 2" "$features" "$model" /invocations none /ping -- \
    env MLFLOW_TRACKING_URI="$REGISTRY" mlflow models serve -m "models:/$model/1" --env-manager local --workers 2 -h 127.0.0.1 -p "$PORT"
}
slipway_row() {  # ROW GROUP MODEL LABEL FEATURES GOAL EXTRA_ARGS...
  local row="$1" group="$2" model="$3" label="$4" features="$5" goal="$6"
  shift 6
  PORT="$(free_port)"
  measure "$row" "$group" slipway "$model" "$label" "$features" "$model" /invocations,/predict "$goal" /health -- \
    env SLIPWAY_HOME="$W/slipway-home" "$SLIPWAY_BIN" serve --model "models:/$model/1" \
      --tracking-uri "$REGISTRY" --port "$PORT" --prediction-log "$W/predictions/$row" "$@"
}

for group in $GROUPS_TO_RUN; do
  case "$group" in
    sklearn)
      mlflow_rows sklearn churn-sklearn raw
      slipway_row sklearn-slipway sklearn churn-sklearn "slipway serve (mlflow.sklearn, native)" raw native "${SLIPWAY_PY_ARGS[@]}"
      slipway_row sklearn-slipway-onnx sklearn churn-onnx "slipway serve (same pipeline logged as ONNX)" raw none
      PORT="$(free_port)"
      measure sklearn-fastapi sklearn fastapi model.pkl "FastAPI (the guide's app, uvicorn)" raw fastapi /predict none /health -- \
        env MODEL="$W/model.pkl" sh -c "cd '$HERE' && exec uvicorn fastapi_app:app --host 127.0.0.1 --port $PORT --log-level warning"
      ;;
    xgboost|lightgbm)
      mlflow_rows "$group" "churn-$group" coded
      slipway_row "$group-slipway" "$group" "churn-$group" "slipway serve (native)" coded native
      ;;
    pyfunc)
      mlflow_rows pyfunc churn-pyfunc raw
      # shellcheck disable=SC2086 # PYWORKER_ARGS is a list of flags
      slipway_row pyfunc-slipway pyfunc churn-pyfunc "slipway serve (Python workers)" raw workers "${SLIPWAY_PY_ARGS[@]}" $PYWORKER_ARGS
      ;;
  esac
done

# ---- report
# The report decides whether the run is complete (exit 1 when it is not).
SUMMARY="$("$PY" "$HERE/mlflow_bench.py" report --work "$W" --concurrency "$CONCURRENCY" --groups "$GROUPS_TO_RUN")"
REPORT_RC=$?
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
cpu="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
HEADER="mlflow_serve.sh: MLflow users' models, slipway serve vs mlflow models serve vs the guide's FastAPI app
${LABEL:+label: $LABEL
}date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores ($cpu), $mem memory, $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
slipway: $SLIPWAY_BIN ($("$SLIPWAY_BIN" --version 2>/dev/null), sha256 $(sha256sum "$SLIPWAY_BIN" | cut -c1-16)); harness: commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')
python: $("$PY" -c 'import sys, mlflow, sklearn, xgboost, lightgbm, uvicorn; print(f"{sys.version.split()[0]}, mlflow {mlflow.__version__}, scikit-learn {sklearn.__version__}, xgboost {xgboost.__version__}, lightgbm {lightgbm.__version__}, uvicorn {uvicorn.__version__}")'); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)
settings: ${DURATION}s per point after a ${WARMUP}s warm-up per server, concurrency $CONCURRENCY, wrk threads min(conc, $WRK_THREADS) on the same machine, $POOL distinct held-out rows (one per request body, cycled), $SAMPLES sample bodies checked per server, sklearn serialization $SKLEARN_FORMAT, slipway serve prediction log on (its default), Python-path flags: ${SLIPWAY_PY_ARGS[*]:-none (this binary has no --env-manager)}${PYWORKER_ARGS:+, Python-worker flags: $PYWORKER_ARGS}
models: $(tr -d '\n' < "$W/models.json" | tr -s ' ')"
{
  echo "$HEADER"; echo; echo "$SUMMARY"; echo
  echo "================ raw: every server's start-up output and every wrk run ================"
  cat "$RAW"
  echo "================ servers.tsv"; cat "$W/servers.tsv"
  echo "================ points.tsv"; cat "$W/points.tsv"
} > "$RESULTS"
echo
echo "$HEADER"
echo
echo "$SUMMARY"
echo
echo "raw results: $RESULTS"
if [ "$REPORT_RC" != 0 ]; then
  echo "INCOMPLETE run (see the report above): exit 1" >&2
  exit 1
fi
