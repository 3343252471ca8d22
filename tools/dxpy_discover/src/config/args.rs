//! Command-line arguments as pytest's argparse parser reads them, reduced to what shapes
//! collection. Also Python's `shlex.split` (POSIX mode), which pytest applies to `addopts`
//! and `PYTEST_ADDOPTS`.
//!
//! Options pytest knows but that do not affect collection are skipped with their values, so a
//! value is never mistaken for a path. Unknown options (from plugins) are kept in
//! [`CliArgs::unknown`]; like argparse, they do not consume the next token unless they are
//! listed in [`PLUGIN_OPTIONS_WITH_VALUE`] or written as `--opt=value`.

/// Why a command line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("No closing quotation")]
    NoClosingQuotation,
    #[error("No escaped character")]
    NoEscapedCharacter,
    #[error("argument {option}: expected one argument")]
    MissingValue { option: String },
}

/// Python's `shlex.split(text)`: POSIX rules, no comments.
pub fn shlex_split(text: &str) -> Result<Vec<String>, ArgsError> {
    #[derive(PartialEq)]
    enum State {
        Between,
        Word,
        Single,
        Double,
    }
    let mut out = Vec::new();
    let mut token = String::new();
    let mut state = State::Between;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if state == State::Word {
                        out.push(std::mem::take(&mut token));
                        state = State::Between;
                    }
                }
                '\'' => state = State::Single,
                '"' => state = State::Double,
                '\\' => {
                    let escaped = chars.next().ok_or(ArgsError::NoEscapedCharacter)?;
                    token.push(escaped);
                    state = State::Word;
                }
                c => {
                    token.push(c);
                    state = State::Word;
                }
            },
            State::Single => match c {
                '\'' => state = State::Word,
                c => token.push(c),
            },
            State::Double => match c {
                '"' => state = State::Word,
                '\\' => {
                    let escaped = chars.next().ok_or(ArgsError::NoEscapedCharacter)?;
                    // Inside double quotes a backslash only escapes `"` and itself.
                    if escaped != '"' && escaped != '\\' {
                        token.push('\\');
                    }
                    token.push(escaped);
                }
                c => token.push(c),
            },
        }
    }
    match state {
        State::Single | State::Double => Err(ArgsError::NoClosingQuotation),
        State::Word => {
            out.push(token);
            Ok(out)
        }
        State::Between => Ok(out),
    }
}

/// What pytest's command line says about collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CliArgs {
    /// Positional `file_or_dir` arguments (paths or node IDs), in order.
    pub positional: Vec<String>,
    /// `-k` (last one wins, like argparse's `store`).
    pub keyword: Option<String>,
    /// `-m`.
    pub markexpr: Option<String>,
    pub ignore: Vec<String>,
    pub ignore_glob: Vec<String>,
    pub deselect: Vec<String>,
    /// `-p NAME` plugin specs (including `no:NAME`).
    pub plugins: Vec<String>,
    pub doctest_modules: bool,
    pub doctest_glob: Vec<String>,
    pub collect_only: bool,
    pub config_file: Option<String>,
    pub rootdir: Option<String>,
    /// `-o name=value`, plus the ini overrides implied by `--strict*` flags.
    pub override_ini: Vec<String>,
    pub confcutdir: Option<String>,
    pub noconftest: bool,
    pub keep_duplicates: bool,
    pub collect_in_virtualenv: bool,
    pub pyargs: bool,
    pub continue_on_collection_errors: bool,
    /// Options pytest itself does not define (plugin options), verbatim.
    pub unknown: Vec<String>,
    /// What the terminal report options say (`addopts = -ra` shapes dx-py's report too).
    pub report: ReportArgs,
}

/// pytest's terminal report options, as its argparse parser leaves them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReportArgs {
    /// `-r`/`--report-chars` as given (the last one wins); `None`: pytest's default `fE`.
    pub chars: Option<String>,
    /// `--disable-warnings`: no warnings summary.
    pub disable_warnings: bool,
    /// `--no-fold-skipped`: one `-rs` line per skipped test.
    pub no_fold_skipped: bool,
    /// `--no-summary`: no FAILURES, ERRORS, warnings or short summary sections.
    pub no_summary: bool,
    /// `-v` adds one, `-q` takes one, `--verbosity=N` sets it.
    pub verbosity: i32,
    /// `--tb` (the last one wins).
    pub tbstyle: Option<String>,
    /// pytest's `maxfail`: `-x`/`--exitfirst` set 1, `--maxfail=N` sets N (0: no limit); the
    /// last one wins. `None`: neither was given.
    pub maxfail: Option<u32>,
    /// `--junitxml`/`--junit-xml` (the last one wins; empty: none), relative to the
    /// invocation directory.
    pub junit_xml: Option<String>,
}

