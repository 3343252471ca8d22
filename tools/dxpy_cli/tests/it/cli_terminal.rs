//! `dx-py test`'s terminal report against pytest's, line for line: FAILURES sections (titles,
//! tracebacks as pytest prints them, captured output), subtest reports, the short test
//! summary, the session header, blank lines, and `=` rules at the terminal's full width. What
//! legitimately differs is normalised first: the header's version line (pytest's platform,
//! dx-py's own) and pytest's plugins line, the file name pytest puts before its progress
//! letters (dx-py prints them bare, like pytest-xdist), object addresses and timings.

use std::path::Path;

use std::process::Command;

use dxpy_test_support::{python, run, Run};

const FAILING: &str = r#"def test_compare():
    x = 1
    assert x == 2


def test_output():
    print("hello from the test")
    raise ValueError("boom")


def test_passes():
    pass
"#;

/// Every outcome kind, errors in setup and teardown, captured output and logs, a warning.
const VARIETY: &str = r#"import logging
import sys
import warnings

import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


@pytest.fixture
def bad_teardown():
    yield 1
    raise RuntimeError("teardown broke")


def test_pass():
    pass


def test_fail():
    assert [1, 2] == [1, 3]


def test_error(broken):
    pass


def test_teardown_error(bad_teardown):
    pass


@pytest.mark.skip(reason="not now")
def test_skip():
    pass


@pytest.mark.xfail(reason="known")
def test_xfail():
    assert 0


@pytest.mark.xfail(reason="fixed?")
def test_xpass():
    pass


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass


def test_warns():
    warnings.warn(UserWarning("careful"))


def test_log_and_stderr():
    logging.getLogger("x").warning("logged warning")
    print("to stderr", file=sys.stderr)
    assert False, "with message"


@pytest.mark.parametrize("v", [1, 2])
def test_param(v):
    assert v == 1
"#;

const SUBTESTS: &str = r#"import unittest


class TestCase(unittest.TestCase):
    def test_sub(self):
        for i in range(4):
            with self.subTest(i=i):
                self.assertLess(i, 2)


def test_fixture(subtests):
    for i in range(3):
        with subtests.test(msg="hi", i=i):
            assert i != 1
"#;

/// The whole report, normalised: addresses, timings and pytest's progress-line file name;
/// each side's `=` rules are first checked to be drawn at `width` exactly as pytest's
/// `TerminalWriter.sep` draws them, then re-drawn around the normalised title (a duration's
/// digits change a rule's padding). The session header's version line (pytest's `platform`,
/// dx-py's `dx-py VERSION -- N workers`) becomes one placeholder and pytest's `plugins:` line
/// is dropped: the differences README.md documents, checked by [`check_version_line`].
fn normalised(text: &str, width: usize, side: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with("plugins: "))
        .map(|line| {
            if is_collected_line(line) {
                // Compared by `assert_same_report`.
                return "<collected line>".to_string();
            }
            if line.starts_with("platform ") || line.starts_with("dx-py ") {
                check_version_line(line, side);
                return "<version line>".to_string();
            }
            let line = without_addresses(line);
            if let Some(title) = rule_title(&line, width, side) {
                return pytest_sep(width, &without_timing(title));
            }
            let line = without_timing(&line);
            match line.strip_suffix(']').and_then(|l| l.rsplit_once('[')) {
                // A progress line of letters: "test_x.py FF   [100%]" and "FF   [100%]".
                Some((letters, percent)) if percent.ends_with('%') && !line.contains("::") => {
                    let letters = letters.trim_end();
                    let letters = letters.rsplit_once(' ').map_or(letters, |(_, l)| l);
                    format!("{letters} [{percent}]")
                }
                // A progress line a stopped run left unfinished: "test_x.py .F".
                _ => match line.split_once(".py ") {
                    Some((_, letters))
                        if !letters.is_empty()
                            && letters.chars().all(|c| ".FEsxXu".contains(c)) =>
                    {
                        letters.to_string()
                    }
                    _ => line,
                },
            }
        })
        .collect()
}

/// The first line of the session header: pytest's `platform linux -- Python ...` or dx-py's
/// `dx-py VERSION -- N workers`, each only from its own tool.
fn check_version_line(line: &str, side: &str) {
    match side {
        "pytest" => assert!(
            line.starts_with("platform ") && line.contains(" -- Python "),
            "pytest's header: {line:?}"
        ),
        _ => {
            let workers = line
                .strip_prefix(&format!("dx-py {} -- ", env!("CARGO_PKG_VERSION")))
                .and_then(|rest| {
                    rest.strip_suffix(" workers")
                        .or(rest.strip_suffix(" worker"))
                });
            assert!(
                workers.is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n > 0)),
                "dx-py's header prints `dx-py VERSION -- N workers` in place of pytest's \
                 platform line, got {line:?}"
            );
        }
    }
}

