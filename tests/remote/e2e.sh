#!/usr/bin/env bash
# Remote execution and remote caching of rules_dxpy on a real REAPI server
# (BuildGrid + the bots of tests/remote/bot.py, started by up.sh), with the
# offline Bazel 7.7.1 of the Debian sid chroot (tests/bazel/sid.sh), on a copy
# of examples/bazel:
#   1. local:  bazel test //... plus the failing target and the undeclared
#      import (its DxPyTest action sandboxed), JUnit and statuses kept
#   2. remote: the same from a clean output base with --remote_executor; the
#      DxPyTest actions (one-shot @argsfile mode) and the test actions run on
#      the bots (execution log), and every status and JUnit outcome equals the
#      local run's: the failing test fails, the undeclared import fails as in
#      the sandbox
#   3. bazel clean --expunge, bazel test //... and the failing target again:
#      every spawn is a remote cache hit, nothing executes but the failing
#      test action (Bazel never caches a failed action), which replays
#   4. --remote_cache alone (local execution) and --disk_cache: a run fills the
#      cache, and after bazel clean --expunge the same run executes nothing
# Everything after setup runs in a network namespace with only loopback (as
# tests/bazel/e2e.sh does): the server, the bots and Bazel meet on 127.0.0.1,
# and the run proves nothing needs the network. DXPY_E2E_OFFLINE=0 skips that.
# Each Bazel step is bounded by DXPY_REMOTE_STEP_TIMEOUT seconds (default 300).
#
# Needs root (sid.sh). Exits non-zero on any failure, showing what failed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
SID=$REPO_ROOT/tests/bazel/sid.sh
SID_ROOT=${DXPY_SID_ROOT:-/var/cache/dxpy/sid}
# Inside the repository, which sid.sh binds into the chroot.
SCRATCH=$REPO_ROOT/.cache/remote-e2e
WS=$SCRATCH/ws
LOG_DIR=$SCRATCH/logs
DXPY_BIN=${DXPY_BIN:-$REPO_ROOT/target/release/dx-py}
# The manual targets the comparison adds to //...: a failing test and an import
# of a library the target does not depend on.
EXTRA_TARGETS=(//tests:failing_test //tests:undeclared_import_sandboxed_test)
# Bazel never runs an exclusive test remotely; it runs in the local sandbox.
EXCLUSIVE=//tests:exclusive_test
# Each Bazel step takes well under a minute here.
STEP_TIMEOUT=${DXPY_REMOTE_STEP_TIMEOUT:-300}
# A shared 2-core machine: Bazel schedules one local action at a time.
COMMON=(--local_resources=cpu=1 --repo_env=DXPY_DEV_BINARY="$DXPY_BIN")

exec </dev/null
FAILED=0
fail() {
    echo "remote-e2e: FAIL: $*" >&2
    FAILED=1
}

# bazel_expect STATUS NAME ARGS...: bazel in the workspace copy, output in
# $LOG_DIR/NAME.log; fails (showing it) unless bazel exits with STATUS.
bazel_expect() {
    local want=$1 name=$2 status=0
    shift 2
    echo "remote-e2e: [$name] bazel $*" >&2
    # Bounded: an action no bot can take (its platform asks for properties no
    # bot offers) waits in BuildGrid's queue for ever.
    timeout --kill-after=10 "$STEP_TIMEOUT" "$SID" bazel --workspace "$WS" -- "$@" >"$LOG_DIR/$name.log" 2>&1 ||
        status=$?
    grep -E '^(//|INFO: [0-9]+ process|INFO: Elapsed)' "$LOG_DIR/$name.log" >&2 || true
    if [[ $status -eq 124 || $status -eq 137 ]]; then
        fail "[$name] bazel did not finish in $STEP_TIMEOUT s (no bot for the actions' platform? see the bots' logs)"
        tail -n 20 "$LOG_DIR/$name.log" >&2
        return 1
    fi
    if [[ $status -ne $want ]]; then
        fail "[$name] bazel exited $status, expected $want; its output:"
        cat "$LOG_DIR/$name.log" >&2
        return 1
    fi
}

expect_in() {
    local file=$1 regex=$2 what=$3
    if ! grep -Eq -- "$regex" "$file" 2>/dev/null; then
        fail "$what: /$regex/ not found in $file"
        sed -n '1,60p' "$file" >&2 || true
        return 1
    fi
}

# exec_log NAME ARGS...: tests/remote/exec_log.py on the run's execution log.
exec_log() {
    local name=$1
    shift
    python3 "$SCRIPT_DIR/exec_log.py" "$LOG_DIR/$name.exec.json" "$@" >&2 || {
        fail "[$name] the execution log does not show what was expected"
        return 1
    }
}

# keep_run NAME: copy the run's test.xml/test.log files out of the chroot and
# its status lines, for compare_runs.py.
keep_run() {
    local name=$1 testlogs
    testlogs=$SID_ROOT$("$SID" bazel --workspace "$WS" -- info "${COMMON[@]}" bazel-testlogs 2>/dev/null)
    mkdir -p "$LOG_DIR/$name"
    (cd "$testlogs" && find . \( -name test.xml -o -name test.log \) -exec cp --parents {} "$LOG_DIR/$name/" \;)
    grep -E '^//' "$LOG_DIR/$name.log" >"$LOG_DIR/$name/summary.txt" || true
}

prepare_workspace() {
    rm -rf "$SCRATCH"
    mkdir -p "$WS" "$LOG_DIR"
    # Not Bazel's convenience symlinks (bazel-bin, bazel-<name>, ...) that a local build of
    # the example left there: `//...` in the copy would walk into that output base.
    (cd "$REPO_ROOT/examples/bazel" && tar --exclude='./bazel-*' -cf - .) | (cd "$WS" && tar -xf -)
    # The copy lives elsewhere: point its override at this repository.
    sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$WS/MODULE.bazel"
    grep -q "path = \"$REPO_ROOT\"" "$WS/MODULE.bazel" || { fail "could not repoint rules_dxpy in the copy"; return 1; }
}

check_local_and_remote() {
    # The platform asks for the bots' executor image (BuildGrid matches it to their properties).
    local endpoint=$1 remote=(--remote_executor="$1" --strategy=DxPyTest=remote
        --strategy=TestRunner=remote,sandboxed --remote_default_exec_properties=dxpy-executor=sid)
    local sandboxed=(--strategy_regexp=undeclared_import_sandboxed=sandboxed)

    # From nothing: an output base kept from an earlier run would answer from its action cache.
    bazel_expect 0 clean-start clean || return 1
    bazel_expect 3 local test "${COMMON[@]}" "${sandboxed[@]}" //... "${EXTRA_TARGETS[@]}" || return 1
    keep_run local
    bazel_expect 0 clean clean || return 1
    bazel_expect 3 remote test "${COMMON[@]}" "${remote[@]}" --execution_log_json_file="$LOG_DIR/remote.exec.json" \
        //... "${EXTRA_TARGETS[@]}" || return 1
    keep_run remote
    exec_log remote --executed remote --except "$EXCLUSIVE=linux-sandbox" || return 1
    python3 "$SCRIPT_DIR/compare_runs.py" "$LOG_DIR/local" "$LOG_DIR/remote" >&2 ||
        { fail "the remote run differs from the local run"; return 1; }
    # Failures look the same: the traceback, and the collection error of the
    # import that reaches outside the declared inputs.
    expect_in "$LOG_DIR/remote/tests/failing_test/test.log" 'def test_fails_on_purpose' "remote traceback" || return 1
    expect_in "$LOG_DIR/remote/tests/failing_test/test.log" '1 failed, 2 passed' "remote failing summary" || return 1
    for run in local remote; do
        expect_in "$LOG_DIR/$run/tests/undeclared_import_sandboxed_test/test.log" \
            "^ERROR tests/test_undeclared_import.py" "$run undeclared import" || return 1
    done

    # A fresh output base: every action's result comes from the remote cache,
    # except the failing test action (Bazel caches no failed action), which
    # executes again and replays its cached DxPyTest result.
    bazel_expect 0 expunge-remote clean --expunge || return 1
    bazel_expect 3 remote-cached test "${COMMON[@]}" "${remote[@]}" \
        --execution_log_json_file="$LOG_DIR/remote-cached.exec.json" //... //tests:failing_test || return 1
    exec_log remote-cached --cached --except TestRunner@//tests:failing_test=remote || return 1
    keep_run remote-cached
    expect_in "$LOG_DIR/remote-cached/tests/failing_test/test.log" 'def test_fails_on_purpose' \
        "the failing test replays its cached traceback" || return 1
    expect_in "$LOG_DIR/remote-cached.log" '^INFO: [0-9]+ processes: .*remote cache hit' "remote cache hits" || return 1
}

# check_cache NAME FLAGS...: with these cache flags and local execution, a run
# executes (and fills the cache); after bazel clean --expunge, the same run
# executes nothing. --action_env gives this check actions of its own.
check_cache() {
    local name=$1
    shift
    local flags=("${COMMON[@]}" "$@" --action_env=DXPY_REMOTE_E2E="$name")
    bazel_expect 0 "expunge-$name" clean --expunge || return 1
    bazel_expect 0 "$name-fill" test "${flags[@]}" --execution_log_json_file="$LOG_DIR/$name-fill.exec.json" \
        //... || return 1
    exec_log "$name-fill" --executed worker --mnemonic DxPyTest || return 1
    bazel_expect 0 "expunge-$name-2" clean --expunge || return 1
    bazel_expect 0 "$name-cached" test "${flags[@]}" --execution_log_json_file="$LOG_DIR/$name-cached.exec.json" \
        //... || return 1
    exec_log "$name-cached" --cached || return 1
}

run_checks() {
    local endpoint start=$SECONDS
    endpoint=$(bash "$SCRIPT_DIR/up.sh" | tail -n 1)
    [[ $endpoint =~ ^grpc://127\.0\.0\.1:[0-9]+$ ]] || { fail "up.sh printed no endpoint (got '$endpoint')"; return 1; }
    echo "remote-e2e: REAPI server at $endpoint (up in $((SECONDS - start)) s)" >&2
    check_local_and_remote "$endpoint" || return 1
    check_cache remote-cache --remote_cache="$endpoint" || return 1
    check_cache disk-cache --disk_cache="$SCRATCH/disk-cache" || return 1
}

# Stop what this run started: the workspace's Bazel server, the bots, BuildGrid.
cleanup() {
    local status=$?
    "$SID" bazel --workspace "$WS" -- shutdown >/dev/null 2>&1 || true
    bash "$SCRIPT_DIR/down.sh" || status=1
    if ps -eo args= | grep -F -- "--workspace_directory=$WS" | grep -vq grep; then
        echo "remote-e2e: FAIL: a Bazel server of $WS is still running" >&2
        status=1
    fi
    exit "$status"
}

build_dxpy() {
    if [[ $DXPY_BIN == "$REPO_ROOT/target/release/dx-py" ]]; then
        (cd "$REPO_ROOT" && cargo build --release --locked -p dxpy_cli) >&2 || return 1
    fi
    [[ -x $DXPY_BIN && $DXPY_BIN == "$REPO_ROOT"/* ]] || { fail "no dx-py binary at $DXPY_BIN inside $REPO_ROOT"; return 1; }
}

main() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "remote-e2e: error: must run as root (tests/bazel/sid.sh needs it)" >&2
        exit 1
    fi
    local start=$SECONDS
    if [[ ${1:-} == --offline-inner ]]; then
        ip link set lo up || { fail "cannot bring up loopback"; return 1; }
    else
        # Setup needs the network: the chroot, BuildGrid's venv, dx-py.
        "$SID" provision
        bash "$SCRIPT_DIR/up.sh" --install
        build_dxpy || return 1
        # A server from an earlier run, outside the namespace, would be unreachable.
        [[ ! -f $WS/MODULE.bazel ]] || "$SID" bazel --workspace "$WS" -- shutdown >/dev/null 2>&1 || true
        if [[ ${DXPY_E2E_OFFLINE:-1} != 0 ]]; then
            echo "remote-e2e: setup took $((SECONDS - start)) s; continuing without network (unshare --net)" >&2
            exec unshare --net -- env DXPY_BIN="$DXPY_BIN" bash "${BASH_SOURCE[0]}" --offline-inner
        fi
    fi
    trap cleanup EXIT
    prepare_workspace || return 1
    run_checks || return 1
    echo "remote-e2e: checks took $((SECONDS - start)) s" >&2
}

if main "$@" && [[ $FAILED -eq 0 ]]; then
    echo "remote-e2e: OK" >&2
else
    exit 1
fi
