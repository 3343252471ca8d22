# The checks of e2e.sh, one function per workspace (sourced by e2e.sh, which
# defines bazel_expect, bazel_step, expect_in, expect_not_in, junit, fail and
# the paths used here).
# shellcheck shell=bash

# bazel_paths NAME WORKSPACE: sets BIN and TESTLOGS to host paths of
# bazel-bin / bazel-testlogs (they live inside the chroot) and OUTPUT_BASE.
bazel_paths() {
    local name=$1 workspace=$2 info
    shift 2
    bazel_step "$name" "$workspace" info "$@" output_base bazel-bin bazel-testlogs || return 1
    info="$LOG_DIR/$name.log"
    OUTPUT_BASE=$SID_ROOT$(sed -n 's/^output_base: //p' "$info")
    BIN=$SID_ROOT$(sed -n 's/^bazel-bin: //p' "$info")
    TESTLOGS=$SID_ROOT$(sed -n 's/^bazel-testlogs: //p' "$info")
    [[ -d $OUTPUT_BASE && -n $BIN && -n $TESTLOGS ]] || { fail "bazel info gave no paths"; return 1; }
}

check_root_workspace() {
    local dev=--repo_env=DXPY_DEV_BINARY="$DXPY_BIN"
    bazel_step root-build "$REPO_ROOT" build "$dev" //... || return 1
    bazel_step root-test "$REPO_ROOT" test "$dev" //... || return 1
    expect_in "$LOG_DIR/root-test.log" '^//tests/bazel/analysis:sample_test_test .*PASSED' \
        "dx_py_test analysis test" || return 1
    "$SID" bazel --workspace "$REPO_ROOT" -- shutdown >/dev/null 2>&1 || true
}

# The release path: an archive built from this checkout, pinned by sha256
# and fetched through a file:// URL; then the same with a wrong sha256.
check_release_toolchain() {
    local archive_dir=$RELEASE_WS/archive sha platform
    case "$(uname -m)" in
        x86_64) platform=linux_x86_64 ;;
        aarch64) platform=linux_aarch64 ;;
        *) fail "no release platform for $(uname -m)"; return 1 ;;
    esac
    mkdir -p "$archive_dir/dx-py-e2e" "$RELEASE_WS/tests"
    cp "$DXPY_BIN" "$archive_dir/dx-py-e2e/dx-py"
    tar -C "$archive_dir" -czf "$archive_dir/dx-py-e2e-$platform.tar.gz" dx-py-e2e
    sha=$(sha256sum "$archive_dir/dx-py-e2e-$platform.tar.gz" | cut -d' ' -f1)
    write_release_module() {
        cat >"$RELEASE_WS/MODULE.bazel" <<MODULE
module(name = "dxpy_e2e_release", version = "0.0.0")

bazel_dep(name = "rules_dxpy", version = "0.1.0")
local_path_override(module_name = "rules_dxpy", path = "$REPO_ROOT")
bazel_dep(name = "rules_python", version = "0.22.1")

dxpy = use_extension("@rules_dxpy//dxpy:extensions.bzl", "dxpy")
dxpy.release(
    urls = {"$platform": ["file://$archive_dir/dx-py-e2e-$platform.tar.gz"]},
    sha256 = {"$platform": "$1"},
    strip_prefix = "dx-py-e2e",
)
use_repo(dxpy, "dxpy_toolchains")
register_toolchains("@dxpy_toolchains//:all")
MODULE
    }
    write_release_module "$sha"
    cat >"$RELEASE_WS/tests/BUILD.bazel" <<'BUILD'
load("@rules_dxpy//rules:defs.bzl", "dx_py_test")

