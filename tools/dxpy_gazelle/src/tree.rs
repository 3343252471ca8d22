//! The repository walk: one [`Package`] per directory that has Python files or a BUILD file,
//! with its effective directives and parsed BUILD file.
//!
//! Skipped directories: hidden ones, `__pycache__`, `node_modules`, symlinks (Bazel's
//! `bazel-*` convenience links among them), virtual environments (`pyvenv.cfg`), nested
//! Bazel workspaces, and whatever `# dxpy:ignore` excludes. A top-level `src/` directory
//! without `__init__.py` (the src layout) and pytest's import roots (`pythonpath`, its
//! rootdir) are import roots even without `# dxpy:python_root`, unless such a directive is
//! in effect there.

use std::fs;
use std::path::{Path, PathBuf};

use crate::buildfile::BuildFile;
use crate::directives::{DirectiveError, Directives};
use crate::GazelleError;

const BUILD_FILE_NAMES: [&str; 2] = ["BUILD.bazel", "BUILD"];
const WORKSPACE_MARKERS: [&str; 4] = ["MODULE.bazel", "WORKSPACE", "WORKSPACE.bazel", "REPO.bazel"];

/// One directory the generator is responsible for.
#[derive(Debug, Clone)]
pub struct Package {
    /// Repo-relative (empty for the root).
    pub dir: PathBuf,
    pub directives: Directives,
    /// `.py` file names in this directory that are not ignored, sorted.
    pub py_files: Vec<String>,
    /// Every file name in this directory (for deciding whether a source still exists).
    pub all_files: Vec<String>,
    /// The existing BUILD file; `build_path` is where the result goes.
    pub existing: Option<BuildFile>,
    pub build_path: PathBuf,
}

/// A directive that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveWarning {
    pub build_file: PathBuf,
    pub error: DirectiveError,
}

/// Every package under `root`, parents before children, siblings by name. `inferred_roots`
/// (repo-relative, not the root itself) are import roots unless a directive says otherwise.
pub fn walk_packages(
    root: &Path,
    inferred_roots: &[PathBuf],
) -> Result<(Vec<Package>, Vec<DirectiveWarning>), GazelleError> {
    let mut walk = Walk {
        root,
        inferred_roots,
        packages: Vec::new(),
        warnings: Vec::new(),
    };
    walk.visit(Path::new(""), &Directives::default())?;
    Ok((walk.packages, walk.warnings))
}

struct Walk<'a> {
    root: &'a Path,
    inferred_roots: &'a [PathBuf],
    packages: Vec<Package>,
    warnings: Vec<DirectiveWarning>,
}

impl Walk<'_> {
    fn visit(&mut self, dir: &Path, parent: &Directives) -> Result<(), GazelleError> {
        let root = self.root;
        let absolute = root.join(dir);
        let mut existing = None;
        let mut build_path = dir.join(BUILD_FILE_NAMES[0]);
        for name in BUILD_FILE_NAMES {
            let path = absolute.join(name);
            if path.is_file() {
                let text = fs::read_to_string(&path).map_err(|e| GazelleError::io(&path, e))?;
                existing = Some(BuildFile::parse(&dir.join(name), text)?);
                build_path = dir.join(name);
                break;
            }
        }
        let own = existing
            .as_ref()
            .map(BuildFile::directives)
            .unwrap_or_default();
        let (mut directives, ignored, errors) = parent.child(dir, &own);
        self.warnings
            .extend(errors.into_iter().map(|error| DirectiveWarning {
                build_file: build_path.clone(),
                error,
            }));
        if ignored {
            return Ok(());
        }
        if dir == Path::new("src")
            && parent.python_root.is_none()
            && directives.python_root.is_none()
            && !absolute.join("__init__.py").exists()
        {
            directives.python_root = Some(dir.to_path_buf());
        }
        if self.inferred_roots.iter().any(|r| r == dir) {
            directives.infer_python_root(dir);
        }

        let mut entries: Vec<(String, fs::FileType, PathBuf)> = fs::read_dir(&absolute)
            .map_err(|e| GazelleError::io(&absolute, e))?
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_owned();
                Some((name, entry.file_type().ok()?, entry.path()))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut py_files = Vec::new();
        let mut all_files = Vec::new();
        let mut subdirs = Vec::new();
        for (name, kind, path) in entries {
            let relative = dir.join(&name);
            if kind.is_dir() {
                if !skip_dir(&name, &path) && !directives.is_ignored(&relative) {
                    subdirs.push(relative);
                }
                continue;
            }
            // Regular files and symlinks to files.
            if !path.is_file() {
                continue;
            }
            all_files.push(name.clone());
            if name.ends_with(".py") && !directives.is_ignored(&relative) {
                py_files.push(name);
            }
        }
        if !py_files.is_empty() || existing.is_some() {
            self.packages.push(Package {
                dir: dir.to_path_buf(),
                directives: directives.clone(),
                py_files,
                all_files,
                existing,
                build_path,
            });
        }
        for subdir in subdirs {
            self.visit(&subdir, &directives)?;
        }
        Ok(())
    }
}

fn skip_dir(name: &str, path: &Path) -> bool {
    name.starts_with('.')
        || name == "__pycache__"
        || name == "node_modules"
        || path.join("pyvenv.cfg").exists()
        || WORKSPACE_MARKERS.iter().any(|m| path.join(m).is_file())
}
