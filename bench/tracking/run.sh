#!/usr/bin/env bash
# Tracking-server benchmark: `mlflow server` vs `slipway server`, same
# workloads, same client, same machine, one run.  See README.md.
#
#   bench/tracking/run.sh                 # full comparison (~5-10 min)
#   bench/tracking/run.sh --quick         # small counts (~2 min)
#   bench/tracking/run.sh --only slipway  # skip MLflow (fast iteration)
#   bench/tracking/run.sh --only mlflow
#
# Env: SLIPWAY_BIN (default target/release/slipway, built if missing),
#      SLIPWAY_CACHE (default ~/.cache/slipway; the bench venv lives in
#      $SLIPWAY_CACHE/venvs/bench), PYTHON (interpreter for the venv).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
VENV="$CACHE/venvs/bench"
REQ="$HERE/requirements.txt"

only=""
prev=""
for a in "$@"; do
  case "$a" in
    --only=*) only="${a#--only=}" ;;
  esac
  if [ "$prev" = "--only" ]; then only="$a"; fi
  prev="$a"
done

# 1. bench venv (client + MLflow server), rebuilt when requirements change
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bench] creating venv $VENV from $REQ" >&2
  mkdir -p "$(dirname "$VENV")"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2 || true
  "$VENV/bin/python" -m pip install --quiet -r "$REQ" >&2
  echo "$want" > "$stamp"
fi

# 2. slipway binary
if [ "$only" != "mlflow" ]; then
  SLIPWAY_BIN="${SLIPWAY_BIN:-$REPO/target/release/slipway}"
  case "$SLIPWAY_BIN" in /*) ;; *) SLIPWAY_BIN="$REPO/$SLIPWAY_BIN" ;; esac
  if [ ! -x "$SLIPWAY_BIN" ]; then
    echo "[bench] $SLIPWAY_BIN missing: cargo build --release -p slipway" >&2
    (cd "$REPO" && cargo build --release -p slipway)
  fi
  export SLIPWAY_BIN
fi

# 3. run (mlflow server comes from the same venv as the client)
exec "$VENV/bin/python" "$HERE/bench.py" --mlflow-bin "$VENV/bin/mlflow" "$@"