/// How pytest's parser treats one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Flag,
    Value,
    /// argparse `nargs='?'`: takes the next token unless it looks like an option.
    OptionalValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Keyword,
    MarkExpr,
    Ignore,
    IgnoreGlob,
    Deselect,
    Plugin,
    DoctestModules,
    DoctestGlob,
    CollectOnly,
    ConfigFile,
    RootDir,
    OverrideIni,
    ConfCutDir,
    NoConftest,
    KeepDuplicates,
    CollectInVirtualenv,
    PyArgs,
    ContinueOnCollectionErrors,
    /// `--strict-markers` and friends set ini options.
    IniFlag(&'static str),
    ReportChars,
    DisableWarnings,
    NoFoldSkipped,
    NoSummary,
    Verbose,
    Quiet,
    Verbosity,
    TbStyle,
    ExitFirst,
    MaxFail,
    JunitXml,
    /// Known to pytest, irrelevant to collection.
    Other,
}

/// pytest 9.2's built-in options (from its argparse parser) with their arity.
const OPTIONS: &[(&str, Arity, Opt)] = &[
    ("-k", Arity::Value, Opt::Keyword),
    ("-m", Arity::Value, Opt::MarkExpr),
    ("--markers", Arity::Flag, Opt::Other),
    ("-x", Arity::Flag, Opt::ExitFirst),
    ("--exitfirst", Arity::Flag, Opt::ExitFirst),
    ("--maxfail", Arity::Value, Opt::MaxFail),
    (
        "--strict-config",
        Arity::Flag,
        Opt::IniFlag("strict_config"),
    ),
    (
        "--strict-markers",
        Arity::Flag,
        Opt::IniFlag("strict_markers"),
    ),
    ("--strict", Arity::Flag, Opt::IniFlag("strict")),
    ("-W", Arity::Value, Opt::Other),
    ("--pythonwarnings", Arity::Value, Opt::Other),
    ("--max-warnings", Arity::Value, Opt::Other),
    ("--collectonly", Arity::Flag, Opt::CollectOnly),
    ("--collect-only", Arity::Flag, Opt::CollectOnly),
    ("--co", Arity::Flag, Opt::CollectOnly),
    ("--pyargs", Arity::Flag, Opt::PyArgs),
    ("--ignore", Arity::Value, Opt::Ignore),
    ("--ignore-glob", Arity::Value, Opt::IgnoreGlob),
    ("--deselect", Arity::Value, Opt::Deselect),
    ("--confcutdir", Arity::Value, Opt::ConfCutDir),
    ("--noconftest", Arity::Flag, Opt::NoConftest),
    ("--keepduplicates", Arity::Flag, Opt::KeepDuplicates),
    ("--keep-duplicates", Arity::Flag, Opt::KeepDuplicates),
    (
        "--collect-in-virtualenv",
        Arity::Flag,
        Opt::CollectInVirtualenv,
    ),
    (
        "--continue-on-collection-errors",
        Arity::Flag,
        Opt::ContinueOnCollectionErrors,
    ),
    ("--import-mode", Arity::Value, Opt::Other),
    ("-c", Arity::Value, Opt::ConfigFile),
    ("--config-file", Arity::Value, Opt::ConfigFile),
    ("--rootdir", Arity::Value, Opt::RootDir),
    ("--basetemp", Arity::Value, Opt::Other),
    ("--durations", Arity::Value, Opt::Other),
    ("--durations-min", Arity::Value, Opt::Other),
    ("--fixtures", Arity::Flag, Opt::Other),
    ("--funcargs", Arity::Flag, Opt::Other),
    ("--fixtures-per-test", Arity::Flag, Opt::Other),
    ("-V", Arity::Flag, Opt::Other),
    ("--version", Arity::Flag, Opt::Other),
    ("-h", Arity::Flag, Opt::Other),
    ("--help", Arity::Flag, Opt::Other),
    ("-p", Arity::Value, Opt::Plugin),
    ("--disable-plugin-autoload", Arity::Flag, Opt::Other),
    ("--traceconfig", Arity::Flag, Opt::Other),
    ("--trace-config", Arity::Flag, Opt::Other),
    ("--debug", Arity::OptionalValue, Opt::Other),
    ("-o", Arity::Value, Opt::OverrideIni),
    ("--override-ini", Arity::Value, Opt::OverrideIni),
    ("-v", Arity::Flag, Opt::Verbose),
    ("--verbose", Arity::Flag, Opt::Verbose),
    ("--no-header", Arity::Flag, Opt::Other),
    ("--no-summary", Arity::Flag, Opt::NoSummary),
    ("--no-fold-skipped", Arity::Flag, Opt::NoFoldSkipped),
    ("--force-short-summary", Arity::Flag, Opt::Other),
    ("-q", Arity::Flag, Opt::Quiet),
    ("--quiet", Arity::Flag, Opt::Quiet),
    ("--verbosity", Arity::Value, Opt::Verbosity),
    ("-r", Arity::Value, Opt::ReportChars),
    ("--report-chars", Arity::Value, Opt::ReportChars),
    ("--disable-warnings", Arity::Flag, Opt::DisableWarnings),
    (
        "--disable-pytest-warnings",
        Arity::Flag,
        Opt::DisableWarnings,
    ),
    ("-l", Arity::Flag, Opt::Other),
    ("--showlocals", Arity::Flag, Opt::Other),
    ("--no-showlocals", Arity::Flag, Opt::Other),
    ("--tb", Arity::Value, Opt::TbStyle),
    ("--xfail-tb", Arity::Flag, Opt::Other),
    ("--show-capture", Arity::Value, Opt::Other),
    ("--fulltrace", Arity::Flag, Opt::Other),
    ("--full-trace", Arity::Flag, Opt::Other),
    ("--color", Arity::Value, Opt::Other),
    ("--code-highlight", Arity::Value, Opt::Other),
    ("--pdb", Arity::Flag, Opt::Other),
    ("--pdbcls", Arity::Value, Opt::Other),
    ("--trace", Arity::Flag, Opt::Other),
    ("--capture", Arity::Value, Opt::Other),
    ("-s", Arity::Flag, Opt::Other),
    ("--runxfail", Arity::Flag, Opt::Other),
    ("--pastebin", Arity::Value, Opt::Other),
    ("--assert", Arity::Value, Opt::Other),
    ("--junitxml", Arity::Value, Opt::JunitXml),
    ("--junit-xml", Arity::Value, Opt::JunitXml),
    ("--junitprefix", Arity::Value, Opt::Other),
    ("--junit-prefix", Arity::Value, Opt::Other),
    ("--doctest-modules", Arity::Flag, Opt::DoctestModules),
    ("--doctest-report", Arity::Value, Opt::Other),
    ("--doctest-glob", Arity::Value, Opt::DoctestGlob),
    ("--doctest-ignore-import-errors", Arity::Flag, Opt::Other),
    ("--doctest-continue-on-failure", Arity::Flag, Opt::Other),
    ("--lf", Arity::Flag, Opt::Other),
    ("--last-failed", Arity::Flag, Opt::Other),
    ("--ff", Arity::Flag, Opt::Other),
    ("--failed-first", Arity::Flag, Opt::Other),
    ("--nf", Arity::Flag, Opt::Other),
    ("--new-first", Arity::Flag, Opt::Other),
    ("--cache-show", Arity::OptionalValue, Opt::Other),
    ("--cache-clear", Arity::Flag, Opt::Other),
    ("--lfnf", Arity::Value, Opt::Other),
    ("--last-failed-no-failures", Arity::Value, Opt::Other),
    ("--setuponly", Arity::Flag, Opt::Other),
    ("--setup-only", Arity::Flag, Opt::Other),
    ("--setupshow", Arity::Flag, Opt::Other),
    ("--setup-show", Arity::Flag, Opt::Other),
    ("--setupplan", Arity::Flag, Opt::Other),
    ("--setup-plan", Arity::Flag, Opt::Other),
    ("--sw", Arity::Flag, Opt::Other),
    ("--stepwise", Arity::Flag, Opt::Other),
    ("--sw-skip", Arity::Flag, Opt::Other),
    ("--stepwise-skip", Arity::Flag, Opt::Other),
    ("--sw-reset", Arity::Flag, Opt::Other),
    ("--stepwise-reset", Arity::Flag, Opt::Other),
    ("--log-level", Arity::Value, Opt::Other),
    ("--log-format", Arity::Value, Opt::Other),
    ("--log-date-format", Arity::Value, Opt::Other),
    ("--log-cli-level", Arity::Value, Opt::Other),
    ("--log-cli-format", Arity::Value, Opt::Other),
    ("--log-cli-date-format", Arity::Value, Opt::Other),
    ("--log-file", Arity::Value, Opt::Other),
    ("--log-file-mode", Arity::Value, Opt::Other),
    ("--log-file-level", Arity::Value, Opt::Other),
    ("--log-file-format", Arity::Value, Opt::Other),
    ("--log-file-date-format", Arity::Value, Opt::Other),
    ("--log-auto-indent", Arity::Value, Opt::Other),
    ("--log-disable", Arity::Value, Opt::Other),
];

