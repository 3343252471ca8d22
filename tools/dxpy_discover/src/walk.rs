//! Which files pytest would collect, in pytest 9.2's order.
//!
//! Layout:
//! - [`conftest`]: static reading of `collect_ignore` / `collect_ignore_glob`.
//! - this file: argument resolution (`path::Class::test[param]`, duplicates and overlaps
//!   removed like pytest's `normalize_collection_arguments`), then a depth-first walk that
//!   mirrors pytest's `Dir`/`Package` collectors: entries sorted by name with files and
//!   directories interleaved (`__init__.py` first in packages), `pytest_ignore_collect` rules
//!   (`__pycache__`, `collect_ignore*`, `--ignore*`, virtualenvs, `norecursedirs`), explicit
//!   args exempt from those rules, symlinked directories followed.
//!
//! Deliberate difference: pytest recurses forever into a symlink loop; here a directory that
//! is already being walked higher up the same branch is skipped and reported.

pub mod conftest;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::config::pattern::{absolute, fnmatch, PathPattern, Pattern};
use crate::config::Config;
use conftest::{ConftestIgnores, IgnoreList};

/// An initial argument that cannot be collected: pytest exits with a usage error (code 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("file or directory not found: {arg}")]
    NotFound { arg: String },
    #[error("directory argument cannot contain :: selection parts: {arg}")]
    DirectoryWithParts { arg: String },
    #[error("path cannot contain [] parametrization: {arg}")]
    ParametrizedPath { arg: String },
    /// A file pytest has no collector for (e.g. `README.md`).
    #[error("not found: {path}")]
    NoCollector { path: String },
    #[error("--pyargs needs the Python runner to resolve module names")]
    PyArgs,
}

/// Something the walk could not handle fully; the scan continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkProblem {
    /// A directory whose entries could not be listed (pytest reports a collection error).
    UnreadableDir { path: PathBuf, message: String },
    /// A symlinked directory leading back to a directory being walked; not descended.
    SymlinkLoop { path: PathBuf },
    /// A conftest whose `collect_ignore*` cannot be read statically.
    ConftestNeedsRunner { path: PathBuf, reason: String },
}

/// Which collectors pytest would create for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileRoles {
    /// A Python test module (`python_files`, or given explicitly).
    pub test_module: bool,
    /// `--doctest-modules` makes every `.py` file a doctest module.
    pub doctest_module: bool,
    /// A text file matching `--doctest-glob` (default `test*.txt`).
    pub doctest_text: bool,
}

/// A file pytest would collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedFile {
    /// Absolute path as pytest spells it (symlinks not resolved).
    pub path: PathBuf,
    /// Node-ID prefix: relative to rootdir with `/` separators.
    pub rel_path: String,
    pub roles: FileRoles,
}

/// The `::Class::test[param]` part of an argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeSelector {
    pub parts: Vec<String>,
    /// Including the brackets, e.g. `[1-a]`.
    pub parametrization: Option<String>,
}

impl NodeSelector {
    /// Whether an item whose names after the path are `names` (the last one with its `[...]`)
    /// is selected, following pytest's level-by-level matching.
    pub fn matches(&self, names: &[&str]) -> bool {
        if names.len() < self.parts.len() {
            return false;
        }
        let last = self.parts.len().saturating_sub(1);
        self.parts.iter().enumerate().all(|(i, part)| {
            let name = names[i];
            if i < last {
                name == part
            } else {
                match &self.parametrization {
                    Some(param) => name.strip_prefix(part.as_str()) == Some(param.as_str()),
                    None => name.split('[').next() == Some(part.as_str()),
                }
            }
        })
    }
}

/// One initial argument after resolution, with the files it yields (indices into
/// [`Walk::files`]) in collection order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgFiles {
    pub arg: String,
    pub path: PathBuf,
    pub selector: Option<NodeSelector>,
    pub files: Vec<usize>,
}

/// The result of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Unique files, in first-collected order.
    pub files: Vec<CollectedFile>,
    /// Per initial argument (after pytest's de-duplication), in argument order.
    pub args: Vec<ArgFiles>,
    /// `conftest.py` files pytest would load, in load order (outermost first).
    pub conftests: Vec<PathBuf>,
    /// Directories the walk entered (not ignored), rootdir-relative with `/` separators
    /// (`""` for the rootdir), in walk order: where a conftest's `pytest_collect_file` hook
    /// can see files that only the runner can turn into items.
    pub dirs: Vec<String>,
    pub problems: Vec<WalkProblem>,
}

