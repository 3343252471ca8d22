//! The private runfiles-shaped symlink forest one request runs in.
//!
//! [`runfiles_path`] maps an execroot path to its place in the runfiles tree: main-repository
//! files `pkg/x.py` → `<main>/pkg/x.py`, external files `external/repo/y.py` (or the sibling
//! layout's `../repo/y.py`) → `repo/y.py`, and generated files
//! `bazel-out/<cfg>/bin/<rest>` map like `<rest>`. A path that is absolute, empty, or has a
//! `..` anywhere but the sibling layout's leading one is refused, so nothing leaves the forest.
//!
//! [`Forest::build`] creates a fresh directory (mode 0700) under a parent directory and puts a
//! symlink at each mapped path pointing at the real file; only those files exist in it, so an
//! import of anything else fails as it would in a sandbox. Dropping the [`Forest`] deletes it
//! (symlinks are removed, never followed); a [`Reaper`] deletes forests on its own thread, so
//! the persistent worker answers a request without waiting for the file system.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Why a forest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    #[error("input path `{0}` leaves the runfiles tree")]
    Escapes(String),
    #[error("input path `{0}` is empty or absolute")]
    NotRelative(String),
    #[error("input `{}` does not exist", .0.display())]
    MissingInput(PathBuf),
    #[error("two inputs map to `{0}`")]
    Conflict(String),
    #[error("building the runfiles forest at `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ForestError + '_ {
    move |source| ForestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The runfiles path (`_main/pkg/x.py`, `repo/y.py`) of an execroot path.
pub fn runfiles_path(execroot_path: &str, main_repo: &str) -> Result<String, ForestError> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(execroot_path).components() {
        match component {
            Component::Normal(part) => {
                let Some(part) = part.to_str() else {
                    return Err(ForestError::NotRelative(execroot_path.to_owned()));
                };
                parts.push(part);
            }
            Component::CurDir => {}
            // A leading `..` is the sibling repository layout (`../repo/y.py`). Bazel never
            // writes `..` elsewhere, so any other one is refused rather than resolved.
            Component::ParentDir if parts.is_empty() && !execroot_path.starts_with("../..") => {
                parts.push("..");
            }
            Component::ParentDir => return Err(ForestError::Escapes(execroot_path.to_owned())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(ForestError::NotRelative(execroot_path.to_owned()));
            }
        }
    }
    // Generated files: `bazel-out/<cfg>/bin/<rest>` lives where `<rest>` would.
    if parts.len() > 3 && parts[0] == "bazel-out" && parts[2] == "bin" {
        parts.drain(..3);
    }
    let mapped: Vec<&str> = match parts.as_slice() {
        [] => return Err(ForestError::NotRelative(execroot_path.to_owned())),
        ["external" | "..", repo, rest @ ..] if !rest.is_empty() => {
            std::iter::once(*repo).chain(rest.iter().copied()).collect()
        }
        ["external" | "..", ..] => return Err(ForestError::Escapes(execroot_path.to_owned())),
        _ => std::iter::once(main_repo)
            .chain(parts.iter().copied())
            .collect(),
    };
    if mapped.contains(&"..") {
        return Err(ForestError::Escapes(execroot_path.to_owned()));
    }
    Ok(mapped.join("/"))
}

/// A private directory of symlinks laid out like a runfiles tree; removed on drop.
///
/// On disk: `<private dir>/runfiles/` (the forest) and `<private dir>/tmp/` (a scratch
/// directory for the tests' `TEST_TMPDIR`), both inside one 0700 directory.
#[derive(Debug)]
pub struct Forest {
    private: PathBuf,
    root: PathBuf,
    main_repo: String,
}

static FOREST_SERIAL: AtomicU64 = AtomicU64::new(0);

