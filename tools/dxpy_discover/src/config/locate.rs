//! Finding and loading pytest's configuration file, and the rootdir (pytest's `findpaths`).
//!
//! The search order, the loaders per file name and the fallbacks (`setup.py`, the args'
//! directories, the invocation dir) follow pytest 9.2. Loaded values keep their mode:
//! [`ValueMode::Ini`] values are strings or lists of strings, [`ValueMode::Toml`] values keep
//! native TOML types and are type-checked strictly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ini;
use super::pattern::absolute;
use super::ConfigError;

/// Whether a value came from a string-based source (INI files, `[tool.pytest.ini_options]`,
/// `-o`) or from a native TOML table (`[tool.pytest]`, `[pytest]` in `pytest.toml`).
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// INI mode, scalar.
    IniText(String),
    /// INI mode, a list from `[tool.pytest.ini_options]` (kept as TOML values: pytest does not
    /// check the items).
    IniList(Vec<toml::Value>),
    /// TOML mode.
    Toml(toml::Value),
}

/// One configuration value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigValue {
    pub value: RawValue,
    /// Set by `-o`/`--override-ini` (and `--strict*` flags): these win over the file.
    pub from_override: bool,
}

pub type ConfigDict = BTreeMap<String, ConfigValue>;

/// The result of the search: rootdir, the file the config came from, its values, and the
/// names of other config files in the same directory that were ignored.
#[derive(Debug, Clone)]
pub struct Setup {
    pub rootdir: PathBuf,
    pub inifile: Option<PathBuf>,
    pub values: ConfigDict,
    pub ignored_config_files: Vec<String>,
}

/// The loaders of files pytest finds by name, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loader {
    PytestToml,
    PytestIni,
    PyprojectToml,
    ToxIni,
    SetupCfg,
    CustomToml,
}

const CONFIG_NAMES: &[(&str, Loader)] = &[
    ("pytest.toml", Loader::PytestToml),
    (".pytest.toml", Loader::PytestToml),
    ("pytest.ini", Loader::PytestIni),
    (".pytest.ini", Loader::PytestIni),
    ("pyproject.toml", Loader::PyprojectToml),
    ("tox.ini", Loader::ToxIni),
    ("setup.cfg", Loader::SetupCfg),
];

fn loader_for(path: &Path) -> Option<Loader> {
    let name = path.file_name()?.to_string_lossy();
    if let Some((_, loader)) = CONFIG_NAMES.iter().find(|(n, _)| *n == name) {
        return Some(*loader);
    }
    match path.extension()?.to_str()? {
        "ini" => Some(Loader::ToxIni),
        "cfg" => Some(Loader::SetupCfg),
        "toml" => Some(Loader::CustomToml),
        _ => None,
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| ConfigError::Io {
        path: path.to_path_buf(),
        message: format!("not valid UTF-8: {e}"),
    })
}

fn parse_ini_file(path: &Path) -> Result<ini::IniDocument, ConfigError> {
    ini::parse(&read_text(path)?).map_err(|e| ConfigError::IniSyntax {
        path: path.to_path_buf(),
        line: e.line + 1,
        message: e.message,
    })
}

fn parse_toml_file(path: &Path) -> Result<toml::Table, ConfigError> {
    read_text(path)?
        .parse::<toml::Table>()
        .map_err(|e| ConfigError::TomlSyntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
}

fn ini_section(section: &BTreeMap<String, String>) -> ConfigDict {
    section
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ConfigValue {
                    value: RawValue::IniText(v.clone()),
                    from_override: false,
                },
            )
        })
        .collect()
}

fn toml_table(table: &toml::Table) -> ConfigDict {
    table
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ConfigValue {
                    value: RawValue::Toml(v.clone()),
                    from_override: false,
                },
            )
        })
        .collect()
}

fn from_pytest_table(path: &Path, doc: &toml::Table) -> Result<Option<ConfigDict>, ConfigError> {
    if let Some(value) = doc.get("pytest") {
        let Some(table) = value.as_table() else {
            return Err(ConfigError::Usage(format!(
                "{}: [pytest] must be a table",
                path.display()
            )));
        };
        return Ok(Some(toml_table(table)));
    }
    let top_level: Vec<&str> = doc
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, _)| k.as_str())
        .collect();
    if !top_level.is_empty() {
        return Err(ConfigError::Usage(format!(
            "{}: pytest configuration must be under a [pytest] table (found top-level options: {})",
            path.display(),
            top_level.join(", ")
        )));
    }
    Ok(None)
}

