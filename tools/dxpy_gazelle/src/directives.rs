//! `# dxpy:` directives in BUILD file comments, and their inheritance by subpackages.
//!
//! A directory's effective [`Directives`] are its parent's with the directory's own BUILD file
//! directives applied in file order, so a subpackage can override any of them:
//! - `# dxpy:python_root`: this directory is an import root (`imports` points at it from every
//!   target at or below it, and first-party resolution searches it);
//! - `# dxpy:generation_mode package|file`: one library per directory, or one per `.py` file;
//! - `# dxpy:ignore`: skip this directory and everything below it; `# dxpy:ignore GLOB`: skip
//!   matching files and directories below this one (a glob without `/` matches a base name at
//!   any depth, one with `/` the path relative to this directory);
//! - `# dxpy:resolve MODULE LABEL`: imports of `MODULE` (or a submodule) depend on `LABEL`;
//! - `# dxpy:test_file_pattern GLOB[,GLOB]`: test files are the base names matching these
//!   fnmatch patterns, instead of pytest's `python_files` and collection rules;
//! - `# dxpy:data GLOB`: the files matching `GLOB` (relative to this directory, `**` for any
//!   depth) are `data` of every generated `dx_py_test` at or below this directory, besides
//!   the data inferred from string literals (several directives add up).
//!
//! Without `python_root` at or above a directory, an import root pytest's configuration
//! gives (`pythonpath`, a rootdir below the repository root) or a top-level `src/` is one:
//! such an inferred root applies like the directive, and a deeper one wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dxpy_discover::config::pattern::fnmatch;
use globset::{GlobBuilder, GlobMatcher};

/// How libraries are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenerationMode {
    /// One `dx_py_library` per directory, named after it.
    #[default]
    Package,
    /// One `dx_py_library` per `.py` file, named after its stem.
    File,
}

/// One parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    PythonRoot,
    GenerationMode(GenerationMode),
    /// `None`: the directory itself.
    Ignore(Option<String>),
    Resolve {
        module: String,
        label: String,
    },
    TestFilePattern(Vec<String>),
    Data(String),
}

/// A directive that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("unknown directive `dxpy:{0}`")]
    Unknown(String),
    #[error("`dxpy:{key}` {message}")]
    BadValue { key: String, message: String },
}