impl Forest {
    /// Creates the forest under `parent` with a symlink at `runfiles_path(p)` for each
    /// execroot path `p`, pointing at `base/p`. Paths listed twice are linked once.
    pub fn build<'a>(
        parent: &Path,
        base: &Path,
        main_repo: &str,
        execroot_paths: impl IntoIterator<Item = &'a str>,
    ) -> Result<Forest, ForestError> {
        let private = create_private_dir(parent)?;
        let forest = Forest {
            root: private.join("runfiles"),
            private,
            main_repo: main_repo.to_owned(),
        };
        for dir in [
            forest.root.clone(),
            forest.main_root(),
            forest.scratch_dir(),
        ] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(io_error(&dir))?;
        }
        let mut linked = std::collections::BTreeMap::new();
        for path in execroot_paths {
            let mapped = runfiles_path(path, main_repo)?;
            let target = base.join(path);
            if let Some(previous) = linked.get(&mapped) {
                if previous == &target {
                    continue;
                }
                return Err(ForestError::Conflict(mapped));
            }
            if std::fs::metadata(&target).is_err() {
                return Err(ForestError::MissingInput(target));
            }
            let link = forest.root.join(&mapped);
            if let Some(dir) = link.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_error(dir))?;
            }
            std::os::unix::fs::symlink(&target, &link).map_err(io_error(&link))?;
            linked.insert(mapped, target);
        }
        Ok(forest)
    }

    /// The forest's root: the runfiles directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The private directory holding the forest, its scratch directory and nothing else:
    /// a place for the run's own files (not importable, not the tests' TEST_TMPDIR).
    pub fn private_dir(&self) -> &Path {
        &self.private
    }

    /// An empty private directory next to the forest (not inside it, so not importable).
    pub fn scratch_dir(&self) -> PathBuf {
        self.private.join("tmp")
    }

    /// `<root>/<main repo>`: the rootdir of the run.
    pub fn main_root(&self) -> PathBuf {
        self.root.join(&self.main_repo)
    }
}

impl Drop for Forest {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is not worth failing a result over.
        let _ = std::fs::remove_dir_all(&self.private);
    }
}

/// Deletes the forests handed to it on a background thread, in order; dropping the reaper
/// waits until all are gone.
///
/// Deleting a finished request's forest (its symlinks, scratch directory and the
/// `.pytest_cache` pytest wrote into it) took 3-11 ms on a loaded 2-core machine, all on the
/// request's critical path although nothing reads the forest any more: the tests' interpreter
/// has exited and the results are written elsewhere.
#[derive(Debug)]
pub struct Reaper {
    sender: Option<mpsc::Sender<Forest>>,
    thread: Option<JoinHandle<()>>,
}

impl Reaper {
    /// Starts the deleting thread; if it cannot start, forests are deleted in [`discard`].
    ///
    /// [`discard`]: Reaper::discard
    pub fn new() -> Reaper {
        let (sender, receiver) = mpsc::channel::<Forest>();
        let thread = std::thread::Builder::new()
            .name("dxpy-forest-reaper".to_owned())
            .spawn(move || receiver.into_iter().for_each(drop));
        match thread {
            Ok(thread) => Reaper {
                sender: Some(sender),
                thread: Some(thread),
            },
            Err(_) => Reaper {
                sender: None,
                thread: None,
            },
        }
    }

    /// Deletes `forest` soon, on the reaper's thread (here, if that thread is gone).
    pub fn discard(&self, forest: Forest) {
        if let Some(sender) = &self.sender {
            if let Err(mpsc::SendError(forest)) = sender.send(forest) {
                drop(forest);
            }
        }
    }
}

