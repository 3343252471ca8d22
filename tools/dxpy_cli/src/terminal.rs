//! The terminal reporter of `dx-py test`: pytest's progress characters (or verbose lines),
//! FAILURES and ERRORS sections with captured output, the short test summary, `--durations`,
//! and the final stats line, fed one report at a time in arrival order. [`summary`] holds
//! what the report options (`-r`, `--tb`, ...) ask for and the short summary's other groups.

mod summary;

pub use summary::ReportOptions;
use summary::{captured_lines, head_line, SectionLine, SummaryLists};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use dxpy_runner::protocol::{CollectErrorReport, ItemResult, Outcome, Phase, WarningRecord};

use crate::render::{duration, sep};

/// `" [100%]"`: pytest ends a progress line one column short of the width, so the text before
/// the percentage may fill `width - 1 - PERCENT_LEN` columns.
const PERCENT_LEN: usize = 7;

/// The columns pytest's terminal writer would use here (see [`crate::render::terminal_width`]).
/// After the verbose word of a report replayed from the result cache.
const CACHED_MARK: &str = " (cached)";

fn width() -> usize {
    crate::render::terminal_width()
}

fn progress_text_width() -> usize {
    width() - 1 - PERCENT_LEN
}

/// The order and words of pytest's final stats line (`KNOWN_TYPES`).
const STAT_ORDER: [Stat; 8] = [
    Stat::Failed,
    Stat::Passed,
    Stat::Skipped,
    Stat::Deselected,
    Stat::XFailed,
    Stat::XPassed,
    Stat::Warnings,
    Stat::Error,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    Failed,
    Passed,
    Skipped,
    Deselected,
    XFailed,
    XPassed,
    Warnings,
    Error,
}

impl Stat {
    fn of(outcome: Outcome) -> Stat {
        match outcome {
            Outcome::Passed => Stat::Passed,
            Outcome::Failed => Stat::Failed,
            Outcome::Skipped => Stat::Skipped,
            Outcome::XFailed => Stat::XFailed,
            Outcome::XPassed => Stat::XPassed,
            Outcome::Error => Stat::Error,
        }
    }

    /// `pluralize` in pytest's terminal: only these nouns take an `s`.
    fn words(self, count: usize) -> String {
        let noun = match self {
            Stat::Failed => "failed",
            Stat::Passed => "passed",
            Stat::Skipped => "skipped",
            Stat::Deselected => "deselected",
            Stat::XFailed => "xfailed",
            Stat::XPassed => "xpassed",
            Stat::Warnings if count == 1 => "warning",
            Stat::Warnings => "warnings",
            Stat::Error if count == 1 => "error",
            Stat::Error => "errors",
        };
        format!("{count} {noun}")
    }
}

fn letter(outcome: Outcome) -> char {
    match outcome {
        Outcome::Passed => '.',
        Outcome::Failed => 'F',
        Outcome::Skipped => 's',
        Outcome::XFailed => 'x',
        Outcome::XPassed => 'X',
        Outcome::Error => 'E',
    }
}

fn verbose_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
        Outcome::Skipped => "SKIPPED",
        Outcome::XFailed => "XFAIL",
        Outcome::XPassed => "XPASS",
        Outcome::Error => "ERROR",
    }
}

