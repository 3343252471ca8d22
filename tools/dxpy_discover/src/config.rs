//! pytest configuration: rootdir and inifile resolution and the options that shape collection.
//!
//! Layout:
//! - [`locate`]: finding the config file and rootdir (pytest's `findpaths`), loading values.
//! - [`ini`]: the INI dialect pytest reads (`iniconfig`).
//! - [`args`]: pytest's command line (and `shlex.split` for `addopts`), reduced to what
//!   matters for collection.
//! - [`pattern`]: `fnmatch`, `glob` and lexical path normalisation as pytest uses them.
//! - this file: [`load`] ties them together in pytest's order (`PYTEST_ADDOPTS`, config file,
//!   `addopts`, `-o` overrides) and converts values to their registered types.

pub mod args;
pub mod ini;
pub mod locate;
pub mod pattern;

use std::path::{Path, PathBuf};

pub use args::{shlex_split, ArgsError, CliArgs, ReportArgs};
use locate::{ConfigDict, RawValue};

use crate::options::NameRules;
// The option values live in the leaf [`crate::options`] (analysis reads them too).
pub use crate::options::{EmptyParameterSetMark, LongStrIdStrategy};

/// A configuration problem pytest reports as a usage error (exit code 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}", path = path.display())]
    Io { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}", path = path.display())]
    IniSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}", path = path.display())]
    TomlSyntax { path: PathBuf, message: String },
    /// A value of the wrong type or shape; `origin` is the config file, or where else the value
    /// came from (`-o`).
    #[error("{origin}: config option '{key}' {message}")]
    BadValue {
        origin: String,
        key: String,
        message: String,
    },
    /// Command-line arguments that cannot be read (`origin`: "command line", "PYTEST_ADDOPTS",
    /// or "<file>: addopts").
    #[error("{origin}: {error}")]
    Args { origin: String, error: ArgsError },
    #[error("{0}")]
    Usage(String),
}

/// What to load: the invocation as pytest would see it.
#[derive(Debug, Clone, Default)]
pub struct ConfigRequest {
    /// The working directory pytest is invoked from (absolute).
    pub invocation_dir: PathBuf,
    /// Command-line arguments, pytest syntax.
    pub args: Vec<String>,
    /// The `PYTEST_ADDOPTS` environment variable, if set.
    pub env_addopts: Option<String>,
}

impl ConfigRequest {
    /// The invocation as the process sees it: current directory and `PYTEST_ADDOPTS`.
    pub fn from_process(args: Vec<String>) -> std::io::Result<ConfigRequest> {
        Ok(ConfigRequest {
            invocation_dir: std::env::current_dir()?,
            args,
            env_addopts: std::env::var("PYTEST_ADDOPTS").ok(),
        })
    }
}

/// Where the initial collection arguments came from (pytest's `Config.ArgsSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsSource {
    Args,
    Testpaths,
    InvocationDir,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub invocation_dir: PathBuf,
    pub rootdir: PathBuf,
    pub inifile: Option<PathBuf>,
    /// Other config files next to `inifile` that also held pytest config (pytest warns).
    pub ignored_config_files: Vec<String>,
    /// All arguments: `addopts`, then `PYTEST_ADDOPTS`, then the command line.
    pub args: CliArgs,
    /// The initial collection arguments after pytest's `_decide_args`.
    pub initial_args: Vec<String>,
    pub args_source: ArgsSource,
    pub testpaths: Vec<String>,
    /// The `pythonpath` ini option: absolute directories pytest puts first on `sys.path`
    /// (relative entries are relative to the inifile's directory).
    pub pythonpath: Vec<PathBuf>,
    pub python_files: Vec<String>,
    pub name_rules: NameRules,
    pub norecursedirs: Vec<String>,
    pub markers: Vec<String>,
    pub disable_id_escaping: bool,
    pub empty_parameter_set_mark: EmptyParameterSetMark,
    pub collect_imported_tests: bool,
    pub consider_namespace_packages: bool,
    pub strict: bool,
    pub strict_markers: Option<bool>,
    pub strict_parametrization_ids: Option<bool>,
    pub long_str_id_strategy: LongStrIdStrategy,
    /// Conftests above this directory are not loaded (`--confcutdir`, else the inifile's
    /// directory, else rootdir).
    pub confcutdir: PathBuf,
}

/// pytest's default `norecursedirs`.
pub const DEFAULT_NORECURSEDIRS: &[&str] = &[
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
];
/// pytest's default `python_files`.
pub const DEFAULT_PYTHON_FILES: &[&str] = &["test_*.py", "*_test.py"];