fn is_collected_line(line: &str) -> bool {
    line.starts_with("collected ") || line.starts_with("collecting ... collected ")
}

/// dx-py's header line for pytest's `line`, as README.md documents the difference: dx-py
/// prints it before any module is imported, so a module that skips itself while collected
/// still counts its `skipping_items` tests, and pytest's `/ N skipped` part is absent.
fn expected_collected_line(line: &str, skipping_items: usize) -> String {
    let (prefix, rest) = line.split_at(line.find("collected ").expect("a collected line"));
    let mut parts: Vec<&str> = rest.split(" / ").collect();
    let items: usize = parts[0]
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("collected N items");
    let items = items + skipping_items;
    let noun = if items == 1 { "item" } else { "items" };
    let first = format!("collected {items} {noun}");
    parts[0] = &first;
    parts.retain(|part| !part.ends_with(" skipped"));
    format!("{prefix}{}", parts.join(" / "))
}

/// A summary line's duration (`in 0.12s`, `in 61.00s (0:01:01)`, at the end of the line) as
/// `in Xs`; any other line as it is.
fn without_timing(line: &str) -> String {
    let Some(i) = line.rfind(" in ") else {
        return line.to_string();
    };
    let rest = &line[i + 4..];
    let seconds = rest.find('s').map_or("", |end| &rest[..end]);
    let tail = &rest[seconds.len()..];
    let is_clock = |t: &str| {
        t.strip_prefix("s (")
            .and_then(|t| t.strip_suffix(')'))
            .is_some_and(|c| c.chars().all(|c| c.is_ascii_digit() || c == ':'))
    };
    let is_seconds = seconds.split_once('.').is_some_and(|(whole, frac)| {
        !whole.is_empty()
            && whole
                .chars()
                .chain(frac.chars())
                .all(|c| c.is_ascii_digit())
    });
    if is_seconds && (tail == "s" || is_clock(tail)) {
        format!("{} in Xs", &line[..i])
    } else {
        line.to_string()
    }
}

/// pytest's `TerminalWriter.sep("=", title)` at `width` columns: the fill on both sides as
/// long as fits (at least one), then one more `=` when that still fits.
fn pytest_sep(width: usize, title: &str) -> String {
    let fill = "=".repeat(((width.saturating_sub(title.chars().count() + 2)) / 2).max(1));
    let mut line = format!("{fill} {title} {fill}");
    if line.chars().count() < width {
        line.push('=');
    }
    line
}

/// The title of an `=` rule, after checking the rule is exactly the one pytest draws for it
/// at `width`; `None` for any other line.
fn rule_title<'a>(line: &'a str, width: usize, side: &str) -> Option<&'a str> {
    let inner = line.strip_prefix("= ").or_else(|| {
        let start = line.find("= ")?;
        line[..start]
            .chars()
            .all(|c| c == '=')
            .then(|| &line[start + 2..])
    })?;
    let title = inner.trim_end_matches('=').strip_suffix(' ')?;
    assert_eq!(
        line,
        pytest_sep(width, title),
        "{side}'s rule is not pytest's at {width} columns"
    );
    Some(title)
}

fn without_addresses(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(" at 0x") {
        out.push_str(&rest[..i + 6]);
        rest = rest[i + 6..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        out.push_str("ADDR");
    }
    out + rest
}

fn write_tree(root: &Path, module: &str) {
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").expect("write ini");
    std::fs::write(root.join("test_report.py"), module).expect("write module");
}

/// The width pytest writes at when `COLUMNS` is unset and stdout is a pipe.
const PIPE_WIDTH: usize = 80;

/// pytest and dx-py with `args`, on CI or not: pytest's short summary shows whole crash
/// messages when `CI` or `BUILD_NUMBER` is set.
fn both(root: &Path, args: &[&str], on_ci: bool) -> (Run, Run) {
    both_with_columns(root, args, on_ci, None)
}

/// [`both`] with `COLUMNS` set to `columns` (unset when `None`: both write 80 columns to a
/// pipe).
fn both_with_columns(root: &Path, args: &[&str], on_ci: bool, columns: Option<&str>) -> (Run, Run) {
    let with_ci = |mut cmd: Command| {
        cmd.env_remove("CI")
            .env_remove("BUILD_NUMBER")
            .env_remove("COLUMNS");
        if on_ci {
            cmd.env("CI", "true");
        }
        if let Some(columns) = columns {
            cmd.env("COLUMNS", columns);
        }
        cmd
    };
    let mut py = Command::new(python());
    py.args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args);
    let mut dx = Command::new(env!("CARGO_BIN_EXE_dx-py"));
    dx.arg("test").args(["--python", &python()]).args(args);
    (run(with_ci(py), root), run(with_ci(dx), root))
}

