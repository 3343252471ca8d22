//! Output in pytest's shapes: the `--collect-only -q` listing, its ERRORS section, and its
//! summary line, plus dx-py's JSON form of the same data.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dxpy_discover::{CollectError, ParamState, TestItem, TestKind};
use serde_json::{json, Value};

/// pytest's terminal width when stdout is not a terminal, and under 40 columns.
const DEFAULT_WIDTH: usize = 80;

/// The width pytest would write this process's stdout at (its `get_terminal_width`, from
/// `shutil.get_terminal_size`): `COLUMNS` when it holds a positive number, else the size
/// of the terminal stdout is, else 80; anything under 40 becomes 80.
pub fn terminal_width() -> usize {
    if let Some(client) = client_terminal() {
        return client.width;
    }
    own_terminal_width()
}

/// What a daemon's client's stdout is: the daemon reports as if it wrote there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTerminal {
    pub width: usize,
    pub is_terminal: bool,
}

/// The daemon serves one request at a time; while it runs, the report takes its width and
/// terminal-ness from the client's stdout instead of the daemon's.
static CLIENT_TERMINAL: Mutex<Option<ClientTerminal>> = Mutex::new(None);

pub fn set_client_terminal(client: Option<ClientTerminal>) {
    *CLIENT_TERMINAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = client;
}

fn client_terminal() -> Option<ClientTerminal> {
    *CLIENT_TERMINAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the report's stdout is a terminal (the client's, in the daemon).
pub fn stdout_is_terminal() -> bool {
    match client_terminal() {
        Some(client) => client.is_terminal,
        None => std::io::IsTerminal::is_terminal(&std::io::stdout()),
    }
}

/// [`terminal_width`] of this process's own stdout.
pub fn own_terminal_width() -> usize {
    static WIDTH: OnceLock<usize> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        let columns = std::env::var("COLUMNS").ok();
        let tty = || {
            rustix::termios::tcgetwinsize(std::io::stdout())
                .ok()
                .map(|size| usize::from(size.ws_col))
        };
        width_from(columns.as_deref(), tty)
    })
}

fn width_from(columns: Option<&str>, tty: impl FnOnce() -> Option<usize>) -> usize {
    let width = columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&w| w > 0)
        .or_else(|| tty().filter(|&w| w > 0))
        .unwrap_or(DEFAULT_WIDTH);
    if width < 40 {
        DEFAULT_WIDTH
    } else {
        width
    }
}

/// A separator line exactly as pytest's `TerminalWriter.sep` draws it at the terminal width.
pub fn sep(ch: char, title: &str) -> String {
    sep_at(ch, title, terminal_width())
}

/// [`sep`] for a terminal `width` columns wide.
pub fn sep_at(ch: char, title: &str, width: usize) -> String {
    if title.is_empty() {
        return ch.to_string().repeat(width);
    }
    let n = (width.saturating_sub(title.chars().count() + 2) / 2).max(1);
    let fill = ch.to_string().repeat(n);
    let mut line = format!("{fill} {title} {fill}");
    if line.chars().count() < width {
        line.push(ch);
    }
    line
}

pub(crate) fn pluralize(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// pytest's session duration format.
pub fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.2}s")
    } else {
        let whole = elapsed.as_secs();
        format!(
            "{secs:.2}s ({}:{:02}:{:02})",
            whole / 3600,
            whole / 60 % 60,
            whole % 60
        )
    }
}

/// The final line of `pytest --collect-only -q` (`_build_collect_only_summary_stats_line`).
/// `collected` counts items before deselection, as pytest's does.
pub fn collect_summary(
    collected: usize,
    deselected: usize,
    errors: usize,
    elapsed: Duration,
) -> String {
    let mut line = if collected == 0 {
        "no tests collected".to_string()
    } else if deselected == 0 {
        format!("{} collected", pluralize(collected, "test"))
    } else if deselected == collected {
        format!("no tests collected ({deselected} deselected)")
    } else {
        format!(
            "{}/{collected} tests collected ({deselected} deselected)",
            collected - deselected
        )
    };
    if errors > 0 {
        let _ = write!(line, ", {}", pluralize(errors, "error"));
    }
    let _ = write!(line, " in {}", duration(elapsed));
    line
}