/// The registered type of an ini option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IniType {
    Args,
    LineList,
    Bool,
    Literal(&'static [&'static str]),
}

impl IniType {
    fn name(self) -> &'static str {
        match self {
            IniType::Args => "args",
            IniType::LineList => "linelist",
            IniType::Bool => "bool",
            IniType::Literal(_) => "string",
        }
    }
}

/// A converted value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Typed {
    List(Vec<String>),
    Bool(bool),
    Text(String),
}

/// Reads values out of the merged [`ConfigDict`] with pytest's `getini` conversions.
struct Values<'a> {
    dict: &'a ConfigDict,
    inifile: Option<&'a Path>,
}

impl Values<'_> {
    fn source_of(&self, from_override: bool) -> String {
        match (from_override, self.inifile) {
            (true, _) => "-o/--override-ini".into(),
            (false, Some(p)) => p.display().to_string(),
            (false, None) => "None".into(),
        }
    }

    fn get(&self, key: &str, ty: IniType) -> Result<Option<Typed>, ConfigError> {
        let Some(entry) = self.dict.get(key) else {
            return Ok(None);
        };
        let bad = |message: String| ConfigError::BadValue {
            origin: self.source_of(entry.from_override),
            key: key.to_string(),
            message,
        };
        let strings = |items: &[toml::Value]| -> Result<Vec<String>, ConfigError> {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(bad(format!(
                        "expects a list of strings, but item at index {i} is {}: {}",
                        toml_type(other),
                        py_value(other)
                    ))),
                })
                .collect()
        };
        let typed = match (&entry.value, ty) {
            (RawValue::IniText(text), IniType::Args) => Typed::List(
                shlex_split(text)
                    .map_err(|e| bad(format!("cannot be split into arguments: {e}")))?,
            ),
            (RawValue::IniText(text), IniType::LineList) => Typed::List(
                text.split('\n')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            (RawValue::IniText(text), IniType::Bool) => {
                Typed::Bool(strtobool(text.trim()).ok_or_else(|| {
                    bad(format!(
                        "invalid truth value {}",
                        ini::py_repr(&text.trim().to_lowercase())
                    ))
                })?)
            }
            (RawValue::IniList(items), IniType::Args | IniType::LineList) => {
                Typed::List(strings(items)?)
            }
            (RawValue::IniList(items), IniType::Bool) => {
                // pytest applies `str()` to the list, which is never a truth value.
                return Err(bad(format!(
                    "invalid truth value for a list: {}",
                    toml::Value::Array(items.clone())
                )));
            }
            (RawValue::Toml(toml::Value::Array(items)), IniType::Args | IniType::LineList) => {
                Typed::List(strings(items)?)
            }
            (RawValue::Toml(toml::Value::Boolean(b)), IniType::Bool) => Typed::Bool(*b),
            (RawValue::Toml(other), IniType::Args | IniType::LineList) => {
                return Err(bad(format!(
                    "expects a list for type '{}', got {}: {}",
                    ty.name(),
                    toml_type(other),
                    py_value(other)
                )));
            }
            (RawValue::Toml(other), IniType::Bool) => {
                return Err(bad(format!(
                    "expects a bool, got {}: {}",
                    toml_type(other),
                    py_value(other)
                )))
            }
            (
                RawValue::IniText(text) | RawValue::Toml(toml::Value::String(text)),
                IniType::Literal(choices),
            ) => {
                if !choices.contains(&text.as_str()) {
                    let options: Vec<String> = choices.iter().map(|c| ini::py_repr(c)).collect();
                    return Err(bad(format!(
                        "expects one of {}, got {}",
                        options.join(" | "),
                        ini::py_repr(text)
                    )));
                }
                Typed::Text(text.clone())
            }
            (RawValue::IniList(items), IniType::Literal(_)) => {
                return Err(bad(format!(
                    "expects a string, got list: {}",
                    toml::Value::Array(items.clone())
                )));
            }
            (RawValue::Toml(other), IniType::Literal(_)) => {
                return Err(bad(format!(
                    "expects a string, got {}: {}",
                    toml_type(other),
                    py_value(other)
                )))
            }
        };
        Ok(Some(typed))
    }

    fn list(&self, key: &str, ty: IniType, default: &[&str]) -> Result<Vec<String>, ConfigError> {
        Ok(match self.get(key, ty)? {
            Some(Typed::List(v)) => v,
            _ => default.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        Ok(match self.get(key, IniType::Bool)? {
            Some(Typed::Bool(b)) => Some(b),
            _ => None,
        })
    }

    fn literal(
        &self,
        key: &str,
        choices: &'static [&'static str],
    ) -> Result<Option<String>, ConfigError> {
        Ok(match self.get(key, IniType::Literal(choices))? {
            Some(Typed::Text(t)) => Some(t),
            _ => None,
        })
    }
}

