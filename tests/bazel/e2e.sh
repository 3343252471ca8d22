#!/usr/bin/env bash
# End-to-end check of rules_dxpy under offline Bazel 7.7.1 (Debian sid chroot).
#
#   1. provision the chroot if needed (tests/bazel/sid.sh provision), build
#      dx-py (`cargo build --release -p dxpy_cli`, or take $DXPY_BIN), then
#      re-run itself in a fresh network namespace with only loopback, so the
#      Bazel steps prove the build needs no network (DXPY_E2E_OFFLINE=0 skips
#      the isolation)
#   2. repo root: bazel build //... (incl. //:gazelle_dxpy) and bazel test //...
#      (Starlark analysis tests of dx_py_library / dx_py_test)
#   3. release toolchain: a throwaway workspace pins an archive of this
#      checkout's dx-py by file:// URL + sha256; a dx_py_test passes with it,
#      a wrong sha256 is rejected, an archive without one is refused
#   4. examples/bazel (development toolchain): `bazel test //...` passes and
#      replays; the worker runs as a proto multiplex worker whose PID survives
#      into later invocations; a rerun is (cached); the failing target FAILS
#      with its traceback and valid JUnit; every Bazel test flag does what
#      README.md ("Bazel") says; an undeclared import fails alike in the
#      worker and in a sandbox; --disk_cache hits after bazel clean
#   4b. `bazel coverage //...` of examples/bazel (--combined_report=lcov): the
#      merged LCOV report equals coverage.py's under pytest, file by file; a
#      rerun is (cached)
#   5. gazelle on a corpus suite (tests/bazel/e2e_gazelle.sh): BUILD files
#      generated from nothing, a second run changes nothing, and bazel test
#      //... gives pytest's outcome for every test
#   5b. third-party dependencies through rules_python's pip.parse from an
#      offline wheelhouse (tests/bazel/e2e_pypi.sh): gazelle's manifest from the
#      requirements lock maps imports to @pypi//<dist>, and bazel test //...
#      gives pytest's outcome for every test
#   6. always: bazel shutdown in every workspace, then verify that no Bazel
#      server is left running and nothing is mounted under the root
#
# DXPY_E2E_STEPS="root release example coverage gazelle pypi" (the default) narrows the
# steps of 2-5 for local work.
#
# Exits non-zero on any failure, showing the Bazel output that failed.
# Needs root; reads no stdin (CI runs it non-interactively).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
EXAMPLE=$REPO_ROOT/examples/bazel
SID=$SCRIPT_DIR/sid.sh
SID_ROOT=${DXPY_SID_ROOT:-/var/cache/dxpy/sid}
# Scratch space the chroot can see (sid.sh binds the repository in): the
# release workspace and the disk cache.
SCRATCH=$REPO_ROOT/.cache/bazel-e2e
RELEASE_WS=$SCRATCH/release-ws
GAZELLE_WS=$SCRATCH/gazelle-ws
DISK_CACHE=$SCRATCH/disk-cache
DXPY_BIN=${DXPY_BIN:-$REPO_ROOT/target/release/dx-py}
BASELINE_TARGET=//tests:greeter_test
WORKER_PATTERN='bazel-worker --persistent_worker'

exec </dev/null
if [[ $(id -u) -ne 0 ]]; then
    echo "e2e: error: must run as root (tests/bazel/sid.sh needs it)" >&2
    exit 1
fi
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dxpy-bazel-e2e.XXXXXX")
FAILED=0

fail() {
    echo "e2e: FAIL: $*" >&2
    FAILED=1
}