/// Where a warning came from, one line each; from ten places on, a count per file instead.
fn collapsed_locations(locations: &[String]) -> String {
    if locations.len() < 10 {
        return locations.join("\n");
    }
    let mut per_file: Vec<(&str, usize)> = Vec::new();
    for location in locations {
        let file = location.split("::").next().unwrap_or(location);
        match per_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, n)) => *n += 1,
            None => per_file.push((file, 1)),
        }
    }
    per_file
        .iter()
        .map(|(file, n)| format!("{file}: {n} warning{}", if *n > 1 { "s" } else { "" }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// pytest's `running_on_ci`.
fn running_on_ci() -> bool {
    ["CI", "BUILD_NUMBER"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
}

/// The word pytest shows for a report in verbose lines and the short summary: the one its
/// `pytest_report_teststatus` gave (`SUBFAILED(i=2)`), else the outcome's own.
fn word_of(result: &ItemResult) -> &str {
    if result.word.is_empty() {
        verbose_word(result.outcome)
    } else {
        &result.word
    }
}

/// The reason as the user gave it, for reports pytest shows one for in `-v` (a skip, an xfail
/// or xpass): pytest's `_get_raw_skip_reason`.
fn raw_skip_reason(result: &ItemResult) -> Option<&str> {
    let reason = result.skip_reason.as_str();
    match result.outcome {
        Outcome::XFailed | Outcome::XPassed => {
            Some(reason.strip_prefix("reason: ").unwrap_or(reason))
        }
        Outcome::Skipped if reason == "Skipped" => Some(""),
        Outcome::Skipped => Some(reason.strip_prefix("Skipped: ").unwrap_or(reason)),
        _ => None,
    }
}

/// `" (reason)"` in at most `room` columns, its first line only, cut with `...` like pytest's
/// `_format_trimmed`; `None` when not even `" (...)"` fits.
fn trimmed_in_parens(reason: &str, room: usize) -> Option<String> {
    let reason = reason.lines().next().unwrap_or("");
    let frame = " ()".len();
    let ellipsis = "...";
    if frame + ellipsis.len() > room {
        return None;
    }
    if frame + reason.chars().count() <= room {
        return Some(format!(" ({reason})"));
    }
    let keep: String = reason.chars().take(room - frame - ellipsis.len()).collect();
    Some(format!(" ({keep}{ellipsis})"))
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Setup => "setup",
        Phase::Call => "call",
        Phase::Teardown => "teardown",
    }
}

fn colour_of(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "32",
        Outcome::Failed | Outcome::Error => "31",
        Outcome::Skipped | Outcome::XFailed | Outcome::XPassed => "33",
    }
}

/// A failure or error kept for the sections printed at the end.
#[derive(Debug)]
struct Problem {
    /// pytest meets collection problems before any test runs: they come first.
    collect: bool,
    node_id: String,
    headline: String,
    body: String,
    short: String,
    /// What `--tb=line` prints after the body instead of a headline before it.
    crash_line: String,
}

/// How much of a failure pytest's `--tb` has the FAILURES and ERRORS sections show (the
/// workers' pytest renders the tracebacks themselves in the chosen style).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TracebackStyle {
    /// `auto`, `long`, `short`, `native`: a headline, then the text.
    #[default]
    Sections,
    /// `line`: failures without headlines, each followed by its crash line.
    Line,
    /// `no`: neither section.
    No,
}

impl TracebackStyle {
    pub fn from_option(style: &str) -> TracebackStyle {
        match style {
            "line" => TracebackStyle::Line,
            "no" => TracebackStyle::No,
            _ => TracebackStyle::Sections,
        }
    }
}

/// What pytest-cov writes for a run (`crate::cov` produces it with pytest-cov's own code).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CoverageReport {
    /// Written right after the last test (the fail-under error), before the summary.
    pub early: String,
    /// The "tests coverage" section's text (its `=` heading is the terminal's).
    pub report: String,
    /// "Required test coverage of N% reached. ..." (empty: no fail-under).
    pub fail_line: String,
    pub fail_line_failed: bool,
    /// `--cov-fail-under` failed: pytest's exit code is 1.
    pub tests_failed: bool,
}