/// Python's `repr()` of a decoded TOML value, for messages.
fn py_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => ini::py_repr(s),
        toml::Value::Boolean(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        toml::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn toml_type(value: &toml::Value) -> &'static str {
    // Python type names, as pytest's messages use them.
    match value {
        toml::Value::String(_) => "str",
        toml::Value::Integer(_) => "int",
        toml::Value::Float(_) => "float",
        toml::Value::Boolean(_) => "bool",
        toml::Value::Datetime(_) => "datetime",
        toml::Value::Array(_) => "list",
        toml::Value::Table(_) => "dict",
    }
}

/// pytest's `_strtobool`.
fn strtobool(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn split_args(text: &str, source: &str) -> Result<Vec<String>, ConfigError> {
    shlex_split(text).map_err(|error| ConfigError::Args {
        origin: source.to_string(),
        error,
    })
}

fn read_args(tokens: &[String], source: &str) -> Result<CliArgs, ConfigError> {
    let mut args = CliArgs::default();
    args.extend_from(tokens)
        .map_err(|error| ConfigError::Args {
            origin: source.to_string(),
            error,
        })?;
    Ok(args)
}

/// Load the configuration the way pytest 9.2 does for this invocation.
pub fn load(request: &ConfigRequest) -> Result<Config, ConfigError> {
    let invocation_dir = pattern::absolute(Path::new("/"), &request.invocation_dir);
    let early_tokens = command_line_tokens(request)?;
    let early = read_args(&early_tokens, "command line")?;
    let setup = locate::determine_setup(
        early.config_file.as_deref(),
        &early.positional,
        early.rootdir.as_deref(),
        &invocation_dir,
    )?;
    let mut dict = setup.values.clone();
    dict.extend(locate::parse_overrides(&early.override_ini)?);
    let args = read_args_with_addopts(&dict, setup.inifile.as_deref(), early_tokens)?;
    // Overrides coming from addopts apply too (one level only, like pytest).
    dict.extend(locate::parse_overrides(&args.override_ini)?);

    let values = Values {
        dict: &dict,
        inifile: setup.inifile.as_deref(),
    };
    let testpaths = values.list("testpaths", IniType::Args, &[])?;
    let python_files = values.list("python_files", IniType::Args, DEFAULT_PYTHON_FILES)?;
    let pythonpath = pythonpath(&values, &setup)?;
    let classes = values.list("python_classes", IniType::Args, &["Test"])?;
    let functions = values.list("python_functions", IniType::Args, &["test"])?;
    let norecursedirs = values.list("norecursedirs", IniType::Args, DEFAULT_NORECURSEDIRS)?;
    let markers = values.list("markers", IniType::LineList, &[])?;
    let disable_id_escaping = values
        .opt_bool("disable_test_id_escaping_and_forfeit_all_rights_to_community_support")?
        .unwrap_or(false);
    let empty_parameter_set_mark = empty_parameter_set_mark(&values)?;
    let long_str_id_strategy = long_str_id_strategy(&values)?;
    let collect_imported_tests = values.opt_bool("collect_imported_tests")?.unwrap_or(true);
    let consider_namespace_packages = values
        .opt_bool("consider_namespace_packages")?
        .unwrap_or(false);
    let strict = values.opt_bool("strict")?.unwrap_or(false);
    let strict_markers = values.opt_bool("strict_markers")?;
    let strict_parametrization_ids = values.opt_bool("strict_parametrization_ids")?;
    let confcutdir = confcutdir(&args, &invocation_dir, &setup)?;

    let (initial_args, args_source) =
        decide_args(&args, &testpaths, &invocation_dir, &setup.rootdir);
    Ok(Config {
        invocation_dir,
        rootdir: setup.rootdir,
        inifile: setup.inifile,
        ignored_config_files: setup.ignored_config_files,
        args,
        initial_args,
        args_source,
        testpaths,
        pythonpath,
        python_files,
        name_rules: NameRules { classes, functions },
        norecursedirs,
        markers,
        disable_id_escaping,
        empty_parameter_set_mark,
        collect_imported_tests,
        consider_namespace_packages,
        strict,
        strict_markers,
        strict_parametrization_ids,
        long_str_id_strategy,
        confcutdir,
    })
}

/// The command line as pytest reads it before finding the config file: `PYTEST_ADDOPTS`
/// first, then the arguments.
fn command_line_tokens(request: &ConfigRequest) -> Result<Vec<String>, ConfigError> {
    let mut tokens = match request.env_addopts.as_deref().filter(|s| !s.is_empty()) {
        Some(env) => split_args(env, "PYTEST_ADDOPTS")?,
        None => Vec::new(),
    };
    tokens.extend(request.args.iter().cloned());
    Ok(tokens)
}

/// The final command line: the config file's `addopts` go before everything else.
fn read_args_with_addopts(
    dict: &ConfigDict,
    inifile: Option<&Path>,
    early_tokens: Vec<String>,
) -> Result<CliArgs, ConfigError> {
    let addopts_source = format!(
        "{}: addopts",
        inifile.map_or("None".into(), |p| p.display().to_string())
    );
    let addopts = Values { dict, inifile }.list("addopts", IniType::Args, &[])?;
    let mut all_tokens = addopts.clone();
    all_tokens.extend(early_tokens);
    read_args(
        &all_tokens,
        if addopts.is_empty() {
            "command line"
        } else {
            &addopts_source
        },
    )
}

/// `pythonpath`, pytest's "paths" ini type: split like args, joined to the inifile's directory.
fn pythonpath(values: &Values<'_>, setup: &locate::Setup) -> Result<Vec<PathBuf>, ConfigError> {
    let ini_dir = setup
        .inifile
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(&setup.rootdir)
        .to_path_buf();
    Ok(values
        .list("pythonpath", IniType::Args, &[])?
        .iter()
        .map(|entry| pattern::absolute(&ini_dir, Path::new(entry)))
        .collect())
}

fn empty_parameter_set_mark(values: &Values<'_>) -> Result<EmptyParameterSetMark, ConfigError> {
    Ok(
        match values
            .literal(
                "empty_parameter_set_mark",
                &["skip", "xfail", "fail_at_collect"],
            )?
            .as_deref()
        {
            Some("xfail") => EmptyParameterSetMark::Xfail,
            Some("fail_at_collect") => EmptyParameterSetMark::FailAtCollect,
            _ => EmptyParameterSetMark::Skip,
        },
    )
}

fn long_str_id_strategy(values: &Values<'_>) -> Result<LongStrIdStrategy, ConfigError> {
    Ok(
        match values
            .literal(
                "parametrize_long_str_id_strategy",
                &["short", "sha256", "legacy", "disallow"],
            )?
            .as_deref()
        {
            Some("sha256") => LongStrIdStrategy::Sha256,
            Some("legacy") => LongStrIdStrategy::Legacy,
            Some("disallow") => LongStrIdStrategy::Disallow,
            _ => LongStrIdStrategy::Short,
        },
    )
}

/// `--confcutdir` (which must exist), else the inifile's directory, else the rootdir.
fn confcutdir(
    args: &CliArgs,
    invocation_dir: &Path,
    setup: &locate::Setup,
) -> Result<PathBuf, ConfigError> {
    match &args.confcutdir {
        Some(dir) => {
            let dir = pattern::absolute(invocation_dir, Path::new(dir));
            if !dir.is_dir() {
                return Err(ConfigError::Usage(format!(
                    "argument --confcutdir: must be a directory, given: {}",
                    dir.display()
                )));
            }
            Ok(dir)
        }
        None => Ok(match &setup.inifile {
            Some(ini) => ini
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| setup.rootdir.clone()),
            None => setup.rootdir.clone(),
        }),
    }
}