fn assert_report_like_pytest(module: &str, args: &[&str]) {
    for on_ci in [false, true] {
        assert_report_like_pytest_on(module, args, on_ci);
    }
}

fn assert_report_like_pytest_on(module: &str, args: &[&str], on_ci: bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write_tree(root, module);
    let (py, dx) = both(root, args, on_ci);
    assert_same_report(
        &py,
        &dx,
        &format!("{args:?} (on CI: {on_ci})"),
        PIPE_WIDTH,
        0,
    );
}

/// The same exit code and the same report once normalised; `case` says what ran, `width` is
/// the terminal width both wrote at, `skipping_items` how many tests the modules that skip
/// themselves while collected hold (see [`expected_collected_line`]).
fn assert_same_report(py: &Run, dx: &Run, case: &str, width: usize, skipping_items: usize) {
    assert_eq!(dx.code, py.code, "exit codes differ:\n{}", dx.output);
    let collected = |text: &str| {
        text.lines()
            .find(|l| is_collected_line(l))
            .map(str::to_string)
    };
    assert_eq!(
        collected(&dx.output),
        collected(&py.output).map(|line| expected_collected_line(&line, skipping_items)),
        "the collected lines differ with {case}:\n{}\n---\n{}",
        dx.output,
        py.output
    );
    assert_eq!(
        normalised(&dx.output, width, "dx-py"),
        normalised(&py.output, width, "pytest"),
        "dx-py's report (left) differs from pytest's (right) with {case}:\n{}\n---\n{}",
        dx.output,
        py.output
    );
}

#[test]
fn failures_are_reported_like_pytest() {
    let stopping = [&["-x"][..], &["-x", "-q"][..], &["-x", "-v"][..]];
    for args in [&["-q"][..], &[][..], &["-v"][..]]
        .into_iter()
        .chain(stopping)
    {
        assert_report_like_pytest(FAILING, args);
    }
}

/// Section order and contents (ERRORS, FAILURES, warnings summary), `-v`'s skip and xfail
/// reasons, `--tb` styles, the short summary and the stats line.
#[test]
fn every_outcome_kind_is_reported_like_pytest() {
    let styles = [
        &["-q"][..],
        &[][..],
        &["-v"][..],
        &["-vv"][..],
        &["--tb=short"][..],
        &["--tb=line"][..],
        &["--tb=native"][..],
        &["--tb=no"][..],
    ];
    for args in styles {
        assert_report_like_pytest(VARIETY, args);
    }
}

/// Failed subtests keep their own section title and short-summary word (`SUBFAILED(i=2)`);
/// a unittest subtest's progress letter never shows, since pytest writes it while the test's
/// output is captured. (Not compared with `-v`: there pytest starts a line for the unittest
/// test when it begins and leaves it empty, which dx-py does not reproduce.)
#[test]
fn subtest_failures_are_reported_like_pytest() {
    for args in [&["-q"][..], &[][..]] {
        assert_report_like_pytest(SUBTESTS, args);
    }
}

/// pytest's progress lines end one column short of the terminal width (80 when piped).
#[test]
fn progress_lines_are_as_wide_as_pytest_s() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let many: String = (0..100)
        .map(|i| format!("def test_{i}():\n    pass\n"))
        .collect();
    write_tree(root, &many);
    for args in [&["-q"][..], &["-v"][..]] {
        let widths = |text: &str| -> Vec<usize> {
            text.lines()
                .filter(|l| l.ends_with("%]"))
                .map(|l| l.chars().count())
                .collect()
        };
        let (py, dx) = both(root, args, false);
        let (py, dx) = (widths(&py.output), widths(&dx.output));
        assert!(!py.is_empty(), "pytest printed no progress lines");
        assert_eq!(dx, py, "progress line widths with {args:?}");
    }
}