#[derive(Debug)]
pub struct Terminal<W: Write> {
    out: W,
    /// pytest's verbosity: -1 for `-q`, 0 default, 1 for `-v`.
    verbosity: i8,
    color: bool,
    total: usize,
    /// Distinct tests with a counted report so far.
    finished_for_progress: usize,
    reported: std::collections::HashSet<String>,
    /// The run is over: the last progress line may read 100%.
    done: bool,
    /// `total` undercounts (run-time parameters, hook-made items): no 100% before the end.
    total_inexact: bool,
    /// Some progress (a letter or a verbose line) was written: pytest closes it with a blank
    /// line before the summary, except with `-q`.
    progress_written: bool,
    line_len: usize,
    counts: HashMap<Stat, usize>,
    /// Categories pytest counts outside its known types (`subtests passed`), first seen first.
    other_counts: Vec<(String, usize)>,
    failures: Vec<Problem>,
    errors: Vec<Problem>,
    /// Captured output per node, by phase, for the FAILURES section (pytest shows the sections
    /// of every phase so far).
    captured: HashMap<String, Vec<(String, String)>>,
    durations: Vec<(Duration, Phase, String)>,
    /// Warnings grouped by their summary text, first seen first, with where each came from.
    warnings: Vec<(String, Vec<String>)>,
    options: ReportOptions,
    lists: SummaryLists,
    /// What tests wrote during teardown, by node ID: pytest shows it after the test's
    /// FAILURES (or PASSES) entry, after the report it came too late for.
    teardown_sections: HashMap<String, Vec<(String, String)>>,
    /// The short summary shows whole crash messages: pytest does on CI (`CI` or
    /// `BUILD_NUMBER` set and not empty) and at `-vv`.
    full_messages: bool,
    /// The report being written was replayed from the result cache, not run.
    replaying: bool,
    /// Tests replayed from the result cache: the stats line says how many.
    cached: usize,
    /// Text written after the last test broke the progress line: pytest fills the
    /// percentage in from the start of a new line.
    progress_broken: bool,
    /// pytest-cov's "tests coverage" section (`--cov`).
    coverage: Option<CoverageReport>,
    /// Sections of plugins the run reports for (a title, its lines), after coverage's.
    plugin_sections: Vec<(String, Vec<String>)>,
    /// pytest's recorded time for this selection (`dx-py bench`): the stats line compares.
    baseline: Option<crate::baseline::Baseline>,
}

impl<W: Write> Terminal<W> {
    pub fn new(out: W, verbosity: i8, color: bool, total: usize) -> Terminal<W> {
        Terminal {
            out,
            verbosity,
            color,
            total,
            finished_for_progress: 0,
            reported: std::collections::HashSet::new(),
            done: false,
            total_inexact: false,
            progress_written: false,
            line_len: 0,
            counts: HashMap::new(),
            other_counts: Vec::new(),
            failures: Vec::new(),
            errors: Vec::new(),
            captured: HashMap::new(),
            durations: Vec::new(),
            warnings: Vec::new(),
            options: ReportOptions::default(),
            lists: SummaryLists::default(),
            teardown_sections: HashMap::new(),
            full_messages: verbosity >= 2 || running_on_ci(),
            replaying: false,
            cached: 0,
            baseline: None,
            progress_broken: false,
            coverage: None,
            plugin_sections: Vec::new(),
        }
    }

    /// pytest-cov's report of the run: its early text (the fail-under error) now, right
    /// after the last test as pytest-cov writes it, its section with the summary.
    pub fn coverage(&mut self, report: CoverageReport) -> io::Result<()> {
        if !report.early.is_empty() {
            let text = self.paint("31;1", &report.early);
            self.out.write_all(text.as_bytes())?;
            self.progress_broken = self.line_len > 0;
        }
        self.coverage = Some(report);
        Ok(())
    }

    /// A plugin's terminal-summary section, shown after coverage's (as pytest shows plugin
    /// sections, before the short summary). Always `Ok`: the section is printed by `finish`.
    pub fn plugin_section(&mut self, title: &str, lines: Vec<String>) -> io::Result<()> {
        self.plugin_sections.push((title.to_owned(), lines));
        Ok(())
    }