fn decide_args(
    args: &CliArgs,
    testpaths: &[String],
    invocation_dir: &Path,
    rootdir: &Path,
) -> (Vec<String>, ArgsSource) {
    if !args.positional.is_empty() {
        return (args.positional.clone(), ArgsSource::Args);
    }
    if invocation_dir == rootdir {
        let found: Vec<String> = if args.pyargs {
            testpaths.to_vec()
        } else {
            testpaths
                .iter()
                .flat_map(|p| pattern::glob(invocation_dir, p))
                .collect()
        };
        if !found.is_empty() {
            return (found, ArgsSource::Testpaths);
        }
    }
    (
        vec![invocation_dir.display().to_string()],
        ArgsSource::InvocationDir,
    )
}

impl Config {
    /// The registered marker names (`markers` lines, name before `:` or `(`).
    pub fn marker_names(&self) -> Vec<String> {
        self.markers
            .iter()
            .map(|line| {
                line.split(':')
                    .next()
                    .unwrap_or("")
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .collect()
    }

    /// Whether unknown `-m` names are errors (`strict_markers`, falling back to `strict`).
    pub fn strict_markers(&self) -> bool {
        self.strict_markers.unwrap_or(self.strict)
    }

    /// A digest of everything that changes what analysing one file yields, used to key the
    /// index: a different fingerprint means no cached entry may be reused.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        let mut field = |name: &str, value: &str| {
            // Length-prefixed so that no two different configurations hash the same bytes.
            for part in [name, value] {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        };
        field("schema", "dxpy-discover-config-1");
        // Another build of the analyser may produce other results for the same files.
        field("analyzer", env!("DXPY_ANALYZER_HASH"));
        field("rootdir", &self.rootdir.to_string_lossy());
        field("python_classes", &self.name_rules.classes.join("\0"));
        field("python_functions", &self.name_rules.functions.join("\0"));
        field("disable_id_escaping", &self.disable_id_escaping.to_string());
        field(
            "empty_parameter_set_mark",
            self.empty_parameter_set_mark.as_str(),
        );
        field(
            "long_str_id_strategy",
            &format!("{:?}", self.long_str_id_strategy),
        );
        field(
            "strict_parametrization_ids",
            &format!(
                "{:?}",
                self.strict_parametrization_ids.unwrap_or(self.strict)
            ),
        );
        field(
            "collect_imported_tests",
            &self.collect_imported_tests.to_string(),
        );
        field("doctest_modules", &self.args.doctest_modules.to_string());
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn load_in(dir: &Path, ini: &str, args: &[&str]) -> Config {
        std::fs::write(dir.join("pytest.ini"), ini).expect("write");
        load(&ConfigRequest {
            invocation_dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env_addopts: None,
        })
        .expect("config")
    }

    #[test]
    fn fingerprint_tracks_analysis_relevant_options_only() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = load_in(tmp.path(), "[pytest]\n", &[]).fingerprint();
        assert_eq!(base, load_in(tmp.path(), "[pytest]\n", &[]).fingerprint());
        // Selection options do not change per-file analysis.
        assert_eq!(
            base,
            load_in(
                tmp.path(),
                "[pytest]\naddopts = -k foo -m bar --deselect x\n",
                &[]
            )
            .fingerprint()
        );
        for changed in [
            "[pytest]\npython_classes = Check\n",
            "[pytest]\npython_functions = check\n",
            "[pytest]\ndisable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n",
            "[pytest]\nempty_parameter_set_mark = xfail\n",
            "[pytest]\nparametrize_long_str_id_strategy = sha256\n",
            "[pytest]\nstrict = true\n",
            "[pytest]\ncollect_imported_tests = false\n",
        ] {
            assert_ne!(base, load_in(tmp.path(), changed, &[]).fingerprint(), "{changed}");
        }
        assert_ne!(
            base,
            load_in(tmp.path(), "[pytest]\n", &["--doctest-modules"]).fingerprint()
        );
    }

    #[test]
    fn pythonpath_entries_are_relative_to_the_inifile() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sub = tmp.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        let config = load_in(&sub, "[pytest]\npythonpath = src ../lib /abs\n", &[]);
        assert_eq!(
            config.pythonpath,
            vec![
                sub.join("src"),
                tmp.path().join("lib"),
                PathBuf::from("/abs")
            ]
        );
        assert!(load_in(&sub, "[pytest]\n", &[]).pythonpath.is_empty());
    }