dx_py_test(name = "smoke_test", srcs = ["test_smoke.py"])
BUILD
    printf 'def test_smoke():\n    assert 1 + 1 == 2\n' >"$RELEASE_WS/tests/test_smoke.py"

    # --nocache_test_results: the launcher (the release binary) really runs,
    # even when an earlier e2e run left the result in the action cache.
    bazel_step release-test "$RELEASE_WS" test --nocache_test_results //tests:smoke_test || return 1
    expect_in "$LOG_DIR/release-test.log" '^//tests:smoke_test +PASSED' "release toolchain test" || return 1
    bazel_paths release-info "$RELEASE_WS" || return 1
    local fetched
    fetched=$(find "$OUTPUT_BASE/external" -maxdepth 2 -path "*dxpy_toolchains_$platform/dx-py" | head -n 1)
    if [[ -z $fetched ]] || ! cmp -s "$fetched" "$DXPY_BIN"; then
        fail "the release toolchain repository holds no copy of the archived dx-py (found: ${fetched:-nothing})"
        return 1
    fi
    # The test really ran through the toolchain's binary.
    expect_in "$TESTLOGS/tests/smoke_test/test.log" '^dx-py: (replaying|executing)' "release toolchain launcher" || return 1

    write_release_module "$(printf '%064d' 0)"
    bazel_expect 1 release-bad-sha "$RELEASE_WS" build //tests:smoke_test || return 1
    expect_in "$LOG_DIR/release-bad-sha.log" "Checksum was $sha but wanted 0{64}" \
        "a wrong sha256 must be rejected" || return 1
    # An archive without a checksum is refused before anything is downloaded.
    sed -i "s/sha256 = {\"$platform\"/sha256 = {\"macos_aarch64\"/" "$RELEASE_WS/MODULE.bazel"
    bazel_expect 1 release-no-sha "$RELEASE_WS" build //tests:smoke_test || return 1
    expect_in "$LOG_DIR/release-no-sha.log" "no sha256 for platform \"$platform\"; every archive must be pinned" \
        "an unpinned archive must be refused" || return 1
    "$SID" bazel --workspace "$RELEASE_WS" -- shutdown >/dev/null 2>&1 || true
}

