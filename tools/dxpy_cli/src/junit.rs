//! JUnit XML in pytest's shape (`--junit-xml`): one `testsuite` named `pytest`, a `testcase`
//! per test with pytest's `classname`/`name` split of the node ID, so CI tools that read
//! pytest's files read ours the same way.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::terminal::crash_message;
use anyhow::Context;
use dxpy_runner::protocol::{ItemResult, Outcome, Phase};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// pytest's `mangle_test_address`: `tests/test_a.py::TestC::test_m[1]` becomes classname
/// `tests.test_a.TestC` and name `test_m[1]`.
pub fn classname_and_name(node_id: &str) -> (String, String) {
    let (path, params) = match node_id.find('[') {
        Some(i) => node_id.split_at(i),
        None => (node_id, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_string).collect();
    if let Some(first) = names.first_mut() {
        let dotted = first.replace('/', ".");
        *first = dotted
            .strip_suffix(".py")
            .map(str::to_string)
            .unwrap_or(dotted);
    }
    let name = names.pop().unwrap_or_default() + params;
    (names.join("."), name)
}

/// One test case as pytest's junitxml plugin builds it from the item's reports.
#[derive(Debug, Default)]
struct CaseState {
    time: Duration,
    status: Option<(Outcome, Phase, String, String)>,
    /// A module that skipped itself while collected: `<skipped message="collection
    /// skipped">` with the reason, as pytest's `append_collect_skipped` writes it.
    collection_skipped: bool,
}

/// Collects reports in arrival order; keeps the test order of first appearance.
#[derive(Debug, Default)]
pub struct JunitBuilder {
    order: Vec<String>,
    cases: HashMap<String, CaseState>,
}

impl JunitBuilder {
    pub fn report(&mut self, result: &ItemResult) {
        let state = self.cases.entry(result.node_id.clone()).or_insert_with(|| {
            self.order.push(result.node_id.clone());
            CaseState::default()
        });
        state.time += result.duration;
        let notable = !matches!(result.outcome, Outcome::Passed);
        // The first non-passing report decides the element, except that a teardown error
        // after a failure is kept as well in pytest; one element is enough for CI readers.
        if notable && result.in_summary && state.status.is_none() {
            state.status = Some((
                result.outcome,
                result.phase,
                result.longrepr.clone(),
                result.skip_reason.clone(),
            ));
        }
    }

    /// A collection error becomes an `error` test case named after the module, as in pytest.
    pub fn collect_error(&mut self, node_id: &str, longrepr: &str) {
        let status = (
            Outcome::Error,
            Phase::Setup,
            longrepr.to_string(),
            String::new(),
        );
        self.collector_case(node_id, status, false);
    }

    /// A collector that skipped itself: a `skipped` test case named after it.
    pub fn collect_skip(&mut self, node_id: &str, reason: &str) {
        let status = (
            Outcome::Skipped,
            Phase::Setup,
            String::new(),
            reason.to_string(),
        );
        self.collector_case(node_id, status, true);
    }

    fn collector_case(
        &mut self,
        node_id: &str,
        status: (Outcome, Phase, String, String),
        collection_skipped: bool,
    ) {
        self.order.push(node_id.to_string());
        self.cases.insert(
            node_id.to_string(),
            CaseState {
                time: Duration::ZERO,
                status: Some(status),
                collection_skipped,
            },
        );
    }

    pub fn write(&self, path: &Path, elapsed: Duration) -> anyhow::Result<()> {
        self.write_named(path, elapsed, "pytest")
    }

    /// [`JunitBuilder::write`] with another testsuite name (Bazel: the target's label).
    pub fn write_named(
        &self,
        path: &Path,
        elapsed: Duration,
        suite_name: &str,
    ) -> anyhow::Result<()> {
        let mut suite = TestSuite::new(suite_name);
        suite.set_time(elapsed);
        for node_id in &self.order {
            let Some(state) = self.cases.get(node_id) else {
                continue;
            };
            let (classname, name) = classname_and_name(node_id);
            let mut case = TestCase::new(name, status_of(state));
            case.set_classname(classname);
            case.set_time(state.time);
            suite.add_test_case(case);
        }
        let mut report = Report::new("pytest");
        report.set_time(elapsed);
        report.add_test_suite(suite);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Written via a temp file and rename so an interrupted run never leaves half a file;
        // the user's path gets the ordinary (umask) mode, not a cache's 0600.
        let text = report.to_string().context("serializing JUnit XML")?;
        dxpy_fs::AtomicWrite::public()
            .write(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn status_of(state: &CaseState) -> TestCaseStatus {
    let Some((outcome, phase, longrepr, reason)) = &state.status else {
        return TestCaseStatus::success();
    };
    if state.collection_skipped {
        let mut status = TestCaseStatus::skipped();
        status
            .set_message("collection skipped")
            .set_description(reason.as_str());
        return status;
    }
    match outcome {
        Outcome::Passed | Outcome::XPassed => TestCaseStatus::success(),
        Outcome::Failed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(crash_message(longrepr))
                .set_description(longrepr.trim());
            status
        }
        Outcome::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            let when = match phase {
                Phase::Setup => "setup",
                Phase::Call => "call",
                Phase::Teardown => "teardown",
            };
            status
                .set_message(format!(
                    "failed on {when} with \"{}\"",
                    crash_message(longrepr)
                ))
                .set_description(longrepr.trim());
            status
        }
        Outcome::Skipped => {
            let mut status = TestCaseStatus::skipped();
            // pytest's junitxml drops the "Skipped: " its skip exception puts before the reason.
            let reason = first_line(reason);
            let reason = reason.strip_prefix("Skipped: ").unwrap_or(reason);
            status.set_type("pytest.skip").set_message(reason);
            status
        }
        Outcome::XFailed => {
            let mut status = TestCaseStatus::skipped();
            status
                .set_type("pytest.xfail")
                .set_message(first_line(reason));
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_split_like_pytest_junitxml() {
        assert_eq!(
            classname_and_name("tests/test_a.py::TestC::test_m[a::b/c]"),
            (
                "tests.test_a.TestC".to_string(),
                "test_m[a::b/c]".to_string()
            )
        );
        assert_eq!(
            classname_and_name("test_x.py::test_y"),
            ("test_x".to_string(), "test_y".to_string())
        );
    }
}