/// Widely used plugin options that take a value: without them, `-n 4` in `addopts` would make
/// `4` a path. pytest itself only knows them once the plugin is loaded.
pub const PLUGIN_OPTIONS_WITH_VALUE: &[&str] = &[
    "-n",
    "--numprocesses",
    "--maxprocesses",
    "--dist",
    "--timeout",
    "--timeout-method",
    "--cov-report",
    "--cov-config",
    "--cov-fail-under",
    "--reruns",
    "--reruns-delay",
    "--only-rerun",
    "--randomly-seed",
    "--hypothesis-seed",
    "--hypothesis-profile",
    "--benchmark-columns",
    "--benchmark-sort",
    "--ds",
    "--dc",
    "--asyncio-mode",
];

/// The arity of one of pytest's built-in options (`--name` or `-x`, no value attached), or
/// of a plugin option known to take a value ([`PLUGIN_OPTIONS_WITH_VALUE`]); `None`: an
/// option pytest itself does not define.
pub fn known_arity(name: &str) -> Option<Arity> {
    lookup(name).map(|(arity, _)| arity).or_else(|| {
        PLUGIN_OPTIONS_WITH_VALUE
            .contains(&name)
            .then_some(Arity::Value)
    })
}

fn lookup(name: &str) -> Option<(Arity, Opt)> {
    OPTIONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, a, o)| (*a, *o))
}

