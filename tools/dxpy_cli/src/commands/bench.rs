//! `dx-py bench [TEST ARGS]`: pytest and `dx-py test` side by side on the user's suite.
//!
//! Runs `python -m pytest` with what pytest would see of the arguments, then `dx-py test`
//! with all of them (as the user runs it: in the daemon unless `--no-daemon`), each writing
//! JUnit XML to a private scratch directory; compares the outcome of every test in the two
//! reports; when all agree, records pytest's time as the selection's baseline
//! (`crate::baseline`), which later `dx-py test` runs of the same selection show beside their
//! own time, and prints the ratio. A disagreement is listed and nothing is recorded.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::Context;
use dxpy_discover::session;
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;

use crate::args::TestArgs;
use crate::baseline::{self, Baseline};
use crate::exit::Code;

/// How many disagreements are listed.
const SHOWN: usize = 20;

pub fn run(args: TestArgs) -> anyhow::Result<Code> {
    // pytest's reading of the pass-through options (and its usage error, once).
    let args = match crate::pytest_probe::validate(args)? {
        crate::pytest_probe::Prepared::Run(args) => *args,
        crate::pytest_probe::Prepared::Done(code) => return Ok(code),
    };
    let python = crate::pytest_probe::interpreter(&args);
    let discovery = match super::discover::discover_with(args.discovery_args(), true)? {
        Ok(discovery) => discovery,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return Ok(Code::UsageError);
        }
    };
    let rootdir = &discovery.config.rootdir;
    let scratch = scratch_dir(rootdir)?;
    let result = compare(&args, &python, rootdir, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn compare(args: &TestArgs, python: &Path, rootdir: &Path, scratch: &Path) -> anyhow::Result<Code> {
    let py_xml = scratch.join("pytest.xml");
    let mut pytest = Command::new(python);
    pytest
        .args(["-m", "pytest", "-q"])
        .args(baseline::pytest_side(args))
        .arg(format!("--junit-xml={}", py_xml.display()));
    let (py_out, py_time) = timed("pytest", pytest)?;
    if let Some(code) = unfinished("pytest", &py_out) {
        return Ok(code);
    }
    let dx_xml = scratch.join("dx-py.xml");
    let mut dxpy = Command::new(std::env::current_exe().context("finding dx-py itself")?);
    dxpy.arg("test")
        .args(without_junit(&args.given))
        .args(["-q", "--junit-xml"])
        .arg(&dx_xml);
    let (dx_out, dx_time) = timed("dx-py test", dxpy)?;
    if let Some(code) = unfinished("dx-py test", &dx_out) {
        return Ok(code);
    }
    let py_outcomes = outcomes(&py_xml)?;
    let dx_outcomes = outcomes(&dx_xml)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "pytest  {:>8.2}s", py_time.as_secs_f64())?;
    writeln!(out, "dx-py   {:>8.2}s", dx_time.as_secs_f64())?;
    let differences = differences(&py_outcomes, &dx_outcomes);
    if !differences.is_empty() {
        writeln!(
            out,
            "outcomes differ on {} of {} tests (no baseline recorded):",
            differences.len(),
            py_outcomes.len().max(dx_outcomes.len())
        )?;
        for line in differences.iter().take(SHOWN) {
            writeln!(out, "  {line}")?;
        }
        if differences.len() > SHOWN {
            writeln!(out, "  ... and {} more", differences.len() - SHOWN)?;
        }
        return Ok(Code::TestsFailed);
    }
    let recorded = Baseline {
        pytest_seconds: py_time.as_secs_f64(),
        dxpy_seconds: dx_time.as_secs_f64(),
        tests: py_outcomes.len(),
    };
    let path = baseline::record(rootdir, &baseline::key(python, args), recorded)?;
    writeln!(
        out,
        "{:.1}x pytest; outcomes agree on all {} tests",
        py_time.as_secs_f64() / dx_time.as_secs_f64().max(0.001),
        py_outcomes.len()
    )?;
    writeln!(out, "baseline recorded in {}", path.display())?;
    Ok(Code::Ok)
}

/// A private directory for the two reports, under the project's cache directory.
fn scratch_dir(rootdir: &Path) -> anyhow::Result<PathBuf> {
    let root = session::cache_root().context("no cache directory (set XDG_CACHE_HOME or HOME)")?;
    let dir = session::project_cache_dir(&root, rootdir)
        .join("bench")
        .join(format!("run-{}", std::process::id()));
    dxpy_fs::ensure_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn timed(what: &str, mut command: Command) -> anyhow::Result<(Output, Duration)> {
    let start = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("starting {what}"))?;
    Ok((output, start.elapsed()))
}

/// pytest's codes for a run that ended normally are 0 (all passed) and 1 (some failed);
/// anything else means there is nothing to compare: its output is shown, with its code.
fn unfinished(what: &str, output: &Output) -> Option<Code> {
    let code = output.status.code().unwrap_or(Code::InternalError as i32);
    if code == 0 || code == 1 {
        return None;
    }
    let _ = std::io::stdout().write_all(&output.stdout);
    let _ = std::io::stderr().write_all(&output.stderr);
    eprintln!("dx-py bench: {what} exited with code {code}; no baseline recorded");
    Some(Code::from_pytest(code))
}

