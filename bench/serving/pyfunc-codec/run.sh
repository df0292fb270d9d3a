#!/usr/bin/env bash
# The Python-worker channel's encoding, measured: Rust encode (src/main.rs) + Python decode
# (decode.py) of one batch of 1 and 100 rows, column-major JSON vs Arrow IPC, three rounds.
#   PYTHON=~/.cache/slipway/venvs/e2e-mlflow3/bin/python bash bench/serving/pyfunc-codec/run.sh
# (PYTHON needs pandas, numpy, pyarrow.) Not part of the workspace; builds offline-capable.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
TARGET="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/pyfunc-codec-target}"
(cd "$HERE" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
echo "$(date -u +%FT%TZ), $(nproc) cores"
for round in 1 2 3; do
  echo "--- round $round, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$TARGET/release/pyfunc-codec"
  "$PY" "$HERE/decode.py"
done
