//! Data dependencies: the files a module's path literals ([`crate::literals`]) name, found on
//! disk, and those of `# dxpy:data` globs; as labels from the package that needs them.
//!
//! A candidate is looked for relative to the module's directory first, then relative to the
//! other bases (the repository root, pytest's rootdir, the import roots): the first base
//! where it exists wins. A bare literal must name a file that is not Python (a source is a
//! dependency, not data), unless it has a `/` and names a directory; a joined path may name
//! any file or directory; a package resource is looked up in the package's directory under
//! every import root. A directory becomes every file below it (hidden entries, `__pycache__`,
//! compiled files and BUILD files left out): a `glob` cannot reach into a subpackage, a list
//! of labels can, and its elements merge and keep `# keep` like any other list. Paths that
//! leave the repository (`..`, symlinks such as `bazel-out`), BUILD and workspace files and
//! directories of code (Bazel packages, Python packages) are never data.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::directives::DataGlob;
use crate::literals::{Anchor, PathCandidate};

/// What data inference needs to know about the repository.
#[derive(Debug)]
pub struct DataContext {
    /// Absolute and canonical.
    pub repo_root: PathBuf,
    /// Repo-relative bases after the module's own directory, in order.
    pub bases: Vec<PathBuf>,
    /// Repo-relative import roots (the repository root included), for package resources.
    pub import_roots: Vec<PathBuf>,
    /// Directories that are Bazel packages (repo-relative).
    pub packages: BTreeSet<PathBuf>,
}

impl DataContext {
    /// The repo-relative files that `file`'s candidates name.
    pub fn files_for(&self, file: &Path, candidates: &[PathCandidate]) -> BTreeSet<PathBuf> {
        let module_dir = file.parent().unwrap_or(Path::new(""));
        let mut out = BTreeSet::new();
        for candidate in candidates {
            // ".", "./", "..": no name of anything.
            if !Path::new(&candidate.text)
                .components()
                .any(|c| matches!(c, Component::Normal(_)))
            {
                continue;
            }
            let mut bases: Vec<PathBuf> = match &candidate.anchor {
                Anchor::Loose | Anchor::Joined => std::iter::once(module_dir.to_path_buf())
                    .chain(self.bases.iter().cloned())
                    .collect(),
                Anchor::Package(package) => self
                    .import_roots
                    .iter()
                    .map(|root| root.join(package.replace('.', "/")))
                    .collect(),
            };
            let allow_dir = candidate.anchor != Anchor::Loose || candidate.text.contains('/');
            let mut texts = vec![candidate.text.as_str()];
            // `Path(__file__) / ".." / "x"`: the first `..` leaves the file, not its directory.
            if let (Anchor::Joined, Some(rest)) =
                (&candidate.anchor, candidate.text.strip_prefix("../"))
            {
                texts.push(rest);
                bases.truncate(1);
            }
            let attempts = texts
                .iter()
                .flat_map(|text| bases.iter().map(move |base| base.join(text)));
            for joined in attempts {
                let Some(path) = self.inside(&joined) else {
                    continue;
                };
                // The module's own directory or one above it, or an import root, is not data
                // it names.
                if module_dir.starts_with(&path) || self.bases.contains(&path) {
                    continue;
                }
                let absolute = self.repo_root.join(&path);
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if skipped_name(name) {
                    break;
                }
                if absolute.is_file() && !is_python(&path) {
                    out.insert(path);
                    break;
                }
                // A directory of code (a Bazel or Python package) is reached through deps.
                let code = self.packages.contains(&path) || absolute.join("__init__.py").exists();
                if absolute.is_dir() && allow_dir && !code {
                    out.extend(self.files_below(&path));
                    break;
                }
            }
        }
        out
    }

