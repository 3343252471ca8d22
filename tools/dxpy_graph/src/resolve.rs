//! Resolution of extracted imports to first-party files, or a classification otherwise.
//!
//! The lookup follows CPython's path finder over the configured roots (in priority order,
//! like `sys.path`): in one root, a regular package (`a/__init__.py`) wins over a module
//! (`a.py`), which wins over a directory without `__init__.py`; such a directory is only a
//! namespace-package *portion*: the search continues in later roots and a regular package or
//! module found there wins, otherwise all portions together form the namespace package.
//! Submodules are searched in the parent package's directories (all portions for a namespace
//! package).
//!
//! Dependencies of one import: every `__init__.py` on the way (`import a.b.c` executes
//! `a/__init__.py` and `a/b/__init__.py`), the target module, and for `from a import b` also
//! `a/b.py` (or `a/b/__init__.py`) when `b` is a submodule; when it is not, `b` is a name
//! defined by `a/__init__.py`, already a dependency.
//!
//! Known simplifications: first-party roots are searched before the standard library (as
//! `sys.path[0]`/pytest's rootdir insertion does), except that a name found only as a
//! namespace portion yields to a standard-library module of the same name (a regular package
//! anywhere on `sys.path` beats a namespace portion); third-party packages are not looked up
//! at all (site-packages are unknown here), so a top-level name that is neither first-party nor
//! standard library is third-party. Only `.py` sources are considered (no stubs, extensions).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::extract::{Import, ImportForm};
use crate::stdlib::PythonVersion;

/// What an import refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolutionKind {
    /// Found under a root; the files are in [`Resolution::files`].
    FirstParty,
    /// A standard-library module; `top` is its top-level name.
    Stdlib { top: String },
    /// Not first-party, not standard library: an installed distribution (mapped later).
    ThirdParty { top: String },
    /// Cannot be resolved (bad relative import, missing submodule, ...); `files` keeps
    /// whatever part was found (e.g. the package `__init__.py`).
    Unresolved { message: String },
}

/// The result of resolving one import.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resolution {
    pub kind: ResolutionKind,
    /// First-party files the import executes, project-relative when under the project root.
    pub files: Vec<PathBuf>,
}

/// Where a module name was found in a search path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Module(PathBuf),
    Package { init: PathBuf, dir: PathBuf },
    Namespace(Vec<PathBuf>),
}

impl Found {
    fn search_dirs(&self) -> Vec<PathBuf> {
        match self {
            Found::Module(_) => Vec::new(),
            Found::Package { dir, .. } => vec![dir.clone()],
            Found::Namespace(dirs) => dirs.clone(),
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            Found::Module(file) => Some(file),
            Found::Package { init, .. } => Some(init),
            Found::Namespace(_) => None,
        }
    }
}

/// Resolves imports against a project's import roots.
#[derive(Debug, Clone)]
pub struct Resolver {
    project_root: PathBuf,
    /// Absolute roots, highest priority first.
    roots: Vec<PathBuf>,
    version: PythonVersion,
}

impl Resolver {
    /// `roots` are relative to `project_root` (or absolute), highest priority first, e.g.
    /// `["src", "."]` for a src layout whose tests import from the repository root too.
    pub fn new(project_root: &Path, roots: &[PathBuf], version: PythonVersion) -> Resolver {
        let roots = roots
            .iter()
            .map(|root| normalize(&project_root.join(root)))
            .collect();
        Resolver {
            project_root: normalize(project_root),
            roots,
            version,
        }
    }

    pub fn project_root(&self) -> &Path {
        &self.project_root
    }

    pub fn version(&self) -> PythonVersion {
        self.version
    }

    /// Resolve `import`, found in `importer` (project-relative). `first_roots` are searched
    /// before the configured roots (project-relative or absolute), e.g. the directory pytest's
    /// `prepend` import mode inserts for a test file.
    pub fn resolve(&self, importer: &Path, import: &Import, first_roots: &[PathBuf]) -> Resolution {
        let mut search: Vec<PathBuf> = first_roots
            .iter()
            .map(|root| normalize(&self.project_root.join(root)))
            .collect();
        for root in &self.roots {
            if !search.contains(root) {
                search.push(root.clone());
            }
        }
        if import.form == ImportForm::Dynamic {
            return self.resolve_dynamic(importer, import, &search);
        }
        let absolute = match self.absolute_name(importer, import, &search) {
            Ok(name) => name,
            Err(message) => return unresolved(message, Vec::new()),
        };
        self.resolve_absolute(&absolute, import, &search)
    }

