//! The command line.

use std::path::PathBuf;

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::pytest_cli::{OwnOptions, ProbedArities, PytestCommandLine};

#[derive(Debug, Parser)]
#[command(
    name = "dx-py",
    version,
    about = "A fast, pytest-compatible Python test runner"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tests pytest would collect, without importing any Python
    /// (the output of `pytest --collect-only -q`).
    Discover(DiscoverArgs),
    /// Run tests in warm Python workers, with pytest's results, output and exit codes.
    Test(TestArgs),
    /// Run pytest and `dx-py test` side by side on the suite (any `dx-py test` arguments),
    /// check that every test's outcome agrees, and record pytest's time as the baseline that
    /// later runs of the same selection are compared with.
    Bench(TestArgs),
    /// List the tests a change can affect (import graph + conftest scoping).
    Affected(AffectedArgs),
    /// Bazel's DxPyTest build action: `--persistent_worker` (WorkRequests on stdin) or
    /// `@argsfile` (one request).
    #[command(name = "bazel-worker")]
    BazelWorker(BazelArgs),
    /// A dx_py_test's test executable: replay the DxPyTest action's result, or execute.
    #[command(name = "bazel-test")]
    BazelTest(BazelArgs),
    /// Generate and update BUILD.bazel files for rules_dxpy (`--mode fix|diff|check`).
    Gazelle(GazelleArgs),
    /// The per-project daemon that keeps a warm interpreter between `dx-py test` runs.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
    /// Manage dx-py's caches.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