impl Default for Reaper {
    fn default() -> Reaper {
        Reaper::new()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A new, empty directory only this user can enter, with a name no other request uses.
fn create_private_dir(parent: &Path) -> Result<PathBuf, ForestError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    loop {
        let serial = FOREST_SERIAL.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(
            "dxpy-runfiles-{}-{serial}-{nanos:x}",
            std::process::id()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(io_error(&path)(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn execroot_paths_map_to_runfiles_paths() {
        let map = |p: &str| runfiles_path(p, "_main").map_err(|e| e.to_string());
        assert_eq!(map("pkg/x.py"), Ok("_main/pkg/x.py".into()));
        assert_eq!(map("./pkg/x.py"), Ok("_main/pkg/x.py".into()));
        assert_eq!(map("external/repo/y.py"), Ok("repo/y.py".into()));
        assert_eq!(map("../repo/y.py"), Ok("repo/y.py".into()));
        assert_eq!(
            map("bazel-out/k8-fastbuild/bin/pkg/gen.py"),
            Ok("_main/pkg/gen.py".into())
        );
        assert_eq!(
            map("bazel-out/k8-fastbuild/bin/external/repo/gen.py"),
            Ok("repo/gen.py".into())
        );
        for bad in [
            "../../etc/passwd",
            "pkg/../../x",
            "external/repo/../../x",
            "external/..",
            "/abs",
            "",
        ] {
            assert!(map(bad).is_err(), "{bad} was accepted");
        }
    }

    proptest::proptest! {
        /// Whatever the input, a mapped path is relative and never climbs: it cannot leave
        /// the forest. Plain main-repository paths map to `_main/<path>`.
        #[test]
        fn mapped_paths_stay_inside(parts in proptest::collection::vec("(\\.\\.|\\.|external|bazel-out|bin|[a-z_]{1,6}|/)", 1..8)) {
            let path = parts.join("/");
            if let Ok(mapped) = runfiles_path(&path, "_main") {
                proptest::prop_assert!(!mapped.starts_with('/'), "{} -> {}", path, mapped);
                proptest::prop_assert!(
                    mapped.split('/').all(|c| c != ".." && c != "." && !c.is_empty()),
                    "{} -> {}", path, mapped
                );
            }
        }

        #[test]
        fn main_repository_paths_keep_their_shape(parts in proptest::collection::vec("[a-z][a-z_]{0,6}\\.?p?y?", 1..5)) {
            proptest::prop_assume!(parts[0] != "external");
            let path = parts.join("/");
            proptest::prop_assert_eq!(runfiles_path(&path, "_main").ok(), Some(format!("_main/{path}")));
        }
    }

    #[test]
    fn the_forest_holds_exactly_the_inputs_and_disappears() {
        let execroot = tempfile::tempdir().expect("execroot");
        let tmp = tempfile::tempdir().expect("tmp");
        for file in ["pkg/test_a.py", "pkg/unlisted.py", "external/repo/lib.py"] {
            let path = execroot.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x = 1\n").expect("write");
        }
        let forest = Forest::build(
            tmp.path(),
            execroot.path(),
            "_main",
            ["pkg/test_a.py", "external/repo/lib.py", "pkg/test_a.py"],
        )
        .expect("forest");
        let root = forest.root().to_path_buf();
        let private = root.parent().expect("private dir").to_path_buf();
        for dir in [&private, &root, &forest.scratch_dir()] {
            assert_eq!(
                std::fs::metadata(dir).expect("meta").permissions().mode() & 0o777,
                0o700
            );
        }
        assert_eq!(
            std::fs::read_to_string(root.join("_main/pkg/test_a.py")).expect("linked"),
            "x = 1\n"
        );
        assert!(root.join("repo/lib.py").exists());
        assert!(!root.join("_main/pkg/unlisted.py").exists());
        drop(forest);
        assert!(!private.exists());
        assert!(
            execroot.path().join("pkg/test_a.py").exists(),
            "the target was deleted"
        );
    }

    #[test]
    fn missing_and_escaping_inputs_are_refused() {
        let execroot = tempfile::tempdir().expect("execroot");
        let tmp = tempfile::tempdir().expect("tmp");
        let missing = Forest::build(tmp.path(), execroot.path(), "_main", ["nope.py"]);
        assert!(matches!(missing, Err(ForestError::MissingInput(_))));
        let escaping = Forest::build(tmp.path(), execroot.path(), "_main", ["a/../../b.py"]);
        assert!(matches!(escaping, Err(ForestError::Escapes(_))));
        // Failed builds leave nothing behind.
        assert_eq!(std::fs::read_dir(tmp.path()).expect("list").count(), 0);
    }

    #[test]
    fn the_reaper_deletes_every_forest_it_is_given_by_the_time_it_is_dropped() {
        let execroot = tempfile::tempdir().expect("execroot");
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(execroot.path().join("a.py"), "").expect("write");
        let reaper = Reaper::new();
        for _ in 0..5 {
            let forest =
                Forest::build(tmp.path(), execroot.path(), "_main", ["a.py"]).expect("forest");
            std::fs::write(forest.scratch_dir().join("left.txt"), "x").expect("scratch");
            reaper.discard(forest);
        }
        drop(reaper);
        assert_eq!(std::fs::read_dir(tmp.path()).expect("list").count(), 0);
        assert!(execroot.path().join("a.py").exists());
    }
}
