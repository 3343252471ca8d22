//! What pytest's report options (`-r`, `--tb`, `--disable-warnings`, `--no-fold-skipped`,
//! `--no-summary`) ask of the end of a run, and the short test summary's lines for the report
//! characters other than `f` and `E`: passes (`p`), skips (`s`, folded by place and reason
//! unless `--no-fold-skipped`), xfails (`x`) and xpasses (`X`), plus the captured output of
//! passes that `P` (PASSES) and `X` (XPASSES) show as sections.

use std::collections::HashMap;

use dxpy_discover::config::ReportArgs;
use dxpy_runner::protocol::{ItemResult, Outcome, Phase};

use super::{phase_name, word_of, TracebackStyle};

/// The terminal's share of pytest's options, as `addopts`, `PYTEST_ADDOPTS` and the command
/// line leave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    pub traceback: TracebackStyle,
    /// pytest's `getreportopt`: the short summary's groups in the order it prints them, with
    /// `w` for the warnings summary.
    chars: String,
    /// Skips are counted per place and reason (`SKIPPED [3] t.py:4: why`), not listed.
    pub fold_skipped: bool,
    /// `--no-summary` clears this: no FAILURES, ERRORS, warnings, PASSES or short summary.
    pub summary: bool,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions::from_args(&ReportArgs::default())
    }
}

impl ReportOptions {
    pub fn from_args(args: &ReportArgs) -> ReportOptions {
        let mut chars = String::new();
        for c in args.chars.as_deref().unwrap_or("fE").chars() {
            // `F` and `S` are pytest's old spellings of `f` and `s`.
            match c {
                'F' => push_new(&mut chars, 'f'),
                'S' => push_new(&mut chars, 's'),
                'a' => chars = "sxXEf".to_string(),
                'A' => chars = "PpsxXEf".to_string(),
                'N' => chars.clear(),
                c => push_new(&mut chars, c),
            }
        }
        if args.disable_warnings {
            chars.retain(|c| c != 'w');
        } else if !chars.contains('w') {
            chars.insert(0, 'w');
        }
        ReportOptions {
            traceback: args
                .tbstyle
                .as_deref()
                .map(TracebackStyle::from_option)
                .unwrap_or_default(),
            chars,
            fold_skipped: !args.no_fold_skipped,
            summary: !args.no_summary,
        }
    }

    /// One of pytest's report characters is asked for (after `a`, `A` and `N` resolved).
    pub fn has(&self, c: char) -> bool {
        self.chars.contains(c)
    }

    pub fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.chars.chars()
    }
}

fn push_new(chars: &mut String, c: char) {
    if !chars.contains(c) {
        chars.push(c);
    }
}

/// A skip for `-rs`.
#[derive(Debug)]
struct Skip {
    word: String,
    node_id: String,
    /// `path:line`, or `path` when pytest folds the skip by file.
    location: String,
    /// As pytest's skip longrepr has it (`Skipped: why` for `pytest.skip("why")`).
    reason: String,
}

/// A passing report whose captured output `-rP` (or an xpass's, `-rX`) shows.
#[derive(Debug)]
struct Pass {
    node_id: String,
    headline: String,
    sections: Vec<(String, String)>,
}

/// What the short summary and the PASSES/XPASSES sections need, kept as reports arrive.
#[derive(Debug, Default)]
pub(super) struct SummaryLists {
    passed: Vec<String>,
    /// Skipped collectors (pytest meets them while collecting, before any test: first).
    collect_skips: Vec<Skip>,
    skips: Vec<Skip>,
    xfailed: Vec<String>,
    xpassed: Vec<String>,
    passes: Vec<Pass>,
    xpasses: Vec<Pass>,
}