/// What to collect and select: the options `discover` and `test` share, in pytest's spelling.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Files, directories or node IDs, as given to pytest.
    pub paths: Vec<String>,
    /// Only tests whose keywords match this expression (pytest's `-k`).
    #[arg(short = 'k', value_name = "EXPRESSION")]
    pub keyword: Option<String>,
    /// Only tests whose marks match this expression (pytest's `-m`).
    #[arg(short = 'm', value_name = "MARKEXPR")]
    pub markexpr: Option<String>,
    /// Ignore a path during collection (repeatable).
    #[arg(long = "ignore", value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Ignore paths matching a glob during collection (repeatable).
    #[arg(long = "ignore-glob", value_name = "GLOB")]
    pub ignore_glob: Vec<String>,
    /// Deselect an item by node ID prefix (repeatable).
    #[arg(long = "deselect", value_name = "NODEID_PREFIX")]
    pub deselect: Vec<String>,
    /// Use this configuration file instead of searching for one (pytest's `-c`).
    #[arg(short = 'c', value_name = "FILE")]
    pub inifile: Option<PathBuf>,
    /// Use this directory as rootdir (pytest's `--rootdir`).
    #[arg(long = "rootdir", value_name = "DIR")]
    pub rootdir: Option<PathBuf>,
    /// Neither read nor write the discovery index.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print machine-readable JSON instead of pytest's listing.
    #[arg(long)]
    pub json: bool,
    /// Print where each file's result came from and timing counters on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// The interpreter asked which modules skip themselves at import (default: the active
    /// virtualenv's, else `python3`).
    #[arg(long, value_name = "PY")]
    pub python: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AffectedArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Changed files (default: none; see --since).
    #[arg(long = "changed", value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Take the changed files from git: everything that differs from this revision, plus
    /// untracked files.
    #[arg(long = "since", value_name = "GITREF", conflicts_with = "files")]
    pub since: Option<String>,
    /// Python version whose standard library names are not first-party.
    #[arg(long = "python-version", value_name = "X.Y", default_value = "3.11")]
    pub python_version: String,
    /// Report unresolved imports on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Stop after the first failure or error.
    #[arg(short = 'x', long = "exitfirst")]
    pub exitfirst: bool,
    /// Stop after this many failures or errors.
    #[arg(long = "maxfail", value_name = "NUM")]
    pub maxfail: Option<u32>,
    /// Worker processes (`auto` or 0: one per core).
    #[arg(
        short = 'n',
        long = "numprocesses",
        value_name = "NUM",
        default_value = "auto"
    )]
    pub workers: String,
    /// Run only the tests that failed last time (all of them when none did).
    #[arg(long = "lf", alias = "last-failed")]
    pub last_failed: bool,
    /// Run the tests that failed last time first, then the rest.
    #[arg(long = "ff", alias = "failed-first")]
    pub failed_first: bool,
    /// Run only the tests whose inputs changed since they last passed (or that have no
    /// record, or did not pass), and replay the recorded reports of the rest.
    #[arg(long = "affected")]
    pub affected: bool,
    /// With --affected: only the tests the import graph connects to files changed since this
    /// git revision (committed, staged, unstaged or untracked); the others are deselected.
    #[arg(long = "since", value_name = "GITREF", requires = "affected")]
    pub since: Option<String>,
    /// Keep running: after each change to a file under the rootdir, run the selected tests it
    /// affects (as --affected does), then wait again.
    #[arg(long = "watch")]
    pub watch: bool,
    /// Less output (repeatable).
    #[arg(short = 'q', long = "quiet", action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// More output: one line per test (repeatable).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Fail a test that runs longer than this many seconds (its worker is replaced). With
    /// pytest-timeout loaded, this is its `--timeout` (its report), dx-py's bound behind it.
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Write a JUnit XML report here, in pytest's shape.
    #[arg(long = "junit-xml", alias = "junitxml", value_name = "PATH")]
    pub junit_xml: Option<PathBuf>,
    /// Python interpreter for the workers (default: $VIRTUAL_ENV, else python3).
    #[arg(long = "python", value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Spawn every worker instead of forking them from a warm zygote interpreter.
    #[arg(long = "no-zygote")]
    pub no_zygote: bool,
    /// Run in this process, never in the project's daemon (also `DXPY_NO_DAEMON=1`).
    #[arg(long = "no-daemon")]
    pub no_daemon: bool,
    /// Show the N slowest test phases (0: all).
    #[arg(long = "durations", value_name = "N")]
    pub durations: Option<usize>,
    /// Colour the output: yes, no or auto (honours NO_COLOR).
    #[arg(long = "color", value_name = "WHEN", default_value = "auto")]
    pub color: String,
    /// Shortcut for `--capture=no`: the tests' output is printed as they write it.
    #[arg(short = 's')]
    pub no_capture: bool,
    /// Traceback print mode: auto (default), long, short, line, native, no.
    #[arg(long = "tb", value_name = "STYLE", value_parser = ["auto", "long", "short", "line", "native", "no"])]
    pub tb: Option<String>,
    /// Short summary groups: f failed, E error, s skipped, x xfailed, X xpassed, p passed,
    /// P passed with output, a all but passes, A all, N none, w warnings (default: fE).
    #[arg(short = 'r', long = "report-chars", value_name = "CHARS")]
    pub report_chars: Option<String>,
    /// No warnings summary.
    #[arg(long = "disable-warnings", alias = "disable-pytest-warnings")]
    pub disable_warnings: bool,
    /// One short-summary line per skipped test instead of counts per place and reason.
    #[arg(long = "no-fold-skipped")]
    pub no_fold_skipped: bool,
    /// No FAILURES, ERRORS, warnings, PASSES or short summary sections.
    #[arg(long = "no-summary")]
    pub no_summary: bool,
    /// pytest's capture method: fd (default), sys, no, tee-sys.
    #[arg(long = "capture", value_name = "METHOD", value_parser = ["fd", "sys", "no", "tee-sys"])]
    pub capture: Option<String>,
    /// Every other option: pytest's (see [`crate::pytest_cli`]); set by [`parse_cli`].
    #[arg(skip)]
    pub pytest: Box<PytestCommandLine>,
    /// The arguments as given after the subcommand; set by [`parse_cli`].
    #[arg(skip)]
    pub given: Vec<String>,
}

/// Parse `dx-py`'s command line (`argv[0]` included). For `dx-py test`, the options dx-py
/// does not define go to pytest ([`crate::pytest_cli::split`]) instead of being clap's usage
/// errors.
pub fn parse_cli<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let subcommand = argv.get(1).map(|a| a.to_string_lossy().into_owned());
    if let Some(name @ ("test" | "bench")) = subcommand.as_deref() {
        let rest: Vec<String> = argv[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let args = parse_test_args(&rest, &ProbedArities::new())?;
        let command = if name == "bench" {
            Command::Bench(args)
        } else {
            Command::Test(args)
        };
        return Ok(Cli { command });
    }
    Cli::try_parse_from(argv)
}