    /// The absolute dotted name an import refers to (relative imports anchored).
    fn absolute_name(
        &self,
        importer: &Path,
        import: &Import,
        search: &[PathBuf],
    ) -> Result<String, String> {
        if import.level == 0 {
            return Ok(import.module.clone());
        }
        let package = match (&import.form, &import.package) {
            (ImportForm::ImportModule, Some(package)) => package.clone(),
            (ImportForm::ImportModule, None) => {
                return Err("relative import_module() needs a package= argument".into())
            }
            (ImportForm::DunderImport, _) => {
                return Err("__import__() of a name with leading dots is not an import".into())
            }
            _ => self.package_of(importer, search)?,
        };
        if package.is_empty() {
            return Err(format!(
                "relative import in {} which is not in a package (no known parent package)",
                importer.display()
            ));
        }
        let mut parts: Vec<&str> = package.split('.').collect();
        let up = (import.level - 1) as usize;
        if up >= parts.len() {
            return Err(format!(
                "relative import with {} dots goes beyond the top-level package `{}`",
                import.level, parts[0]
            ));
        }
        parts.truncate(parts.len() - up);
        let mut name = parts.join(".");
        if !import.module.is_empty() {
            name.push('.');
            name.push_str(&import.module);
        }
        Ok(name)
    }