/// One directory entry, as the walk needs it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub path: PathBuf,
    /// Following symlinks, like `DirEntry.is_dir()`.
    pub is_dir: bool,
    pub is_file: bool,
}

/// Lists a directory; a seam so tests can inject I/O failures (root ignores permissions).
pub(crate) type ListDir<'a> = &'a dyn Fn(&Path) -> io::Result<Vec<Entry>>;

pub(crate) fn list_dir_fs(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        // The entry's type comes with the directory listing; only symlinks (and file systems
        // that do not report types) need a stat, which follows the link like `is_dir()` does.
        // A broken link is neither file nor dir and is skipped.
        let (is_dir, is_file) = match entry.file_type() {
            Ok(t) if !t.is_symlink() => (t.is_dir(), t.is_file()),
            _ => match std::fs::metadata(&path) {
                Ok(m) => (m.is_dir(), m.is_file()),
                Err(_) => (false, false),
            },
        };
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            path,
            is_dir,
            is_file,
        });
    }
    Ok(entries)
}

/// Walk the file system the way pytest collects, for `config.initial_args`.
pub fn walk(config: &Config) -> Result<Walk, WalkError> {
    walk_with(config, &list_dir_fs)
}

struct ResolvedArg {
    arg: String,
    path: PathBuf,
    parts: Vec<String>,
    parametrization: Option<String>,
    index: usize,
}

fn resolve_arg(invocation_dir: &Path, arg: &str, index: usize) -> Result<ResolvedArg, WalkError> {
    let (base, parametrization) = match arg.find('[') {
        Some(i) => (&arg[..i], Some(arg[i..].to_string())),
        None => (arg, None),
    };
    let mut pieces = base.split("::");
    let strpath = pieces.next().unwrap_or("");
    let parts: Vec<String> = pieces.map(String::from).collect();
    if parametrization.is_some() && parts.is_empty() {
        return Err(WalkError::ParametrizedPath {
            arg: arg.to_string(),
        });
    }
    let path = absolute(invocation_dir, Path::new(strpath));
    if std::fs::metadata(&path).is_err() {
        return Err(WalkError::NotFound {
            arg: arg.to_string(),
        });
    }
    if !parts.is_empty() && path.is_dir() {
        return Err(WalkError::DirectoryWithParts {
            arg: arg.to_string(),
        });
    }
    Ok(ResolvedArg {
        arg: arg.to_string(),
        path,
        parts,
        parametrization,
        index,
    })
}

/// pytest's `is_collection_argument_subsumed_by`.
fn subsumed_by(arg: &ResolvedArg, by: &ResolvedArg) -> bool {
    if by.path != arg.path {
        return by.parts.is_empty() && arg.path.starts_with(&by.path);
    }
    if by.parts.len() > arg.parts.len() || arg.parts[..by.parts.len()] != by.parts[..] {
        return false;
    }
    by.parametrization.is_none() || by.parametrization == arg.parametrization
}

/// pytest's `normalize_collection_arguments`: drop args contained in others, keep order.
fn normalize(mut args: Vec<ResolvedArg>) -> Vec<ResolvedArg> {
    args.sort_by(|a, b| {
        (
            &a.path,
            &a.parts,
            a.parametrization.as_deref().unwrap_or(""),
        )
            .cmp(&(
                &b.path,
                &b.parts,
                b.parametrization.as_deref().unwrap_or(""),
            ))
    });
    let mut kept: Vec<ResolvedArg> = Vec::new();
    for arg in args {
        if kept.last().is_none_or(|last| !subsumed_by(&arg, last)) {
            kept.push(arg);
        }
    }
    kept.sort_by_key(|a| a.index);
    kept
}

/// The `--ignore`/`collect_ignore` paths and globs that apply to one directory's entries.
struct DirRules {
    paths: Vec<PathBuf>,
    globs: Vec<Pattern>,
}