fn from_tool_pytest(path: &Path, doc: &toml::Table) -> Result<Option<ConfigDict>, ConfigError> {
    let Some(tool_pytest) = doc.get("tool").and_then(|t| t.get("pytest")) else {
        return Ok(None);
    };
    let Some(tool_pytest) = tool_pytest.as_table() else {
        return Err(ConfigError::Usage(format!(
            "{}: [tool.pytest] must be a table",
            path.display()
        )));
    };
    let native: toml::Table = tool_pytest
        .iter()
        .filter(|(k, _)| *k != "ini_options")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ini_options = tool_pytest.get("ini_options");
    if !native.is_empty() && ini_options.is_some() {
        return Err(ConfigError::Usage(format!(
            "{}: Cannot use both [tool.pytest] (native TOML types) and [tool.pytest.ini_options] (string-based INI format) simultaneously. Please use [tool.pytest] with native TOML types (recommended) or [tool.pytest.ini_options] for backwards compatibility.",
            path.display()
        )));
    }
    if !native.is_empty() {
        return Ok(Some(toml_table(&native)));
    }
    let Some(ini_options) = ini_options else {
        return Ok(None);
    };
    let Some(ini_options) = ini_options.as_table() else {
        return Err(ConfigError::Usage(format!(
            "{}: [tool.pytest.ini_options] must be a table",
            path.display()
        )));
    };
    // INI mode: scalars become their Python `str()`, lists stay lists.
    let values = ini_options
        .iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::Array(items) => RawValue::IniList(items.clone()),
                scalar => RawValue::IniText(python_str(scalar)),
            };
            (
                k.clone(),
                ConfigValue {
                    value,
                    from_override: false,
                },
            )
        })
        .collect();
    Ok(Some(values))
}

/// Python's `str()` of a value decoded by `tomllib`.
fn python_str(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Boolean(true) => "True".into(),
        toml::Value::Boolean(false) => "False".into(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        toml::Value::Datetime(d) => d.to_string().replace('T', " "),
        other => other.to_string(),
    }
}

/// Load `path` with the loader its name implies; `None` when it holds no pytest config.
fn load(path: &Path, loader: Loader) -> Result<Option<ConfigDict>, ConfigError> {
    match loader {
        Loader::PytestToml => Ok(Some(
            from_pytest_table(path, &parse_toml_file(path)?)?.unwrap_or_default(),
        )),
        Loader::PytestIni => Ok(Some(
            parse_ini_file(path)?
                .section("pytest")
                .map(ini_section)
                .unwrap_or_default(),
        )),
        Loader::PyprojectToml => from_tool_pytest(path, &parse_toml_file(path)?),
        Loader::ToxIni => Ok(parse_ini_file(path)?.section("pytest").map(ini_section)),
        Loader::SetupCfg => {
            let doc = parse_ini_file(path)?;
            if let Some(section) = doc.section("tool:pytest") {
                Ok(Some(ini_section(section)))
            } else if doc.section("pytest").is_some() {
                Err(ConfigError::Usage("[pytest] section in setup.cfg files is no longer supported, change to [tool:pytest] instead.".into()))
            } else {
                Ok(None)
            }
        }
        Loader::CustomToml => {
            let doc = parse_toml_file(path)?;
            match from_tool_pytest(path, &doc)? {
                None => from_pytest_table(path, &doc),
                Some(_) if doc.contains_key("pytest") => Err(ConfigError::Usage(format!(
                    "{}: Cannot use both [pytest] and [tool.pytest]/[tool.pytest.ini_options] in the same file. Please use [pytest], which is what pytest's own configuration files use; the [tool.pytest] tables are meant for pyproject.toml.",
                    path.display()
                ))),
                Some(values) => Ok(Some(values)),
            }
        }
    }
}

/// pytest's `locate_config`: walk up from each arg looking for a config file.
fn locate_config(args: &[PathBuf]) -> Result<Option<Setup>, ConfigError> {
    let mut first_pyproject: Option<PathBuf> = None;
    for arg in args {
        for base in arg.ancestors() {
            for (index, (name, loader)) in CONFIG_NAMES.iter().enumerate() {
                let candidate = base.join(name);
                if !candidate.is_file() {
                    continue;
                }
                if *name == "pyproject.toml" && first_pyproject.is_none() {
                    first_pyproject = Some(candidate.clone());
                }
                if let Some(values) = load(&candidate, *loader)? {
                    let mut ignored = Vec::new();
                    for (other, other_loader) in &CONFIG_NAMES[index + 1..] {
                        let p = base.join(other);
                        if p.is_file() && load(&p, *other_loader)?.is_some() {
                            ignored.push((*other).to_string());
                        }
                    }
                    return Ok(Some(Setup {
                        rootdir: base.to_path_buf(),
                        inifile: Some(candidate),
                        values,
                        ignored_config_files: ignored,
                    }));
                }
            }
        }
    }
    Ok(first_pyproject.map(|p| Setup {
        rootdir: p.parent().map(Path::to_path_buf).unwrap_or_default(),
        inifile: Some(p),
        values: ConfigDict::new(),
        ignored_config_files: Vec::new(),
    }))
}

/// pytest's `get_common_ancestor`.
fn common_ancestor(invocation_dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        if !path.exists() {
            continue;
        }
        common = Some(match common {
            None => path.clone(),
            Some(c) if path.starts_with(&c) => c,
            Some(c) if c.starts_with(path) => path.clone(),
            Some(c) => shared_prefix(&c, path),
        });
    }
    match common {
        None => invocation_dir.to_path_buf(),
        Some(c) if c.is_file() => c.parent().map(Path::to_path_buf).unwrap_or(c),
        Some(c) => c,
    }
}