/// `dx-py test`'s arguments (those after `test`), with the arities of plugin options
/// `probed` from the interpreter's pytest.
pub fn parse_test_args(tokens: &[String], probed: &ProbedArities) -> Result<TestArgs, clap::Error> {
    let (own, pytest) =
        crate::pytest_cli::split(tokens, &OwnOptions::of_command(&test_command()), probed);
    let argv = ["dx-py", "test"].into_iter().map(str::to_owned).chain(own);
    let Command::Test(mut args) = Cli::try_parse_from(argv)?.command else {
        return Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand));
    };
    args.pytest = Box::new(pytest);
    args.given = tokens.to_vec();
    Ok(args)
}

impl TestArgs {
    /// The arguments discovery reads, in pytest's syntax: the selection options, the
    /// pass-through options, then the paths.
    pub fn discovery_args(&self) -> Vec<String> {
        let mut out = pytest_args(&SelectArgs {
            paths: Vec::new(),
            ..self.select.clone()
        });
        out.extend(self.pytest.passthrough.iter().cloned());
        out.extend(self.select.paths.iter().cloned());
        out
    }

    /// The report options of the project's `addopts` (and `PYTEST_ADDOPTS`) with this
    /// command line's after them, as pytest layers them.
    pub fn report_args(
        &self,
        from_config: &dxpy_discover::config::ReportArgs,
    ) -> dxpy_discover::config::ReportArgs {
        let mut report = from_config.clone();
        if let Some(chars) = &self.report_chars {
            report.chars = Some(chars.clone());
        }
        if let Some(style) = &self.tb {
            report.tbstyle = Some(style.clone());
        }
        report.disable_warnings |= self.disable_warnings;
        report.no_fold_skipped |= self.no_fold_skipped;
        report.no_summary |= self.no_summary;
        report.verbosity += i32::from(self.verbose) - i32::from(self.quiet);
        // dx-py's own -x/--maxfail come after addopts and PYTEST_ADDOPTS, as on pytest's
        // command line.
        if let Some(n) = self.command_line_maxfail() {
            report.maxfail = Some(n);
        }
        report
    }

    /// dx-py's own `-x`/`--maxfail`: `-x` is `--maxfail=1` and wins (clap does not keep their
    /// order); `0` means no limit, as in pytest.
    pub fn command_line_maxfail(&self) -> Option<u32> {
        if self.exitfirst {
            Some(1)
        } else {
            self.maxfail
        }
    }

    /// The capture method asked for, if any (`-s` wins, as in pytest).
    pub fn capture_method(&self) -> Option<&str> {
        if self.no_capture {
            Some("no")
        } else {
            self.capture.as_deref()
        }
    }
}

/// The `dx-py test` subcommand as clap builds it: what decides which options are dx-py's own.
pub(crate) fn test_command() -> clap::Command {
    let mut cli = <Cli as clap::CommandFactory>::command();
    cli.build();
    cli.find_subcommand("test")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("test"))
}

/// The raw arguments of the Bazel commands: `@argsfile`, `--persistent_worker`, or the
/// request arguments themselves (parsed by `dxpy_bazel::args`).
#[derive(Debug, Args)]
pub struct BazelArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// Which daemon: the project (rootdir, found as `dx-py test` finds it) and the interpreter.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Files or directories, as given to `dx-py test` (they locate the rootdir).
    pub paths: Vec<String>,
    /// Use this configuration file (pytest's `-c`).
    #[arg(short = 'c', value_name = "FILE")]
    pub inifile: Option<PathBuf>,
    /// Use this directory as rootdir (pytest's `--rootdir`).
    #[arg(long = "rootdir", value_name = "DIR")]
    pub rootdir: Option<PathBuf>,
    /// Python interpreter (default: $VIRTUAL_ENV's python, else python3).
    #[arg(long = "python", value_name = "PATH")]
    pub python: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Start the daemon in the background (nothing happens when it runs already).
    Start(DaemonArgs),
    /// Stop the daemon, its interpreters with it.
    Stop(DaemonArgs),
    /// Print pid, uptime, rootdir, interpreter and requests served; exit 1 when none runs.
    Status(DaemonArgs),
    /// Serve in the foreground (what `start` runs in the background).
    #[command(hide = true)]
    Serve(DaemonArgs),
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Delete dx-py's caches for the project at `--rootdir` (default: all projects).
    Clear {
        #[arg(long = "rootdir", value_name = "DIR")]
        rootdir: Option<PathBuf>,
    },
    /// Print the cache directory.
    Dir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GazelleMode {
    /// Write the updated BUILD files.
    Fix,
    /// Print a unified diff of what `fix` would change.
    Diff,
    /// List the files `fix` would change; exit 1 when there are any.
    Check,
}

