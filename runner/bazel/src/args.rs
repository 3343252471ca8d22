//! The arguments of a DxPyTest request (§1 of the contract in the crate docs) and of
//! the test argsfile (§2: the same arguments in runfiles form plus `--result-*`), parsed into
//! [`TestArgs`]. [`Flag`] is the one spelling of each argument's name.
//!
//! Accepted spellings: `--name=value` (what the rules write, one per argsfile line) and
//! `--name value`. Unknown arguments, missing values and missing required arguments are
//! [`ArgsError`]s naming the argument; the worker puts the message in its WorkResponse.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a request's arguments were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("unknown argument `{0}`")]
    Unknown(String),
    #[error("`{0}` needs a value")]
    MissingValue(Flag),
    #[error("missing required argument `{0}`")]
    Missing(Flag),
    #[error("`{0}` given more than once")]
    Repeated(Flag),
    #[error("`--env={0}`: expected NAME=VALUE")]
    BadEnv(String),
    #[error("`--timeout={0}`: expected a positive number of seconds")]
    BadTimeout(String),
    #[error("`--cache-test-results={0}`: expected yes, no or auto (Bazel's --cache_test_results)")]
    BadCacheTestResults(String),
    #[error("`--exclusive={0}`: expected yes or no")]
    BadExclusive(String),
    #[error("cannot read the argument file `{}`: {message}", .path.display())]
    ArgsFile { path: PathBuf, message: String },
}

/// Every argument of the contract; `Option`s are checked by [`TestArgs::require_action_outputs`]
/// and [`TestArgs::require_test_results`] for the mode that needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestArgs {
    pub target: String,
    pub main_repo: String,
    pub python: PathBuf,
    /// `--worker-package`: a directory holding `dxpy_worker/`; absent (what the rules pass),
    /// the copy compiled into dx-py.
    pub worker_package: Option<PathBuf>,
    pub tests: Vec<String>,
    pub inputs: Vec<String>,
    pub import_roots: Vec<String>,
    pub config: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub pytest_args: Vec<String>,
    pub preload: Vec<String>,
    /// `--cache-test-results=no`: Bazel runs the test action with `--nocache_test_results`
    /// (the rule selects on it), so the tests must really run there, not be replayed.
    pub uncached_test_results: bool,
    /// `--exclusive=yes`: the target is tagged `exclusive` (or `exclusive-if-local`), so its
    /// tests run only in the test action, which Bazel runs alone; the rule builds no DxPyTest
    /// action (it would run beside other actions) and the argsfile names no results.
    pub exclusive: bool,
    pub out: Option<ActionOutputs>,
    pub result: Option<ActionOutputs>,
    /// `--coverage-source`: the instrumented sources under `bazel coverage` (execroot paths in
    /// §1, runfiles paths in §2). Empty: no coverage is measured.
    pub coverage_sources: Vec<String>,
    /// `--out-coverage`: where §1 writes the LCOV report of its run.
    pub out_coverage: Option<PathBuf>,
    /// `--result-coverage`: §1's LCOV report in the runfiles, which a replay copies to
    /// `$COVERAGE_OUTPUT_FILE`.
    pub result_coverage: Option<PathBuf>,
}

/// The four result paths: `--out-*` in the action, `--result-*` in the test argsfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutputs {
    pub status: PathBuf,
    pub log: PathBuf,
    pub xml: PathBuf,
    pub undeclared: PathBuf,
}

/// The arguments of the contract (all take a value), typed, so the parser dispatches on an
/// enum and every other spelling of a name comes from [`Flag::name`]. Displayed as `--name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Target,
    MainRepo,
    Python,
    WorkerPackage,
    Test,
    Input,
    ImportRoot,
    Config,
    Env,
    Timeout,
    PytestArg,
    Preload,
    CacheTestResults,
    Exclusive,
    Out(OutputKind),
    Result(OutputKind),
    CoverageSource,
    OutCoverage,
    ResultCoverage,
}

/// One of the four recorded outputs ([`ActionOutputs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Status,
    Log,
    Xml,
    Undeclared,
}