/// `given` without dx-py's `--junit-xml`/`--junitxml` (bench names its own report).
fn without_junit(given: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in given {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_str() {
            "--junit-xml" | "--junitxml" => skip_value = true,
            a if a.starts_with("--junit-xml=") || a.starts_with("--junitxml=") => {}
            _ => kept.push(arg.clone()),
        }
    }
    kept
}

/// Each test case of a JUnit report (`classname::name`) and its outcome: `passed`, or the
/// kinds of its `failure`/`error`/`skipped` children (`xfailed` for pytest's xfail skips).
pub fn outcomes(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_outcomes(&text).with_context(|| format!("reading the JUnit XML {}", path.display()))
}

fn parse_outcomes(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut found = BTreeMap::new();
    let mut current: Option<(String, Vec<&'static str>)> = None;
    loop {
        let event = reader.read_event()?;
        let (start, empty) = match &event {
            Event::Start(start) => (Some(start), false),
            Event::Empty(start) => (Some(start), true),
            Event::End(end) if end.name().as_ref() == b"testcase" => {
                close(&mut current, &mut found);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(start) = start else { continue };
        match start.name().as_ref() {
            b"testcase" => {
                close(&mut current, &mut found);
                let id = format!(
                    "{}::{}",
                    attribute(start, "classname")?,
                    attribute(start, "name")?
                );
                current = Some((id, Vec::new()));
                if empty {
                    close(&mut current, &mut found);
                }
            }
            kind @ (b"failure" | b"error" | b"skipped") => {
                if let Some((_, kinds)) = current.as_mut() {
                    kinds.push(match kind {
                        b"failure" => "failed",
                        b"error" => "error",
                        _ if attribute(start, "type")? == "pytest.xfail" => "xfailed",
                        _ => "skipped",
                    });
                }
            }
            _ => {}
        }
    }
    close(&mut current, &mut found);
    Ok(found)
}

/// Files the open test case: a name seen twice (a test reported again for its teardown)
/// keeps both outcomes.
fn close(current: &mut Option<(String, Vec<&'static str>)>, found: &mut BTreeMap<String, String>) {
    let Some((id, kinds)) = current.take() else {
        return;
    };
    let outcome = if kinds.is_empty() {
        "passed".to_owned()
    } else {
        kinds.join("+")
    };
    found
        .entry(id)
        .and_modify(|o| *o = format!("{o}, {outcome}"))
        .or_insert(outcome);
}

fn attribute(start: &BytesStart<'_>, name: &str) -> anyhow::Result<String> {
    Ok(match start.try_get_attribute(name)? {
        Some(value) => value
            .normalized_value(XmlVersion::Implicit1_0)?
            .into_owned(),
        None => String::new(),
    })
}

/// One line per test whose outcome differs, or that only one report has.
fn differences(pytest: &BTreeMap<String, String>, dxpy: &BTreeMap<String, String>) -> Vec<String> {
    let mut lines = Vec::new();
    for (id, outcome) in pytest {
        match dxpy.get(id) {
            Some(other) if other == outcome => {}
            Some(other) => lines.push(format!("{id}: pytest {outcome}, dx-py {other}")),
            None => lines.push(format!("{id}: pytest {outcome}, not in dx-py's report")),
        }
    }
    for (id, outcome) in dxpy {
        if !pytest.contains_key(id) {
            lines.push(format!("{id}: dx-py {outcome}, not in pytest's report"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_outcomes_name_each_case_by_class_and_name() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="t" name="test_ok" time="0.001" />
<testcase classname="t" name="test_bad" time="0.001"><failure message="x">tb</failure></testcase>
<testcase classname="t.C" name="test_x[a&amp;b]" time="0"><skipped type="pytest.xfail" message="r" /></testcase>
<testcase classname="t" name="test_s" time="0"><skipped type="pytest.skip" message="r">s</skipped></testcase>
<testcase classname="t" name="test_td" time="0"><failure message="f" /><error message="e" /></testcase>
</testsuite></testsuites>"#;
        let found = parse_outcomes(xml).expect("parse");
        let expected: BTreeMap<String, String> = [
            ("t::test_ok", "passed"),
            ("t::test_bad", "failed"),
            ("t.C::test_x[a&b]", "xfailed"),
            ("t::test_s", "skipped"),
            ("t::test_td", "failed+error"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn differences_list_changed_and_missing_cases() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let py = map(&[("a", "passed"), ("b", "failed"), ("c", "passed")]);
        let dx = map(&[("a", "passed"), ("b", "passed"), ("d", "passed")]);
        assert_eq!(
            differences(&py, &dx),
            [
                "b: pytest failed, dx-py passed",
                "c: pytest passed, not in dx-py's report",
                "d: dx-py passed, not in pytest's report"
            ]
        );
    }

    #[test]
    fn bench_names_its_own_junit_file() {
        let given: Vec<String> = ["-x", "--junit-xml", "a.xml", "--junitxml=b.xml", "t.py"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(without_junit(&given), ["-x", "t.py"]);
    }
}
