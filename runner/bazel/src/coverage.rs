//! `bazel coverage`: which files a run reports on, under which names, and Bazel's coverage
//! variables.
//!
//! coverage.py records a file under its real path (it resolves symlinks), so a run in a
//! symlink forest or a runfiles tree reports `/src/checkout/pkg/x.py` or an execroot file,
//! never the path the run imported it from. [`SourceMap`] resolves each instrumented source the
//! same way and maps the real path back to the file's name in Bazel's reports
//! ([`report_name`]: the execroot-relative path, as in `$COVERAGE_MANIFEST`);
//! [`filter_lcov`] keeps only the LCOV records of those files, renamed. Everything else the
//! run executed (the test runner, other repositories' code, files outside
//! `--instrumentation_filter`) is dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the test writes its LCOV report (`bazel coverage`; absolute once Bazel's
/// `collect_coverage.sh` has run).
pub const COVERAGE_OUTPUT_FILE: &str = "COVERAGE_OUTPUT_FILE";

/// What Bazel (or its `collect_coverage.sh`) sets in a test action under `bazel coverage`.
/// They say nothing about `--test_env`, so they never force a real run.
pub const COVERAGE_TEST_ENV: &[&str] = &[
    "BAZEL_CC_COVERAGE_TOOL",
    "BULK_COVERAGE_RUN",
    "CC_CODE_COVERAGE_SCRIPT",
    "COVERAGE",
    "COVERAGE_DIR",
    "COVERAGE_GCOV_OPTIONS",
    "COVERAGE_GCOV_PATH",
    "COVERAGE_MANIFEST",
    "COVERAGE_OUTPUT_FILE",
    "COVERAGE_REPORTED_TO_ACTUAL_SOURCES_FILE",
    "GCOV_PREFIX",
    "GCOV_PREFIX_STRIP",
    "GENERATE_LLVM_LCOV",
    "IS_COVERAGE_SPAWN",
    "JAVA_COVERAGE_FILE",
    "JAVA_RUNTIME_CLASSPATH_FOR_COVERAGE",
    "LCOV_MERGER",
    "LLVM_COV",
    "LLVM_PROFDATA",
    "LLVM_PROFILE_FILE",
    "ROOT",
    "SINGLE_JAR_TOOL",
    "SPLIT_COVERAGE_POST_PROCESSING",
    "VERBOSE_COVERAGE",
];

/// A file's name in Bazel's coverage reports, from its runfiles path: main-repository files
/// `<main>/pkg/x.py` → `pkg/x.py`, other repositories' `repo/y.py` → `external/repo/y.py`.
pub fn report_name(runfiles_path: &str, main_repo: &str) -> String {
    match runfiles_path
        .strip_prefix(main_repo)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(inside) => inside.to_owned(),
        None => format!("external/{runfiles_path}"),
    }
}

/// Real path of each instrumented source → its report name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceMap {
    names: HashMap<PathBuf, String>,
}

impl SourceMap {
    /// `sources`: (the file as the run sees it, its report name). A file that does not exist
    /// (not an input of this run) cannot have been executed and is left out.
    pub fn resolve<I: IntoIterator<Item = (PathBuf, String)>>(sources: I) -> SourceMap {
        let names = sources
            .into_iter()
            .filter_map(|(path, name)| Some((std::fs::canonicalize(path).ok()?, name)))
            .collect();
        SourceMap { names }
    }

    /// The report name of a path coverage.py recorded.
    pub fn name_of(&self, recorded: &str) -> Option<&str> {
        let path = Path::new(recorded);
        self.names
            .get(path)
            .or_else(|| self.names.get(&std::fs::canonicalize(path).ok()?))
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The records of `lcov` whose `SF:` file `rename` names, with `SF:` rewritten to that name;
/// the others are dropped. Lines outside records (`TN:`) are kept.
pub fn filter_lcov<'a, F>(lcov: &str, rename: F) -> String
where
    F: Fn(&str) -> Option<&'a str>,
{
    let mut out = String::new();
    let mut record: Option<Option<String>> = None;
    for line in lcov.lines() {
        if let Some(file) = line.strip_prefix("SF:") {
            let renamed = rename(file).map(|name| format!("SF:{name}\n"));
            record = Some(renamed);
        }
        match &mut record {
            Some(Some(kept)) => {
                if !line.starts_with("SF:") {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            Some(None) => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
        if line == "end_of_record" {
            if let Some(Some(kept)) = record.take() {
                out.push_str(&kept);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_are_execroot_paths() {
        assert_eq!(
            report_name("_main/src/greeter/__init__.py", "_main"),
            "src/greeter/__init__.py"
        );
        assert_eq!(
            report_name("rules_x~/lib/y.py", "_main"),
            "external/rules_x~/lib/y.py"
        );
        // A repository whose name starts like the main one's is another repository.
        assert_eq!(report_name("_main2/y.py", "_main"), "external/_main2/y.py");
    }

    #[test]
    fn only_mapped_records_are_kept_and_renamed() {
        let lcov = "TN:\nSF:/real/src/a.py\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n\
                    SF:/elsewhere/runner.py\nDA:1,1\nLF:1\nLH:1\nend_of_record\n\
                    SF:/real/src/b.py\nDA:3,1\nBRDA:3,0,0,1\nend_of_record\n";
        let names: HashMap<&str, &str> = [
            ("/real/src/a.py", "src/a.py"),
            ("/real/src/b.py", "src/b.py"),
        ]
        .into();
        let filtered = filter_lcov(lcov, |file| names.get(file).copied());
        assert_eq!(
            filtered,
            "TN:\nSF:src/a.py\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n\
             SF:src/b.py\nDA:3,1\nBRDA:3,0,0,1\nend_of_record\n"
        );
        assert_eq!(filter_lcov(lcov, |_| None), "TN:\n");
    }

    #[test]
    fn the_source_map_resolves_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.py");
        std::fs::write(&real, "x = 1\n").expect("write");
        let link = dir.path().join("link.py");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let map = SourceMap::resolve([
            (link, "pkg/x.py".to_owned()),
            (dir.path().join("absent.py"), "pkg/absent.py".to_owned()),
        ]);
        let recorded = std::fs::canonicalize(&real).expect("canonical");
        assert_eq!(map.name_of(&recorded.to_string_lossy()), Some("pkg/x.py"));
        // A path that resolves to the file (here the symlink itself) finds it too.
        assert_eq!(
            map.name_of(&dir.path().join("link.py").to_string_lossy()),
            Some("pkg/x.py")
        );
        assert_eq!(map.name_of("/nowhere/absent.py"), None);
        assert!(!map.is_empty());
    }
}
