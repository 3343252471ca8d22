//! Reference runs of real pytest: their node IDs, outcomes, summary lines and exit codes are
//! the expected values of the tests, so nothing is a hand-kept list that could drift.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::command::{clean, run, Run};
use crate::python::{bounded, python};

/// `python -m pytest -p no:cacheprovider ARGS` [`clean`]ly in `dir`.
pub fn pytest(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args);
    run(cmd, dir)
}

/// `python -m pytest --collect-only -q -p no:cacheprovider` in `dir`, [`clean`]ly; add
/// arguments (files last) and environment, then hand the output to [`Collection::from`].
pub fn collect_only_command(dir: &Path) -> Command {
    let mut cmd = Command::new(python());
    cmd.args([
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]);
    clean(&mut cmd, dir);
    cmd
}

/// [`collect_only_command`] with `args`, run to its end.
pub fn collect_only(dir: &Path, args: &[&str]) -> Collection {
    let mut cmd = collect_only_command(dir);
    cmd.args(args);
    let python = python();
    Collection::from(
        cmd.output()
            .unwrap_or_else(|err| panic!("cannot run {python}: {err}")),
    )
}

/// What `pytest --collect-only -q` reported.
#[derive(Debug)]
pub struct Collection {
    /// Node IDs in collection order.
    pub node_ids: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Collection {
    fn from(out: Output) -> Collection {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // In -q mode the node IDs come first, one per line, up to the first blank line
        // (which comes first when nothing was collected).
        let node_ids = stdout
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter(|l| l.contains("::"))
            .map(str::to_owned)
            .collect();
        Collection {
            node_ids,
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

const JUNIT_TO_JSON: &str = r#"
import json, sys, xml.etree.ElementTree as ET
out = {}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    tags = {c.tag: c for c in case}
    if "error" in tags: o = "error"
    elif "failure" in tags: o = "failed"
    elif "skipped" in tags: o = "xfailed" if tags["skipped"].get("type") == "pytest.xfail" else "skipped"
    else: o = "passed"
    out[case.get("classname") + "::" + case.get("name")] = o
print(json.dumps(out))
"#;

/// `classname::name` → outcome of every case in a JUnit file, parsed by Python's ElementTree
/// (a real XML parser, which also proves the file is well-formed).
pub fn junit(path: &Path) -> BTreeMap<String, String> {
    let out = Command::new(python())
        .args(["-c", JUNIT_TO_JSON])
        .arg(path)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{} is not valid JUnit XML: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from the junit helper")
}

/// The final summary line without its timing ("1 failed, 2 passed, 3 deselected").
pub fn summary(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" in ") && l.trim_end_matches('=').trim_end().ends_with('s'))
        .unwrap_or("");
    let line = line.trim().trim_matches('=').trim();
    line.rfind(" in ").map_or(line, |i| &line[..i]).to_string()
}

/// A summary line's counts keyed by pytest's words (passed, failed, skipped, xfailed,
/// xpassed, errors, warnings; `error`/`warning` are made plural).
pub fn summary_counts(line: &str) -> BTreeMap<String, u32> {
    let body = line.trim_matches(|c| c == '=' || c == ' ');
    let body = body
        .rsplit_once(" in ")
        .map(|(counts, _)| counts)
        .unwrap_or(body);
    let mut summary = BTreeMap::new();
    for part in body.split(", ") {
        if let Some((count, word)) = part.split_once(' ') {
            if let Ok(count) = count.parse::<u32>() {
                let word = match word {
                    "error" => "errors",
                    "warning" => "warnings",
                    other => other,
                };
                summary.insert(word.to_owned(), count);
            }
        }
    }
    summary
}

/// What real pytest reported for one `-rA` run.
#[derive(Debug, Default)]
pub struct Reference {
    /// (word, node id) → count, for PASSED/FAILED/ERROR/XFAIL/XPASS lines of `-rA`.
    pub reports: BTreeMap<(String, String), u32>,
    /// Summary-line counts, see [`summary_counts`].
    pub summary: BTreeMap<String, u32>,
    pub exit_code: Option<i32>,
    /// stdout.
    pub output: String,
}

/// Runs `pytest -rA ARGS` in `root` ([`bounded`], so a hang fails instead of stalling) with
/// `envs` added, and parses its short test summary info and summary line.
pub fn reference(root: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Reference {
    let mut command = bounded(python());
    command
        .args(["-m", "pytest", "-rA", "-p", "no:cacheprovider"])
        .args(args);
    clean(&mut command, root);
    for (key, value) in envs {
        command.env(key, value);
    }
    let out = command.output().expect("cannot run pytest");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut reference = Reference {
        exit_code: out.status.code(),
        ..Default::default()
    };
    let mut in_summary_info = false;
    for line in output.lines() {
        if line.contains("short test summary info") {
            in_summary_info = true;
            continue;
        }
        if line.starts_with('=') && line.contains(" in ") {
            reference.summary = summary_counts(line);
            in_summary_info = false;
            continue;
        }
        if !in_summary_info {
            continue;
        }
        let mut parts = line.splitn(2, ' ');
        let (Some(word), Some(rest)) = (parts.next(), parts.next()) else {
            continue;
        };
        let word = if word.starts_with("SUBFAILED") {
            "FAILED"
        } else {
            word
        };
        if matches!(word, "PASSED" | "FAILED" | "ERROR" | "XFAIL" | "XPASS") {
            let node_id = rest.split(' ').next().unwrap_or_default().to_owned();
            *reference
                .reports
                .entry((word.to_owned(), node_id))
                .or_default() += 1;
        }
    }
    reference.output = output;
    reference
}