/// The ERRORS section, short summary and interruption banner pytest prints for collection errors.
pub fn collect_errors(errors: &[CollectError]) -> String {
    let mut out = String::new();
    if errors.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{}", sep('=', "ERRORS"));
    for err in errors {
        let _ = writeln!(
            out,
            "{}",
            sep('_', &format!("ERROR collecting {}", err.path()))
        );
        for line in error_detail(err).lines() {
            let _ = writeln!(out, "E   {line}");
        }
    }
    let _ = writeln!(out, "{}", sep('=', "short test summary info"));
    for err in errors {
        let _ = writeln!(out, "ERROR {}", err.path());
    }
    let _ = writeln!(
        out,
        "{}",
        sep(
            '!',
            &format!(
                "Interrupted: {} during collection",
                pluralize(errors.len(), "error")
            )
        )
    );
    out
}

/// The body of one collection error, in the words Python itself would use where it has any.
fn error_detail(err: &CollectError) -> String {
    match err {
        CollectError::Syntax {
            path,
            line,
            column,
            message,
        } => {
            format!("  File \"{path}\", line {line}, column {column}\nSyntaxError: {message}")
        }
        CollectError::NotUtf8 { offset, .. } => {
            format!(
                "SyntaxError: (unicode error) source is not valid UTF-8 at byte offset {offset}"
            )
        }
        other => other.to_string(),
    }
}

fn kind_name(kind: TestKind) -> &'static str {
    match kind {
        TestKind::Function => "function",
        TestKind::Method => "method",
        TestKind::UnitTest => "unittest",
    }
}

/// One test as JSON: stable field names that scripts (and the compatibility harness) rely on.
pub fn item_json(item: &TestItem) -> Value {
    let (params, param_id) = match &item.params {
        ParamState::None => ("none", Value::Null),
        ParamState::Static(id) => ("static", Value::String(id.clone())),
        ParamState::Dynamic => ("dynamic", Value::Null),
    };
    json!({
        "node_id": item.node_id,
        "line": item.line,
        "kind": kind_name(item.kind),
        "async": item.is_async,
        "params": params,
        "param_id": param_id,
        "marks": item.marks.iter().map(|m| json!({"name": m.name, "args": m.args})).collect::<Vec<_>>(),
    })
}

pub fn error_json(err: &CollectError) -> Value {
    let line = match err {
        CollectError::Syntax { line, .. } => Value::from(*line),
        _ => Value::Null,
    };
    json!({"path": err.path(), "line": line, "message": err.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_match_pytest_width() {
        let sep = |ch, title| sep_at(ch, title, 80);
        assert_eq!(sep('=', "ERRORS").len(), 80);
        assert_eq!(
            sep('_', "ERROR collecting test_bad.py"),
            "_________________________ ERROR collecting test_bad.py _________________________"
        );
        // An odd-length title gets the extra fill character on the right, as in pytest.
        let odd = sep('=', "short test summary info");
        assert_eq!(odd.len(), 80);
        assert!(odd.starts_with("=========================== short"));
        assert_eq!(sep_at('-', "x", 41).len(), 41);
        assert_eq!(sep_at('-', "", 120).len(), 120);
    }

    #[test]
    fn width_follows_columns_then_the_terminal_like_shutil() {
        let no_tty = || None;
        assert_eq!(width_from(None, no_tty), 80);
        assert_eq!(width_from(Some("132"), || Some(200)), 132);
        assert_eq!(width_from(Some("junk"), || Some(200)), 200);
        assert_eq!(width_from(Some("0"), || Some(150)), 150);
        assert_eq!(width_from(None, || Some(0)), 80);
        assert_eq!(width_from(Some("39"), no_tty), 80);
        assert_eq!(width_from(Some("40"), no_tty), 40);
    }

    #[test]
    fn summary_lines_follow_pytest() {
        let t = Duration::from_millis(20);
        assert_eq!(collect_summary(14, 0, 0, t), "14 tests collected in 0.02s");
        assert_eq!(
            collect_summary(1, 0, 1, t),
            "1 test collected, 1 error in 0.02s"
        );
        assert_eq!(
            collect_summary(1, 1, 0, t),
            "no tests collected (1 deselected) in 0.02s"
        );
        assert_eq!(
            collect_summary(3, 1, 0, t),
            "2/3 tests collected (1 deselected) in 0.02s"
        );
        assert_eq!(collect_summary(0, 0, 0, t), "no tests collected in 0.02s");
        assert_eq!(duration(Duration::from_secs(75)), "75.00s (0:01:15)");
    }
}
