#!/usr/bin/env bash
# Native XGBoost/LightGBM parity with the Python libraries (for scripts/test.sh / CI):
#  1. builds the venv ~/.cache/slipway/venvs/native from requirements.txt if missing or stale,
#  2. regenerates every model (the committed set plus one per other objective served
#     natively: make_fixtures.py generate --extended) with the pinned xgboost/lightgbm in a
#     temp dir; a model that cannot be generated fails the script,
#  3. checks that the committed fixtures are byte for byte what the pinned versions generate,
#  4. runs slipway-serve's native test on the regenerated models: every held-out row through
#     the engine (/invocations, /predict/batch, predict_proba) must equal the library's
#     predict/predict_proba bit for bit, and the test must have checked every model.
# Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SLIPWAY_NATIVE_VENV:-$HOME/.cache/slipway/venvs/native}"

# shellcheck source=../pinned_venv.sh
source "$here/../pinned_venv.sh"
pinned_venv "$venv" "$here/requirements.txt"
py="$venv/bin/python"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "== regenerating models in $tmp/models"
# xgboost warns when it saves model.xgb as UBJSON (what mlflow.xgboost does for
# model_format="xgb"): expected, not shown.
"$py" -W "ignore::UserWarning" "$here/make_fixtures.py" generate "$tmp/models" --extended | tee "$tmp/generate.log"
generated="$(sed -n 's/^generated \([0-9][0-9]*\) models in .*/\1/p' "$tmp/generate.log")"
found="$(find "$tmp/models" -name '*.expected.json' | wc -l)"
if [[ -z "$generated" || "$generated" != "$found" || "$found" == 0 ]]; then
  echo "native parity: the generator reported '${generated:-nothing}' models, $found were written"
  exit 1
fi

echo "== the committed fixtures are what the pinned versions generate"
fail=0
committed=0
for f in "$here"/fixtures/*; do
  committed=$((committed + 1))
  if ! cmp -s "$f" "$tmp/models/$(basename "$f")"; then
    echo "$(basename "$f"): differs from the regenerated file (re-run make_fixtures.py generate tests/native/fixtures)"
    fail=1
  fi
done
echo "$committed committed files checked"

echo "== slipway-serve on the $found regenerated models"
(cd "$root" && SLIPWAY_NATIVE_FIXTURES="$tmp/models" SLIPWAY_NATIVE_EXPECT_MODELS="$found" \
  cargo test -q -p slipway-serve --test native -- --nocapture native_models 2>&1) | tee "$tmp/test.log" || fail=1
if ! grep -q "^checked $found models$" "$tmp/test.log"; then
  echo "native parity: the test did not report checking $found models"
  fail=1
fi
if [[ $fail != 0 ]]; then
  echo "native parity: FAILED"
  exit 1
fi
echo "native parity: $found models (XGBoost ubj/json/xgb, LightGBM text) bit-identical to the Python libraries on every row"
