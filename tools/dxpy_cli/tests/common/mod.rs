//! Helpers shared by the integration tests that run the real `dx-py` binary and the real
//! pytest (`DXPY_TEST_PYTHON`, else `python3`) on the same tree and compare what they report.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The interpreter under test; fails loudly when it cannot import pytest.
pub fn python() -> String {
    let python = std::env::var("DXPY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python).args(["-c", "import pytest"]).output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "DXPY_TEST_PYTHON={python} cannot import pytest ({}); point DXPY_TEST_PYTHON at an \
             interpreter with pytest installed",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!("cannot run DXPY_TEST_PYTHON={python}: {err}"),
    }
}

pub struct Run {
    pub code: i32,
    /// stdout, then stderr.
    pub output: String,
    pub elapsed: Duration,
}

/// Runs in `dir` with a private dx-py cache and without the user's pytest environment.
pub fn clean(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir)
        .env("DXPY_CACHE_DIR", dir.join(".dxpy-cache"))
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("PYTEST_PLUGINS")
        .env("PYTHONDONTWRITEBYTECODE", "1");
}

pub fn run(mut cmd: Command, dir: &Path) -> Run {
    clean(&mut cmd, dir);
    let start = Instant::now();
    let out = cmd.output().expect("spawn");
    Run {
        code: out.status.code().unwrap_or(-1),
        output: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        elapsed: start.elapsed(),
    }
}

pub fn dx_py(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dx-py"));
    cmd.arg("test").args(["--python", &python()]).args(args);
    run(cmd, dir)
}

pub fn pytest(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args);
    run(cmd, dir)
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

/// Runs pytest and dx-py in `root` with `args` (dx-py also with `dx_only`, e.g. a worker
/// count: pytest's `-n` would be pytest-xdist's, whose summary differs) and asserts equal
/// JUnit cases, summary lines (counts of every kind) and exit codes. Returns dx-py's run and
/// its cases.
pub fn assert_same(
    root: &Path,
    args: &[&str],
    dx_only: &[&str],
) -> (Run, BTreeMap<String, String>) {
    let py_xml = root.join("py.xml");
    let dx_xml = root.join("dx.xml");
    let py = pytest(
        root,
        &[args, &[&format!("--junit-xml={}", py_xml.display())]].concat(),
    );
    let dx = dx_py(
        root,
        &[args, dx_only, &["--junit-xml", &dx_xml.to_string_lossy()]].concat(),
    );
    let dx_cases = junit(&dx_xml);
    assert_eq!(
        dx_cases,
        junit(&py_xml),
        "{args:?}: cases differ\n--- dx-py\n{}\n--- pytest\n{}",
        dx.output,
        py.output
    );
    assert_eq!(
        summary(&dx.output),
        summary(&py.output),
        "{args:?}: summary lines differ\n--- dx-py\n{}",
        dx.output
    );
    assert_eq!(
        dx.code, py.code,
        "{args:?}: exit codes differ\n{}",
        dx.output
    );
    (dx, dx_cases)
}
