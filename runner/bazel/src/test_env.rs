//! Bazel's test environment as dx-py reads and sets it: one spelling of each variable name,
//! sharding, where the runfiles tree is, and the variables the DxPyTest run sets so its tests
//! see the layout they would see in the test action.
//!
//! An empty value counts as unset throughout ([`non_empty`]), as Bazel's own test runners do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The runfiles root under `bazel test`.
pub const TEST_SRCDIR: &str = "TEST_SRCDIR";
/// The runfiles root under `bazel run` (and what runfiles libraries read first).
pub const RUNFILES_DIR: &str = "RUNFILES_DIR";
/// Set by `bazel run` only: its presence means not under `bazel test`.
pub const BUILD_WORKSPACE_DIRECTORY: &str = "BUILD_WORKSPACE_DIRECTORY";
/// The main repository's name in the runfiles tree.
pub const TEST_WORKSPACE: &str = "TEST_WORKSPACE";
/// The label of the test target.
pub const TEST_TARGET: &str = "TEST_TARGET";
/// The test's private writable directory.
pub const TEST_TMPDIR: &str = "TEST_TMPDIR";
/// Where the test may write outputs Bazel collects (`test.outputs/`).
pub const TEST_UNDECLARED_OUTPUTS_DIR: &str = "TEST_UNDECLARED_OUTPUTS_DIR";
/// Where the test writes its JUnit XML; its `run_K_of_N` component tells `--runs_per_test`.
pub const XML_OUTPUT_FILE: &str = "XML_OUTPUT_FILE";
/// `--test_filter`: dx-py runs it as a pytest `-k` expression.
pub const TESTBRIDGE_TEST_ONLY: &str = "TESTBRIDGE_TEST_ONLY";
/// `--test_runner_fail_fast`: `1` asks for pytest's `-x`.
pub const TESTBRIDGE_TEST_RUNNER_FAIL_FAST: &str = "TESTBRIDGE_TEST_RUNNER_FAIL_FAST";
/// The number of shards (`shard_count`).
pub const TEST_TOTAL_SHARDS: &str = "TEST_TOTAL_SHARDS";
/// This shard, `0..TEST_TOTAL_SHARDS` (0 when unset).
pub const TEST_SHARD_INDEX: &str = "TEST_SHARD_INDEX";
/// A file the test touches to say it understands sharding.
pub const TEST_SHARD_STATUS_FILE: &str = "TEST_SHARD_STATUS_FILE";
/// dx-py's own: `--test_env=DXPY_BAZEL_EXECUTE=1` forces a real run in the test action.
pub const DXPY_BAZEL_EXECUTE: &str = "DXPY_BAZEL_EXECUTE";

/// Why the test environment could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestEnvError {
    #[error("TEST_TOTAL_SHARDS={0}: expected a positive number")]
    BadTotalShards(String),
    #[error("TEST_SHARD_INDEX={index}: expected 0..{total}")]
    BadShardIndex { index: String, total: usize },
    #[error("cannot find the runfiles directory (set RUNFILES_DIR)")]
    NoRunfiles,
}

/// The value of `name` in `env`, unless it is unset or empty.
pub fn non_empty<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `--test_runner_fail_fast` is on.
pub fn fail_fast(env: &BTreeMap<String, String>) -> bool {
    env.get(TESTBRIDGE_TEST_RUNNER_FAIL_FAST)
        .is_some_and(|v| v == "1")
}

/// Run only the tests whose index in the sorted node-ID list is ≡ `index` mod `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub total: usize,
}

impl Shard {
    /// `TEST_TOTAL_SHARDS`/`TEST_SHARD_INDEX`, validated; `None` when not sharded.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<Shard>, TestEnvError> {
        let Some(total) = non_empty(env, TEST_TOTAL_SHARDS) else {
            return Ok(None);
        };
        let total: usize = total
            .parse()
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| TestEnvError::BadTotalShards(total.to_owned()))?;
        let index = env.get(TEST_SHARD_INDEX).map_or("0", String::as_str);
        let index: usize = index.parse().ok().filter(|i| *i < total).ok_or_else(|| {
            TestEnvError::BadShardIndex {
                index: index.to_owned(),
                total,
            }
        })?;
        Ok(Some(Shard { index, total }))
    }

    /// The node IDs of this shard: round-robin over the sorted list.
    pub fn select(self, mut node_ids: Vec<String>) -> Vec<String> {
        node_ids.sort();
        node_ids
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.total > 0 && i % self.total == self.index)
            .map(|(_, id)| id)
            .collect()
    }
}

/// The runfiles root: `RUNFILES_DIR`, else `TEST_SRCDIR`, else the ancestor of the argsfile
/// that holds `landmark` ([`crate::args::TestArgs::runfiles_landmark`]) at its runfiles path
/// (`bazel run` without runfiles variables).
pub fn find_runfiles(
    env: &BTreeMap<String, String>,
    argsfile: Option<&Path>,
    landmark: &Path,
) -> Result<PathBuf, TestEnvError> {
    for name in [RUNFILES_DIR, TEST_SRCDIR] {
        if let Some(dir) = non_empty(env, name) {
            return Ok(PathBuf::from(dir));
        }
    }
    argsfile
        .into_iter()
        .flat_map(Path::ancestors)
        .skip(1)
        .find(|dir| dir.join(landmark).exists())
        .map(Path::to_path_buf)
        .ok_or(TestEnvError::NoRunfiles)
}