    /// The package (`__package__`) of `importer`: its dotted directory relative to the deepest
    /// search root containing it ("" for a top-level module).
    fn package_of(&self, importer: &Path, search: &[PathBuf]) -> Result<String, String> {
        let absolute = normalize(&self.project_root.join(importer));
        let root = search
            .iter()
            .filter(|root| absolute.starts_with(root))
            .max_by_key(|root| root.components().count())
            .ok_or_else(|| {
                format!(
                    "relative import in {} which is under no import root",
                    importer.display()
                )
            })?;
        let relative = absolute.strip_prefix(root).unwrap_or(&absolute);
        let mut parts: Vec<String> = relative
            .parent()
            .map(|dir| {
                dir.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // `pkg/__init__.py` is the package itself; `pkg/m.py` is in `pkg` too: either way the
        // package is the directory. (Only the module name differs, which we do not need.)
        parts.retain(|part| !part.is_empty());
        Ok(parts.join("."))
    }

    fn resolve_absolute(&self, name: &str, import: &Import, search: &[PathBuf]) -> Resolution {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.iter().any(|part| !is_identifier(part)) {
            return unresolved(format!("`{name}` is not a valid module name"), Vec::new());
        }
        let top = parts[0];
        let mut files = Vec::new();
        let mut found = match find_in(search, top) {
            Some(Found::Namespace(_)) if import.level == 0 && self.version.is_stdlib(top) => {
                return classified(ResolutionKind::Stdlib { top: top.into() })
            }
            Some(found) => found,
            None if import.level > 0 => {
                return unresolved(format!("no module named `{name}`"), files)
            }
            // `__main__` is the running program, always present, and absent from
            // `sys.stdlib_module_names`: classify it with the interpreter's own modules.
            None if self.version.is_stdlib(top) || top == "__main__" => {
                return classified(ResolutionKind::Stdlib { top: top.into() })
            }
            None => return classified(ResolutionKind::ThirdParty { top: top.into() }),
        };
        self.push_file(&mut files, &found);
        for (index, part) in parts.iter().enumerate().skip(1) {
            if let Found::Module(file) = &found {
                let message = format!(
                    "`{}` is a module ({}), not a package, so it has no `{part}`",
                    parts[..index].join("."),
                    self.display(file).display()
                );
                return unresolved(message, files);
            }
            found = match find_in(&found.search_dirs(), part) {
                Some(next) => next,
                None => {
                    let message = format!(
                        "no module named `{}` (`{}` was found)",
                        parts[..=index].join("."),
                        parts[..index].join(".")
                    );
                    return unresolved(message, files);
                }
            };
            self.push_file(&mut files, &found);
        }
        if import.form == ImportForm::From {
            let mut missing = Vec::new();
            for imported in &import.names {
                match find_in(&found.search_dirs(), &imported.name) {
                    Some(sub) => self.push_file(&mut files, &sub),
                    // A name defined in `__init__.py` (or any attribute of a module).
                    None if !matches!(found, Found::Namespace(_)) => {}
                    None => missing.push(imported.name.as_str()),
                }
            }
            if !missing.is_empty() {
                let message = format!(
                    "namespace package `{name}` has no submodule {}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return unresolved(message, files);
            }
        }
        Resolution {
            kind: ResolutionKind::FirstParty,
            files,
        }
    }

    /// A computed import can load any module of its package: the one its literal prefix
    /// names, else the importing file's own directory. Every `.py` file below is a dependency
    /// (over-approximated: selecting too many tests is safe, missing one is not).
    fn resolve_dynamic(&self, importer: &Path, import: &Import, search: &[PathBuf]) -> Resolution {
        let dirs = if import.module.is_empty() {
            vec![importer.parent().unwrap_or(Path::new("")).to_path_buf()]
        } else {
            let prefix = Import {
                form: ImportForm::Import,
                ..import.clone()
            };
            let resolution = self.resolve_absolute(&import.module, &prefix, search);
            if resolution.kind != ResolutionKind::FirstParty {
                return resolution;
            }
            let parts: Vec<&str> = import.module.split('.').collect();
            let mut found = find_in(search, parts[0]);
            for part in &parts[1..] {
                found = found.and_then(|f| find_in(&f.search_dirs(), part));
            }
            found.map(|f| f.search_dirs()).unwrap_or_default()
        };
        let mut files = Vec::new();
        for dir in dirs {
            for file in python_files_under(&self.project_root, &dir) {
                let file = self.display(&file).to_path_buf();
                if file != importer && !files.contains(&file) {
                    files.push(file);
                }
            }
        }
        Resolution {
            kind: ResolutionKind::FirstParty,
            files,
        }
    }

    fn push_file(&self, files: &mut Vec<PathBuf>, found: &Found) {
        if let Some(file) = found.file() {
            let file = self.display(file).to_path_buf();
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }

    /// `path` relative to the project root when under it, else unchanged.
    fn display<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.project_root).unwrap_or(path)
    }
}

fn classified(kind: ResolutionKind) -> Resolution {
    Resolution {
        kind,
        files: Vec::new(),
    }
}

fn unresolved(message: String, files: Vec<PathBuf>) -> Resolution {
    Resolution {
        kind: ResolutionKind::Unresolved { message },
        files,
    }
}

/// A plausible Python identifier: rejects empty parts (`a..b`) and path syntax (`a/b`).
fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// CPython's per-directory precedence: package, then module, then namespace portion.
fn find_in(search: &[PathBuf], name: &str) -> Option<Found> {
    let mut portions = Vec::new();
    for dir in search {
        let candidate = dir.join(name);
        let is_dir = candidate.is_dir();
        if is_dir {
            let init = candidate.join("__init__.py");
            if init.is_file() {
                return Some(Found::Package {
                    init,
                    dir: candidate,
                });
            }
        }
        let module = dir.join(format!("{name}.py"));
        if module.is_file() {
            return Some(Found::Module(module));
        }
        if is_dir {
            portions.push(candidate);
        }
    }
    (!portions.is_empty()).then_some(Found::Namespace(portions))
}

/// Lexically remove `.` components and fold `..` (roots are given by configuration, so a
/// lexical form is what the user wrote; symlinks are not resolved on purpose).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl fmt::Display for Resolution {
    /// e.g. `first-party a/__init__.py, a/b.py`, `stdlib os`, `unresolved: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self
            .files
            .iter()
            .map(|file| file.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match &self.kind {
            ResolutionKind::FirstParty => write!(f, "first-party {files}"),
            ResolutionKind::Stdlib { top } => write!(f, "stdlib {top}"),
            ResolutionKind::ThirdParty { top } => write!(f, "third-party {top}"),
            ResolutionKind::Unresolved { message } if files.is_empty() => {
                write!(f, "unresolved: {message}")
            }
            ResolutionKind::Unresolved { message } => {
                write!(f, "unresolved: {message} (found: {files})")
            }
        }
    }
}

/// All `.py` files under `dir` (project-relative to `project_root`), sorted; hidden
/// directories and `__pycache__` are skipped. Unreadable directories are skipped too.
pub fn python_files_under(project_root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![project_root.join(dir)];
    while let Some(current) = stack.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && name != "__pycache__" {
                    stack.push(path);
                }
            } else if kind.is_file() && name.ends_with(".py") {
                out.push(
                    path.strip_prefix(project_root)
                        .unwrap_or(&path)
                        .to_path_buf(),
                );
            }
        }
    }
    out.sort();
    out
}