fn shared_prefix(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.as_os_str())
        .collect()
}

/// The directories named by the positional args (node-ID suffixes removed), when they exist.
fn dirs_from_args(invocation_dir: &Path, positional: &[String]) -> Vec<PathBuf> {
    positional
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(|a| {
            absolute(
                invocation_dir,
                Path::new(a.split_once("::").map_or(a.as_str(), |(p, _)| p)),
            )
        })
        .filter(|p| p.exists())
        .map(|p| {
            if p.is_dir() {
                p
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            }
        })
        .collect()
}

fn is_fs_root(p: &Path) -> bool {
    p.parent().is_none()
}

/// Python's `os.path.expandvars` for `$NAME` and `${NAME}` (unknown variables are left as is).
fn expand_vars(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (!name.is_empty())
            .then(|| std::env::var(name).ok())
            .flatten()
        {
            Some(value) => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// pytest's `determine_setup`.
pub fn determine_setup(
    inifile: Option<&str>,
    positional: &[String],
    rootdir_arg: Option<&str>,
    invocation_dir: &Path,
) -> Result<Setup, ConfigError> {
    let dirs = dirs_from_args(invocation_dir, positional);
    let mut setup = if let Some(inifile) = inifile {
        let path = absolute(invocation_dir, Path::new(inifile));
        if !path.exists() {
            return Err(ConfigError::Usage(format!(
                "Config file '{}' not found. Check your '-c/--config-file' option.",
                path.display()
            )));
        }
        if path.is_dir() {
            return Err(ConfigError::Usage(format!(
                "Config file '{}' is a directory. Check your '-c/--config-file' option.",
                path.display()
            )));
        }
        let values = match loader_for(&path) {
            Some(loader) => load(&path, loader)?.unwrap_or_default(),
            None if path.is_file() => {
                return Err(ConfigError::Usage(format!(
                    "Config file '{}' has an unsupported format. Supported extensions are: .cfg, .ini, .toml.",
                    path.display()
                )))
            }
            // A non-regular file (e.g. /dev/null) is the way to ask for no configuration.
            None => ConfigDict::new(),
        };
        let rootdir = if path.is_file() {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            let ancestor = common_ancestor(invocation_dir, &dirs);
            if is_fs_root(&ancestor) {
                invocation_dir.to_path_buf()
            } else {
                ancestor
            }
        };
        Setup {
            rootdir,
            inifile: Some(path),
            values,
            ignored_config_files: Vec::new(),
        }
    } else {
        let ancestor = common_ancestor(invocation_dir, &dirs);
        match locate_config(std::slice::from_ref(&ancestor))? {
            Some(found) => found,
            None => {
                let mut found = None;
                if rootdir_arg.is_none() {
                    if let Some(with_setup_py) =
                        ancestor.ancestors().find(|d| d.join("setup.py").is_file())
                    {
                        found = Some(Setup {
                            rootdir: with_setup_py.to_path_buf(),
                            inifile: None,
                            values: ConfigDict::new(),
                            ignored_config_files: Vec::new(),
                        });
                    } else if dirs != [ancestor.clone()] {
                        found = locate_config(&dirs)?;
                    }
                }
                match found {
                    Some(f) => f,
                    None => {
                        let mut rootdir = common_ancestor(
                            invocation_dir,
                            &[invocation_dir.to_path_buf(), ancestor.clone()],
                        );
                        if is_fs_root(&rootdir) {
                            rootdir = ancestor;
                        }
                        Setup {
                            rootdir,
                            inifile: None,
                            values: ConfigDict::new(),
                            ignored_config_files: Vec::new(),
                        }
                    }
                }
            }
        }
    };
    if let Some(arg) = rootdir_arg.filter(|a| !a.is_empty()) {
        let rootdir = absolute(invocation_dir, Path::new(&expand_vars(arg)));
        if !rootdir.is_dir() {
            return Err(ConfigError::Usage(format!(
                "Directory '{}' not found. Check your '--rootdir' option.",
                rootdir.display()
            )));
        }
        setup.rootdir = rootdir;
    }
    Ok(setup)
}

/// Parse `-o name=value` overrides into INI-mode values.
pub fn parse_overrides(overrides: &[String]) -> Result<ConfigDict, ConfigError> {
    let mut out = ConfigDict::new();
    for item in overrides {
        let Some((key, value)) = item.split_once('=') else {
            return Err(ConfigError::Usage(format!(
                "-o/--override-ini expects option=value style (got: {}).",
                ini::py_repr(item)
            )));
        };
        out.insert(
            key.to_string(),
            ConfigValue {
                value: RawValue::IniText(value.to_string()),
                from_override: true,
            },
        );
    }
    Ok(out)
}