/// Where a DxPyTest run's tests find their files, named as in the test action.
#[derive(Debug, Clone, Copy)]
pub struct ActionLayout<'a> {
    /// The root of the runfiles-shaped forest.
    pub runfiles: &'a Path,
    pub main_repo: &'a str,
    pub target: &'a str,
    /// The run's private scratch directory.
    pub tmpdir: &'a Path,
    /// The `--out-undeclared` directory.
    pub undeclared_outputs: &'a Path,
}

impl ActionLayout<'_> {
    /// The variables of Bazel's test environment that locate files, so runfiles libraries and
    /// `TEST_TMPDIR` users behave in the DxPyTest run as in the test action.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            (TEST_SRCDIR.to_owned(), path(self.runfiles)),
            (RUNFILES_DIR.to_owned(), path(self.runfiles)),
            (TEST_WORKSPACE.to_owned(), self.main_repo.to_owned()),
            (TEST_TARGET.to_owned(), self.target.to_owned()),
            (TEST_TMPDIR.to_owned(), path(self.tmpdir)),
            (
                TEST_UNDECLARED_OUTPUTS_DIR.to_owned(),
                path(self.undeclared_outputs),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shards_partition_the_sorted_ids_round_robin() {
        let ids: Vec<String> = ["c", "a", "d", "b", "e"].map(String::from).into();
        let shard = |index| Shard { index, total: 2 }.select(ids.clone());
        assert_eq!(shard(0), vec!["a", "c", "e"]);
        assert_eq!(shard(1), vec!["b", "d"]);
        assert!(Shard { index: 5, total: 6 }.select(ids.clone()).is_empty());
    }

    #[test]
    fn sharding_variables_are_validated() {
        assert_eq!(Shard::from_env(&env(&[])), Ok(None));
        assert_eq!(Shard::from_env(&env(&[(TEST_TOTAL_SHARDS, "")])), Ok(None));
        assert_eq!(
            Shard::from_env(&env(&[(TEST_TOTAL_SHARDS, "3")])),
            Ok(Some(Shard { index: 0, total: 3 }))
        );
        assert_eq!(
            Shard::from_env(&env(&[(TEST_TOTAL_SHARDS, "3"), (TEST_SHARD_INDEX, "2")])),
            Ok(Some(Shard { index: 2, total: 3 }))
        );
        assert_eq!(
            Shard::from_env(&env(&[(TEST_TOTAL_SHARDS, "0")])),
            Err(TestEnvError::BadTotalShards("0".into()))
        );
        let bad_index = Shard::from_env(&env(&[(TEST_TOTAL_SHARDS, "3"), (TEST_SHARD_INDEX, "3")]));
        assert_eq!(
            bad_index.map_err(|err| err.to_string()),
            Err("TEST_SHARD_INDEX=3: expected 0..3".to_owned())
        );
    }

    #[test]
    fn runfiles_come_from_the_variables_else_from_the_argsfile_location() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runfiles = dir.path().join("t.runfiles");
        let argsfile = runfiles.join("_main/pkg/t.args");
        std::fs::create_dir_all(runfiles.join("_main/pkg/t.dxpy")).expect("mkdir");
        std::fs::write(runfiles.join("_main/pkg/t.dxpy/status"), "").expect("write");
        let landmark = Path::new("_main/pkg/t.dxpy/status");
        let found = |pairs: &[(&str, &str)]| find_runfiles(&env(pairs), Some(&argsfile), landmark);
        assert_eq!(
            found(&[(RUNFILES_DIR, "/r"), (TEST_SRCDIR, "/t")]),
            Ok("/r".into())
        );
        assert_eq!(
            found(&[(RUNFILES_DIR, ""), (TEST_SRCDIR, "/t")]),
            Ok("/t".into())
        );
        assert_eq!(found(&[]), Ok(runfiles));
        assert_eq!(
            find_runfiles(&env(&[]), Some(&argsfile), Path::new("_main/absent")),
            Err(TestEnvError::NoRunfiles)
        );
    }

    #[test]
    fn the_action_run_sees_the_test_action_layout() {
        let layout = ActionLayout {
            runfiles: Path::new("/f"),
            main_repo: "_main",
            target: "//pkg:t",
            tmpdir: Path::new("/f.tmp"),
            undeclared_outputs: Path::new("/o/u"),
        };
        let env: BTreeMap<String, String> = layout.env().into_iter().collect();
        assert_eq!(non_empty(&env, TEST_SRCDIR), Some("/f"));
        assert_eq!(non_empty(&env, RUNFILES_DIR), Some("/f"));
        assert_eq!(non_empty(&env, TEST_WORKSPACE), Some("_main"));
        assert_eq!(non_empty(&env, TEST_TARGET), Some("//pkg:t"));
        assert_eq!(non_empty(&env, TEST_TMPDIR), Some("/f.tmp"));
        assert_eq!(non_empty(&env, TEST_UNDECLARED_OUTPUTS_DIR), Some("/o/u"));
    }
}