check_example() {
    # Every step uses the disk cache so the last one can show it hits after
    # `bazel clean` (a local action-cache hit never fills the disk cache).
    # The development toolchain, pointed at the binary under test.
    local -a cache=(--disk_cache="$DISK_CACHE" --repo_env=DXPY_DEV_BINARY="$DXPY_BIN")
    local step log

    # Start from nothing, so the DxPyTest actions run (and fill the disk cache).
    bazel_step example-clean-start "$EXAMPLE" clean "${cache[@]}" || return 1
    # -- bazel test //... passes; dx_py_test targets replay the action's result.
    bazel_step example-test "$EXAMPLE" test "${cache[@]}" //... || return 1
    log="$LOG_DIR/example-test.log"
    for target in greeter_test greeter_dx_test plain_test unittest_test sharded_test env_test exclusive_test; do
        expect_in "$log" "^//tests:$target +PASSED" "bazel test //..." || return 1
    done
    expect_not_in "$log" '^//tests:(failing|timeout|undeclared_import_.*)_test ' "manual targets stay out of //..." || return 1
    expect_in "$log" 'worker' "DxPyTest actions run in the persistent worker" || return 1
    bazel_paths example-info "$EXAMPLE" "${cache[@]}" || return 1
    local dev_link
    dev_link=$(readlink "$OUTPUT_BASE/external/rules_dxpy~~dxpy~dxpy_toolchains_dev/dx-py" || true)
    if [[ $dev_link != "$DXPY_BIN" ]]; then
        fail "the development toolchain links ${dev_link:-nothing}, not $DXPY_BIN"
        return 1
    fi
    for target in greeter_dx_test plain_test unittest_test env_test; do
        expect_in "$TESTLOGS/tests/$target/test.log" '^dx-py: replaying the result of the DxPyTest action' \
            "$target replays" || return 1
    done
    # A target tagged exclusive runs its tests only in its test action (run alone).
    expect_in "$TESTLOGS/tests/exclusive_test/test.log" \
        '^dx-py: executing tests in the test action \(reason: the target is tagged exclusive' \
        "exclusive_test executes" || return 1
    junit "$TESTLOGS/tests/exclusive_test/test.xml" --count 2 --passed test_quiet --passed test_loud || return 1
    junit "$TESTLOGS/tests/greeter_dx_test/test.xml" --count 5 \
        --passed test_greeting_from_conftest_fixture --passed test_raises || return 1
    junit "$TESTLOGS/tests/unittest_test/test.xml" --count 2 --passed test_greet --passed test_loud || return 1
    # Its `args = ["-v"]` reached the recorded run, and the launcher did not
    # mistake Bazel passing them again for --test_arg (it replayed, above).
    expect_in "$TESTLOGS/tests/unittest_test/test.log" 'test_unittest_style.py::GreeterTest::test_greet PASSED' \
        "args = [\"-v\"] reach pytest" || return 1
    # `env` and $(rootpath) reach the tests; undeclared outputs are kept.
    junit "$TESTLOGS/tests/env_test/test.xml" --count 4 --passed test_env_attribute \
        --passed test_env_location_expansion || return 1
    expect_in "$TESTLOGS/tests/env_test/test.outputs/greeting.txt" '^hello$' "undeclared output replayed" || return 1
    # Sharding: 3 shards execute disjoint thirds of the 6 tests.
    rm -f "$LOG_DIR/shard-names"
    for shard in 1 2 3; do
        expect_in "$TESTLOGS/tests/sharded_test/shard_${shard}_of_3/test.log" \
            '^dx-py: executing tests in the test action \(reason: sharding' "shard $shard executes" || return 1
        junit "$TESTLOGS/tests/sharded_test/shard_${shard}_of_3/test.xml" --count 2 \
            --names-out "$LOG_DIR/shard-names" || return 1
    done
    if [[ $(sort -u "$LOG_DIR/shard-names" | wc -l) -ne 6 ]]; then
        fail "the shards did not cover the 6 tests exactly once: $(sort "$LOG_DIR/shard-names" | tr '\n' ' ')"
        return 1
    fi
    # The DxPyTest action asks for a proto multiplex worker.
    bazel_step example-aquery "$EXAMPLE" aquery "${cache[@]}" 'mnemonic("DxPyTest", //tests:plain_test)' || return 1
    for requirement in 'requires-worker-protocol: proto' 'supports-multiplex-workers: 1' 'supports-workers: 1'; do
        expect_in "$LOG_DIR/example-aquery.log" "$requirement" "DxPyTest execution requirements" || return 1
    done
    expect_in "$LOG_DIR/example-aquery.log" 'Mnemonic: DxPyTest' "aquery names the DxPyTest action" || return 1
    bazel_step example-aquery-exclusive "$EXAMPLE" aquery "${cache[@]}" 'mnemonic("DxPyTest", //tests:exclusive_test)' || return 1
    expect_not_in "$LOG_DIR/example-aquery-exclusive.log" 'Mnemonic: DxPyTest' "no DxPyTest action for an exclusive target" || return 1
    local pids_before
    pids_before=$(our_worker_pids)
    [[ -n $pids_before ]] || { fail "no '$WORKER_PATTERN' process after bazel test //..."; return 1; }
    echo "e2e: dx-py worker pid(s): $pids_before" >&2

    # -- the rerun is cached.
    bazel_step example-retest "$EXAMPLE" test "${cache[@]}" //... || return 1
    for target in greeter_test greeter_dx_test plain_test sharded_test env_test exclusive_test; do
        expect_in "$LOG_DIR/example-retest.log" "^//tests:$target +\(cached\) PASSED" "second bazel test //..." || return 1
    done

    # -- failing target; an undeclared import in the worker and in a sandbox.
    # Same worker process as before (new DxPyTest actions run in it).
    bazel_expect 3 example-failing "$EXAMPLE" test "${cache[@]}" \
        --strategy=DxPyTest=worker --strategy_regexp='undeclared_import_sandboxed=sandboxed' \
        //tests:failing_test //tests:undeclared_import_worker_test //tests:undeclared_import_sandboxed_test || return 1
    log="$LOG_DIR/example-failing.log"
    for target in failing_test undeclared_import_worker_test undeclared_import_sandboxed_test; do
        expect_in "$log" "^//tests:$target +FAILED" "failing targets" || return 1
    done
    expect_in "$log" 'multiplex-worker|worker' "new DxPyTest actions run in the worker" || return 1
    if [[ $(our_worker_pids) != "$pids_before" ]]; then
        fail "dx-py worker not reused: pids $pids_before before, $(our_worker_pids) after"
        return 1
    fi
    log="$TESTLOGS/tests/failing_test/test.log"
    expect_in "$log" 'def test_fails_on_purpose' "traceback in test.log" || return 1
    expect_in "$log" "AssertionError|assert 'hello, bazel' == 'goodbye, bazel'" "assertion in test.log" || return 1
    expect_in "$log" '1 failed, 2 passed' "summary line in test.log" || return 1
    junit "$TESTLOGS/tests/failing_test/test.xml" --count 3 --failed test_fails_on_purpose --passed test_passes \
        --passed test_after_the_failure || return 1
    # Both DxPyTest actions (worker, sandboxed) record the same collection
    # error for the module whose import is not declared.
    local outcome=""
    for strategy in worker sandboxed; do
        log="$BIN/tests/undeclared_import_${strategy}_test.dxpy/test.log"
        expect_in "$log" "^ERROR tests/test_undeclared_import.py" "undeclared import under strategy $strategy" || return 1
        outcome+="$(grep -E '^(ERROR|FAILED|=+ .* in [0-9.]+s)' "$log" | sed -E 's/ in [0-9.]+s//; s#/[^ ]*/_main/#_main/#g')"$'\n'
    done
    if [[ $(printf '%s' "$outcome" | sort | uniq -u) ]]; then
        fail "the undeclared import fails differently in the worker and sandboxed:"$'\n'"$outcome"
        return 1
    fi
    expect_in "$LOG_DIR/example-failing.log" 'sandbox' "one DxPyTest action ran sandboxed" || return 1

    # -- --test_filter executes only the matching test.
    bazel_step example-filter "$EXAMPLE" test "${cache[@]}" --test_filter=test_greet_loud //tests:greeter_dx_test || return 1
    expect_in "$TESTLOGS/tests/greeter_dx_test/test.log" '^dx-py: executing tests in the test action \(reason: --test_filter' \
        "--test_filter executes" || return 1
    junit "$TESTLOGS/tests/greeter_dx_test/test.xml" --count 1 --passed test_greet_loud || return 1

    # -- --test_arg reaches pytest (after the `args` attribute) in a real run.
    bazel_step example-test-arg "$EXAMPLE" test "${cache[@]}" --test_arg=-k --test_arg=test_loud //tests:plain_test || return 1
    expect_in "$TESTLOGS/tests/plain_test/test.log" '^dx-py: executing tests in the test action \(reason: --test_arg' \
        "--test_arg executes" || return 1
    junit "$TESTLOGS/tests/plain_test/test.xml" --count 1 --passed test_loud || return 1

    # -- --runs_per_test=2 executes twice.
    bazel_step example-runs "$EXAMPLE" test "${cache[@]}" --runs_per_test=2 //tests:plain_test || return 1
    for run in 1 2; do
        expect_in "$TESTLOGS/tests/plain_test/run_${run}_of_2/test.log" \
            '^dx-py: executing tests in the test action \(reason: --runs_per_test' "--runs_per_test run $run" || return 1
        junit "$TESTLOGS/tests/plain_test/run_${run}_of_2/test.xml" --count 2 || return 1
    done

    # -- --nocache_test_results reruns the test action while the DxPyTest
    # result stays cached: the test action really executes the tests ...
    bazel_step example-nocache "$EXAMPLE" test "${cache[@]}" --nocache_test_results //tests:plain_test || return 1
    expect_in "$LOG_DIR/example-nocache.log" '^//tests:plain_test +PASSED' "--nocache_test_results" || return 1
    expect_not_in "$LOG_DIR/example-nocache.log" '^//tests:plain_test +\(cached\)' "--nocache_test_results" || return 1
    expect_in "$TESTLOGS/tests/plain_test/test.log" \
        '^dx-py: executing tests in the test action \(reason: --nocache_test_results' "--nocache_test_results executes" || return 1
    junit "$TESTLOGS/tests/plain_test/test.xml" --count 2 || return 1
    # ... and without it the earlier result is cached again.
    bazel_step example-recached "$EXAMPLE" test "${cache[@]}" //tests:plain_test || return 1
    expect_in "$LOG_DIR/example-recached.log" '^//tests:plain_test +\(cached\) PASSED' "cached after --nocache_test_results" || return 1
    # ... while --test_env=DXPY_BAZEL_EXECUTE=1 forces a real execution.
    bazel_step example-force "$EXAMPLE" test "${cache[@]}" --test_env=DXPY_BAZEL_EXECUTE=1 //tests:plain_test || return 1
    expect_in "$TESTLOGS/tests/plain_test/test.log" '^dx-py: executing tests in the test action \(reason: DXPY_BAZEL_EXECUTE' \
        "DXPY_BAZEL_EXECUTE=1 executes" || return 1

    # -- --test_env reaches the tests (a poisoned variable makes one test fail).
    bazel_expect 3 example-test-env "$EXAMPLE" test "${cache[@]}" --test_env=DXPY_E2E_POISON=1 //tests:env_test || return 1
    log="$TESTLOGS/tests/env_test/test.log"
    expect_in "$log" '^dx-py: executing tests in the test action \(reason: --test_env DXPY_E2E_POISON' "--test_env executes" || return 1
    expect_in "$log" 'DXPY_E2E_POISON reached the test' "--test_env reaches the test" || return 1
    junit "$TESTLOGS/tests/env_test/test.xml" --count 4 --failed test_no_poisoned_test_env --passed test_env_attribute || return 1

    # -- --action_env reaches the DxPyTest action and the test action alike: the
    # recorded run saw the same value, so the result is replayed, not re-executed.
    bazel_step example-action-env "$EXAMPLE" test "${cache[@]}" --action_env=DXPY_E2E_ACTION_ENV=1 \
        //tests:plain_test || return 1
    expect_in "$TESTLOGS/tests/plain_test/test.log" '^dx-py: replaying' "--action_env replays" || return 1
    junit "$TESTLOGS/tests/plain_test/test.xml" --count 2 || return 1

    # -- --test_runner_fail_fast: the real run (the recorded result is a failure)
    # stops at the first failure, like pytest -x.
    bazel_expect 3 example-fail-fast "$EXAMPLE" test "${cache[@]}" --test_runner_fail_fast //tests:failing_test || return 1
    log="$TESTLOGS/tests/failing_test/test.log"
    expect_in "$log" '^dx-py: executing tests in the test action' "--test_runner_fail_fast executes" || return 1
    expect_in "$log" 'stopping after 1 failures' "--test_runner_fail_fast stops" || return 1
    junit "$TESTLOGS/tests/failing_test/test.xml" --count 2 --failed test_fails_on_purpose --passed test_passes || return 1

    # -- --flaky_test_attempts retries a failing test for real; a test past its
    # timeout is reported as TIMEOUT (the DxPyTest action gives up at the size's
    # 60 s, the real run meets --test_timeout).
    bazel_expect 3 example-flaky-timeout "$EXAMPLE" test "${cache[@]}" --flaky_test_attempts=2 --test_timeout=5 \
        //tests:failing_test //tests:timeout_test || return 1
    log="$LOG_DIR/example-flaky-timeout.log"
    expect_in "$log" '^//tests:failing_test +FAILED in 2 out of 2' "--flaky_test_attempts=2 retries" || return 1
    expect_in "$log" '^//tests:timeout_test +TIMEOUT' "timeout reported as TIMEOUT" || return 1
    for attempt in "$TESTLOGS/tests/failing_test/test_attempts/attempt_1.log" "$TESTLOGS/tests/failing_test/test.log"; do
        expect_in "$attempt" '^dx-py: executing tests in the test action \(reason: the recorded result is not a pass' \
            "flaky attempt executes" || return 1
        expect_in "$attempt" 'def test_fails_on_purpose' "flaky attempt has the traceback" || return 1
    done

    # -- bazel run executes the tests directly, output on the terminal.
    bazel_step example-run "$EXAMPLE" run "${cache[@]}" //tests:plain_test || return 1
    # Bazel 7 gives `bazel run` of a test target TEST_SRCDIR too; dx-py tells
    # it from `bazel test` by BUILD_WORKSPACE_DIRECTORY.
    expect_in "$LOG_DIR/example-run.log" '^dx-py: executing tests in the test action \(reason: not under `bazel test`' \
        "bazel run executes" || return 1
    expect_in "$LOG_DIR/example-run.log" '2 passed' "bazel run shows the results" || return 1

    # -- --disk_cache: after bazel clean, the DxPyTest and test actions hit.
    bazel_step example-clean "$EXAMPLE" clean "${cache[@]}" || return 1
    bazel_step example-disk-cache "$EXAMPLE" test "${cache[@]}" //tests:plain_test //tests:greeter_dx_test //tests:unittest_test || return 1
    log="$LOG_DIR/example-disk-cache.log"
    expect_in "$log" 'disk cache hit' "--disk_cache after bazel clean" || return 1
    expect_not_in "$log" 'processes:.*(worker|linux-sandbox|processwrapper-sandbox|local)' \
        "nothing re-executed after clean with --disk_cache" || return 1
    for target in plain_test greeter_dx_test unittest_test; do
        expect_in "$log" "^//tests:$target +(\(cached\) )?PASSED" "--disk_cache" || return 1
    done

    local strategies
    strategies=$(grep -E '^INFO: [0-9]+ process(es)?:' "$LOG_DIR/example-test.log" || true)
    echo "e2e: ${strategies:-no process summary}" >&2
    if [[ $strategies == *processwrapper-sandbox* ]]; then
        echo "e2e: warning: linux-sandbox was not usable here (no user namespaces?)" >&2
    fi
    expect_in "$LOG_DIR/example-test.log" "^$BASELINE_TARGET +(\(cached\) )?PASSED" "py_test baseline" || return 1
}

