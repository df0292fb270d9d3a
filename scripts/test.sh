#!/usr/bin/env bash
# Slipway: THE test command (README, CI via .ci/run).
#
#   scripts/test.sh                 everything: system deps, fmt, clippy, cargo tests,
#                                   release build, then the end-to-end suite with the official
#                                   mlflow 3.x and 2.x clients against `slipway server`
#   scripts/test.sh --rust-only     fmt + clippy + cargo tests only
#   scripts/test.sh --e2e-only      release build + end-to-end suite only
#   scripts/test.sh --e2e-only --client mlflow3 -- -k search -x
#                                   one client, extra pytest arguments after `--`
#
# Environment:
#   CARGO_TARGET_DIR   cargo target dir (default: <repo>/target)
#   SLIPWAY_CACHE      venvs + pip cache (default: ~/.cache/slipway)
#   SLIPWAY_BIN        use this slipway binary instead of building target/release/slipway
#   SLIPWAY_PYTHON     interpreter for the venvs (default: python3, needs >= 3.10)
#   SLIPWAY_KEEP_TMP=1 keep the servers' temporary data dirs
#   SLIPWAY_STARTUP_TIMEOUT  seconds to wait for GET /health (default 30)
#   CI=true            skipped tests count as failures (see tests/e2e/conftest.py)
#
# Exit status is non-zero if any stage failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# ------------------------------------------------------------------------------ options
DO_RUST=1
DO_E2E=1
CLIENTS=(mlflow3 mlflow2)
CLIENTS_SET=0
PYTEST_EXTRA=()

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rust-only) DO_E2E=0 ;;
        --e2e-only) DO_RUST=0 ;;
        --client)
            [[ $# -ge 2 ]] || { echo "--client needs mlflow3 or mlflow2" >&2; exit 2; }
            if [[ $CLIENTS_SET -eq 0 ]]; then CLIENTS=(); CLIENTS_SET=1; fi
            case "$2" in
                mlflow3 | mlflow2) CLIENTS+=("$2") ;;
                *) echo "unknown client '$2' (mlflow3 or mlflow2)" >&2; exit 2 ;;
            esac
            shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ $DO_RUST -eq 0 && $DO_E2E -eq 0 ]]; then
    echo "--rust-only and --e2e-only together leave nothing to do" >&2
    exit 2
fi