impl Flag {
    /// Every argument, in the order the crate docs list them.
    pub const ALL: [Flag; 25] = [
        Flag::Target,
        Flag::MainRepo,
        Flag::Python,
        Flag::WorkerPackage,
        Flag::Test,
        Flag::Input,
        Flag::ImportRoot,
        Flag::Config,
        Flag::Env,
        Flag::Timeout,
        Flag::PytestArg,
        Flag::Preload,
        Flag::CacheTestResults,
        Flag::Exclusive,
        Flag::Out(OutputKind::Status),
        Flag::Out(OutputKind::Log),
        Flag::Out(OutputKind::Xml),
        Flag::Out(OutputKind::Undeclared),
        Flag::Result(OutputKind::Status),
        Flag::Result(OutputKind::Log),
        Flag::Result(OutputKind::Xml),
        Flag::Result(OutputKind::Undeclared),
        Flag::CoverageSource,
        Flag::OutCoverage,
        Flag::ResultCoverage,
    ];

    /// The name without its leading `--` (`main-repo`).
    pub fn name(self) -> &'static str {
        match self {
            Flag::Target => "target",
            Flag::MainRepo => "main-repo",
            Flag::Python => "python",
            Flag::WorkerPackage => "worker-package",
            Flag::Test => "test",
            Flag::Input => "input",
            Flag::ImportRoot => "import-root",
            Flag::Config => "config",
            Flag::Env => "env",
            Flag::Timeout => "timeout",
            Flag::PytestArg => "pytest-arg",
            Flag::Preload => "preload",
            Flag::CacheTestResults => "cache-test-results",
            Flag::Exclusive => "exclusive",
            Flag::Out(OutputKind::Status) => "out-status",
            Flag::Out(OutputKind::Log) => "out-log",
            Flag::Out(OutputKind::Xml) => "out-xml",
            Flag::Out(OutputKind::Undeclared) => "out-undeclared",
            Flag::Result(OutputKind::Status) => "result-status",
            Flag::Result(OutputKind::Log) => "result-log",
            Flag::Result(OutputKind::Xml) => "result-xml",
            Flag::Result(OutputKind::Undeclared) => "result-undeclared",
            Flag::CoverageSource => "coverage-source",
            Flag::OutCoverage => "out-coverage",
            Flag::ResultCoverage => "result-coverage",
        }
    }

    /// The flag called `name` (without `--`).
    pub fn parse(name: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|flag| flag.name() == name)
    }

    /// Whether the argument may be given more than once (each time adds a value).
    pub fn repeatable(self) -> bool {
        matches!(
            self,
            Flag::Test
                | Flag::Input
                | Flag::ImportRoot
                | Flag::Env
                | Flag::PytestArg
                | Flag::Preload
                | Flag::CoverageSource
        )
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--{}", self.name())
    }
}

/// Output paths collected while parsing, checked complete at the end.
#[derive(Debug, Default)]
struct PartialOutputs {
    status: Option<PathBuf>,
    log: Option<PathBuf>,
    xml: Option<PathBuf>,
    undeclared: Option<PathBuf>,
}

impl PartialOutputs {
    fn slot(&mut self, kind: OutputKind) -> &mut Option<PathBuf> {
        match kind {
            OutputKind::Status => &mut self.status,
            OutputKind::Log => &mut self.log,
            OutputKind::Xml => &mut self.xml,
            OutputKind::Undeclared => &mut self.undeclared,
        }
    }

    /// None when no path was given; an error naming the first missing one when only some were.
    fn finish(self, wrap: fn(OutputKind) -> Flag) -> Result<Option<ActionOutputs>, ArgsError> {
        if self.status.is_none()
            && self.log.is_none()
            && self.xml.is_none()
            && self.undeclared.is_none()
        {
            return Ok(None);
        }
        let missing = |kind| ArgsError::Missing(wrap(kind));
        Ok(Some(ActionOutputs {
            status: self.status.ok_or_else(|| missing(OutputKind::Status))?,
            log: self.log.ok_or_else(|| missing(OutputKind::Log))?,
            xml: self.xml.ok_or_else(|| missing(OutputKind::Xml))?,
            undeclared: self
                .undeclared
                .ok_or_else(|| missing(OutputKind::Undeclared))?,
        }))
    }
}

