//! Where `pytest_collect_file` hooks (a conftest's, or pytest's doctest plugin's) make items
//! that only the runner can collect.
//!
//! A conftest's `pytest_collect_file` can turn any file below its directory into a collector
//! (pygments: every data file under `tests/examplefiles/`). Static discovery cannot list
//! those items, so it hands the runner the directories to collect through pytest instead:
//! per *scope root* (the outermost walked directory below such a conftest: its own directory,
//! or a narrower argument such as `tests/examplefiles/abnf`), the walked subdirectories
//! directly below it. The runner collects each subdirectory whole and the root without those
//! subdirectories, so the work splits over several workers; the walked directories already
//! went through pytest's ignore rules (`norecursedirs`, `--ignore`, `collect_ignore`), so an
//! explicitly collected subdirectory is one pytest would have entered too.

use std::collections::BTreeSet;
use std::path::Path;

/// One directory whose files a `pytest_collect_file` hook may turn into items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookScope {
    /// Rootdir-relative with `/` separators (`""`: the rootdir itself).
    pub root: String,
    /// The walked directories directly below `root`, in walk order.
    pub subdirs: Vec<String>,
}

/// Rootdir-relative spelling of `dir` (`""` for the rootdir), as the walk records directories.
fn rel_dir(rootdir: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(rootdir).ok()?;
    Some(
        rel.to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/"),
    )
}

/// Whether `dir` is `ancestor` or below it (both rootdir-relative, `/`-separated; `""` is the
/// rootdir).
pub fn within(dir: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || dir == ancestor
        || dir
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn parent_of(dir: &str) -> Option<&str> {
    if dir.is_empty() {
        return None;
    }
    Some(dir.rsplit_once('/').map_or("", |(parent, _)| parent))
}

/// The scopes of the files in `hook_conftests` (absolute paths of conftests defining
/// `pytest_collect_file`, and of files pytest's doctest plugin collects: the directory of each
/// is in scope), given the directories the walk entered (`walked_dirs`, rootdir-relative, walk
/// order). Files outside the rootdir are left out: their items' node IDs would not be
/// rootdir-relative paths.
pub fn hook_scopes(
    rootdir: &Path,
    hook_conftests: &[&Path],
    walked_dirs: &[String],
) -> Vec<HookScope> {
    let hook_dirs: Vec<String> = hook_conftests
        .iter()
        .filter_map(|conftest| conftest.parent())
        .filter_map(|dir| rel_dir(rootdir, dir))
        .collect();
    if hook_dirs.is_empty() {
        return Vec::new();
    }
    let in_scope: Vec<&String> = walked_dirs
        .iter()
        .filter(|dir| hook_dirs.iter().any(|hook| within(dir, hook)))
        .collect();
    let in_scope_set: BTreeSet<&str> = in_scope.iter().map(|d| d.as_str()).collect();
    let mut scopes: Vec<HookScope> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for dir in &in_scope {
        if !seen.insert(dir.as_str()) {
            continue; // walked twice (two overlapping arguments): one scope
        }
        let is_root = parent_of(dir).is_none_or(|parent| !in_scope_set.contains(parent));
        if is_root {
            scopes.push(HookScope {
                root: (*dir).clone(),
                subdirs: Vec::new(),
            });
        } else if let Some(scope) = scopes
            .iter_mut()
            .find(|s| parent_of(dir) == Some(s.root.as_str()))
        {
            scope.subdirs.push((*dir).clone());
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_are_the_outermost_walked_dirs_under_hook_conftests_with_their_children() {
        let root = Path::new("/r");
        let walked = dirs(&[
            "",
            "tests",
            "tests/data",
            "tests/data/a",
            "tests/data/a/deep",
            "tests/data/b",
            "tests/other",
        ]);
        let conftest = Path::new("/r/tests/data/conftest.py");
        let scopes = hook_scopes(root, &[conftest], &walked);
        assert_eq!(
            scopes,
            [HookScope {
                root: "tests/data".into(),
                subdirs: dirs(&["tests/data/a", "tests/data/b"]),
            }]
        );
    }

    #[test]
    fn a_narrower_argument_is_its_own_root_and_unwalked_dirs_are_left_out() {
        let root = Path::new("/r");
        // `dx-py test tests/data/b`: the walk entered only b (and nothing ignored below it).
        let walked = dirs(&["tests/data/b", "tests/data/b/x"]);
        let conftest = Path::new("/r/tests/data/conftest.py");
        let scopes = hook_scopes(root, &[conftest], &walked);
        assert_eq!(
            scopes,
            [HookScope {
                root: "tests/data/b".into(),
                subdirs: dirs(&["tests/data/b/x"]),
            }]
        );
        // A nested hook conftest inside a scope adds no second scope.
        let nested = Path::new("/r/tests/data/b/x/conftest.py");
        assert_eq!(hook_scopes(root, &[conftest, nested], &walked), scopes);
        // A sibling whose name extends the hook dir's is not inside it.
        let walked = dirs(&["tests/data2"]);
        assert!(hook_scopes(root, &[conftest], &walked).is_empty());
    }

    #[test]
    fn a_rootdir_conftest_scopes_the_rootdir() {
        let root = Path::new("/r");
        let walked = dirs(&["", "a", "a/b"]);
        let scopes = hook_scopes(root, &[Path::new("/r/conftest.py")], &walked);
        assert_eq!(
            scopes,
            [HookScope {
                root: String::new(),
                subdirs: dirs(&["a"]),
            }]
        );
    }
}
