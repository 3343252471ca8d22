//! Replay the DxPyTest action's recorded result, or execute the tests in the test action
//! (§2 of the contract in the crate docs). [`decide`] is a pure function of the test
//! environment, the parsed test argsfile (the rule's own `env` names, `--cache-test-results`,
//! `--exclusive`), the extra command-line arguments and the recorded status, so each reason is
//! unit-tested.

use std::collections::BTreeMap;
use std::fmt;

use crate::args::TestArgs;
use crate::status::{env_value_digest, RecordedStatus};
use crate::test_env::{
    non_empty, BUILD_WORKSPACE_DIRECTORY, DXPY_BAZEL_EXECUTE, TESTBRIDGE_TEST_ONLY, TEST_SRCDIR,
    TEST_TOTAL_SHARDS, XML_OUTPUT_FILE,
};

// Defined with the status that records only the other variables.
pub use crate::status::is_bazel_test_variable;

/// What the test executable does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Replay,
    Execute(ExecuteReason),
}

/// Why the tests must really run in the test action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecuteReason {
    /// `bazel run` of the test target (Bazel 7 sets `TEST_SRCDIR` there too, but only
    /// `bazel run` sets `BUILD_WORKSPACE_DIRECTORY`), or a direct run without `TEST_SRCDIR`.
    NotUnderBazelTest,
    /// `DXPY_BAZEL_EXECUTE=1`.
    Forced,
    /// The target is tagged `exclusive` (`--exclusive=yes`): there is no recorded run, since
    /// tests that must run alone cannot run in a build action beside others.
    Exclusive,
    /// `--nocache_test_results` (`--cache_test_results=no`, which `dx_py_test` selects on):
    /// Bazel reruns the test action while the DxPyTest result is still cached.
    UncachedTestResults,
    /// Arguments after the argsfile (`--test_arg`, `bazel run -- ARGS`): pytest arguments the
    /// recorded run did not have.
    TestArgs,
    /// `--test_filter` (`TESTBRIDGE_TEST_ONLY`).
    TestFilter,
    /// `shard_count` (`TEST_TOTAL_SHARDS`).
    Sharded,
    /// `--runs_per_test` (`run_K_of_N` in `XML_OUTPUT_FILE`, N > 1).
    RunsPerTest,
    /// The recorded result is not a pass (so `--flaky_test_attempts` really re-runs).
    RecordedNotPassed,
    /// The recorded result could not be read.
    RecordedUnreadable(String),
    /// Variables beyond Bazel's test environment and the rule's `env` (`--test_env`) that
    /// the recorded run did not have with the same value (it had the `--action_env` ones).
    ExtraTestEnv(Vec<String>),
}

impl fmt::Display for ExecuteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecuteReason::NotUnderBazelTest => {
                f.write_str("not under `bazel test` (`bazel run` or a direct run)")
            }
            ExecuteReason::Forced => f.write_str("DXPY_BAZEL_EXECUTE=1"),
            ExecuteReason::Exclusive => f.write_str("the target is tagged exclusive"),
            ExecuteReason::UncachedTestResults => f.write_str("--nocache_test_results"),
            ExecuteReason::TestArgs => f.write_str("--test_arg"),
            ExecuteReason::TestFilter => f.write_str("--test_filter (TESTBRIDGE_TEST_ONLY)"),
            ExecuteReason::Sharded => f.write_str("sharding (TEST_TOTAL_SHARDS)"),
            ExecuteReason::RunsPerTest => f.write_str("--runs_per_test"),
            ExecuteReason::RecordedNotPassed => f.write_str("the recorded result is not a pass"),
            ExecuteReason::RecordedUnreadable(message) => {
                write!(f, "no usable recorded result ({message})")
            }
            ExecuteReason::ExtraTestEnv(names) => write!(f, "--test_env {}", names.join(", ")),
        }
    }
}