#[derive(Debug, Args)]
pub struct GazelleArgs {
    /// Only update BUILD files in these directories and below (default: the whole repository).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "fix")]
    pub mode: GazelleMode,
    /// Repository root (default: $BUILD_WORKSPACE_DIRECTORY, else the current directory).
    #[arg(long = "repo-root", value_name = "DIR")]
    pub repo_root: Option<PathBuf>,
    /// Rewrite the third-party manifest (gazelle_dxpy.toml) from the installed distributions
    /// of --python, then stop.
    #[arg(long = "update-manifest")]
    pub update_manifest: bool,
    /// Interpreter whose site-packages --update-manifest reads (default: $VIRTUAL_ENV's
    /// python, else python3).
    #[arg(long = "python", value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// With --update-manifest: keep only the distributions this requirements lock names (those
    /// rules_python's `pip.parse` hub has labels for).
    #[arg(
        long = "requirements",
        value_name = "LOCK",
        requires = "update_manifest"
    )]
    pub requirements: Option<PathBuf>,
    /// Label of a distribution for --update-manifest ({dist} = normalized name; default: the
    /// manifest's, else @pypi//{dist}).
    #[arg(long = "label-pattern", value_name = "PATTERN")]
    pub label_pattern: Option<String>,
    /// Python version whose standard library needs no dependency.
    #[arg(long = "python-version", value_name = "X.Y", default_value = "3.11")]
    pub python_version: String,
    /// Neither read nor write the import cache.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Print counters on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// The arguments in pytest's own syntax: discovery interprets them exactly as pytest would,
/// after the `addopts` from the project's configuration.
pub fn pytest_args(args: &SelectArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |flag: &str, value: &str| {
        out.push(flag.to_string());
        out.push(value.to_string());
    };
    if let Some(file) = &args.inifile {
        push("-c", &file.to_string_lossy());
    }
    if let Some(dir) = &args.rootdir {
        push("--rootdir", &dir.to_string_lossy());
    }
    if let Some(k) = &args.keyword {
        push("-k", k);
    }
    if let Some(m) = &args.markexpr {
        push("-m", m);
    }
    for p in &args.ignore {
        push("--ignore", p);
    }
    for g in &args.ignore_glob {
        push("--ignore-glob", g);
    }
    for d in &args.deselect {
        push("--deselect", d);
    }
    out.extend(args.paths.iter().cloned());
    out
}

#[cfg(test)]
mod split_tests {
    //! `dx-py test`'s own options against pytest's (`crate::pytest_cli::split`), with the
    //! real clap definition of the command.
    use std::collections::HashMap;

    use dxpy_discover::config::args::Arity;

    use super::test_command;
    use crate::pytest_cli::{pytest_only, split, OwnOptions, PytestCommandLine};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn split_plain(tokens: &[&str]) -> (Vec<String>, PytestCommandLine) {
        split(
            &s(tokens),
            &OwnOptions::of_command(&test_command()),
            &HashMap::new(),
        )
    }

