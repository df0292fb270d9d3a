#!/usr/bin/env bash
# ONNX parity check with the Python side (for scripts/test.sh / CI):
#  1. builds the venv ~/.cache/slipway/venvs/onnx from requirements.txt if missing,
#  2. regenerates every model with the pinned scikit-learn/skl2onnx/onnxmltools/
#     xgboost/lightgbm in a temp dir and runs onnxruntime on the full test sets,
#  3. runs slipway-onnx (examples/onnx_predict, release) on each model,
#  4. compares in Python: probabilities/values within 1e-5 (relative above 1),
#     labels identical, on every row. Exits non-zero on any mismatch.
# Also checks that the regenerated models still match the committed fixtures'
# expected outputs (reproducibility), and prints single-row latencies with
# --bench.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SLIPWAY_ONNX_VENV:-$HOME/.cache/slipway/venvs/onnx}"
bench=0
[[ "${1:-}" == "--bench" ]] && bench=1

# shellcheck source=../pinned_venv.sh
source "$here/../pinned_venv.sh"
pinned_venv "$venv" "$here/requirements.txt"
py="$venv/bin/python"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "== regenerating models in $tmp"
"$py" "$here/make_fixtures.py" generate "$tmp/models" 2>&1 | grep -v -i -E "warn|VerifyOutputSizes" || true

echo "== building slipway-onnx example (release)"
(cd "$root" && cargo build -q --release -p slipway-onnx --example onnx_predict)
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/onnx_predict"

fail=0
for model in "$tmp"/models/*.onnx; do
  name="$(basename "$model" .onnx)"
  args=("$model" "$tmp/models/$name.expected.json")
  [[ $bench == 1 ]] && args+=(--bench)
  if ! "$bin" "${args[@]}" > "$tmp/$name.rust.json"; then
    echo "$name: slipway-onnx failed"; fail=1; continue
  fi
  "$py" "$here/make_fixtures.py" compare "$tmp/models/$name.expected.json" "$tmp/$name.rust.json" || fail=1
  # the committed fixture's expectations still hold for the regenerated model
  if [[ -f "$here/fixtures/$name.expected.json" ]]; then
    "$py" "$here/make_fixtures.py" compare "$here/fixtures/$name.expected.json" "$tmp/$name.rust.json" \
      > "$tmp/$name.repro" || { echo "$name: regenerated model differs from the committed fixture"; cat "$tmp/$name.repro"; fail=1; }
  fi
done
if [[ $bench == 1 ]]; then
  "$py" "$here/make_fixtures.py" bench "$tmp/models" gbc_breast_cancer rf_churn xgb_churn lgbm_breast_cancer lr_pipeline_churn
fi
if [[ $fail != 0 ]]; then
  echo "ONNX parity: FAILED"
  exit 1
fi
echo "ONNX parity: all models match onnxruntime on every row"