# ------------------------------------------------------------------------------ settings
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
[[ "$CARGO_TARGET_DIR" = /* ]] || CARGO_TARGET_DIR="$REPO/$CARGO_TARGET_DIR"
SLIPWAY_CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
PYTHON="${SLIPWAY_PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
# A one-shot run gains nothing from incremental caches, which cost gigabytes.
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0
STARTUP_TIMEOUT="${SLIPWAY_STARTUP_TIMEOUT:-30}"
PYTEST_TIMEOUT="${SLIPWAY_PYTEST_TIMEOUT:-1800}"

STATE="$(mktemp -d "${TMPDIR:-/tmp}/slipway-test.XXXXXX")"
: >"$STATE/pids"

STAGE_NAMES=()
STAGE_RESULTS=()
STAGE_TIMES=()
STAGE_NOTES=()
FAILED=0
T_START=$SECONDS

if [[ -t 1 ]]; then BOLD=$'\033[1m' RESET=$'\033[0m'; else BOLD="" RESET=""; fi
section() {
    printf '\n%s==============================================================================\n' "$BOLD"
    printf '== %s\n' "$*"
    printf '==============================================================================%s\n' "$RESET"
}

record() { # name result seconds [note]
    STAGE_NAMES+=("$1")
    STAGE_RESULTS+=("$2")
    STAGE_TIMES+=("$3")
    STAGE_NOTES+=("${4:-}")
    [[ "$2" != FAIL ]] || FAILED=1
}

# A stage may leave a one-line note for the summary (e.g. pytest's result line).
note() { echo "$*" >"$STATE/note"; }

# Run a stage function in a subshell with errexit active (a plain `if fn` would disable -e).
stage() { # name function [args...]
    local name="$1"
    shift
    section "$name"
    local t0=$SECONDS rc n
    rm -f "$STATE/note"
    set +e
    # In the background + `wait`, so that INT/TERM reach our trap at once (bash defers traps
    # while a foreground child runs); the trap then ends this stage's whole process tree.
    (
        set -euo pipefail
        "$@"
    ) &
    CURRENT_PID=$!
    CURRENT_STAGE="$name"
    CURRENT_T0=$t0
    wait "$CURRENT_PID"
    rc=$?
    CURRENT_PID=""
    CURRENT_STAGE=""
    set -e
    n="$(cat "$STATE/note" 2>/dev/null || true)"
    if [[ $rc -eq 0 ]]; then
        record "$name" PASS $((SECONDS - t0)) "$n"
    else
        echo "!! stage '$name' failed (exit $rc)" >&2
        record "$name" FAIL $((SECONDS - t0)) "${n:-exit $rc}"
    fi
    return 0
}

skip_stage() { # name reason : an intentional, harmless skip
    section "$1"
    echo "skipped: $2"
    record "$1" SKIP 0 "$2"
}

fail_stage() { # name reason : could not run -> failure
    section "$1"
    echo "!! not run: $2" >&2
    record "$1" FAIL 0 "not run: $2"
}

stage_ok() { # name -> 0 if recorded PASS
    local i
    for i in "${!STAGE_NAMES[@]}"; do
        [[ "${STAGE_NAMES[$i]}" == "$1" && "${STAGE_RESULTS[$i]}" == PASS ]] && return 0
    done
    return 1
}

CURRENT_PID=""
CURRENT_STAGE=""
CURRENT_T0=0

tree_pids() { # pid : the process and all its descendants (only ours)
    local child
    echo "$1"
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        tree_pids "$child"
    done
}

# Kill every process we started (the running stage's tree, the servers' process groups).
kill_started() {
    local pid tree=()
    if [[ -n "$CURRENT_PID" ]]; then
        mapfile -t tree < <(tree_pids "$CURRENT_PID")
        kill -TERM "${tree[@]}" 2>/dev/null || true
    fi
    # servers still registered (a server stopped normally is removed from the list)
    if [[ -s "$STATE/pids" ]]; then
        while read -r pid; do
            if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
                kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            fi
        done <"$STATE/pids"
    fi
    sleep 0.5
    for pid in ${tree[@]+"${tree[@]}"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -s "$STATE/pids" ]]; then
        while read -r pid; do
            if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$STATE/pids"
    fi
}

SUMMARY_PRINTED=0
print_summary() {
    [[ $SUMMARY_PRINTED -eq 0 ]] || return 0
    SUMMARY_PRINTED=1
    section "Summary"
    local i
    for i in "${!STAGE_NAMES[@]}"; do
        printf '%-4s  %-34s %5ss  %s\n' "${STAGE_RESULTS[$i]}" "${STAGE_NAMES[$i]}" \
            "${STAGE_TIMES[$i]}" "${STAGE_NOTES[$i]}"
    done
    printf 'total %ss: ' $((SECONDS - T_START))
    if [[ $FAILED -eq 0 && ${#STAGE_NAMES[@]} -gt 0 ]]; then echo "ALL PASSED"; else echo "FAILED"; fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    kill_started
    if [[ -n "$CURRENT_STAGE" ]]; then
        record "$CURRENT_STAGE" FAIL $((SECONDS - CURRENT_T0)) "interrupted"
        CURRENT_STAGE=""
    fi
    if [[ $rc -ne 0 ]]; then FAILED=1; fi
    print_summary
    if [[ "${SLIPWAY_KEEP_TMP:-0}" == 1 ]]; then
        echo "kept temporary files in $STATE"
    else
        rm -rf "$STATE"
    fi
    if [[ $rc -eq 0 && $FAILED -ne 0 ]]; then rc=1; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM

# ------------------------------------------------------------------------------ stages
system_deps() {
    local missing_pkgs=() missing=()
    if [[ $DO_RUST -eq 1 || $DO_E2E -eq 1 ]]; then
        command -v cargo >/dev/null || missing+=("cargo (install Rust with rustup)")
        command -v cc >/dev/null || { missing_pkgs+=(build-essential); missing+=(cc); }
        # `slipway run` tests drive a git repository and log through curl.
        command -v git >/dev/null || { missing_pkgs+=(git); missing+=(git); }
        command -v curl >/dev/null || { missing_pkgs+=(curl); missing+=(curl); }
    fi
    if [[ $DO_E2E -eq 1 ]]; then
        if ! command -v "$PYTHON" >/dev/null; then
            missing_pkgs+=(python3 python3-venv python3-pip)
            missing+=("$PYTHON")
        elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
            local ver
            ver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
            missing_pkgs+=("python3-venv" "python${ver}-venv")
            missing+=("python venv/ensurepip")
        fi
        command -v setsid >/dev/null || { missing_pkgs+=(util-linux); missing+=(setsid); }
        command -v ps >/dev/null || { missing_pkgs+=(procps); missing+=(ps); }
        command -v timeout >/dev/null || { missing_pkgs+=(coreutils); missing+=(timeout); }
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "nothing missing"
    elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing: ${missing_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        local p
        for p in "${missing_pkgs[@]}"; do
            apt-get install -y -qq --no-install-recommends "$p" || echo "warning: could not install $p"
        done
    else
        echo "missing: ${missing[*]}" >&2
        echo "install them (Debian/Ubuntu: apt-get install ${missing_pkgs[*]}) or run as root" >&2
        return 1
    fi
    if [[ $DO_RUST -eq 1 ]]; then
        if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null; then
                rustup component add rustfmt clippy
            fi
        fi
        cargo fmt --version
        cargo clippy --version
    fi
    cargo --version
    if [[ $DO_E2E -eq 1 ]]; then
        "$PYTHON" - <<'EOF'
import sys
print("python", sys.version.split()[0])
if sys.version_info < (3, 10):
    sys.exit("Python >= 3.10 is required for the mlflow 3.x client (set SLIPWAY_PYTHON)")
EOF
    fi
}

rust_fmt() { cargo fmt --all -- --check; }

rust_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }

rust_test() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast --no-tests=warn
        cargo test --workspace --doc
    else
        cargo test --workspace --no-fail-fast
    fi
}

SLIPWAY_BIN_PATH=""
release_build() {
    cargo build --release -p slipway
    test -x "$CARGO_TARGET_DIR/release/slipway"
    "$CARGO_TARGET_DIR/release/slipway" --version || true
}

venv_dir() { echo "$SLIPWAY_CACHE/venvs/e2e-$1"; }

make_venv() { # client
    local client="$1" venv req want have
    venv="$(venv_dir "$client")"
    req="$REPO/tests/e2e/requirements-$client.txt"
    test -f "$req"
    # identity = requirements file + interpreter version
    want="$({ cat "$req"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
    have="$(cat "$venv/.requirements.sha256" 2>/dev/null || true)"
    if [[ "$want" == "$have" ]] && "$venv/bin/python" -c 'import mlflow, pytest' 2>/dev/null; then
        echo "$client: up to date ($venv)"
    else
        echo "$client: (re)creating $venv from $(basename "$req")"
        rm -rf "$venv"
        mkdir -p "$SLIPWAY_CACHE/venvs" "$SLIPWAY_CACHE/pip"
        "$PYTHON" -m venv "$venv"
        "$venv/bin/python" -m pip install --cache-dir "$SLIPWAY_CACHE/pip" --progress-bar off -q \
            -r "$req"
        echo "$want" >"$venv/.requirements.sha256"
    fi
    local versions
    versions="$("$venv/bin/python" -c 'import mlflow, sklearn, pandas, pytest; print("mlflow", mlflow.__version__, "| scikit-learn", sklearn.__version__, "| pandas", pandas.__version__, "| pytest", pytest.__version__)')"
    echo "$versions"
    note "$versions"
}

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_ok() { # url -> 0 if HTTP 200
    if command -v curl >/dev/null; then
        curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
    else
        "$PYTHON" -c 'import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "$1" 2>/dev/null
    fi
}

e2e_client() { # client
    local client="$1" venv data port uri pid log rc
    venv="$(venv_dir "$client")"
    data="$(mktemp -d "$STATE/$client.XXXXXX")"
    log="$data/server.log"
    port="$(free_port)"
    uri="http://127.0.0.1:$port"

    echo "server: $SLIPWAY_BIN_PATH server --host 127.0.0.1 --port $port (data in $data)"
    setsid "$SLIPWAY_BIN_PATH" server --host 127.0.0.1 --port "$port" \
        --backend-store-uri "sqlite:///$data/mlflow.db" \
        --artifacts-destination "$data/artifacts" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    echo "$pid" >>"$STATE/pids"

    local deadline=$((SECONDS + STARTUP_TIMEOUT))
    until http_ok "$uri/health"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "!! server exited during startup; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        if [[ $SECONDS -ge $deadline ]]; then
            echo "!! server not healthy after ${STARTUP_TIMEOUT}s; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "server healthy at $uri (pid $pid)"

    set +e
    SLIPWAY_TEST_URI="$uri" SLIPWAY_BIN="$SLIPWAY_BIN_PATH" \
        timeout --signal=TERM --kill-after=60 "$PYTEST_TIMEOUT" \
        "$venv/bin/python" -m pytest "$REPO/tests/e2e" -p no:cacheprovider \
        ${PYTEST_EXTRA[@]+"${PYTEST_EXTRA[@]}"} 2>&1 | tee "$data/pytest.log"
    rc=${PIPESTATUS[0]}
    set -e
    note "$(grep -E '^=+ .*[0-9.]+s( \([0-9:]+\))? =+$' "$data/pytest.log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//')"

    # stop the server (the EXIT trap would too)
    kill -TERM -- "-$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sed -i "/^$pid\$/d" "$STATE/pids"

    case $rc in
        0) return 0 ;;
        5) echo "!! pytest collected no tests (exit 5): counted as a failure" >&2 ;;
        124 | 137) echo "!! pytest timed out after ${PYTEST_TIMEOUT}s" >&2 ;;
        *) echo "!! pytest failed (exit $rc)" >&2 ;;
    esac
    echo "---- last 200 lines of the server log ($log) ----" >&2
    tail -n 200 "$log" >&2
    return 1
}

# ------------------------------------------------------------------------------ main
echo "repo: $REPO"
echo "CARGO_TARGET_DIR=$CARGO_TARGET_DIR  SLIPWAY_CACHE=$SLIPWAY_CACHE  CI=${CI:-}"

# The README's first command, as a new user runs it, on a fresh home.
demo_run() {
    local home
    home="$(mktemp -d "${TMPDIR:-/tmp}/slipway-demo.XXXXXX")"
    echo "$SLIPWAY_BIN_PATH demo --exit (SLIPWAY_HOME=$home)"
    local rc=0
    env -u SLIPWAY_TRACKING_URI -u MLFLOW_TRACKING_URI SLIPWAY_HOME="$home" \
        "$SLIPWAY_BIN_PATH" demo --exit --quiet || rc=$?
    [[ "${SLIPWAY_KEEP_TMP:-0}" == 1 ]] || rm -rf "$home"
    return $rc
}

stage "system dependencies" system_deps
if ! stage_ok "system dependencies"; then
    exit 1
fi

if [[ $DO_RUST -eq 1 ]]; then
    stage "cargo fmt --check" rust_fmt
    stage "cargo clippy -D warnings" rust_clippy
    stage "cargo tests" rust_test
fi

if [[ $DO_E2E -eq 1 ]]; then
    if [[ -n "${SLIPWAY_BIN:-}" ]]; then
        SLIPWAY_BIN_PATH="$(cd "$(dirname "$SLIPWAY_BIN")" && pwd)/$(basename "$SLIPWAY_BIN")"
        skip_stage "cargo build --release -p slipway" "SLIPWAY_BIN=$SLIPWAY_BIN_PATH given"
    else
        SLIPWAY_BIN_PATH="$CARGO_TARGET_DIR/release/slipway"
        stage "cargo build --release -p slipway" release_build
    fi
    # ONNX models trained in Python: slipway-onnx against onnxruntime on every test row.
    stage "onnx parity (onnxruntime)" bash "$REPO/tests/onnx/check_parity.sh"
    # XGBoost/LightGBM native files: slipway-serve against the Python libraries on every row.
    stage "native tree parity (xgboost, lightgbm)" bash "$REPO/tests/native/check_parity.sh"
    if [[ -x "$SLIPWAY_BIN_PATH" ]]; then
        stage "slipway demo --exit" demo_run
    else
        fail_stage "slipway demo --exit" "no executable slipway binary at $SLIPWAY_BIN_PATH"
    fi
    for client in "${CLIENTS[@]}"; do
        stage "venv e2e-$client" make_venv "$client"
    done
    for client in "${CLIENTS[@]}"; do
        name="e2e ($client client)"
        if [[ ! -x "$SLIPWAY_BIN_PATH" ]]; then
            fail_stage "$name" "no executable slipway binary at $SLIPWAY_BIN_PATH"
        elif ! stage_ok "venv e2e-$client"; then
            fail_stage "$name" "venv e2e-$client could not be built"
        else
            stage "$name" e2e_client "$client"
        fi
    done
fi

[[ $FAILED -eq 0 ]]