    /// `path` (repo-relative, maybe with `..`) normalized, if it stays in the repository
    /// once symlinks are followed.
    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let mut normal = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => normal.push(part),
                Component::ParentDir => {
                    if !normal.pop() {
                        return None;
                    }
                }
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        if normal.as_os_str().is_empty() {
            return None;
        }
        let canonical = fs::canonicalize(self.repo_root.join(&normal)).ok()?;
        canonical.starts_with(&self.repo_root).then_some(normal)
    }

    /// Every data file below `dir` (repo-relative), sorted.
    pub fn files_below(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(current) = stack.pop() {
            let Ok(entries) = fs::read_dir(self.repo_root.join(&current)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if skipped_name(name) {
                    continue;
                }
                let path = current.join(name);
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// The label of a repo-relative file as written in `from` package; `None` when no
    /// package holds it (no BUILD file above it can name it).
    pub fn label(&self, file: &Path, from: &Path) -> Option<String> {
        let mut owner = file.parent();
        while let Some(dir) = owner {
            if self.packages.contains(dir) {
                break;
            }
            owner = dir.parent();
        }
        let owner = owner?;
        let relative = slash(file.strip_prefix(owner).unwrap_or(file));
        Some(if owner == from {
            relative
        } else {
            format!("//{}:{relative}", slash(owner))
        })
    }
}

/// The files `# dxpy:data` globs match, memoized per anchor directory.
#[derive(Debug, Default)]
pub struct GlobFiles {
    below: BTreeMap<PathBuf, Vec<PathBuf>>,
}

impl GlobFiles {
    pub fn matching(&mut self, context: &DataContext, globs: &[DataGlob]) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for glob in globs {
            let files = self
                .below
                .entry(glob.anchor.clone())
                .or_insert_with(|| context.files_below(&glob.anchor));
            out.extend(
                files
                    .iter()
                    .filter(|f| {
                        f.strip_prefix(&glob.anchor)
                            .is_ok_and(|rel| glob.matcher.is_match(rel))
                    })
                    .cloned(),
            );
        }
        out
    }
}

fn skipped_name(name: &str) -> bool {
    name.starts_with('.')
        || name == "__pycache__"
        || name.ends_with(".pyc")
        || matches!(
            name,
            "BUILD" | "BUILD.bazel" | "WORKSPACE" | "WORKSPACE.bazel" | "MODULE.bazel"
        )
}

fn is_python(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "py" || e == "pyc" || e == "pyi")
}

fn slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(root: &Path) -> DataContext {
        DataContext {
            repo_root: fs::canonicalize(root).expect("root"),
            bases: vec![PathBuf::new()],
            import_roots: vec![PathBuf::new()],
            packages: [PathBuf::new(), PathBuf::from("t"), PathBuf::from("t/sub")]
                .into_iter()
                .collect(),
        }
    }

    fn candidate(text: &str, anchor: Anchor) -> PathCandidate {
        PathCandidate {
            text: text.into(),
            anchor,
        }
    }

    #[test]
    fn candidates_become_existing_files_and_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for file in [
            "t/data/a.json",
            "t/data/deep/b.txt",
            "t/sub/c.txt",
            "t/res/r.txt",
            "top.ini",
        ] {
            let path = root.join(file);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, "x").expect("write");
        }
        let ctx = context(root);
        let found = ctx.files_for(
            Path::new("t/test_a.py"),
            &[
                candidate("data", Anchor::Joined),
                candidate("top.ini", Anchor::Loose),
                candidate("sub", Anchor::Loose),
                candidate("../..", Anchor::Joined),
                candidate("missing.json", Anchor::Loose),
                candidate("c.txt", Anchor::Package("t.sub".into())),
                candidate("./", Anchor::Loose),
                candidate("../res/r.txt", Anchor::Joined),
            ],
        );
        let labels: Vec<String> = found
            .iter()
            .filter_map(|f| ctx.label(f, Path::new("t")))
            .collect();
        assert_eq!(
            labels,
            vec![
                "data/a.json",
                "data/deep/b.txt",
                "res/r.txt",
                "//t/sub:c.txt",
                "//:top.ini"
            ]
        );
    }
}
