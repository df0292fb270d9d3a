#!/usr/bin/env bash
# Training benchmark: `slipway train` (defaults) vs scikit-learn's
# GradientBoostingClassifier and LightGBM (defaults), same data, same machine,
# one run. See README.md.
#
#   bash bench/training/run.sh            # full run (~15 min; GBC on 500k rows is most of it)
#   bash bench/training/run.sh --quick    # GBC speed row estimated from a 50k subsample, 1 rep (~3 min)
#   bash bench/training/run.sh --skip-slipway   # baselines only
#
# Other flags: bench.py --help. Env: SLIPWAY_CACHE (default ~/.cache/slipway;
# venv in $SLIPWAY_CACHE/venvs/bench-training, data in
# $SLIPWAY_CACHE/bench-training/data), SLIPWAY_BIN (default
# target/release/slipway, always rebuilt with cargo build --release -p slipway),
# PYTHON (interpreter for the venv).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
VENV="$CACHE/venvs/bench-training"
DATA="$CACHE/bench-training/data"
REQ="$HERE/requirements.txt"

# OpenMP (LightGBM) on this 2-core machine: no busy-waiting threads.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

skip_slipway=0
for a in "$@"; do [ "$a" = "--skip-slipway" ] && skip_slipway=1; done

# 1. venv, rebuilt when requirements.txt changes
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

# 2. slipway binary (release)
if [ "$skip_slipway" = 0 ]; then
  echo "[bench] cargo build --release -p slipway" >&2
  (cd "$REPO" && cargo build --release -p slipway >&2)
  SLIPWAY_BIN="${SLIPWAY_BIN:-$REPO/target/release/slipway}"
  case "$SLIPWAY_BIN" in /*) ;; *) SLIPWAY_BIN="$REPO/$SLIPWAY_BIN" ;; esac
  export SLIPWAY_BIN
fi

# 3. datasets (exported once; delete $DATA to export again)
dstamp="$DATA/.export.sha256"
dwant="$(cat "$HERE/export.py" "$REQ" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$dstamp" 2>/dev/null)" != "$dwant" ]; then
  echo "[bench] exporting datasets to $DATA" >&2
  rm -rf "$DATA"
  "$VENV/bin/python" "$HERE/export.py" --out "$DATA"
  echo "$dwant" > "$dstamp"
fi

# 4. baselines, Slipway, latency, table
exec "$VENV/bin/python" "$HERE/bench.py" --data "$DATA" --repo "$REPO" "$@"