# `bazel coverage` of examples/bazel: dx_py_test measures with coverage.py
# (pytest-cov, from the chroot's python3) in the DxPyTest action, whose LCOV
# report the test action replays, and in real runs (sharded, exclusive). The
# merged report (--combined_report=lcov) must give, file by file, the lines and
# branches (and which of them ran) that coverage.py gives for the same tests
# run by pytest. Bazel's own merge tools are a download, so the offline
# stand-in tests/bazel/coverage/lcov_tool.py merges.
check_example_coverage() {
    local tool=@rules_dxpy//tests/bazel/coverage:lcov_tool log report reference
    local -a coverage=(
        --disk_cache="$DISK_CACHE" --repo_env=DXPY_DEV_BINARY="$DXPY_BIN"
        --combined_report=lcov --instrumentation_filter=^// --instrument_test_targets
        --coverage_report_generator="$tool" --coverage_output_generator="$tool"
    )
    bazel_step example-coverage "$EXAMPLE" coverage "${coverage[@]}" //... || return 1
    log="$LOG_DIR/example-coverage.log"
    for target in greeter_dx_test plain_test unittest_test sharded_test env_test exclusive_test; do
        expect_in "$log" "^//tests:$target +(\(cached\) )?PASSED" "bazel coverage //..." || return 1
    done
    bazel_paths example-coverage-info "$EXAMPLE" "${coverage[@]}" || return 1
    expect_in "$TESTLOGS/tests/greeter_dx_test/test.log" '^dx-py: replaying the result of the DxPyTest action' \
        "coverage replays the DxPyTest action's report" || return 1
    expect_in "$TESTLOGS/tests/greeter_dx_test/coverage.dat" '^SF:src/greeter/__init__.py$' \
        "the replayed report covers the deps' sources" || return 1
    expect_in "$TESTLOGS/tests/exclusive_test/test.log" '^dx-py: executing tests in the test action' \
        "an exclusive target executes under coverage" || return 1
    expect_in "$TESTLOGS/tests/exclusive_test/coverage.dat" '^SF:tests/test_plain.py$' \
        "a real run writes its own report" || return 1
    report="${BIN%/*/bin}/_coverage/_coverage_report.dat"

    # Cached like test results: a rerun runs no test and merges the same
    # reports again (the merged report checked below is this run's).
    bazel_step example-recoverage "$EXAMPLE" coverage "${coverage[@]}" //... || return 1
    for target in greeter_dx_test plain_test unittest_test sharded_test env_test exclusive_test; do
        expect_in "$LOG_DIR/example-recoverage.log" "^//tests:$target +\(cached\) PASSED" "bazel coverage rerun" || return 1
    done

    # coverage.py's report for the same tests under pytest, in a copy of the
    # workspace's sources (no Bazel symlinks, no config above it).
    bazel_step example-coverage-srcs "$EXAMPLE" query \
        'labels(srcs, kind("dx_py_test rule", //tests:all) except attr(tags, "manual", //tests:all))' || return 1
    local -a tests
    mapfile -t tests < <(sed -n 's|^//tests:|tests/|p' "$LOG_DIR/example-coverage-srcs.log" | sort -u)
    [[ ${#tests[@]} -gt 0 ]] || { fail "no test files found for the coverage reference"; return 1; }
    reference=$SCRATCH/coverage-reference
    rm -rf "$reference"
    mkdir -p "$reference/undeclared"
    cp -r "$EXAMPLE/src" "$EXAMPLE/vendor" "$EXAMPLE/tests" "$reference/"
    printf '[pytest]\n' >"$reference/pytest.ini"
    "$SID" run --workspace "$reference" -- env PYTHONPATH=src:vendor PYTHONDONTWRITEBYTECODE=1 \
        COVERAGE_FILE="$reference/.coverage" EXAMPLE_GREETING=hello EXAMPLE_DATA=src/words/greetings.txt \
        TEST_UNDECLARED_OUTPUTS_DIR="$reference/undeclared" \
        python3 -m pytest -q -p no:cacheprovider --cov --cov-branch --cov-report=lcov:"$reference/pytest.lcov" \
        "${tests[@]}" >"$LOG_DIR/coverage-reference.log" 2>&1 || {
        cat "$LOG_DIR/coverage-reference.log" >&2
        fail "pytest --cov on the example's tests failed"
        return 1
    }
    python3 "$SCRIPT_DIR/compare_coverage.py" "$report" "$reference/pytest.lcov" >&2 || {
        fail "bazel coverage's merged report differs from coverage.py's under pytest"
        return 1
    }
}