impl TestArgs {
    /// Parses already expanded arguments (see [`expand_args_files`]).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<TestArgs, ArgsError> {
        let mut parsed = TestArgs::default();
        let mut seen: Vec<Flag> = Vec::new();
        let (mut target, mut main_repo, mut python) = (None, None, None);
        let mut out = PartialOutputs::default();
        let mut result = PartialOutputs::default();
        let mut rest = args.iter().map(AsRef::as_ref);
        while let Some(arg) = rest.next() {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(ArgsError::Unknown(arg.to_owned()));
            };
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let flag = Flag::parse(name).ok_or_else(|| ArgsError::Unknown(arg.to_owned()))?;
            let value = match inline {
                Some(value) => value.to_owned(),
                None => rest.next().ok_or(ArgsError::MissingValue(flag))?.to_owned(),
            };
            if !flag.repeatable() {
                if seen.contains(&flag) {
                    return Err(ArgsError::Repeated(flag));
                }
                seen.push(flag);
            }
            match flag {
                Flag::Target => target = Some(value),
                Flag::MainRepo => main_repo = Some(value),
                Flag::Python => python = Some(PathBuf::from(value)),
                Flag::WorkerPackage => parsed.worker_package = Some(PathBuf::from(value)),
                Flag::Test => parsed.tests.push(value),
                Flag::Input => parsed.inputs.push(value),
                Flag::ImportRoot => parsed.import_roots.push(value),
                Flag::Config => parsed.config = Some(value),
                Flag::Env => {
                    let (key, val) = value
                        .split_once('=')
                        .filter(|(key, _)| !key.is_empty())
                        .ok_or_else(|| ArgsError::BadEnv(value.clone()))?;
                    parsed.env.push((key.to_owned(), val.to_owned()));
                }
                Flag::Timeout => {
                    let seconds: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or_else(|| ArgsError::BadTimeout(value.clone()))?;
                    parsed.timeout = Some(Duration::from_secs_f64(seconds));
                }
                Flag::PytestArg => parsed.pytest_args.push(value),
                Flag::Preload => parsed.preload.push(value),
                Flag::CacheTestResults => {
                    parsed.uncached_test_results = match value.as_str() {
                        "no" => true,
                        "yes" | "auto" => false,
                        _ => return Err(ArgsError::BadCacheTestResults(value)),
                    }
                }
                Flag::Exclusive => {
                    parsed.exclusive = match value.as_str() {
                        "yes" => true,
                        "no" => false,
                        _ => return Err(ArgsError::BadExclusive(value)),
                    }
                }
                Flag::Out(kind) => *out.slot(kind) = Some(PathBuf::from(value)),
                Flag::Result(kind) => *result.slot(kind) = Some(PathBuf::from(value)),
                Flag::CoverageSource => parsed.coverage_sources.push(value),
                Flag::OutCoverage => parsed.out_coverage = Some(PathBuf::from(value)),
                Flag::ResultCoverage => parsed.result_coverage = Some(PathBuf::from(value)),
            }
        }
        parsed.target = target.ok_or(ArgsError::Missing(Flag::Target))?;
        parsed.main_repo = main_repo.unwrap_or_else(|| DEFAULT_MAIN_REPO.to_owned());
        parsed.python = python.ok_or(ArgsError::Missing(Flag::Python))?;
        if parsed.tests.is_empty() {
            return Err(ArgsError::Missing(Flag::Test));
        }
        parsed.out = out.finish(Flag::Out)?;
        parsed.result = result.finish(Flag::Result)?;
        Ok(parsed)
    }

    /// The `--out-*` paths the build action must write.
    pub fn require_action_outputs(&self) -> Result<&ActionOutputs, ArgsError> {
        self.out
            .as_ref()
            .ok_or(ArgsError::Missing(Flag::Out(OutputKind::Status)))
    }

    /// The `--result-*` paths the test executable replays.
    pub fn require_results(&self) -> Result<&ActionOutputs, ArgsError> {
        self.result
            .as_ref()
            .ok_or(ArgsError::Missing(Flag::Result(OutputKind::Status)))
    }

    /// Checks a test argsfile (§2) is complete: it names the recorded results, unless the
    /// target is exclusive (then there are none).
    pub fn require_test_results(&self) -> Result<(), ArgsError> {
        if !self.exclusive {
            self.require_results()?;
        }
        Ok(())
    }

    /// A runfiles path the test argsfile guarantees exists: the recorded status or, for an
    /// exclusive target (no DxPyTest action), its first test file. It locates the runfiles
    /// tree when no variable names it (see [`crate::test_env::find_runfiles`]).
    pub fn runfiles_landmark(&self) -> PathBuf {
        match &self.result {
            Some(results) => results.status.clone(),
            None => PathBuf::from(self.tests.first().map_or("", String::as_str)),
        }
    }
}

