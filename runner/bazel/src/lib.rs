//! dx-py's Bazel side: what `dx-py bazel-worker` and `dx-py bazel-test` do that is not running
//! or printing tests (the CLI crate holds that command glue and the reporters).
//!
//! This page is the contract between the `dx_py_test` rule (`rules/private/test.bzl`, which
//! writes both argument lists and the launcher), the worker and the test executable; the
//! types it links to are its one definition.
//!
//! # §1 The `DxPyTest` build action
//!
//! `dx-py bazel-worker @PARAMS`, one argument per line of the param file (Bazel's "multiline"
//! format, [`args::expand_args_files`]), with execroot paths. Bazel runs it one-shot (sandboxed,
//! local or remote strategies) or starts it with [`server::PERSISTENT_WORKER_FLAG`] as a
//! persistent multiplex worker and sends the same arguments as [`proto::WorkRequest`]s, whose
//! paths are relative to the request's sandbox ([`proto::WorkRequest::base_dir`]).
//!
//! The action runs the target's tests in a private runfiles-shaped symlink forest of its
//! inputs ([`forest`]: only declared inputs exist, so an undeclared import fails as in a
//! sandbox), with the variables of [`test_env::ActionLayout`] and the rule's `--env` set, and
//! writes the four `--out-*` outputs: the recorded status, the log (the terminal report), the
//! JUnit XML (named after the target) and the undeclared-outputs directory. It succeeds when
//! tests fail (a failing test is a result), so its result is cached like any build output;
//! it fails only for a broken request, with one message.
//!
//! # §2 The test executable
//!
//! The launcher runs `dx-py bazel-test @ARGSFILE [ARGS...]`
//! ([`args::split_test_command_line`]). The argsfile holds the same arguments in runfiles form
//! plus the `--result-*` paths (the §1 outputs, in the runfiles) and, under
//! `--nocache_test_results`, `--cache-test-results=no`. `ARGS` are what Bazel passes beyond the
//! `args` attribute (`--test_arg`, `bazel run -- ARGS`; the launcher drops the `args` it
//! already wrote as `--pytest-arg`) and go to pytest.
//!
//! `bazel-test` finds the runfiles ([`test_env::find_runfiles`]), reads the recorded status and
//! [decides](#replay-or-execute) to REPLAY (the recorded log to stdout, the JUnit XML to
//! `$XML_OUTPUT_FILE`, the undeclared outputs into `$TEST_UNDECLARED_OUTPUTS_DIR`, the recorded
//! exit code) or EXECUTE (a real run in the runfiles tree honouring `--test_filter` as pytest's
//! `-k`, sharding as [`test_env::Shard`], `--test_runner_fail_fast` as `-x`, and writing JUnit).
//! Its first line says which, and why.
//!
//! A target tagged `exclusive` (or `exclusive-if-local`) has no §1 action (it would run beside
//! other actions): its argsfile carries `--exclusive=yes` instead of `--result-*`, and the test
//! action, which Bazel runs alone, always executes.
//!
//! # The arguments
//!
//! [`args::Flag`] names each one, [`args::TestArgs`] holds them parsed. One `--name=value` per
//! line (`--name value` is accepted too); a flag marked "repeated" may be given many times,
//! any other at most once. "In": the argument list that carries it.
//!
//! | flag | in | the rule writes it from | meaning |
//! | --- | --- | --- | --- |
//! | `--target` | §1, §2 | the label | required; names the run in the log and the JUnit suite |
//! | `--main-repo` | §1, §2 | `ctx.workspace_name` | the main repository's runfiles directory (default `_main`, [`args::DEFAULT_MAIN_REPO`]); the rootdir |
//! | `--python` | §1, §2 | the Python toolchain: its interpreter file, or its absolute `interpreter_path` | required; relative: below the execroot (§1) or the runfiles (§2) |
//! | `--worker-package` | neither | (not written: dx-py uses the worker package compiled into it) | a directory holding `dxpy_worker/`, for development |
//! | `--test` | §1, §2 | `srcs` | repeated, at least one: the test files |
//! | `--input` | §1, §2 | `srcs`, `data`, `config` and the deps' runfiles | repeated: every file the tests may read; §1's forest holds exactly these |
//! | `--import-root` | §1, §2 | `imports` of the target and its deps | repeated: runfiles directories put first on `sys.path` |
//! | `--config` | §1, §2 | `config` | the pytest config file; without it an empty stand-in is passed, so pytest finds no config outside the tree |
//! | `--env` | §1, §2 | `env` (`$(location)` expanded), sorted by name | repeated `NAME=VALUE`: set for the tests; these names never force EXECUTE |
//! | `--timeout` | §1, §2 | `timeout`, else `size`'s default (60/300/900/3600 s) | seconds; bounds the §1 run (a run over it is not a pass); §2 is bounded by Bazel |
//! | `--pytest-arg` | §1, §2 | `args` (`$(location)` expanded, shell-tokenized) | repeated: pytest arguments, before `ARGS` |
//! | `--preload` | §1, §2 | `preload` | repeated: modules the interpreters import before the first test |
//! | `--cache-test-results` | §2 | `nocache_test_results` (the macro selects on `--cache_test_results=no`) | `no` forces EXECUTE; `yes` and `auto` change nothing |
//! | `--exclusive` | §2 | the `exclusive`/`exclusive-if-local` tag | `yes`: no §1 action and no `--result-*`; always EXECUTE. `no` is the default |
//! | `--out-status`, `--out-log`, `--out-xml`, `--out-undeclared` | §1 | the action's declared outputs | all four or none ([`args::ActionOutputs`]); required in §1 |
//! | `--result-status`, `--result-log`, `--result-xml`, `--result-undeclared` | §2 | the same files' runfiles paths | all four or none; required in §2 unless `--exclusive=yes` |
//! | `--coverage-source` | §1, §2 | under `bazel coverage` only: the `instrumented_files` of the target's `InstrumentedFilesInfo` (`--instrumentation_filter` applied) | repeated: the files the LCOV report covers; none: nothing is measured |
//! | `--out-coverage` | §1 | under `bazel coverage` only: a declared output | the LCOV report of the run (empty without `--coverage-source`) |
//! | `--result-coverage` | §2 | the same file's runfiles path | a replay copies it to `$COVERAGE_OUTPUT_FILE` |
//!
//! # Coverage
//!
//! Under `bazel coverage` (`ctx.configuration.coverage_enabled`) the §1 action measures line
//! and branch coverage with coverage.py through pytest-cov (both imported from the Python
//! toolchain's interpreter; a missing one fails the action with one message). Each worker
//! keeps its own data (`dx-py test --cov`'s worker side), the run combines them once and
//! writes coverage.py's LCOV report, keeping only the `--coverage-source` files under their
//! execroot names ([`coverage`]). So coverage is cached with the test result, and a replay
//! copies the report to `$COVERAGE_OUTPUT_FILE`; a real run in §2 (EXECUTE) measures the same
//! way and writes it there itself. Bazel's own coverage variables
//! ([`coverage::COVERAGE_TEST_ENV`]) never force EXECUTE.
//!
//! # The recorded status
//!
//! `--out-status` is [`status::RecordedStatus`]: dx-py's private JSON, read back only by §2.
//! It is versioned (`format`), so a stale or foreign file is refused and §2 executes instead.
//! It records `exit_code` (what `dx-py test` would exit with: pytest's codes), `timed_out` (the
//! `--timeout` deadline killed the run), `selected` (the tests the run selected), `failures`
//! (failed and errored reports) and `action_env`: each variable of the §1 process beyond
//! Bazel's own test variables (so `--action_env`, which reaches the test action too), as name
//! → Blake3 digest of the value ([`status::env_value_digest`]; digests, so the cached output
//! holds no secrets). A pass is exit code 0 without a timeout.
//!
//! # Replay or execute
//!
//! [`decision::decide`] is a pure function of the test environment, the parsed argsfile, the
//! extra arguments and the recorded status. It checks, in this order, and the first that holds
//! makes §2 EXECUTE with that [`decision::ExecuteReason`]:
//!
//! 1. not under `bazel test`: `TEST_SRCDIR` unset or `BUILD_WORKSPACE_DIRECTORY` set
//!    (`bazel run`, a direct run);
//! 2. `DXPY_BAZEL_EXECUTE=1` (`--test_env`);
//! 3. `--exclusive=yes`;
//! 4. `--cache-test-results=no`;
//! 5. extra arguments after the argsfile (`--test_arg`);
//! 6. `TESTBRIDGE_TEST_ONLY` set (`--test_filter`);
//! 7. `TEST_TOTAL_SHARDS` set (sharding);
//! 8. `XML_OUTPUT_FILE` below a `run_K_of_N` directory with N > 1 (`--runs_per_test`);
//! 9. no readable recorded status;
//! 10. the recorded status is not a pass (so `--flaky_test_attempts` retries really run);
//! 11. a variable that is neither Bazel's own ([`decision::is_bazel_test_variable`]) nor a
//!     `--env` name, and whose value's digest the recorded `action_env` does not hold
//!     (`--test_env`; `bazel coverage`'s variables are Bazel's own, see [#coverage](#coverage)).
//!
//! Otherwise it REPLAYs. The variable names are [`test_env`]'s constants.
//!
//! # Modules
//!
//! - [`args`]: the typed arguments of §1/§2 ([`args::Flag`], [`args::TestArgs`]) and
//!   `@argsfile` expansion;
//! - [`coverage`]: `bazel coverage`: the instrumented sources' report names, the LCOV filter,
//!   Bazel's coverage variables;
//! - [`status`]: the recorded result (`--out-status`);
//! - [`decision`]: replay or execute in the test action (§2);
//! - [`test_env`]: Bazel's test environment: variable names, sharding, the runfiles root, the
//!   variables the §1 run sets;
//! - [`forest`]: execroot → runfiles path mapping and the private symlink forest one request
//!   runs in;
//! - [`proto`]: Bazel's persistent-worker messages (`WorkRequest`, `WorkResponse`, written by
//!   hand as prost messages) and their varint length-delimited framing;
//! - [`server`]: the multiplex worker loop (one thread per request, bounded; responses written
//!   whole under a lock; cancellation; a clean end on EOF or a malformed frame).
//!
//! # Example
//!
//! Reading a test argsfile and deciding replay or execute from a recorded status, as
//! `dx-py bazel-test` does:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use dxpy_bazel::args::{expand_args_files, split_test_command_line, TestArgs};
//! use dxpy_bazel::decision::{decide, Decision, ExecuteReason};
//! use dxpy_bazel::status::RecordedStatus;
//! use dxpy_bazel::test_env;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runfiles = tempfile::tempdir()?;
//! // The test argsfile, as the rule writes it: runfiles paths, one argument per line.
//! std::fs::write(
//!     runfiles.path().join("t.args"),
//!     "--target=//pkg:t\n--main-repo=_main\n--env=GREETING=hi\n--timeout=300\n\
//!      --python=/usr/bin/python3\n--test=_main/pkg/test_a.py\n\
//!      --result-status=status\n--result-log=test.log\n--result-xml=test.xml\n\
//!      --result-undeclared=undeclared_outputs\n",
//! )?;
//! // What the launcher runs: the argsfile, then `--test_arg`s (none here).
//! let command_line = ["@t.args".to_owned()];
//! let (argsfile, extra_args) = split_test_command_line(&command_line).expect("@ARGSFILE first");
//! let args = TestArgs::parse(&expand_args_files(&[argsfile], runfiles.path())?)?;
//! args.require_test_results()?;
//!
//! // What the DxPyTest action recorded: a pass of 2 tests, run with `--action_env=FOO=1`.
//! let status_file = runfiles.path().join(&args.require_results()?.status);
//! let recorded = RecordedStatus::new(0, false, 2, 0).with_action_env([("FOO", "1")]);
//! std::fs::write(&status_file, recorded.to_json())?;
//! let recorded = RecordedStatus::read(&status_file)?;
//!
//! // `bazel test` sees the same action env and the rule's own `env`: replay.
//! let mut env: BTreeMap<String, String> = [
//!     (test_env::TEST_SRCDIR, "/runfiles"),
//!     ("FOO", "1"),
//!     ("GREETING", "hi"),
//! ]
//! .map(|(name, value)| (name.to_owned(), value.to_owned()))
//! .into();
//! assert_eq!(decide(&env, &args, extra_args, Ok(&recorded)), Decision::Replay);
//!
//! // `--test_filter=test_a`: a real run.
//! env.insert(test_env::TESTBRIDGE_TEST_ONLY.to_owned(), "test_a".to_owned());
//! assert_eq!(
//!     decide(&env, &args, extra_args, Ok(&recorded)),
//!     Decision::Execute(ExecuteReason::TestFilter)
//! );
//! # Ok(())
//! # }
//! ```

pub mod args;
pub mod coverage;
pub mod decision;
pub mod forest;
pub mod proto;
pub mod server;
pub mod status;
pub mod test_env;
