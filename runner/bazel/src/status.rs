//! The recorded result of a DxPyTest action (`--out-status`): dx-py's private format, read
//! back only by `dx-py bazel-test`. JSON, versioned, so a stale or foreign file is refused
//! rather than misread (and then the test action executes instead of replaying).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

const FORMAT: &str = "dxpy-bazel-status-2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedStatus {
    format: String,
    /// The exit code `dx-py test` would have given (pytest's codes).
    pub exit_code: i32,
    /// The run hit its `--timeout` deadline and was killed.
    pub timed_out: bool,
    /// Tests the run selected.
    pub selected: usize,
    /// Failed and errored reports.
    pub failures: usize,
    /// The variables the tests ran with beyond Bazel's own test environment (the action's
    /// `--action_env`, which Bazel also gives the test action), as name -> Blake3 of the
    /// value: the test action replays only when it sees the same values. Digests, not
    /// values, so the cached output holds no secrets.
    #[serde(default)]
    pub action_env: BTreeMap<String, String>,
}

/// The digest [`RecordedStatus::action_env`] holds for `value`.
pub fn env_value_digest(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex().to_string()
}

/// Environment variables Bazel itself sets for a test (its test action, `test-setup.sh`, a
/// shell or launcher around it): their presence says nothing about `--test_env`. The
/// coverage variables are deliberately absent: `bazel coverage` needs a real run.
const STANDARD_TEST_ENV: &[&str] = &[
    "_",
    "BAZEL_TEST",
    "BUILD_WORKING_DIRECTORY",
    "BUILD_WORKSPACE_DIRECTORY",
    "DXPY_BAZEL_EXECUTE",
    "GUNIT_OUTPUT",
    "EXPERIMENTAL_SPLIT_XML_GENERATION",
    "GTEST_OUTPUT",
    "GTEST_SHARD_INDEX",
    "GTEST_SHARD_STATUS_FILE",
    "GTEST_TMP_DIR",
    "GTEST_TOTAL_SHARDS",
    "HOME",
    "JAVA_RUNFILES",
    "LANG",
    "LANGUAGE",
    "LOGNAME",
    "OLDPWD",
    "PATH",
    "PWD",
    "PYTHON_RUNFILES",
    "RUNFILES_DIR",
    "RUNFILES_MANIFEST_FILE",
    "RUNFILES_MANIFEST_ONLY",
    "RUN_UNDER_RUNFILES",
    "RUNTEST_PRESERVE_CWD",
    "SHELL",
    "SHLVL",
    "TERM",
    "TESTBRIDGE_TEST_ONLY",
    "TESTBRIDGE_TEST_RUNNER_FAIL_FAST",
    "TEST_BINARY",
    "TEST_INFRASTRUCTURE_FAILURE_FILE",
    "TEST_LOGSPLITTER_OUTPUT_FILE",
    "TEST_PREMATURE_EXIT_FILE",
    "TEST_RANDOM_SEED",
    "TEST_RUN_NUMBER",
    "TEST_SHARD_INDEX",
    "TEST_SHARD_STATUS_FILE",
    "TEST_SHORT_EXEC_PATH",
    "TEST_SIZE",
    "TEST_SRCDIR",
    "TEST_TARGET",
    "TEST_TIMEOUT",
    "TEST_TMPDIR",
    "TEST_TOTAL_SHARDS",
    "TEST_UNDECLARED_OUTPUTS_ANNOTATIONS",
    "TEST_UNDECLARED_OUTPUTS_ANNOTATIONS_DIR",
    "TEST_UNDECLARED_OUTPUTS_DIR",
    "TEST_UNDECLARED_OUTPUTS_MANIFEST",
    "TEST_UNDECLARED_OUTPUTS_ZIP",
    "TEST_UNUSED_RUNFILES_LOG_FILE",
    "TEST_WARNINGS_OUTPUT_FILE",
    "TEST_WORKSPACE",
    "TMPDIR",
    "TZ",
    "USER",
    "XML_OUTPUT_FILE",
];

/// Whether Bazel itself sets `name` for a test (or a shell around it exports it): such a
/// variable says nothing about `--test_env`/`--action_env`.
pub fn is_bazel_test_variable(name: &str) -> bool {
    STANDARD_TEST_ENV.contains(&name)
        || crate::coverage::COVERAGE_TEST_ENV.contains(&name)
        || name.starts_with("LC_")
        // Functions test-setup.sh exports (`rlocation`, `is_absolute`).
        || name.starts_with("BASH_FUNC_")
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("reading the recorded status `{}`: {source}", .path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the recorded status `{}` is not dx-py's: {message}", .path.display())]
    Format {
        path: std::path::PathBuf,
        message: String,
    },
}

impl RecordedStatus {
    pub fn new(
        exit_code: i32,
        timed_out: bool,
        selected: usize,
        failures: usize,
    ) -> RecordedStatus {
        RecordedStatus {
            format: FORMAT.to_owned(),
            exit_code,
            timed_out,
            selected,
            failures,
            action_env: BTreeMap::new(),
        }
    }

    /// Records `vars` (all of them; [`crate::decision`] decides which count).
    pub fn with_action_env<'a>(
        mut self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> RecordedStatus {
        self.action_env = vars
            .into_iter()
            .filter(|(name, _)| !is_bazel_test_variable(name))
            .map(|(name, value)| (name.to_owned(), env_value_digest(value)))
            .collect();
        self
    }

    /// A pass is exit code 0 and no timeout.
    pub fn passed(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }

    pub fn to_json(&self) -> String {
        // Serializing plain fields cannot fail; the fallback keeps this total anyway.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn read(path: &Path) -> Result<RecordedStatus, StatusError> {
        let bytes = std::fs::read(path).map_err(|source| StatusError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format_error = |message: String| StatusError::Format {
            path: path.to_path_buf(),
            message,
        };
        let status: RecordedStatus =
            serde_json::from_slice(&bytes).map_err(|err| format_error(err.to_string()))?;
        if status.format != FORMAT {
            return Err(format_error(format!("format `{}`", status.format)));
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status");
        let status = RecordedStatus::new(1, false, 3, 1)
            .with_action_env([("FOO", "secret"), ("PATH", "/bin")]);
        // Standard variables are not recorded; values only as digests.
        assert_eq!(status.action_env.keys().collect::<Vec<_>>(), ["FOO"]);
        assert!(!status.to_json().contains("secret"));
        std::fs::write(&path, status.to_json()).expect("write");
        assert_eq!(RecordedStatus::read(&path).expect("read"), status);
        assert!(!status.passed());
        assert!(RecordedStatus::new(0, false, 1, 0).passed());
        assert!(!RecordedStatus::new(0, true, 1, 0).passed());
        std::fs::write(
            &path,
            r#"{"format":"other","exit_code":0,"timed_out":false,"selected":1,"failures":0}"#,
        )
        .expect("write");
        assert!(matches!(
            RecordedStatus::read(&path),
            Err(StatusError::Format { .. })
        ));
        assert!(matches!(
            RecordedStatus::read(&dir.path().join("absent")),
            Err(StatusError::Io { .. })
        ));
    }
}
