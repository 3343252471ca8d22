#!/usr/bin/env bash
# End-to-end check of rules_dxpy under offline Bazel 7.7.1 (Debian sid chroot).
#
#   1. provision the chroot if needed (tests/bazel/sid.sh provision)
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

shutdown_and_verify_clean() {
    local status=$?
    if [[ -f "$SID_ROOT/.dxpy-provisioned" ]]; then
        for workspace in "$REPO_ROOT" "$EXAMPLE"; do
            "$SID" bazel --workspace "$workspace" -- shutdown >"$LOG_DIR/shutdown.log" 2>&1 \
                || { echo "e2e: bazel shutdown failed in $workspace:" >&2; cat "$LOG_DIR/shutdown.log" >&2; status=1; }
        done
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

main() {
    local start end provisioned
    start=$(date +%s)
    "$SID" provision || return 1
    provisioned=$(date +%s)
    echo "e2e: provision took $((provisioned - start)) s" >&2

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
    if grep -q 'linux-sandbox' "$LOG_DIR/example-test.log"; then
        echo "e2e: actions ran in linux-sandbox" >&2
    else
        echo "e2e: warning: linux-sandbox not used (no user namespaces here?)" >&2
    fi

    bazel_step example-retest "$EXAMPLE" test //... || return 1
    if ! grep -Eq "^$TEST_TARGET +\(cached\) PASSED" "$LOG_DIR/example-retest.log"; then
        fail "second bazel test did not report $TEST_TARGET as (cached) PASSED:"
        cat "$LOG_DIR/example-retest.log" >&2
        return 1
    fi

    end=$(date +%s)
    echo "e2e: bazel steps took $((end - provisioned)) s; total $((end - start)) s" >&2
}

if main && [[ $FAILED -eq 0 ]]; then
    echo "e2e: OK" >&2
else
    exit 1
fi