impl Directive {
    /// Parse `# dxpy:KEY REST` (the comment text split by [`crate::buildfile::BuildFile::directives`]).
    pub fn parse(key: &str, rest: &str) -> Result<Directive, DirectiveError> {
        let bad = |message: &str| DirectiveError::BadValue {
            key: key.to_owned(),
            message: message.to_owned(),
        };
        match key {
            "python_root" if rest.is_empty() => Ok(Directive::PythonRoot),
            "python_root" => Err(bad("takes no argument")),
            "generation_mode" => match rest {
                "package" => Ok(Directive::GenerationMode(GenerationMode::Package)),
                "file" => Ok(Directive::GenerationMode(GenerationMode::File)),
                _ => Err(bad("expects `package` or `file`")),
            },
            "ignore" if rest.is_empty() => Ok(Directive::Ignore(None)),
            "ignore" => Ok(Directive::Ignore(Some(rest.to_owned()))),
            "resolve" => {
                let mut parts = rest.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(module), Some(label), None) => Ok(Directive::Resolve {
                        module: module.to_owned(),
                        label: label.to_owned(),
                    }),
                    _ => Err(bad("expects `MODULE LABEL`")),
                }
            }
            "test_file_pattern" => {
                let patterns: Vec<String> = rest
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                if patterns.is_empty() {
                    Err(bad("expects GLOB[,GLOB]"))
                } else {
                    Ok(Directive::TestFilePattern(patterns))
                }
            }
            "data" if rest.is_empty() || rest.split_whitespace().count() != 1 => {
                Err(bad("expects one GLOB"))
            }
            "data" => Ok(Directive::Data(rest.to_owned())),
            other => Err(DirectiveError::Unknown(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone)]
struct IgnoreGlob {
    /// Directory of the BUILD file that declared it (repo-relative).
    anchor: PathBuf,
    basename_only: bool,
    matcher: GlobMatcher,
}

/// A `data` glob and the directory it is relative to.
#[derive(Debug, Clone)]
pub struct DataGlob {
    /// Directory of the BUILD file that declared it (repo-relative).
    pub anchor: PathBuf,
    pub matcher: GlobMatcher,
}

/// The directives in effect in one directory.
#[derive(Debug, Clone, Default)]
pub struct Directives {
    /// The nearest import root at or above this directory (repo-relative), if any.
    pub python_root: Option<PathBuf>,
    /// Whether `python_root` comes from a `# dxpy:python_root` directive (an inferred root
    /// never overrides one).
    pub python_root_declared: bool,
    /// `# dxpy:data` globs in effect here, outermost first.
    pub data_globs: Vec<DataGlob>,
    pub mode: GenerationMode,
    ignores: Vec<IgnoreGlob>,
    resolves: BTreeMap<String, String>,
    test_patterns: Option<Vec<String>>,
}

impl Directives {
    /// The directives of `dir` (repo-relative): these, then `own` in order. Returns whether
    /// `dir` itself is ignored, and the directives that could not be applied.
    pub fn child(
        &self,
        dir: &Path,
        own: &[(String, String)],
    ) -> (Directives, bool, Vec<DirectiveError>) {
        let mut next = self.clone();
        let mut ignored = false;
        let mut errors = Vec::new();
        for (key, rest) in own {
            match Directive::parse(key, rest) {
                Ok(Directive::PythonRoot) => {
                    next.python_root = Some(dir.to_path_buf());
                    next.python_root_declared = true;
                }
                Ok(Directive::GenerationMode(mode)) => next.mode = mode,
                Ok(Directive::Ignore(None)) => ignored = true,
                Ok(Directive::Ignore(Some(pattern))) => {
                    let glob = GlobBuilder::new(&pattern).literal_separator(true).build();
                    match glob {
                        Ok(glob) => next.ignores.push(IgnoreGlob {
                            anchor: dir.to_path_buf(),
                            basename_only: !pattern.contains('/'),
                            matcher: glob.compile_matcher(),
                        }),
                        Err(error) => errors.push(DirectiveError::BadValue {
                            key: key.clone(),
                            message: error.to_string(),
                        }),
                    }
                }
                Ok(Directive::Resolve { module, label }) => {
                    next.resolves.insert(module, label);
                }
                Ok(Directive::TestFilePattern(patterns)) => next.test_patterns = Some(patterns),
                Ok(Directive::Data(pattern)) => {
                    match GlobBuilder::new(&pattern).literal_separator(true).build() {
                        Ok(glob) => next.data_globs.push(DataGlob {
                            anchor: dir.to_path_buf(),
                            matcher: glob.compile_matcher(),
                        }),
                        Err(error) => errors.push(DirectiveError::BadValue {
                            key: key.clone(),
                            message: error.to_string(),
                        }),
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        (next, ignored, errors)
    }

    /// Make `dir` an inferred import root (pytest's configuration, a `src/` layout) unless a
    /// `python_root` directive is in effect.
    pub fn infer_python_root(&mut self, dir: &Path) {
        if !self.python_root_declared {
            self.python_root = Some(dir.to_path_buf());
        }
    }

    /// Whether an ignore glob declared above matches `path` (repo-relative file or directory).
    pub fn is_ignored(&self, path: &Path) -> bool {
        self.ignores.iter().any(|glob| {
            let Ok(relative) = path.strip_prefix(&glob.anchor) else {
                return false;
            };
            if glob.basename_only {
                relative
                    .file_name()
                    .is_some_and(|name| glob.matcher.is_match(Path::new(name)))
            } else {
                glob.matcher.is_match(relative)
            }
        })
    }

    /// The label of `module` (dotted) from the longest matching `resolve` directive.
    pub fn resolve(&self, module: &str) -> Option<&str> {
        longest_prefix(&self.resolves, module)
    }

    /// Whether a file named `name` is a test file by a `test_file_pattern` directive; `None`
    /// when no such directive is in effect (pytest's rules decide).
    pub fn is_test_by_pattern(&self, name: &str) -> Option<bool> {
        self.test_patterns
            .as_ref()
            .map(|patterns| patterns.iter().any(|p| fnmatch(name, p)))
    }
}

/// The value of the longest key of `map` that is `module` or a dotted prefix of it.
pub fn longest_prefix<'m>(map: &'m BTreeMap<String, String>, module: &str) -> Option<&'m str> {
    let mut candidate = module;
    loop {
        if let Some(value) = map.get(candidate) {
            return Some(value);
        }
        candidate = &candidate[..candidate.rfind('.')?];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn directives_are_inherited_and_overridden() {
        let root = Directives::default();
        let (a, ignored, errors) = root.child(
            Path::new("a"),
            &own(&[
                ("generation_mode", "file"),
                ("resolve", "yaml @pypi//pyyaml"),
                ("python_root", ""),
            ]),
        );
        assert!(!ignored && errors.is_empty());
        let (b, _, _) = a.child(Path::new("a/b"), &own(&[("generation_mode", "package")]));
        assert_eq!(a.mode, GenerationMode::File);
        assert_eq!(b.mode, GenerationMode::Package);
        assert_eq!(b.python_root.as_deref(), Some(Path::new("a")));
        assert_eq!(b.resolve("yaml.constructor"), Some("@pypi//pyyaml"));
        assert_eq!(b.resolve("yamlx"), None);
    }

    #[test]
    fn ignore_globs_match_base_names_or_relative_paths() {
        let (d, ignored, _) = Directives::default().child(
            Path::new("p"),
            &own(&[("ignore", "*_pb2.py"), ("ignore", "gen/*.py")]),
        );
        assert!(!ignored);
        assert!(d.is_ignored(Path::new("p/x/y_pb2.py")));
        assert!(d.is_ignored(Path::new("p/gen/a.py")));
        assert!(!d.is_ignored(Path::new("p/x/gen/a.py")));
        assert!(!d.is_ignored(Path::new("q/y_pb2.py")));
        let (_, ignored, _) = d.child(Path::new("p/z"), &own(&[("ignore", "")]));
        assert!(ignored);
    }

    #[test]
    fn bad_directives_are_reported() {
        let (_, _, errors) = Directives::default().child(
            Path::new(""),
            &own(&[
                ("generation_mode", "module"),
                ("frobnicate", ""),
                ("resolve", "x"),
            ]),
        );
        assert_eq!(errors.len(), 3);
        let (_, _, errors) = Directives::default().child(
            Path::new(""),
            &own(&[("data", ""), ("data", "a b"), ("data", "a[")]),
        );
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn inferred_roots_yield_to_declared_ones() {
        let (mut declared, _, _) =
            Directives::default().child(Path::new("lib"), &own(&[("python_root", "")]));
        declared.infer_python_root(Path::new("lib/src"));
        assert_eq!(declared.python_root.as_deref(), Some(Path::new("lib")));
        let mut inferred = Directives::default();
        inferred.infer_python_root(Path::new("src"));
        inferred.infer_python_root(Path::new("src/deeper"));
        assert_eq!(
            inferred.python_root.as_deref(),
            Some(Path::new("src/deeper"))
        );
    }

    #[test]
    fn data_globs_are_anchored_at_their_directory() {
        let (d, _, errors) =
            Directives::default().child(Path::new("t"), &own(&[("data", "fixtures/**")]));
        assert!(errors.is_empty());
        let glob = &d.data_globs[0];
        assert_eq!(glob.anchor, Path::new("t"));
        assert!(glob.matcher.is_match("fixtures/a/b.json"));
        assert!(!glob.matcher.is_match("other/b.json"));
    }

    #[test]
    fn test_file_patterns_use_fnmatch() {
        let (d, _, _) = Directives::default().child(
            Path::new(""),
            &own(&[("test_file_pattern", "check_*.py, *_spec.py")]),
        );
        assert_eq!(d.is_test_by_pattern("check_a.py"), Some(true));
        assert_eq!(d.is_test_by_pattern("a_spec.py"), Some(true));
        assert_eq!(d.is_test_by_pattern("test_a.py"), Some(false));
        assert_eq!(Directives::default().is_test_by_pattern("test_a.py"), None);
    }
}