struct Walker<'a> {
    config: &'a Config,
    list_dir: ListDir<'a>,
    initial_paths: HashSet<PathBuf>,
    initial_with_parents: HashSet<PathBuf>,
    ignore_paths: Vec<PathBuf>,
    ignore_globs: Vec<String>,
    python_files: Vec<PathPattern>,
    norecursedirs: Vec<PathPattern>,
    doctest_globs: Vec<PathPattern>,
    /// Ignore rules per parent directory (conftest lists + command line), computed once.
    dir_rules: HashMap<PathBuf, Rc<DirRules>>,
    /// Directories already checked for a `conftest.py`.
    conftest_checked: HashSet<PathBuf>,
    conftest_cache: HashMap<PathBuf, Option<ConftestIgnores>>,
    reported_conftests: HashSet<PathBuf>,
    walk: Walk,
    file_index: HashMap<PathBuf, usize>,
    loaded_conftests: HashSet<PathBuf>,
}

/// [`walk`] with an injectable directory lister.
pub(crate) fn walk_with(config: &Config, list_dir: ListDir<'_>) -> Result<Walk, WalkError> {
    if config.args.pyargs {
        return Err(WalkError::PyArgs);
    }
    let resolved = config
        .initial_args
        .iter()
        .enumerate()
        .map(|(i, a)| resolve_arg(&config.invocation_dir, a, i))
        .collect::<Result<Vec<_>, _>>()?;
    let resolved = if config.args.keep_duplicates {
        resolved
    } else {
        normalize(resolved)
    };
    let invocation = &config.invocation_dir;
    let mut walker = Walker {
        config,
        list_dir,
        initial_paths: resolved.iter().map(|a| a.path.clone()).collect(),
        initial_with_parents: resolved
            .iter()
            .flat_map(|a| {
                a.path
                    .ancestors()
                    .map(Path::to_path_buf)
                    .collect::<Vec<_>>()
            })
            .collect(),
        ignore_paths: config
            .args
            .ignore
            .iter()
            .map(|p| absolute(invocation, Path::new(p)))
            .collect(),
        ignore_globs: config
            .args
            .ignore_glob
            .iter()
            .map(|g| {
                absolute(invocation, Path::new(g))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        python_files: config
            .python_files
            .iter()
            .map(|p| PathPattern::new(p))
            .collect(),
        norecursedirs: config
            .norecursedirs
            .iter()
            .map(|p| PathPattern::new(p))
            .collect(),
        doctest_globs: if config.args.doctest_glob.is_empty() {
            vec![PathPattern::new("test*.txt")]
        } else {
            config
                .args
                .doctest_glob
                .iter()
                .map(|p| PathPattern::new(p))
                .collect()
        },
        dir_rules: HashMap::new(),
        conftest_checked: HashSet::new(),
        conftest_cache: HashMap::new(),
        reported_conftests: HashSet::new(),
        walk: Walk::default(),
        file_index: HashMap::new(),
        loaded_conftests: HashSet::new(),
    };
    walker.load_initial_conftests(&resolved);
    for arg in resolved {
        let mut files = Vec::new();
        // Directories between the collection root and the argument are collected too, which
        // loads their conftests.
        if let Some(parent) = arg.path.parent() {
            walker.load_conftests(parent);
        }
        if arg.path.is_dir() {
            let mut stack = Vec::new();
            walker.collect_dir(&arg.path, &mut files, &mut stack);
        } else {
            let roles = walker.file_roles(&arg.path, true);
            if roles == FileRoles::default() {
                return Err(WalkError::NoCollector {
                    path: arg.path.display().to_string(),
                });
            }
            files.push(walker.add_file(&arg.path, roles));
        }
        let selector = (!arg.parts.is_empty()).then(|| NodeSelector {
            parts: arg.parts.clone(),
            parametrization: arg.parametrization.clone(),
        });
        walker.walk.args.push(ArgFiles {
            arg: arg.arg,
            path: arg.path,
            selector,
            files,
        });
    }
    Ok(walker.walk)
}

fn same_dir_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(path).ok().map(|p| {
            let digest = blake3::hash(p.to_string_lossy().as_bytes());
            let bytes = digest.as_bytes();
            (
                0,
                u64::from_le_bytes([
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                ]),
            )
        })
    }
}