impl SummaryLists {
    /// Records a report pytest's stats count (`in_summary`); `captured` is the item's captured
    /// output so far (every phase up to this one), as pytest's `report.sections` has it.
    pub(super) fn add(
        &mut self,
        options: &ReportOptions,
        result: &ItemResult,
        captured: &[(String, String)],
    ) {
        let word = word_of(result).to_string();
        let node_id = &result.node_id;
        let keep_output = |wanted: bool| -> Option<Pass> {
            wanted.then(|| Pass {
                node_id: node_id.clone(),
                headline: head_line(result).to_string(),
                sections: captured.to_vec(),
            })
        };
        match result.outcome {
            Outcome::Passed => {
                // Most of a run passes: keep a line per test only when `-rp` will print it.
                if options.has('p') {
                    self.passed.push(format!("{word} {node_id}"));
                }
                self.passes.extend(keep_output(options.has('P')));
            }
            Outcome::Skipped => self.skips.push(Skip {
                word,
                node_id: node_id.clone(),
                location: skip_location(result),
                reason: result.skip_reason.clone(),
            }),
            Outcome::XFailed => {
                let mut line = if result.phase == Phase::Call {
                    format!("{word} {node_id}")
                } else {
                    format!("{word} at {} of {node_id}", phase_name(result.phase))
                };
                if !result.skip_reason.is_empty() {
                    line = format!("{line} - {}", result.skip_reason);
                }
                self.xfailed.push(line);
            }
            Outcome::XPassed => {
                let mut line = format!("{word} {node_id}");
                if !result.skip_reason.is_empty() {
                    line = format!("{line} - {}", result.skip_reason);
                }
                self.xpassed.push(line);
                self.xpasses.extend(keep_output(options.has('X')));
            }
            Outcome::Failed | Outcome::Error => {}
        }
    }

    /// A collector that skipped itself (`pytest.skip(..., allow_module_level=True)`).
    pub(super) fn collect_skip(&mut self, node_id: &str, location: &str, reason: &str) {
        self.collect_skips.push(Skip {
            word: "SKIPPED".to_string(),
            node_id: node_id.to_string(),
            location: if location.is_empty() {
                node_id.to_string()
            } else {
                location.to_string()
            },
            reason: reason.to_string(),
        });
    }

