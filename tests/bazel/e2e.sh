#!/usr/bin/env bash
# End-to-end check of rules_dxpy under offline Bazel 7.7.1 (Debian sid chroot).
#
#   1. provision the chroot if needed (tests/bazel/sid.sh provision), then
#      re-run itself in a fresh network namespace with only loopback, so the
#      Bazel steps prove the build needs no network (DXPY_E2E_OFFLINE=0 skips
#      the isolation)
#   2. repo root:     bazel build //... and bazel test //... (analysis tests)
#   3. examples/bazel: bazel test //... passes, and a second run reports the
#      py_test as (cached)
#   4. always: bazel shutdown in both workspaces, then verify that no Bazel
#      server for them is left running and nothing is mounted under the root
#
# Exits non-zero on any failure, showing the Bazel output that failed.
# Needs root; reads no stdin (CI runs it non-interactively).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
EXAMPLE=$REPO_ROOT/examples/bazel
SID=$SCRIPT_DIR/sid.sh
SID_ROOT=${DXPY_SID_ROOT:-/var/cache/dxpy/sid}
TEST_TARGET=//tests:greeter_test

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

# bazel_step NAME WORKSPACE ARGS... : run bazel, keep its output in a log,
# show the whole log if bazel fails. Returns bazel's exit status.
bazel_step() {
    local name=$1 workspace=$2
    shift 2
    local log="$LOG_DIR/$name.log" shown=${workspace#"$REPO_ROOT"/}
    [[ $workspace != "$REPO_ROOT" ]] || shown=.
    echo "e2e: [$name] bazel $* (in $shown)" >&2
    if "$SID" bazel --workspace "$workspace" -- "$@" >"$log" 2>&1; then
        grep -E '(PASSED|FAILED|NO STATUS|Executed|Build completed)' "$log" >&2 || true
        return 0
    fi
    fail "[$name] bazel $* failed; its output:"
    cat "$log" >&2
    return 1
}

shutdown_servers() {
    for workspace in "$REPO_ROOT" "$EXAMPLE"; do
        "$SID" bazel --workspace "$workspace" -- shutdown >"$LOG_DIR/shutdown.log" 2>&1 || {
            echo "e2e: bazel shutdown failed in $workspace:" >&2
            cat "$LOG_DIR/shutdown.log" >&2
            return 1
        }
    done
}

shutdown_and_verify_clean() {
    local status=$?
    if [[ -f "$SID_ROOT/.dxpy-provisioned" ]]; then
        shutdown_servers || status=1
    fi
    # The server's pid file says it is gone only after it exits; allow a moment.
    local leftover=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        leftover=$(ps -eo pid=,args= | grep -E -- "--workspace_directory=($REPO_ROOT|$EXAMPLE)( |$)" | grep -v grep || true)
        [[ -z "$leftover" ]] && break
        sleep 1
    done
    if [[ -n "$leftover" ]]; then
        echo "e2e: FAIL: Bazel server still running after shutdown:" >&2
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

# Provision (needs the network), then continue offline in a new network
# namespace. Servers from earlier runs are stopped first: a client in the new
# namespace could not reach them over the host's loopback.
provision_then_go_offline() {
    local start provisioned
    start=$(date +%s)
    "$SID" provision || return 1
    provisioned=$(date +%s)
    echo "e2e: provision took $((provisioned - start)) s" >&2
    [[ ${DXPY_E2E_OFFLINE:-1} != 0 ]] || return 0
    shutdown_servers || return 1
    if ! command -v ip >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null \
            || { fail "could not install iproute2 (needed to bring up loopback)"; return 1; }
    fi
    trap - EXIT
    rm -rf "$LOG_DIR"
    echo "e2e: continuing without network (unshare --net)" >&2
    exec unshare --net -- bash "${BASH_SOURCE[0]}" --offline-inner
}

main() {
    local end provisioned
    if [[ ${1:-} == --offline-inner ]]; then
        # Bazel's client talks to its server over loopback.
        ip link set lo up || { fail "cannot bring up loopback"; return 1; }
    else
        provision_then_go_offline || return 1
    fi
    provisioned=$(date +%s)

    bazel_step root-build "$REPO_ROOT" build //... || return 1
    bazel_step root-test "$REPO_ROOT" test //... || return 1

    bazel_step example-test "$EXAMPLE" test //... || return 1
    if ! grep -Eq "^$TEST_TARGET +(\(cached\) )?PASSED" "$LOG_DIR/example-test.log"; then
        fail "$TEST_TARGET did not report PASSED:"
        cat "$LOG_DIR/example-test.log" >&2
        return 1
    fi

    # sid.sh enters via pivot_root precisely so that linux-sandbox works;
    # Bazel silently falls back to processwrapper-sandbox, so say which ran.
    local strategies
    strategies=$(grep -E '^INFO: [0-9]+ process(es)?:' "$LOG_DIR/example-test.log" || true)
    echo "e2e: ${strategies:-no process summary}" >&2
    if [[ $strategies == *processwrapper-sandbox* ]]; then
        echo "e2e: warning: linux-sandbox was not usable here (no user namespaces?)" >&2
    fi

    bazel_step example-retest "$EXAMPLE" test //... || return 1
    if ! grep -Eq "^$TEST_TARGET +\(cached\) PASSED" "$LOG_DIR/example-retest.log"; then
        fail "second bazel test did not report $TEST_TARGET as (cached) PASSED:"
        cat "$LOG_DIR/example-retest.log" >&2
        return 1
    fi

    end=$(date +%s)
    echo "e2e: bazel steps took $((end - provisioned)) s" >&2
}

if main "$@" && [[ $FAILED -eq 0 ]]; then
    echo "e2e: OK" >&2
else
    exit 1
fi