impl CliArgs {
    /// Read `tokens` the way pytest's argparse parser would (no abbreviations: pytest disables
    /// them), appending to `self` so several sources can be layered in pytest's order.
    pub fn extend_from(&mut self, tokens: &[String]) -> Result<(), ArgsError> {
        let mut i = 0;
        let mut only_positional = false;
        while i < tokens.len() {
            let token = &tokens[i];
            i += 1;
            if only_positional
                || token == "-"
                || !token.starts_with('-')
                || looks_negative_number(token)
            {
                self.positional.push(token.clone());
                continue;
            }
            if token == "--" {
                only_positional = true;
                continue;
            }
            if let Some(long) = token.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                    None => (token.clone(), None),
                };
                match lookup(&name) {
                    Some((arity, opt)) => {
                        let value = take_value(&name, arity, inline, tokens, &mut i)?;
                        self.apply(opt, value);
                    }
                    None => self.keep_unknown(token, inline.is_some(), &name, tokens, &mut i),
                }
                continue;
            }
            // Short options: `-k expr`, `-kexpr`, and clusters like `-vxk expr`.
            let body: Vec<char> = token.chars().skip(1).collect();
            let mut j = 0;
            while j < body.len() {
                let name = format!("-{}", body[j]);
                let rest: String = body[j + 1..].iter().collect();
                match lookup(&name) {
                    Some((Arity::Flag, opt)) => {
                        self.apply(opt, None);
                        j += 1;
                    }
                    Some((arity, opt)) => {
                        let inline =
                            (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_string());
                        let value = take_value(&name, arity, inline, tokens, &mut i)?;
                        self.apply(opt, value);
                        break;
                    }
                    None => {
                        let inline = !rest.is_empty();
                        self.keep_unknown(token, inline, &name, tokens, &mut i);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn keep_unknown(
        &mut self,
        token: &str,
        has_inline_value: bool,
        name: &str,
        tokens: &[String],
        i: &mut usize,
    ) {
        self.unknown.push(token.to_string());
        if !has_inline_value && PLUGIN_OPTIONS_WITH_VALUE.contains(&name) {
            if let Some(value) = tokens.get(*i) {
                self.unknown.push(value.clone());
                *i += 1;
            }
        }
    }

    fn apply(&mut self, opt: Opt, value: Option<String>) {
        let value_or_empty = || value.clone().unwrap_or_default();
        match opt {
            Opt::Keyword => self.keyword = Some(value_or_empty()),
            Opt::MarkExpr => self.markexpr = Some(value_or_empty()),
            Opt::Ignore => self.ignore.push(value_or_empty()),
            Opt::IgnoreGlob => self.ignore_glob.push(value_or_empty()),
            Opt::Deselect => self.deselect.push(value_or_empty()),
            Opt::Plugin => self.plugins.push(value_or_empty()),
            Opt::DoctestModules => self.doctest_modules = true,
            Opt::DoctestGlob => self.doctest_glob.push(value_or_empty()),
            Opt::CollectOnly => self.collect_only = true,
            Opt::ConfigFile => self.config_file = Some(value_or_empty()),
            Opt::RootDir => self.rootdir = Some(value_or_empty()),
            Opt::OverrideIni => self.override_ini.push(value_or_empty()),
            Opt::ConfCutDir => self.confcutdir = Some(value_or_empty()),
            Opt::NoConftest => self.noconftest = true,
            Opt::KeepDuplicates => self.keep_duplicates = true,
            Opt::CollectInVirtualenv => self.collect_in_virtualenv = true,
            Opt::PyArgs => self.pyargs = true,
            Opt::ContinueOnCollectionErrors => self.continue_on_collection_errors = true,
            Opt::IniFlag(name) => self.override_ini.push(format!("{name}=true")),
            Opt::ReportChars => self.report.chars = Some(value_or_empty()),
            Opt::DisableWarnings => self.report.disable_warnings = true,
            Opt::NoFoldSkipped => self.report.no_fold_skipped = true,
            Opt::NoSummary => self.report.no_summary = true,
            Opt::Verbose => self.report.verbosity += 1,
            Opt::Quiet => self.report.verbosity -= 1,
            // A bad number is pytest's usage error; here it changes nothing.
            Opt::Verbosity => {
                self.report.verbosity = value_or_empty().parse().unwrap_or(self.report.verbosity)
            }
            Opt::TbStyle => self.report.tbstyle = Some(value_or_empty()),
            Opt::ExitFirst => self.report.maxfail = Some(1),
            // As with --verbosity, a bad number (pytest's usage error) changes nothing.
            Opt::MaxFail => {
                if let Ok(n) = value_or_empty().parse() {
                    self.report.maxfail = Some(n);
                }
            }
            Opt::JunitXml => self.report.junit_xml = Some(value_or_empty()),
            Opt::Other => {}
        }
    }
}

fn looks_negative_number(token: &str) -> bool {
    token.len() > 1
        && token[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        && token[1..].starts_with(|c: char| c.is_ascii_digit())
}

fn take_value(
    name: &str,
    arity: Arity,
    inline: Option<String>,
    tokens: &[String],
    i: &mut usize,
) -> Result<Option<String>, ArgsError> {
    match arity {
        Arity::Flag => Ok(None),
        _ if inline.is_some() => Ok(inline),
        Arity::Value => match tokens.get(*i) {
            // argparse refuses an option-looking token as a value.
            Some(next)
                if !(next.starts_with('-') && next.len() > 1 && !looks_negative_number(next)) =>
            {
                *i += 1;
                Ok(Some(next.clone()))
            }
            _ => Err(ArgsError::MissingValue {
                option: name.to_string(),
            }),
        },
        Arity::OptionalValue => match tokens.get(*i) {
            Some(next) if !next.starts_with('-') => {
                *i += 1;
                Ok(Some(next.clone()))
            }
            _ => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn shlex_matches_python() {
        assert_eq!(
            shlex_split("-k 'a and b' \"x\\\"y\" c\\ d").expect("ok"),
            s(&["-k", "a and b", "x\"y", "c d"])
        );
        assert_eq!(shlex_split("a '' b").expect("ok"), s(&["a", "", "b"]));
        assert_eq!(shlex_split("\"a\\b\"").expect("ok"), s(&["a\\b"]));
        assert_eq!(shlex_split("#x y").expect("ok"), s(&["#x", "y"]));
        assert_eq!(shlex_split("  ").expect("ok"), Vec::<String>::new());
        assert_eq!(shlex_split("'open"), Err(ArgsError::NoClosingQuotation));
        assert_eq!(shlex_split("\"open"), Err(ArgsError::NoClosingQuotation));
        assert_eq!(
            shlex_split("trailing\\"),
            Err(ArgsError::NoEscapedCharacter)
        );
    }

    #[test]
    fn values_are_skipped_and_collection_options_recorded() {
        let mut args = CliArgs::default();
        args.extend_from(&s(&[
            "-q",
            "--tb",
            "short",
            "-kfoo",
            "-m",
            "slow",
            "--ignore=a",
            "--ignore-glob",
            "*.x",
            "--deselect",
            "t.py::f",
            "-p",
            "no:cacheprovider",
            "-vxk",
            "bar",
            "--co",
            "--doctest-modules",
            "tests",
            "--log-level",
            "DEBUG",
            "-W",
            "error",
            "-r",
            "a",
            "-ofoo=bar",
            "--strict-markers",
            "--",
            "-notanoption",
        ]))
        .expect("parses");
        assert_eq!(args.positional, s(&["tests", "-notanoption"]));
        assert_eq!(args.keyword.as_deref(), Some("bar"));
        assert_eq!(args.markexpr.as_deref(), Some("slow"));
        assert_eq!(args.ignore, s(&["a"]));
        assert_eq!(args.ignore_glob, s(&["*.x"]));
        assert_eq!(args.deselect, s(&["t.py::f"]));
        assert_eq!(args.plugins, s(&["no:cacheprovider"]));
        assert_eq!(args.override_ini, s(&["foo=bar", "strict_markers=true"]));
        assert!(args.collect_only && args.doctest_modules);
        assert_eq!(
            args.report,
            ReportArgs {
                chars: Some("a".into()),
                verbosity: 0,
                tbstyle: Some("short".into()),
                // the `x` of `-vxk`
                maxfail: Some(1),
                ..ReportArgs::default()
            }
        );
    }

    #[test]
    fn report_options_layer_like_argparse() {
        let mut args = CliArgs::default();
        // addopts first, then the command line: counts add up, the last value wins.
        args.extend_from(&s(&["-ra", "-vv", "--tb=line", "--disable-warnings"]))
            .expect("parses");
        args.extend_from(&s(&[
            "-qrfE",
            "--report-chars",
            "sx",
            "--no-fold-skipped",
            "--no-summary",
            "--tb",
            "no",
            "--junitxml",
            "a.xml",
            "--junit-xml=b.xml",
        ]))
        .expect("parses");
        assert_eq!(
            args.report,
            ReportArgs {
                chars: Some("sx".into()),
                disable_warnings: true,
                no_fold_skipped: true,
                no_summary: true,
                verbosity: 1,
                tbstyle: Some("no".into()),
                maxfail: None,
                junit_xml: Some("b.xml".into()),
            }
        );
        let mut args = CliArgs::default();
        args.extend_from(&s(&[
            "-v",
            "--verbosity=-1",
            "-v",
            "--disable-pytest-warnings",
        ]))
        .expect("parses");
        assert_eq!(args.report.verbosity, 0);
        assert!(args.report.disable_warnings);
        // `-x` is `--maxfail=1`; the last of them wins, `0` included (no limit).
        let maxfail = |tokens: &[&str]| {
            let mut args = CliArgs::default();
            args.extend_from(&s(tokens)).expect("parses");
            args.report.maxfail
        };
        assert_eq!(maxfail(&[]), None);
        assert_eq!(maxfail(&["-x"]), Some(1));
        assert_eq!(maxfail(&["-xq"]), Some(1));
        assert_eq!(maxfail(&["--maxfail", "3"]), Some(3));
        assert_eq!(maxfail(&["-x", "--maxfail=0"]), Some(0));
        assert_eq!(maxfail(&["--maxfail=2", "--exitfirst"]), Some(1));
        assert_eq!(maxfail(&["--maxfail=2", "--maxfail=lots"]), Some(2));
    }

    #[test]
    fn unknown_options_are_kept_without_consuming_values() {
        let mut args = CliArgs::default();
        args.extend_from(&s(&[
            "--my-plugin-flag",
            "tests",
            "-n",
            "4",
            "--timeout=5",
            "-Zq",
        ]))
        .expect("parses");
        assert_eq!(args.positional, s(&["tests"]));
        assert_eq!(
            args.unknown,
            s(&["--my-plugin-flag", "-n", "4", "--timeout=5", "-Zq"])
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        let mut args = CliArgs::default();
        assert_eq!(
            args.extend_from(&s(&["-k"])),
            Err(ArgsError::MissingValue {
                option: "-k".into()
            })
        );
        assert_eq!(
            args.extend_from(&s(&["--ignore", "-q"])),
            Err(ArgsError::MissingValue {
                option: "--ignore".into()
            })
        );
    }
}