# bazel_expect STATUS NAME WORKSPACE ARGS... : run bazel, keep its output in
# $LOG_DIR/NAME.log, and fail (showing the log) unless it exits with STATUS
# (0 = success, 3 = some tests failed, 1 = build failed).
bazel_expect() {
    local want=$1 name=$2 workspace=$3
    shift 3
    local log="$LOG_DIR/$name.log" shown=${workspace#"$REPO_ROOT"/} status=0
    [[ $workspace != "$REPO_ROOT" ]] || shown=.
    echo "e2e: [$name] bazel $* (in $shown)" >&2
    "$SID" bazel --workspace "$workspace" -- "$@" >"$log" 2>&1 || status=$?
    grep -E '(PASSED|FAILED|TIMEOUT|NO STATUS|Executed|Build completed|processes:)' "$log" >&2 || true
    if [[ $status -ne $want ]]; then
        fail "[$name] bazel $* exited $status, expected $want; its output:"
        cat "$log" >&2
        return 1
    fi
}

bazel_step() { bazel_expect 0 "$@"; }

# expect_in FILE REGEX WHAT : FILE (a log of a step, or an output) matches REGEX.
expect_in() {
    local file=$1 regex=$2 what=$3
    if [[ ! -f $file ]]; then
        fail "$what: $file does not exist"
        return 1
    fi
    if ! grep -Eq -- "$regex" "$file"; then
        fail "$what: /$regex/ not found in $file:"
        sed -n '1,80p' "$file" >&2
        return 1
    fi
}

expect_not_in() {
    local file=$1 regex=$2 what=$3
    if grep -Eq -- "$regex" "$file"; then
        fail "$what: /$regex/ unexpectedly found in $file:"
        sed -n '1,80p' "$file" >&2
        return 1
    fi
}

# junit FILE ARGS... : tests/bazel/junit_check.py on FILE (valid JUnit, outcomes).
junit() {
    python3 "$SCRIPT_DIR/junit_check.py" "$@" || { fail "JUnit check failed: $*"; return 1; }
}

workspaces() { printf '%s\n' "$REPO_ROOT" "$EXAMPLE" "$RELEASE_WS" "$GAZELLE_WS" "$PYPI_WS"; }

# dx-py worker processes of our workspaces (other Bazel users on the machine
# may run their own): Bazel names an output base after the MD5 of the
# workspace path, and a worker's cwd is the execroot inside it.
our_worker_pids() {
    local pid hashes=() workspace
    while IFS= read -r workspace; do
        hashes+=("$(printf '%s' "$workspace" | md5sum | cut -c1-32)")
    done < <(workspaces)
    for pid in $(ps -eo pid=,args= | grep -F -- "$WORKER_PATTERN" | grep -v grep | awk '{print $1}'); do
        local cwd
        cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
        for hash in "${hashes[@]}"; do
            if [[ $cwd == *"/$hash/"* ]]; then
                echo "$pid"
                break
            fi
        done
    done | sort -n | tr '\n' ' '
}

shutdown_servers() {
    local workspace
    while IFS= read -r workspace; do
        [[ -f $workspace/MODULE.bazel ]] || continue
        "$SID" bazel --workspace "$workspace" -- shutdown >"$LOG_DIR/shutdown.log" 2>&1 || {
            echo "e2e: bazel shutdown failed in $workspace:" >&2
            cat "$LOG_DIR/shutdown.log" >&2
            return 1
        }
    done < <(workspaces)
}

shutdown_and_verify_clean() {
    local status=$?
    if [[ -f "$SID_ROOT/.dxpy-provisioned" ]]; then
        shutdown_servers || status=1
    fi
    # The server's pid file says it is gone only after it exits; allow a moment.
    local leftover="" pattern
    pattern="--workspace_directory=($REPO_ROOT|$EXAMPLE|$RELEASE_WS|$GAZELLE_WS|$PYPI_WS)( |$)"
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        leftover=$(ps -eo pid=,args= | grep -E -- "$pattern" | grep -v grep || true)
        leftover+=$(our_worker_pids)
        [[ -z "$leftover" ]] && break
        sleep 1
    done
    if [[ -n "$leftover" ]]; then
        echo "e2e: FAIL: Bazel server or dx-py worker still running after shutdown:" >&2
        echo "$leftover" >&2
        status=1
    fi
    if awk -v d="$SID_ROOT" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "e2e: FAIL: mounts left under $SID_ROOT:" >&2
        grep -F "$SID_ROOT" /proc/self/mountinfo >&2 || true
        status=1
    fi
    rm -rf "$LOG_DIR"
    exit "$status"
}
trap shutdown_and_verify_clean EXIT

build_dxpy() {
    if [[ $DXPY_BIN == "$REPO_ROOT/target/release/dx-py" ]]; then
        echo "e2e: cargo build --release -p dxpy_cli" >&2
        (cd "$REPO_ROOT" && cargo build --release --locked -p dxpy_cli) >"$LOG_DIR/cargo.log" 2>&1 || {
            cat "$LOG_DIR/cargo.log" >&2
            fail "cargo build --release -p dxpy_cli failed"
            return 1
        }
    fi
    [[ -x $DXPY_BIN ]] || { fail "no dx-py binary at $DXPY_BIN"; return 1; }
    # Only the repository is bound into the chroot.
    [[ $DXPY_BIN == "$REPO_ROOT"/* ]] || { fail "DXPY_BIN must be inside $REPO_ROOT"; return 1; }
}

# Provision (needs the network) and build dx-py, then continue offline in a
# new network namespace. Servers from earlier runs are stopped first: a
# client in the new namespace could not reach them over the host's loopback.
provision_then_go_offline() {
    local start provisioned
    start=$(date +%s)
    "$SID" provision || return 1
    provisioned=$(date +%s)
    echo "e2e: provision took $((provisioned - start)) s" >&2
    build_dxpy || return 1
    [[ ${DXPY_E2E_OFFLINE:-1} != 0 ]] || return 0
    shutdown_servers || return 1
    if ! command -v ip >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null \
            || { fail "could not install iproute2 (needed to bring up loopback)"; return 1; }
    fi
    trap - EXIT
    rm -rf "$LOG_DIR"
    echo "e2e: continuing without network (unshare --net)" >&2
    exec unshare --net -- env DXPY_BIN="$DXPY_BIN" DXPY_E2E_STEPS="${DXPY_E2E_STEPS:-}" \
        bash "${BASH_SOURCE[0]}" --offline-inner
}

source "$SCRIPT_DIR/e2e_steps.sh"
source "$SCRIPT_DIR/e2e_gazelle.sh"
source "$SCRIPT_DIR/e2e_pypi.sh"

main() {
    local end provisioned
    if [[ ${1:-} == --offline-inner ]]; then
        # Bazel's client talks to its server over loopback.
        ip link set lo up || { fail "cannot bring up loopback"; return 1; }
    else
        provision_then_go_offline || return 1
    fi
    provisioned=$(date +%s)
    rm -rf "$SCRATCH"
    mkdir -p "$SCRATCH"

    local steps=" ${DXPY_E2E_STEPS:-root release example coverage gazelle pypi} "
    [[ $steps != *" root "* ]] || check_root_workspace || return 1
    [[ $steps != *" release "* ]] || check_release_toolchain || return 1
    [[ $steps != *" example "* ]] || check_example || return 1
    [[ $steps != *" coverage "* ]] || check_example_coverage || return 1
    [[ $steps != *" gazelle "* ]] || check_gazelle_corpus || return 1
    [[ $steps != *" pypi "* ]] || check_pypi || return 1

    end=$(date +%s)
    echo "e2e: bazel steps took $((end - provisioned)) s" >&2
}

if main "$@" && [[ $FAILED -eq 0 ]]; then
    echo "e2e: OK" >&2
else
    exit 1
fi