/// The decision of §2; checks run in a fixed order so the reported reason is stable.
/// `argsfile` is the parsed test argsfile; `recorded` is the DxPyTest action's status (an
/// exclusive target has none: it executes before that is looked at).
pub fn decide(
    env: &BTreeMap<String, String>,
    argsfile: &TestArgs,
    extra_args: &[String],
    recorded: Result<&RecordedStatus, String>,
) -> Decision {
    let set = |name: &str| non_empty(env, name).is_some();
    let rule_env_names: Vec<&str> = argsfile.env.iter().map(|(name, _)| name.as_str()).collect();
    let reason = if !set(TEST_SRCDIR) || set(BUILD_WORKSPACE_DIRECTORY) {
        Some(ExecuteReason::NotUnderBazelTest)
    } else if env.get(DXPY_BAZEL_EXECUTE).is_some_and(|v| v == "1") {
        Some(ExecuteReason::Forced)
    } else if argsfile.exclusive {
        Some(ExecuteReason::Exclusive)
    } else if argsfile.uncached_test_results {
        Some(ExecuteReason::UncachedTestResults)
    } else if !extra_args.is_empty() {
        Some(ExecuteReason::TestArgs)
    } else if set(TESTBRIDGE_TEST_ONLY) {
        Some(ExecuteReason::TestFilter)
    } else if set(TEST_TOTAL_SHARDS) {
        Some(ExecuteReason::Sharded)
    } else if env
        .get(XML_OUTPUT_FILE)
        .and_then(|path| runs_per_test(path))
        .is_some_and(|n| n > 1)
    {
        Some(ExecuteReason::RunsPerTest)
    } else {
        match recorded {
            Err(message) => Some(ExecuteReason::RecordedUnreadable(message)),
            Ok(status) if !status.passed() => Some(ExecuteReason::RecordedNotPassed),
            Ok(status) => {
                let extra: Vec<String> = env
                    .iter()
                    .filter(|(name, value)| {
                        !is_bazel_test_variable(name)
                            && !rule_env_names.contains(&name.as_str())
                            && status.action_env.get(name.as_str())
                                != Some(&env_value_digest(value))
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                (!extra.is_empty()).then_some(ExecuteReason::ExtraTestEnv(extra))
            }
        }
    };
    reason.map_or(Decision::Replay, Decision::Execute)
}

/// N of the last `run_K_of_N` component in a path, if any.
fn runs_per_test(path: &str) -> Option<u32> {
    path.rsplit('/').find_map(|component| {
        let rest = component.strip_prefix("run_")?;
        let (k, n) = rest.split_once("_of_")?;
        k.parse::<u32>().ok()?;
        n.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("TEST_SRCDIR", "/r"),
            ("XML_OUTPUT_FILE", "/o/pkg/t/test.xml"),
            ("PATH", "/bin"),
            ("TEST_TMPDIR", "/t"),
            ("LC_ALL", "C"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                env.remove(*k);
            } else {
                env.insert(k.to_string(), v.to_string());
            }
        }
        env
    }

    /// An argsfile whose rule sets `env` names (to any value).
    fn argsfile(names: &[&str]) -> TestArgs {
        TestArgs {
            env: names
                .iter()
                .map(|n| (n.to_string(), "v".to_owned()))
                .collect(),
            ..TestArgs::default()
        }
    }

    /// No extra command-line arguments.
    fn d(
        env: &BTreeMap<String, String>,
        names: &[&str],
        recorded: Result<&RecordedStatus, String>,
    ) -> Decision {
        decide(env, &argsfile(names), &[], recorded)
    }

    fn pass() -> RecordedStatus {
        RecordedStatus::new(0, false, 2, 0)
    }

    fn execute(reason: ExecuteReason) -> Decision {
        Decision::Execute(reason)
    }

    #[test]
    fn a_recorded_pass_in_a_plain_bazel_test_is_replayed() {
        let plain = env(&[("GREETING", "hi"), ("BASH_FUNC_rlocation%%", "() { :; }")]);
        assert_eq!(d(&plain, &["GREETING"], Ok(&pass())), Decision::Replay);
    }

    #[test]
    fn each_reason_to_execute() {
        let p = pass();
        assert_eq!(
            d(&env(&[("TEST_SRCDIR", "")]), &[], Ok(&p)),
            execute(ExecuteReason::NotUnderBazelTest)
        );
        assert_eq!(
            d(&env(&[("BUILD_WORKSPACE_DIRECTORY", "/ws")]), &[], Ok(&p)),
            execute(ExecuteReason::NotUnderBazelTest)
        );
        assert_eq!(
            d(&env(&[("DXPY_BAZEL_EXECUTE", "1")]), &[], Ok(&p)),
            execute(ExecuteReason::Forced)
        );
        assert_eq!(
            d(&env(&[("DXPY_BAZEL_EXECUTE", "0")]), &[], Ok(&p)),
            Decision::Replay
        );
        assert_eq!(
            d(&env(&[("TESTBRIDGE_TEST_ONLY", "test_a")]), &[], Ok(&p)),
            execute(ExecuteReason::TestFilter)
        );
        assert_eq!(
            d(
                &env(&[("TEST_TOTAL_SHARDS", "3"), ("TEST_SHARD_INDEX", "0")]),
                &[],
                Ok(&p)
            ),
            execute(ExecuteReason::Sharded)
        );
        assert_eq!(
            d(
                &env(&[("XML_OUTPUT_FILE", "/o/pkg/t/run_2_of_5/test.xml")]),
                &[],
                Ok(&p)
            ),
            execute(ExecuteReason::RunsPerTest)
        );
        assert_eq!(
            d(
                &env(&[("XML_OUTPUT_FILE", "/o/pkg/t/run_1_of_1/test.xml")]),
                &[],
                Ok(&p)
            ),
            Decision::Replay
        );
        assert_eq!(
            d(&env(&[]), &[], Ok(&RecordedStatus::new(1, false, 2, 1))),
            execute(ExecuteReason::RecordedNotPassed)
        );
        assert_eq!(
            d(&env(&[]), &[], Ok(&RecordedStatus::new(0, true, 2, 0))),
            execute(ExecuteReason::RecordedNotPassed)
        );
        assert_eq!(
            d(&env(&[]), &[], Err("missing".into())),
            execute(ExecuteReason::RecordedUnreadable("missing".into()))
        );
        assert_eq!(
            d(
                &env(&[("MY_FLAG", "1"), ("GREETING", "hi")]),
                &["GREETING"],
                Ok(&p)
            ),
            execute(ExecuteReason::ExtraTestEnv(vec!["MY_FLAG".into()]))
        );
        assert_eq!(
            decide(&env(&[]), &argsfile(&[]), &["-v".to_owned()], Ok(&p)),
            execute(ExecuteReason::TestArgs)
        );
        let uncached = TestArgs {
            uncached_test_results: true,
            ..TestArgs::default()
        };
        assert_eq!(
            decide(&env(&[]), &uncached, &[], Ok(&p)),
            execute(ExecuteReason::UncachedTestResults)
        );
        // An exclusive target has no recorded run at all.
        let exclusive = TestArgs {
            exclusive: true,
            ..TestArgs::default()
        };
        assert_eq!(
            decide(&env(&[]), &exclusive, &[], Err("no DxPyTest action".into())),
            execute(ExecuteReason::Exclusive)
        );
        // `bazel run` of it still says so first.
        assert_eq!(
            decide(
                &env(&[("BUILD_WORKSPACE_DIRECTORY", "/ws")]),
                &exclusive,
                &[],
                Err("no DxPyTest action".into())
            ),
            execute(ExecuteReason::NotUnderBazelTest)
        );
        // `bazel coverage`'s own variables replay (the DxPyTest action recorded the LCOV
        // report too); a `--test_env` beside them still executes.
        let coverage = [
            ("COVERAGE", "1"),
            ("COVERAGE_DIR", "/c"),
            ("COVERAGE_OUTPUT_FILE", "/c/coverage.dat"),
            ("COVERAGE_MANIFEST", "/c/manifest"),
            ("BAZEL_CC_COVERAGE_TOOL", "GCOV"),
            ("ROOT", "/x"),
        ];
        assert_eq!(d(&env(&coverage), &[], Ok(&p)), Decision::Replay);
        assert_eq!(
            d(
                &env(&[&coverage[..], &[("MY_FLAG", "1")]].concat()),
                &[],
                Ok(&p)
            ),
            execute(ExecuteReason::ExtraTestEnv(vec!["MY_FLAG".into()]))
        );
    }

    #[test]
    fn action_env_the_recorded_run_had_replays_and_a_changed_value_executes() {
        // `--action_env=FOO=1` reaches both the DxPyTest action and the test action.
        let recorded = pass().with_action_env([("FOO", "1"), ("PATH", "/bin")]);
        assert_eq!(
            d(&env(&[("FOO", "1")]), &[], Ok(&recorded)),
            Decision::Replay
        );
        assert_eq!(
            d(&env(&[("FOO", "2")]), &[], Ok(&recorded)),
            execute(ExecuteReason::ExtraTestEnv(vec!["FOO".into()]))
        );
        // The same name but only in the test action (`--test_env=BAR`): a real run.
        assert_eq!(
            d(&env(&[("FOO", "1"), ("BAR", "x")]), &[], Ok(&recorded)),
            execute(ExecuteReason::ExtraTestEnv(vec!["BAR".into()]))
        );
    }

    #[test]
    fn the_reason_line_is_readable() {
        assert_eq!(
            ExecuteReason::ExtraTestEnv(vec!["A".into(), "B".into()]).to_string(),
            "--test_env A, B"
        );
    }
}
