#!/usr/bin/env bash
# Serving benchmark: the guide's FastAPI app (uvicorn, pandas, pickled scikit-learn
# GradientBoostingClassifier in a OneHotEncoder pipeline) vs `slipway serve` (Slipway GBM, same
# data, same hyper-parameters, same request body), same machine, one run, wrk at concurrency
# 1, 8 and 64. Prints req/s, p50/p99 and the ratio, server RSS, and slipway's batch rows/s.
#
#   bash bench/serving/run.sh            # 10 s per point
#   DURATION=5 bash bench/serving/run.sh
#
# Env: SLIPWAY_CACHE (default ~/.cache/slipway; venv in $SLIPWAY_CACHE/venvs/bench-serving),
# SLIPWAY_BIN (default target/release/slipway, rebuilt with cargo build --release -p slipway),
# PYTHON (interpreter for the venv), DURATION (seconds per point). Needs wrk (apt-get install wrk).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
VENV="$CACHE/venvs/bench-serving"
REQ="$HERE/requirements.txt"
DURATION="${DURATION:-10}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bench] creating venv $VENV from $REQ" >&2
  mkdir -p "$(dirname "$VENV")"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet -r "$REQ" >&2
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"

if [ -z "${SLIPWAY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p slipway)
  SLIPWAY_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/slipway"
fi

W="$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-serving.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 300); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; echo "server $1 did not start" >&2; exit 1; }

echo "[bench] data + models in $W" >&2
"$SLIPWAY_BIN" datagen churn --customers 10000 --days 180 --quiet --out "$W/data"
cat > "$W/train.yaml" <<YAML
experiment: bench-serving
data: {path: $W/data/training.parquet}
label: churn
drop: [customer_id]
model: {type: gbm_classifier, params: {n_estimators: 100, learning_rate: 0.1, max_depth: 3}}
register: churn-classifier
YAML
SLIPWAY_HOME="$W/home" "$SLIPWAY_BIN" train --quiet --config "$W/train.yaml" >/dev/null
"$PY" "$HERE/train_sklearn.py" "$W/data/training.parquet" "$W/model.pkl" "$W/body.json"

SP="$(free_port)"; FP="$(free_port)"
SLIPWAY_HOME="$W/home" RUST_LOG=warn "$SLIPWAY_BIN" serve --model models:/churn-classifier/1 --port "$SP" \
  --prediction-log "$W/predictions" 2>"$W/serve.log" &
PIDS+=($!); SPID=$!
(cd "$HERE" && MODEL="$W/model.pkl" exec "$VENV/bin/uvicorn" fastapi_app:app --port "$FP" --log-level warning) 2>"$W/fastapi.log" &
PIDS+=($!); FPID=$!
wait_up "http://127.0.0.1:$SP"; wait_up "http://127.0.0.1:$FP"

# Both answer the same body.
curl -sf "http://127.0.0.1:$SP/predict" -H 'Content-Type: application/json' -d @"$W/body.json" >&2; echo >&2
curl -sf "http://127.0.0.1:$FP/predict" -H 'Content-Type: application/json' -d @"$W/body.json" >&2; echo >&2

results="$W/results.txt"; : > "$results"
for c in 1 8 64; do
  t=$(( c < 2 ? 1 : 2 ))
  for name in fastapi slipway; do
    port=$([ "$name" = slipway ] && echo "$SP" || echo "$FP")
    out="$(BODY_FILE="$W/body.json" wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency -s "$HERE/post.lua" "http://127.0.0.1:$port/predict")"
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    errs="$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')"
    echo "$name $c $rps $p50 $p99 ${errs:-0-errors}" >> "$results"
  done
done
rss() { ps -o rss= -p "$1" | awk '{printf "%.1f", $1/1024}'; }
SRSS="$(rss "$SPID")"; FRSS="$(rss "$FPID")"

BATCH="$("$PY" - "$SP" "$W/body.json" <<'PYEOF'
import json, sys, time, urllib.request
port, body = sys.argv[1], json.load(open(sys.argv[2]))
rows = {"instances": [{"customer_id": f"C{i}", "features": body["features"]} for i in range(10_000)]}
data = json.dumps(rows).encode()
best = server_ms = None
for _ in range(10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/predict/batch", data=data, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    r = json.load(urllib.request.urlopen(req))
    wall = time.perf_counter() - t
    assert len(r["predictions"]) == 10_000
    best = min(best or 1e9, wall)
    server_ms = min(server_ms or 1e9, r["latency_ms"])
cols = list(body["features"])
split = json.dumps({"dataframe_split": {"columns": cols, "data": [[body["features"][c] for c in cols]] * 10_000}}).encode()
best_split = None
for _ in range(10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=split, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    r = json.load(urllib.request.urlopen(req))
    assert len(r["predictions"]) == 10_000
    best_split = min(best_split or 1e9, time.perf_counter() - t)
print(f"{10_000 / best:,.0f} rows/s end to end (best of 10, HTTP + JSON), {10_000 / (server_ms / 1e3):,.0f} rows/s in the server (best of 10: parse + validate + score); "
      f"/invocations dataframe_split: {10_000 / best_split:,.0f} rows/s end to end (best of 10)")
PYEOF
)"

echo
echo "Serving benchmark, $(date -u +%F), $(nproc) cores, ${DURATION}s per point, wrk, body: $(cat "$W/body.json" | head -c 80)..."
printf "%-12s %-8s %12s %10s %10s  %s\n" server conc "req/s" p50 p99 errors
while read -r name c rps p50 p99 errs; do printf "%-12s %-8s %12s %10s %10s  %s\n" "$name" "$c" "$rps" "$p50" "$p99" "$errs"; done < "$results"
for c in 1 8 64; do
  f="$(awk -v c="$c" '$1=="fastapi" && $2==c {print $3}' "$results")"
  s="$(awk -v c="$c" '$1=="slipway" && $2==c {print $3}' "$results")"
  awk -v c="$c" -v f="$f" -v s="$s" 'BEGIN {printf "ratio at concurrency %s: %.0fx req/s\n", c, s/f}'
done
echo "server RSS after load: slipway ${SRSS} MiB, fastapi ${FRSS} MiB"
echo "slipway batch of 10,000 rows: $BATCH"
sleep 1.5  # one flush interval
curl -s "http://127.0.0.1:$SP/metrics" | awk '/^slipway_prediction_log_(written|dropped)_total/ {printf "%s %s  ", $1, $2} END {print ""}'
echo "prediction log segments: $(ls "$W/predictions" | wc -l) files, $(du -sh "$W/predictions" | cut -f1)"