/// `--main-repo` when the arguments do not give it (Bazel's name of the main repository's
/// runfiles directory under Bzlmod).
pub const DEFAULT_MAIN_REPO: &str = "_main";

/// The test executable's command line (§2), as the launcher writes it: `@ARGSFILE` first,
/// then what Bazel adds beyond the `args` attribute (`--test_arg`, `bazel run -- ARGS`),
/// which goes to pytest. `None` when the first argument is not an `@file`.
pub fn split_test_command_line<S: AsRef<str>>(args: &[S]) -> Option<(&str, &[S])> {
    match args.split_first() {
        Some((first, rest)) if first.as_ref().starts_with('@') => Some((first.as_ref(), rest)),
        _ => None,
    }
}

/// Replaces each `@file` argument by the file's lines (Bazel's "multiline" param file format:
/// one argument per line, no quoting). Relative files are read from `base`. `@@x` stands for
/// the literal `@x`.
pub fn expand_args_files<S: AsRef<str>>(args: &[S], base: &Path) -> Result<Vec<String>, ArgsError> {
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        if let Some(literal) = arg.strip_prefix("@@") {
            out.push(format!("@{literal}"));
        } else if let Some(file) = arg.strip_prefix('@') {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path).map_err(|err| ArgsError::ArgsFile {
                path: path.clone(),
                message: err.to_string(),
            })?;
            out.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        } else {
            out.push(arg.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: [&str; 3] = [
        "--target=//pkg:t",
        "--python=/usr/bin/python3",
        "--test=pkg/test_a.py",
    ];

    #[test]
    fn both_spellings_and_repeated_arguments_parse() {
        let args = TestArgs::parse(&[
            "--target=//pkg:t",
            "--python",
            "py/bin/python",
            "--test=pkg/test_a.py",
            "--test=pkg/test_b.py",
            "--input=pkg/lib.py",
            "--import-root=_main/src",
            "--env=A=b=c",
            "--timeout=300",
            "--pytest-arg=-v",
            "--preload=json",
            "--cache-test-results=no",
            "--exclusive=yes",
            "--config=pytest.ini",
            "--worker-package=external/rules_dxpy/worker",
            "--out-status=o/s",
            "--out-log=o/l",
            "--out-xml=o/x",
            "--out-undeclared=o/u",
            "--coverage-source=pkg/lib.py",
            "--coverage-source=pkg/other.py",
            "--out-coverage=o/c",
        ])
        .expect("valid");
        assert_eq!(args.coverage_sources, vec!["pkg/lib.py", "pkg/other.py"]);
        assert_eq!(args.out_coverage, Some(PathBuf::from("o/c")));
        assert_eq!(args.result_coverage, None);
        assert_eq!(args.main_repo, "_main");
        assert_eq!(args.python, PathBuf::from("py/bin/python"));
        assert_eq!(args.tests, vec!["pkg/test_a.py", "pkg/test_b.py"]);
        assert_eq!(args.env, vec![("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(args.timeout, Some(Duration::from_secs(300)));
        assert!(args.uncached_test_results);
        assert!(args.exclusive);
        let minimal = TestArgs::parse(&MINIMAL).expect("valid");
        assert!(!minimal.uncached_test_results);
        assert!(!minimal.exclusive);
        assert_eq!(
            args.require_action_outputs().expect("outs").undeclared,
            PathBuf::from("o/u")
        );
        assert_eq!(
            args.require_results(),
            Err(ArgsError::Missing(Flag::Result(OutputKind::Status)))
        );
        // A test argsfile must name the results, unless the target is exclusive.
        assert_eq!(
            minimal.require_test_results(),
            Err(ArgsError::Missing(Flag::Result(OutputKind::Status)))
        );
        // An exclusive target's argsfile names no results.
        let exclusive =
            TestArgs::parse(&[&MINIMAL[..], &["--exclusive=yes"]].concat()).expect("valid");
        assert_eq!(exclusive.require_test_results(), Ok(()));
        assert_eq!(
            exclusive.runfiles_landmark(),
            PathBuf::from("pkg/test_a.py")
        );
    }

    #[test]
    fn each_kind_of_bad_argument_is_named() {
        let with = |extra: &[&str]| {
            let mut all: Vec<&str> = MINIMAL.to_vec();
            all.extend_from_slice(extra);
            TestArgs::parse(&all)
        };
        assert_eq!(
            with(&["--frobnicate=1"]),
            Err(ArgsError::Unknown("--frobnicate=1".into()))
        );
        assert_eq!(with(&["stray"]), Err(ArgsError::Unknown("stray".into())));
        assert_eq!(
            with(&["--config"]),
            Err(ArgsError::MissingValue(Flag::Config))
        );
        assert_eq!(
            with(&["--target=x"]),
            Err(ArgsError::Repeated(Flag::Target))
        );
        assert_eq!(
            with(&["--env=NOVALUE"]),
            Err(ArgsError::BadEnv("NOVALUE".into()))
        );
        assert_eq!(
            with(&["--timeout=-3"]),
            Err(ArgsError::BadTimeout("-3".into()))
        );
        assert_eq!(
            with(&["--cache-test-results=never"]),
            Err(ArgsError::BadCacheTestResults("never".into()))
        );
        assert_eq!(
            with(&["--exclusive=always"]),
            Err(ArgsError::BadExclusive("always".into()))
        );
        assert_eq!(
            with(&["--out-log=x"]),
            Err(ArgsError::Missing(Flag::Out(OutputKind::Status)))
        );
        assert_eq!(
            TestArgs::parse(&["--python=p", "--test=t"]),
            Err(ArgsError::Missing(Flag::Target))
        );
        assert_eq!(
            TestArgs::parse(&["--target=t", "--test=t"]),
            Err(ArgsError::Missing(Flag::Python))
        );
        assert_eq!(
            TestArgs::parse(&["--target=t", "--python=p"]),
            Err(ArgsError::Missing(Flag::Test))
        );
    }

    #[test]
    fn messages_spell_flags_as_written() {
        assert_eq!(
            ArgsError::Missing(Flag::Result(OutputKind::Status)).to_string(),
            "missing required argument `--result-status`"
        );
        assert_eq!(
            ArgsError::MissingValue(Flag::MainRepo).to_string(),
            "`--main-repo` needs a value"
        );
        assert_eq!(
            ArgsError::Repeated(Flag::Target).to_string(),
            "`--target` given more than once"
        );
    }

    #[test]
    fn every_flag_name_parses_back_to_itself() {
        for flag in Flag::ALL {
            assert_eq!(Flag::parse(flag.name()), Some(flag), "{flag}");
        }
        assert_eq!(Flag::parse("persistent_worker"), None);
    }

    #[test]
    fn the_test_command_line_is_the_argsfile_then_pytest_arguments() {
        let args = ["@pkg/t.args", "-v", "-k", "x"];
        assert_eq!(
            split_test_command_line(&args),
            Some(("@pkg/t.args", &args[1..]))
        );
        assert_eq!(split_test_command_line(&["-v", "@pkg/t.args"]), None);
        assert_eq!(split_test_command_line::<&str>(&[]), None);
    }

    #[test]
    fn args_files_expand_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.params"),
            "--target=//x:y\n--test=x/t.py\n",
        )
        .expect("write");
        let expanded =
            expand_args_files(&["--persistent_worker", "@a.params", "@@lit"], dir.path())
                .expect("expand");
        assert_eq!(
            expanded,
            vec![
                "--persistent_worker",
                "--target=//x:y",
                "--test=x/t.py",
                "@lit"
            ]
        );
        assert!(matches!(
            expand_args_files(&["@missing"], dir.path()),
            Err(ArgsError::ArgsFile { .. })
        ));
    }
}