    #[test]
    fn addopts_order_is_ini_then_env_then_command_line() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            tmp.path().join("pytest.ini"),
            "[pytest]\naddopts = -k from_ini --ignore=a\n",
        )
        .expect("write");
        let config = load(&ConfigRequest {
            invocation_dir: tmp.path().to_path_buf(),
            args: vec!["-k".into(), "from_cli".into()],
            env_addopts: Some("-k from_env --ignore=b".into()),
        })
        .expect("config");
        assert_eq!(config.args.keyword.as_deref(), Some("from_cli"));
        assert_eq!(config.args.ignore, vec!["a".to_string(), "b".to_string()]);
    }

    proptest! {
        #[test]
        fn ini_parser_never_panics(text in "[\\[\\]a-z=:#; \\n\\t]{0,64}") {
            let _ = ini::parse(&text);
        }

        /// Quoting every token and splitting gives the tokens back.
        #[test]
        fn shlex_split_inverts_quoting(tokens in proptest::collection::vec("[a-z \"'\\\\$-]{0,8}", 0..5)) {
            let quoted: Vec<String> = tokens.iter().map(|t| format!("'{}'", t.replace('\'', "'\"'\"'"))).collect();
            prop_assert_eq!(shlex_split(&quoted.join(" ")).expect("balanced"), tokens);
        }
    }
}
