//! The diff a mismatching snapshot reports.

use similar::TextDiff;

/// A unified diff from the stored snapshot to the received value, three lines of context.
pub fn unified(stored: &str, received: &str) -> String {
    TextDiff::from_lines(stored, received)
        .unified_diff()
        .context_radius(3)
        .header("snapshot", "received")
        .missing_newline_hint(false)
        .to_string()
}