    #[test]
    fn own_options_stay_with_dx_py_and_the_rest_goes_to_pytest_in_order() {
        let (own, line) = split_plain(&[
            "-p",
            "no:cacheprovider",
            "tests",
            "-W",
            "error",
            "-x",
            "--strict-markers",
            "-o",
            "xfail_strict=true",
            "-k",
            "a and b",
            "--import-mode",
            "importlib",
            "--log-level=DEBUG",
            "-n",
            "2",
        ]);
        assert_eq!(own, s(&["tests", "-x", "-k", "a and b", "-n", "2"]));
        assert_eq!(
            line.passthrough,
            s(&[
                "-pno:cacheprovider",
                "-Werror",
                "--strict-markers",
                "-oxfail_strict=true",
                "--import-mode=importlib",
                "--log-level=DEBUG",
            ])
        );
        // pytest's view keeps the user's spelling and drops dx-py's own `-n`.
        assert_eq!(
            line.for_pytest,
            s(&[
                "-p",
                "no:cacheprovider",
                "tests",
                "-W",
                "error",
                "-x",
                "--strict-markers",
                "-o",
                "xfail_strict=true",
                "-k",
                "a and b",
                "--import-mode",
                "importlib",
                "--log-level=DEBUG",
            ])
        );
        assert!(!line.guessed);
    }

    #[test]
    fn short_clusters_are_split_between_owners() {
        let (own, line) = split_plain(&["-vxWerror", "-qpno:x", "-rfE", "-sl", "tests"]);
        assert_eq!(own, s(&["-v", "-x", "-q", "-r", "fE", "-s", "tests"]));
        assert_eq!(line.passthrough, s(&["-Werror", "-pno:x", "-l"]));
    }

    #[test]
    fn plugin_options_take_their_value_in_either_spelling() {
        let (own, line) = split_plain(&["--dist", "load", "tests", "--dist=each"]);
        assert_eq!(own, s(&["tests"]));
        assert_eq!(line.passthrough, s(&["--dist=load", "--dist=each"]));
        // An option nobody knows is a flag until the interpreter's pytest says otherwise.
        let (own, line) = split_plain(&["--myopt", "v", "tests"]);
        assert!(line.guessed);
        assert_eq!(own, s(&["v", "tests"]));
        let probed = HashMap::from([("--myopt".to_owned(), Arity::Value)]);
        let (own, line) = split(
            &s(&["--myopt", "v", "tests"]),
            &OwnOptions::of_command(&test_command()),
            &probed,
        );
        assert_eq!(own, s(&["tests"]));
        assert_eq!(line.passthrough, s(&["--myopt=v"]));
        assert_eq!(line.for_pytest, s(&["--myopt", "v", "tests"]));
    }

    #[test]
    fn dx_py_only_options_and_their_values_never_reach_pytest() {
        let (own, line) = split_plain(&[
            "--python",
            "/x/python",
            "--affected",
            "--since=HEAD",
            "--numprocesses",
            "3",
            "--timeout",
            "5",
            "--maxfail=2",
            "--",
            "-weird",
        ]);
        assert_eq!(
            own,
            s(&[
                "--python",
                "/x/python",
                "--affected",
                "--since",
                "HEAD",
                "--numprocesses",
                "3",
                "--timeout",
                "5",
                "--maxfail",
                "2",
                "--",
                "-weird"
            ])
        );
        assert!(line.passthrough.is_empty());
        assert_eq!(line.for_pytest, s(&["--maxfail", "2", "--", "-weird"]));
    }

    #[test]
    fn a_pytest_only_command_line_keeps_its_order_with_values_attached() {
        let line = pytest_only(&s(&["-v", "--dist", "load", "tests", "-W", "error", "-x"]));
        assert_eq!(
            line.attached,
            s(&["-v", "--dist=load", "tests", "-Werror", "-x"])
        );
    }

    #[test]
    fn informational_and_collect_only_options_are_recognised() {
        let (_, line) = split_plain(&["--fixtures", "tests"]);
        assert_eq!(line.delegated(), Some("--fixtures"));
        let (_, line) = split_plain(&["--pdb"]);
        assert_eq!(line.delegated(), Some("--pdb"));
        let (_, line) = split_plain(&["--co", "-q"]);
        assert!(line.collect_only() && line.delegated().is_none());
        let (_, line) = split_plain(&["--collect-only"]);
        assert!(line.collect_only());
    }
}