/// Every group `-r` can ask for: passes with and without output (setup, call and teardown
/// sections), skips folded by place and reason (marks, `skipif`, `pytest.skip` in a test and
/// per parameter, a class's `pytestmark`), xfails (marked and `pytest.xfail`), an xpass, a
/// warning; plus a module that skips itself while being collected.
const REPORT_CHARS: &str = r#"import warnings

import pytest


@pytest.fixture
def noisy():
    print("setup says hi")
    yield
    print("teardown says bye")


def test_pass_with_output(noisy):
    print("call output")


def test_pass_quiet():
    pass


def test_fail_after_setup_output(noisy):
    assert 0


@pytest.mark.skip(reason="marked")
def test_skip_mark():
    pass


@pytest.mark.skip(reason="marked")
def test_skip_mark_again():
    pass


@pytest.mark.skipif(True, reason="conditional")
def test_skipif():
    pass


def test_skip_inside():
    pytest.skip("from inside")


@pytest.mark.parametrize("n", [1, 2])
def test_skip_param(n):
    pytest.skip("param skip")


@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert 0


def test_xfail_inside():
    pytest.xfail("imperative")


@pytest.mark.xfail(reason="surprise")
def test_xpass():
    print("xpass output")


def test_warns():
    warnings.warn(UserWarning("careful"))


class TestSkipped:
    pytestmark = pytest.mark.skip(reason="class mark")

    def test_a(self):
        pass

    def test_b(self):
        pass
"#;

const MODULE_SKIP: &str = r#"import pytest

pytest.skip("no module today", allow_module_level=True)


def test_never():
    pass
"#;

/// With `module_skip`, a second module skips itself. (Not with `-v`: its percentages depend
/// on whether that module's skip arrives before the first test's report, which with two
/// workers is a race; pytest knows before any test runs.)
fn assert_report_chars_like_pytest(ini: &str, args: &[&str], module_skip: bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write_tree(root, REPORT_CHARS);
    std::fs::write(root.join("pytest.ini"), ini).expect("write ini");
    if module_skip {
        std::fs::write(root.join("test_modskip.py"), MODULE_SKIP).expect("write module");
    }
    let (py, dx) = both(root, args, false);
    let skipping_items = if module_skip {
        MODULE_SKIP.matches("\ndef test_").count()
    } else {
        0
    };
    let case = format!("{args:?} and {ini:?}");
    assert_same_report(&py, &dx, &case, PIPE_WIDTH, skipping_items);
}

/// `-r` groups in the order given, PASSES/XPASSES sections, folded and unfolded skips, a
/// module skipped at collection (counted, listed, no progress letter, exit code untouched),
/// `--disable-warnings` and `--no-summary`.
#[test]
fn report_chars_are_reported_like_pytest() {
    let runs = [
        &[][..],
        &["-ra"][..],
        &["-rA"][..],
        &["-rA", "--no-fold-skipped"][..],
        &["-rN"][..],
        &["-q", "-rpPxXsfE"][..],
        &["-v", "-rsx", "--disable-warnings"][..],
        &["--no-summary"][..],
        &["-rX", "--tb=no"][..],
    ];
    for args in runs {
        assert_report_chars_like_pytest("[pytest]\n", args, !args.contains(&"-v"));
    }
}

/// The project's `addopts` shapes the report as it shapes pytest's, and the command line
/// comes after it (`-q` cancels a configured `-v`, a later `-r` replaces the configured one).
#[test]
fn addopts_report_options_are_honoured() {
    let ini = "[pytest]\naddopts = -ra -v --tb=short\n";
    assert_report_chars_like_pytest(ini, &[], false);
    assert_report_chars_like_pytest(ini, &["-q", "-rfE"], true);
}

/// pytest writes at the terminal's width (`COLUMNS`, else the tty's, else 80): separators,
/// progress lines, `-v` lines, cut short-summary messages and the tracebacks its workers
/// render all follow it.
#[test]
fn the_report_follows_the_terminal_width_like_pytest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let module = format!(
        "{VARIETY}\n\ndef helper():\n    assert False, 'deep ' * 40\n\n\ndef test_nested():\n    helper()\n"
    );
    write_tree(root, &module);
    for args in [&[][..], &["-v"][..], &["-rA"][..]] {
        for columns in [123, 52] {
            let (py, dx) = both_with_columns(root, args, false, Some(&columns.to_string()));
            assert_same_report(
                &py,
                &dx,
                &format!("{args:?} at {columns} columns"),
                columns,
                0,
            );
        }
    }
}
