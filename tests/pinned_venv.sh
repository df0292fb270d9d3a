# Sourced by the parity checks: pinned_venv DIR REQUIREMENTS builds (or rebuilds, when the
# requirements file changed) the venv DIR from REQUIREMENTS, stamped with the file's sha256.
pinned_venv() {
  local venv="$1" req="$2" stamp want
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "== building venv $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$req"
    echo "$want" > "$stamp"
  fi
}