    /// The short summary's lines for report character `c` (`f` and `E` are the caller's).
    pub(super) fn lines(&self, c: char, fold_skipped: bool) -> Vec<String> {
        match c {
            'p' => self.passed.clone(),
            'x' => self.xfailed.clone(),
            'X' => self.xpassed.clone(),
            's' if fold_skipped => self.folded_skips(),
            's' => self
                .collect_skips
                .iter()
                .chain(&self.skips)
                .map(|skip| {
                    let line = format!("{} {}", skip.word, skip.node_id);
                    if skip.reason.is_empty() {
                        line
                    } else {
                        format!("{line} - {}", skip.reason)
                    }
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// pytest's `_folded_skips`: one line per place and reason, with the count, in the order
    /// each first appeared, all under the first skip's word.
    fn folded_skips(&self) -> Vec<String> {
        let mut all = self.collect_skips.iter().chain(&self.skips).peekable();
        let Some(word) = all.peek().map(|s| s.word.clone()) else {
            return Vec::new();
        };
        let mut groups: Vec<((&str, &str), usize)> = Vec::new();
        for skip in all {
            let key = (skip.location.as_str(), skip.reason.as_str());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => groups.push((key, 1)),
            }
        }
        groups
            .into_iter()
            .map(|((location, reason), n)| {
                let reason = reason.strip_prefix("Skipped: ").unwrap_or(reason);
                format!("{word} [{n}] {location}: {reason}")
            })
            .collect()
    }

    /// The PASSES (`P`) or XPASSES (`X`) section's body: each report with captured output
    /// under its title, then its teardown output. Empty when there were no such reports.
    pub(super) fn passes_section(
        &self,
        xpasses: bool,
        teardown_sections: &HashMap<String, Vec<(String, String)>>,
    ) -> Option<Vec<SectionLine>> {
        let passes = if xpasses { &self.xpasses } else { &self.passes };
        if passes.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for pass in passes {
            if !pass.sections.is_empty() {
                out.push(SectionLine::Title(pass.headline.clone()));
                out.extend(captured_lines(&pass.sections, |_| true));
            }
            if let Some(sections) = teardown_sections.get(&pass.node_id) {
                out.extend(captured_lines(sections, |title| title.contains("teardown")));
            }
        }
        Some(out)
    }
}

/// One element of a PASSES section: a report's title line or a captured section.
#[derive(Debug)]
pub(super) enum SectionLine {
    Title(String),
    Captured { title: String, content: String },
}

pub(super) fn captured_lines(
    sections: &[(String, String)],
    keep: impl Fn(&str) -> bool,
) -> Vec<SectionLine> {
    sections
        .iter()
        .filter(|(title, _)| keep(title))
        .map(|(title, content)| SectionLine::Captured {
            title: title.clone(),
            content: content.strip_suffix('\n').unwrap_or(content).to_string(),
        })
        .collect()
}

/// pytest's `head_line` (a section's title): the domain unless the worker sent another.
pub(super) fn head_line(result: &ItemResult) -> &str {
    if result.head_line.is_empty() {
        &result.location.domain
    } else {
        &result.head_line
    }
}

/// Where a skip happened: as the worker's pytest said, else the item's own place (the native
/// engine, whose skips pytest would place at the test's line).
fn skip_location(result: &ItemResult) -> String {
    if !result.skip_location.is_empty() {
        return result.skip_location.clone();
    }
    match result.location.line {
        Some(line) => format!("{}:{}", result.location.path, line + 1),
        None => result.location.path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars_of(chars: Option<&str>, disable_warnings: bool) -> String {
        ReportOptions::from_args(&ReportArgs {
            chars: chars.map(str::to_string),
            disable_warnings,
            ..ReportArgs::default()
        })
        .chars
    }

    #[test]
    fn report_chars_resolve_like_pytest_getreportopt() {
        assert_eq!(chars_of(None, false), "wfE");
        assert_eq!(chars_of(Some("a"), false), "wsxXEf");
        assert_eq!(chars_of(Some("A"), false), "wPpsxXEf");
        assert_eq!(chars_of(Some("fEa"), false), "wsxXEf");
        assert_eq!(chars_of(Some("aN"), false), "w");
        assert_eq!(chars_of(Some("Nx"), false), "wx");
        assert_eq!(chars_of(Some("FSs"), false), "wfs");
        assert_eq!(chars_of(Some("xw"), true), "x");
        assert_eq!(chars_of(Some("sw"), false), "sw");
        assert_eq!(chars_of(None, true), "fE");
    }

    fn skip(node_id: &str, location: &str, reason: &str) -> Skip {
        Skip {
            word: "SKIPPED".into(),
            node_id: node_id.into(),
            location: location.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn skips_fold_by_place_and_reason_in_first_seen_order_collect_skips_first() {
        let lists = SummaryLists {
            skips: vec![
                skip("t.py::a", "t.py:3", "Skipped: later"),
                skip("t.py::b", "t.py", "no db"),
                skip("t.py::c", "t.py:3", "Skipped: later"),
                skip("t.py::d", "t.py:3", "Skipped: other"),
            ],
            collect_skips: vec![skip("u.py", "u.py:2", "Skipped: module")],
            ..SummaryLists::default()
        };
        assert_eq!(
            lists.lines('s', true),
            [
                "SKIPPED [1] u.py:2: module",
                "SKIPPED [2] t.py:3: later",
                "SKIPPED [1] t.py: no db",
                "SKIPPED [1] t.py:3: other",
            ]
        );
        assert_eq!(
            lists.lines('s', false),
            [
                "SKIPPED u.py - Skipped: module",
                "SKIPPED t.py::a - Skipped: later",
                "SKIPPED t.py::b - no db",
                "SKIPPED t.py::c - Skipped: later",
                "SKIPPED t.py::d - Skipped: other",
            ]
        );
        assert!(SummaryLists::default().lines('s', true).is_empty());
    }
}