    /// The "tests coverage" section, when pytest-cov has something to say.
    fn coverage_section(&mut self) -> io::Result<()> {
        let Some(report) = self.coverage.take() else {
            return Ok(());
        };
        if report.report.is_empty() && report.fail_line.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{}", sep('=', "tests coverage"))?;
        self.out.write_all(report.report.as_bytes())?;
        if !report.fail_line.is_empty() {
            let colour = if report.fail_line_failed {
                "31;1"
            } else {
                "32"
            };
            let line = self.paint(colour, &report.fail_line);
            self.out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The session header (not printed with `-q`).
    pub fn header(&mut self, lines: &[String]) -> io::Result<()> {
        if self.verbosity < 0 {
            return Ok(());
        }
        writeln!(self.out, "{}", sep('=', "test session starts"))?;
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        writeln!(self.out)
    }

    pub fn add_deselected(&mut self, count: usize) {
        if count > 0 {
            *self.counts.entry(Stat::Deselected).or_default() += count;
        }
    }

    /// Errors found before any test ran (collection errors).
    pub fn add_errors(&mut self, count: usize) {
        if count > 0 {
            *self.counts.entry(Stat::Error).or_default() += count;
        }
    }

    /// Text already in pytest's shape (e.g. the collection ERRORS section).
    pub fn write_raw(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())
    }

    /// A line a test wrote with capturing off (`-s`), shown where it arrives, as pytest
    /// shows it (in the middle of the progress line, too).
    pub fn passthrough(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    /// A warning a test (or collection) raised: counted, and kept for the warnings summary.
    pub fn add_warning(&mut self, record: &WarningRecord) {
        *self.counts.entry(Stat::Warnings).or_default() += 1;
        let location = if record.node_id.is_empty() {
            record.location.clone()
        } else {
            record.node_id.clone()
        };
        let summary = record.summary.clone();
        match self.warnings.iter_mut().find(|(s, _)| *s == summary) {
            Some((_, locations)) => locations.push(location),
            None => self.warnings.push((summary, vec![location])),
        }
    }

    /// One report from a worker (or made by the pool for a crash or timeout).
    /// A report replayed from the result cache: counted and shown as if it ran, marked
    /// `(cached)` at `-v`, and counted in the stats line's `(N cached)`.
    pub fn report_cached(&mut self, result: &ItemResult) -> io::Result<()> {
        if result.item_finished {
            self.cached += 1;
        }
        self.replaying = true;
        let written = self.report(result);
        self.replaying = false;
        written
    }

    pub fn report(&mut self, result: &ItemResult) -> io::Result<()> {
        let mut captured_now = Vec::new();
        let when = phase_name(result.phase);
        if !result.stdout.is_empty() {
            captured_now.push((format!("Captured stdout {when}"), result.stdout.clone()));
        }
        if !result.stderr.is_empty() {
            captured_now.push((format!("Captured stderr {when}"), result.stderr.clone()));
        }
        captured_now.extend(
            result
                .sections
                .iter()
                .map(|s| (s.title.clone(), s.content.clone())),
        );
        let teardown: Vec<(String, String)> = captured_now
            .iter()
            .filter(|(title, _)| result.phase == Phase::Teardown && title.contains("teardown"))
            .cloned()
            .collect();
        if !teardown.is_empty() {
            self.teardown_sections
                .entry(result.node_id.clone())
                .or_default()
                .extend(teardown);
        }
        let captured = self.captured.entry(result.node_id.clone()).or_default();
        captured.extend(captured_now);
        if result.in_summary {
            self.lists.add(&self.options, result, captured);
        }
        self.durations
            .push((result.duration, result.phase, result.node_id.clone()));
        if result.item_finished {
            self.captured.remove(&result.node_id);
        }
        if !result.in_summary && !result.category.is_empty() {
            match self
                .other_counts
                .iter_mut()
                .find(|(c, _)| *c == result.category)
            {
                Some((_, n)) => *n += 1,
                None => self.other_counts.push((result.category.clone(), 1)),
            }
        }
        // pytest's terminal shows every report its teststatus gives a letter or word, counted
        // in the summary or not (`-q` shows passed subtests as `u`).
        let shown = result.in_summary || !result.letter.is_empty() || !result.word.is_empty();
        if !shown {
            return Ok(());
        }
        // Progress counts tests as their first shown report arrives, as pytest's does.
        if self.reported.insert(result.node_id.clone()) {
            self.finished_for_progress += 1;
        }
        if result.in_summary {
            *self.counts.entry(Stat::of(result.outcome)).or_default() += 1;
            let head_line = head_line(result);
            match result.outcome {
                Outcome::Failed => {
                    let problem = self.problem(result, head_line.to_string());
                    self.failures.push(problem);
                }
                Outcome::Error => {
                    let problem = self.problem(result, format!("ERROR at {when} of {head_line}"));
                    self.errors.push(problem);
                }
                _ => {}
            }
        }
        if result.progress_hidden {
            return Ok(());
        }
        self.progress(result)
    }

    fn problem(&self, result: &ItemResult, headline: String) -> Problem {
        let mut body = result.longrepr.trim_end().to_string();
        for (title, content) in self.captured.get(&result.node_id).into_iter().flatten() {
            let _ = write!(
                body,
                "\n{}\n{}",
                sep('-', title),
                content.trim_end_matches('\n')
            );
        }
        Problem {
            collect: false,
            node_id: result.node_id.clone(),
            headline,
            body,
            short: if result.crash_message.is_empty() {
                short_line(word_of(result), &result.node_id, &result.longrepr)
            } else {
                short_line_with(
                    word_of(result),
                    &result.node_id,
                    &result.crash_message,
                    self.full_messages,
                )
            },
            crash_line: result.crash_line.clone(),
        }
    }

    /// A collection problem reported by a worker: the module could not be imported (an
    /// error), or skipped itself (`pytest.skip(..., allow_module_level=True)`), which pytest
    /// counts and lists under `-rs` but shows no progress letter for.
    pub fn collect_error(&mut self, report: &CollectErrorReport) -> io::Result<()> {
        if report.outcome == Outcome::Skipped {
            *self.counts.entry(Stat::Skipped).or_default() += 1;
            self.lists
                .collect_skip(&report.node_id, &report.skip_location, &report.longrepr);
            return Ok(());
        }
        *self.counts.entry(Stat::Error).or_default() += 1;
        self.errors.push(Problem {
            collect: true,
            node_id: report.node_id.clone(),
            headline: format!("ERROR collecting {}", report.node_id),
            body: report.longrepr.trim_end().to_string(),
            // pytest shows a collection error's crash message, when its report has one.
            short: short_line_with(
                "ERROR",
                &report.node_id,
                &report.crash_message,
                self.full_messages,
            ),
            crash_line: String::new(),
        });
        // pytest's progress shows tests only: a collection error appears in the sections.
        Ok(())
    }

    /// A scheduled test that no worker could report on.
    pub fn lost(&mut self, node_id: &str, message: &str) -> io::Result<()> {
        *self.counts.entry(Stat::Error).or_default() += 1;
        self.errors.push(Problem {
            collect: false,
            node_id: node_id.to_string(),
            headline: format!("ERROR at setup of {node_id}"),
            body: format!("not run: worker lost: {message}"),
            short: short_line(
                "ERROR",
                node_id,
                &format!("E   not run: worker lost: {message}"),
            ),
            crash_line: String::new(),
        });
        self.finished_for_progress += 1;
        self.write_progress_char('E', Outcome::Error)
    }

    /// `-r`, `--tb`, ...: what the sections after the progress show.
    pub fn set_report_options(&mut self, options: ReportOptions) {
        self.options = options;
    }

    /// The stats line ends with how this run compares with pytest's recorded time.
    pub fn compare_with(&mut self, baseline: crate::baseline::Baseline) {
        self.baseline = Some(baseline);
    }

    /// `count` of the tests in `total` will never run (their module skipped itself or could
    /// not be collected).
    pub fn drop_from_total(&mut self, count: usize) {
        self.total = self.total.saturating_sub(count);
    }

    /// The run will report more tests than `total` (parameters expanded at run time).
    pub fn expect_more_than_total(&mut self) {
        self.total_inexact = true;
    }

    fn percent(&self) -> String {
        let total = self.total.max(self.finished_for_progress).max(1);
        let mut percent = self.finished_for_progress * 100 / total;
        // Parameters expanded at run time make more tests than discovery counted: never claim
        // 100% before the run has finished.
        if !self.done && self.total_inexact && percent >= 100 {
            percent = 99;
        }
        format!(" [{percent:>3}%]")
    }

    fn progress(&mut self, result: &ItemResult) -> io::Result<()> {
        if self.verbosity > 0 {
            let word = word_of(result);
            let mut painted = self.paint(colour_of(result.outcome), word);
            let mut plain = format!("{} {word}", result.node_id);
            if self.replaying {
                painted.push_str(CACHED_MARK);
                plain.push_str(CACHED_MARK);
            }
            // pytest's `-v` adds the reason of a skip, xfail or xpass, cut to what fits.
            let room = (width() - PERCENT_LEN - 1).saturating_sub(plain.chars().count());
            let reason = raw_skip_reason(result)
                .filter(|r| !r.is_empty())
                .and_then(|r| trimmed_in_parens(r, room))
                .unwrap_or_default();
            let used = plain.chars().count() + reason.chars().count();
            let pad = progress_text_width().saturating_sub(used);
            let pct = self.percent();
            self.progress_written = true;
            return writeln!(
                self.out,
                "{} {painted}{reason}{}{pct}",
                result.node_id,
                " ".repeat(pad)
            );
        }
        if result.letter.is_empty() && result.word.is_empty() {
            let letter = letter(result.outcome).to_string();
            self.write_progress_letter(&letter, result.outcome)
        } else {
            // A plugin's report pytest shows with a word only has no letter to write.
            self.write_progress_letter(&result.letter, result.outcome)
        }
    }

    fn write_progress_char(&mut self, ch: char, outcome: Outcome) -> io::Result<()> {
        self.write_progress_letter(&ch.to_string(), outcome)
    }

    fn write_progress_letter(&mut self, letter: &str, outcome: Outcome) -> io::Result<()> {
        if self.verbosity > 0 || letter.is_empty() {
            return Ok(());
        }
        let painted = self.paint(colour_of(outcome), letter);
        write!(self.out, "{painted}")?;
        self.progress_written = true;
        self.line_len += letter.chars().count();
        if self.line_len >= progress_text_width() {
            let pct = self.percent();
            writeln!(self.out, "{pct}")?;
            self.line_len = 0;
        }
        self.out.flush()
    }

    /// The end of the run: close the progress line, then the sections and the stats line.
    pub fn finish(
        &mut self,
        elapsed: Duration,
        durations: Option<usize>,
        stop_banner: Option<String>,
    ) -> io::Result<()> {
        self.done = true;
        if self.line_len > 0 && stop_banner.is_some() {
            // A stopped run (`-x`, Ctrl-C, a deadline) never reached its last test: pytest
            // leaves the progress line as it is, without filling it or a percentage.
            writeln!(self.out)?;
            self.line_len = 0;
        } else if self.line_len > 0 {
            self.finished_for_progress = self.finished_for_progress.max(self.total);
            let used = if self.progress_broken {
                0
            } else {
                self.line_len
            };
            let pad = progress_text_width().saturating_sub(used);
            let pct = self.percent();
            writeln!(self.out, "{}{pct}", " ".repeat(pad))?;
            self.line_len = 0;
        }
        if self.progress_written && self.verbosity >= 0 {
            writeln!(self.out)?;
        }
        let (mut errors, failures) = (
            std::mem::take(&mut self.errors),
            std::mem::take(&mut self.failures),
        );
        errors.sort_by_key(|problem| !problem.collect);
        let summary = self.options.summary;
        let traceback = self.options.traceback;
        if summary && traceback != TracebackStyle::No {
            self.sections("ERRORS", &errors, TracebackStyle::Sections)?;
            self.sections("FAILURES", &failures, traceback)?;
        }
        if summary && self.options.has('w') {
            self.warnings_summary()?;
        }
        if summary && traceback != TracebackStyle::No {
            self.passes_sections()?;
        }
        if summary {
            self.coverage_section()?;
            for (title, lines) in std::mem::take(&mut self.plugin_sections) {
                writeln!(self.out, "{}", sep('=', &title))?;
                for line in lines {
                    writeln!(self.out, "{line}")?;
                }
            }
        }
        if let Some(n) = durations {
            self.write_durations(n)?;
        }
        if summary {
            self.short_summary(&failures, &errors)?;
        }
        if let Some(banner) = stop_banner {
            writeln!(self.out, "{}", sep('!', &banner))?;
        }
        let line = self.stats_line(elapsed);
        // pytest's main colour: red for failures, yellow for warnings, xpasses or categories
        // it does not know, green for passes.
        let has = |stat| self.counts.get(&stat).is_some_and(|&n| n > 0);
        let colour = if has(Stat::Failed) || has(Stat::Error) {
            "31"
        } else if has(Stat::Warnings) || has(Stat::XPassed) || !self.other_counts.is_empty() {
            "33"
        } else if has(Stat::Passed) {
            "32"
        } else {
            "33"
        };
        let text = if self.verbosity < 0 {
            line
        } else {
            sep('=', &line)
        };
        let painted = self.paint(colour, &text);
        writeln!(self.out, "{painted}")?;
        self.out.flush()?;
        Ok(())
    }

    /// PASSES (`-rP`) and XPASSES (`-rX`): the captured output of tests that passed.
    fn passes_sections(&mut self) -> io::Result<()> {
        for (c, title, xpasses) in [('P', "PASSES", false), ('X', "XPASSES", true)] {
            if !self.options.has(c) {
                continue;
            }
            let Some(lines) = self.lists.passes_section(xpasses, &self.teardown_sections) else {
                continue;
            };
            writeln!(self.out, "{}", sep('=', title))?;
            for line in lines {
                match line {
                    SectionLine::Title(headline) => writeln!(self.out, "{}", sep('_', &headline))?,
                    SectionLine::Captured { title, content } => {
                        writeln!(self.out, "{}\n{content}", sep('-', &title))?
                    }
                }
            }
        }
        Ok(())
    }

    /// "short test summary info": a group per report character, in the order `-r` gave them.
    fn short_summary(&mut self, failures: &[Problem], errors: &[Problem]) -> io::Result<()> {
        let shorts = |problems: &[Problem]| -> Vec<String> {
            problems.iter().map(|p| p.short.clone()).collect()
        };
        let lines: Vec<String> = self
            .options
            .chars()
            .flat_map(|c| match c {
                'f' => shorts(failures),
                'E' => shorts(errors),
                c => self.lists.lines(c, self.options.fold_skipped),
            })
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{}", sep('=', "short test summary info"))?;
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    /// pytest's "warnings summary": each distinct warning once, under where it came from (a
    /// count per file from ten places on), then the link to pytest's docs.
    fn warnings_summary(&mut self) -> io::Result<()> {
        if self.warnings.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{}", sep('=', "warnings summary"))?;
        for (summary, locations) in std::mem::take(&mut self.warnings) {
            let locations: Vec<String> = locations.into_iter().filter(|l| !l.is_empty()).collect();
            if locations.is_empty() {
                writeln!(self.out, "{}", summary.trim_end())?;
            } else {
                writeln!(self.out, "{}", collapsed_locations(&locations))?;
                let indented: Vec<String> = summary.lines().map(|l| format!("  {l}")).collect();
                writeln!(self.out, "{}", indented.join("\n").trim_end())?;
            }
            writeln!(self.out)?;
        }
        writeln!(
            self.out,
            "-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html"
        )
    }

    fn sections(
        &mut self,
        title: &str,
        problems: &[Problem],
        style: TracebackStyle,
    ) -> io::Result<()> {
        if problems.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{}", sep('=', title))?;
        for problem in problems {
            if style == TracebackStyle::Line {
                writeln!(self.out, "{}", problem.body)?;
                writeln!(self.out, "{}", problem.crash_line)?;
            } else {
                writeln!(self.out, "{}", sep('_', &problem.headline))?;
                writeln!(self.out, "{}", problem.body)?;
                // A failed test's teardown output comes after its report (pytest's
                // `_handle_teardown_sections`); an error's report already holds it.
                if title == "FAILURES" {
                    let teardown = self.teardown_sections.get(&problem.node_id);
                    for line in captured_lines(teardown.map_or(&[][..], Vec::as_slice), |_| true) {
                        if let SectionLine::Captured { title, content } = line {
                            writeln!(self.out, "{}\n{content}", sep('-', &title))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn write_durations(&mut self, n: usize) -> io::Result<()> {
        let mut rows = std::mem::take(&mut self.durations);
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        let title = if n == 0 {
            "slowest durations".to_string()
        } else {
            format!("slowest {n} durations")
        };
        writeln!(self.out, "{}", sep('=', &title))?;
        let limit = if n == 0 {
            rows.len()
        } else {
            n.min(rows.len())
        };
        let mut hidden = 0;
        for (d, phase, node) in rows.iter().take(limit) {
            if self.verbosity < 2 && d.as_secs_f64() < 0.005 {
                hidden += 1;
                continue;
            }
            writeln!(
                self.out,
                "{:.2}s {:<8} {node}",
                d.as_secs_f64(),
                phase_name(*phase)
            )?;
        }
        if hidden > 0 {
            writeln!(
                self.out,
                "\n({hidden} durations < 0.005s hidden.  Use -vv to show these durations.)"
            )?;
        }
        Ok(())
    }

    /// pytest's final stats line without the separators.
    pub fn stats_line(&self, elapsed: Duration) -> String {
        let parts: Vec<String> = STAT_ORDER
            .iter()
            .filter_map(|stat| {
                self.counts
                    .get(stat)
                    .filter(|&&n| n > 0)
                    .map(|&n| stat.words(n))
            })
            // pytest appends the types it does not know, in the order it first saw them.
            .chain(
                self.other_counts
                    .iter()
                    .map(|(category, n)| format!("{n} {category}")),
            )
            .collect();
        let mut body = if parts.is_empty() {
            "no tests ran".to_string()
        } else {
            parts.join(", ")
        };
        if self.cached > 0 {
            body.push_str(&format!(" ({} cached)", self.cached));
        }
        let line = format!("{body} in {}", duration(elapsed));
        match &self.baseline {
            Some(baseline) => format!("{line} ({})", crate::baseline::note(baseline, elapsed)),
            None => line,
        }
    }

    pub fn count(&self, stat: Stat) -> usize {
        self.counts.get(&stat).copied().unwrap_or(0)
    }
}

/// `FAILED nodeid - message` with the message cut to the terminal width, as pytest does.
fn short_line(word: &str, node_id: &str, longrepr: &str) -> String {
    short_line_with(word, node_id, &crash_message(longrepr), false)
}

/// `word nodeid - message`: the whole message when `full` (pytest on CI or at `-vv`), else
/// its first line cut to the terminal width (pytest's `_format_trimmed`).
fn short_line_with(word: &str, node_id: &str, message: &str, full: bool) -> String {
    let line = format!("{word} {node_id}");
    if full && !message.is_empty() {
        return format!("{line} - {message}");
    }
    let message = message.lines().next().unwrap_or("");
    let available = width().saturating_sub(line.chars().count());
    if message.is_empty() {
        return line;
    }
    let full = format!(" - {message}");
    if full.chars().count() <= available {
        return line + &full;
    }
    let ellipsis = "...";
    if available < " - ".len() + ellipsis.len() {
        return line;
    }
    let keep = available - ellipsis.len();
    line + &full.chars().take(keep).collect::<String>() + ellipsis
}

/// The first `E   ` line of a traceback: pytest's `reprcrash.message` in practice.
pub(crate) fn crash_message(longrepr: &str) -> String {
    longrepr
        .lines()
        .find_map(|line| line.strip_prefix('E').filter(|rest| rest.starts_with(' ')))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| {
            longrepr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        })
}