impl Walker<'_> {
    fn in_confcutdir(&self, dir: &Path) -> bool {
        // pytest: a directory is excluded only when it is a strict ancestor of confcutdir.
        !(self.config.confcutdir.starts_with(dir) && self.config.confcutdir != dir)
    }

    /// Record the conftests pytest loads for `dir` (outermost first).
    fn load_conftests(&mut self, dir: &Path) {
        if self.config.args.noconftest {
            return;
        }
        let chain: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
        for parent in chain.iter().rev() {
            if !self.in_confcutdir(parent) || !self.conftest_checked.insert(parent.clone()) {
                continue;
            }
            let candidate = parent.join("conftest.py");
            if candidate.is_file() && self.loaded_conftests.insert(candidate.clone()) {
                self.walk.conftests.push(candidate);
            }
        }
    }

    /// pytest's initial conftests: each argument's directory and its `test*` subdirectories.
    fn load_initial_conftests(&mut self, args: &[ResolvedArg]) {
        for arg in args {
            let anchor = &arg.path;
            let dir = if anchor.is_dir() {
                anchor.clone()
            } else {
                anchor.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            self.load_conftests(&dir);
            if anchor.is_dir() {
                if let Ok(entries) = (self.list_dir)(anchor) {
                    let mut subdirs: Vec<Entry> = entries
                        .into_iter()
                        .filter(|e| e.is_dir && fnmatch(&e.name, "test*"))
                        .collect();
                    subdirs.sort_by(|a, b| a.name.cmp(&b.name));
                    for sub in subdirs {
                        self.load_conftests(&sub.path);
                    }
                }
            }
        }
    }

    fn conftest_ignores(&mut self, conftest: &Path) -> Option<ConftestIgnores> {
        if let Some(cached) = self.conftest_cache.get(conftest) {
            return cached.clone();
        }
        let parsed = std::fs::read(conftest)
            .ok()
            .map(|src| conftest::read_ignores(&src));
        self.conftest_cache
            .insert(conftest.to_path_buf(), parsed.clone());
        parsed
    }

    /// The closest conftest (for `dir`) that defines the list, resolved against its directory.
    fn conftest_list(&mut self, dir: &Path, glob: bool) -> Vec<PathBuf> {
        if self.config.args.noconftest {
            return Vec::new();
        }
        let chain: Vec<PathBuf> = dir
            .ancestors()
            .filter(|d| self.in_confcutdir(d))
            .map(Path::to_path_buf)
            .collect();
        for parent in chain {
            let candidate = parent.join("conftest.py");
            if !self.loaded_conftests.contains(&candidate) {
                continue;
            }
            let Some(ignores) = self.conftest_ignores(&candidate) else {
                continue;
            };
            let list = if glob {
                ignores.collect_ignore_glob
            } else {
                ignores.collect_ignore
            };
            match list {
                IgnoreList::Absent => continue,
                IgnoreList::Literal(items) => {
                    return items
                        .iter()
                        .map(|i| absolute(&parent, Path::new(i)))
                        .collect()
                }
                IgnoreList::NeedsRunner(reason) => {
                    if self.reported_conftests.insert(candidate.clone()) {
                        self.walk.problems.push(WalkProblem::ConftestNeedsRunner {
                            path: candidate,
                            reason,
                        });
                    }
                    return Vec::new();
                }
            }
        }
        Vec::new()
    }

    fn rules_for(&mut self, dir: &Path) -> Rc<DirRules> {
        if let Some(rules) = self.dir_rules.get(dir) {
            return Rc::clone(rules);
        }
        let mut paths = self.conftest_list(dir, false);
        paths.extend(self.ignore_paths.iter().cloned());
        let mut globs: Vec<Pattern> = self
            .conftest_list(dir, true)
            .iter()
            .map(|p| Pattern::new(&p.to_string_lossy()))
            .collect();
        globs.extend(self.ignore_globs.iter().map(|g| Pattern::new(g)));
        let rules = Rc::new(DirRules { paths, globs });
        self.dir_rules.insert(dir.to_path_buf(), Rc::clone(&rules));
        rules
    }

    /// pytest's `pytest_ignore_collect`.
    fn ignored(&mut self, path: &Path, is_dir: bool) -> bool {
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            return true;
        }
        let parent = path.parent().unwrap_or(path);
        let rules = self.rules_for(parent);
        if rules.paths.iter().any(|p| p == path) {
            return true;
        }
        if !rules.globs.is_empty() {
            let spelled = path.to_string_lossy();
            if rules.globs.iter().any(|g| g.matches(&spelled)) {
                return true;
            }
        }
        if is_dir
            && !self.config.args.collect_in_virtualenv
            && (path.join("pyvenv.cfg").is_file()
                || path.join("conda-meta").join("history").is_file())
        {
            return true;
        }
        is_dir && self.norecursedirs.iter().any(|pat| pat.matches(path))
    }

    fn file_roles(&self, path: &Path, explicit: bool) -> FileRoles {
        let is_py = path.extension().is_some_and(|e| e == "py");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut roles = FileRoles::default();
        if is_py {
            roles.test_module = explicit || self.python_files.iter().any(|pat| pat.matches(path));
            roles.doctest_module = self.config.args.doctest_modules
                && name != "__main__.py"
                && !is_setuptools_setup_py(path, &name);
        } else {
            let is_text = path.extension().is_some_and(|e| e == "txt" || e == "rst");
            roles.doctest_text =
                (is_text && explicit) || self.doctest_globs.iter().any(|g| g.matches(path));
        }
        roles
    }

    fn add_file(&mut self, path: &Path, roles: FileRoles) -> usize {
        if let Some(&index) = self.file_index.get(path) {
            return index;
        }
        let index = self.walk.files.len();
        let rel_path = self.rel_path(path);
        self.walk.files.push(CollectedFile {
            path: path.to_path_buf(),
            rel_path,
            roles,
        });
        self.file_index.insert(path.to_path_buf(), index);
        index
    }

    /// Relative to rootdir; outside it, relative to the initial path containing the file.
    fn rel_path(&self, path: &Path) -> String {
        let rel = match path.strip_prefix(&self.config.rootdir) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => {
                if self.initial_paths.contains(path) {
                    PathBuf::new()
                } else {
                    path.ancestors()
                        .skip(1)
                        .find(|a| self.initial_paths.contains(*a))
                        .and_then(|a| path.strip_prefix(a).ok())
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| path.to_path_buf())
                }
            }
        };
        rel.to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/")
    }

    fn collect_dir(&mut self, dir: &Path, files: &mut Vec<usize>, stack: &mut Vec<(u64, u64)>) {
        let identity = same_dir_identity(dir);
        if let Some(id) = identity {
            if stack.contains(&id) {
                self.walk.problems.push(WalkProblem::SymlinkLoop {
                    path: dir.to_path_buf(),
                });
                return;
            }
            stack.push(id);
        }
        self.load_conftests(dir);
        let rel_dir = self.rel_path(dir);
        self.walk.dirs.push(rel_dir);
        match (self.list_dir)(dir) {
            Ok(mut entries) => {
                let is_package = entries.iter().any(|e| e.name == "__init__.py" && e.is_file);
                entries.sort_by(|a, b| {
                    let key = |e: &Entry| (is_package && e.name != "__init__.py", e.name.clone());
                    if is_package {
                        key(a).cmp(&key(b))
                    } else {
                        a.name.cmp(&b.name)
                    }
                });
                for entry in entries {
                    if entry.is_dir {
                        if !self.initial_with_parents.contains(&entry.path)
                            && self.ignored(&entry.path, true)
                        {
                            continue;
                        }
                        self.collect_dir(&entry.path, files, stack);
                    } else if entry.is_file {
                        let explicit = self.initial_paths.contains(&entry.path);
                        if !explicit && self.ignored(&entry.path, false) {
                            continue;
                        }
                        let roles = self.file_roles(&entry.path, explicit);
                        if roles != FileRoles::default() {
                            files.push(self.add_file(&entry.path, roles));
                        }
                    }
                }
            }
            Err(e) => self.walk.problems.push(WalkProblem::UnreadableDir {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }),
        }
        if identity.is_some() {
            stack.pop();
        }
    }
}

/// pytest's doctest plugin skips `setup.py` files that mention setuptools or distutils.
fn is_setuptools_setup_py(path: &Path, name: &str) -> bool {
    name == "setup.py"
        && std::fs::read(path).is_ok_and(|c| {
            c.windows(10).any(|w| w == b"setuptools") || c.windows(9).any(|w| w == b"distutils")
        })
}

#[cfg(test)]
mod tests;
