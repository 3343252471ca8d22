//! Merging generated rules into an existing BUILD file without clobbering what people wrote.
//!
//! The existing text is copied through verbatim except for three kinds of edits:
//! - a *managed* rule (a `dx_py_library`/`dx_py_test` call without `# keep`) whose name the
//!   generator produces is re-rendered: the generated attributes (`srcs`, `data`, `deps`,
//!   `imports`, `testonly`, `visibility`) get their new values, every other attribute keeps
//!   its source text and its comments; an attribute with `# keep` on its line keeps its value, and a list element with
//!   `# keep` survives next to the generated ones. `data` is only added to: every element
//!   already there stays (hand-written entries cannot be told from inferred ones). A value that is not a literal (a `glob`, a
//!   `select`, a concatenation) cannot be merged and is left as written.
//! - a managed rule whose name is no longer generated is deleted (with the comment block
//!   directly above it) when none of its literal `srcs` remains outside generated targets:
//!   its sources are gone, or moved to other generated targets (e.g. after a generation-mode
//!   switch); otherwise it is left alone.
//! - the `load` of [`DEFS_BZL`] gets exactly the rule kinds the file uses (other symbols kept).
//! - files of this package that other packages name as `data` are exported: added to the
//!   first `exports_files([...])` with no other argument and no `# keep` (nothing is removed
//!   from it), else declared by a new `exports_files` call at the end.
//!
//! New rules are appended in (kind, name) order; the result has no runs of blank lines and
//! ends with one newline, so a second merge of the same rules returns the same text.

use std::collections::BTreeSet;

use crate::buildfile::{Arg, ArgValue, BuildFile, Comment, RuleCall, StatementKind};
use crate::render::{
    quote, render_list, render_load, render_rule, GeneratedAttr, RenderedArg, RenderedElement,
    RuleKind, DEFS_BZL,
};

/// A rule the generator wants in a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRule {
    pub kind: RuleKind,
    pub name: String,
    pub srcs: Vec<String>,
    /// Files the code reads at run time: labels, relative to the package where possible.
    pub data: Vec<String>,
    /// Labels, relative to the package where possible (`:x`, `//a`, `@pypi//six`).
    pub deps: Vec<String>,
    pub imports: Vec<String>,
    pub testonly: bool,
    /// Libraries are visible to the whole repository (`//:__subpackages__`), as Gazelle's
    /// Python extension makes them: tests in other packages depend on them.
    pub visibility: Vec<String>,
}

impl GeneratedRule {
    /// The list value of a generated attribute (`testonly` has none).
    fn list(&self, attr: GeneratedAttr) -> Option<&[String]> {
        match attr {
            GeneratedAttr::Srcs => Some(&self.srcs),
            GeneratedAttr::Data => Some(&self.data),
            GeneratedAttr::Deps => Some(&self.deps),
            GeneratedAttr::Imports => Some(&self.imports),
            GeneratedAttr::Visibility => Some(&self.visibility),
            GeneratedAttr::Testonly => None,
        }
    }

    fn render_attr(&self, attr: GeneratedAttr, kept: Vec<RenderedElement>) -> Option<String> {
        match self.list(attr) {
            Some(values) => {
                let mut elements: Vec<RenderedElement> = kept;
                for value in values {
                    if !elements.iter().any(|e| &e.value == value) {
                        elements.push(RenderedElement::plain(value.clone()));
                    }
                }
                (!elements.is_empty()).then(|| render_list(attr.name(), elements, "    "))
            }
            None => self.testonly.then(|| "testonly = True".to_owned()),
        }
    }

    /// The rule as written from scratch.
    pub fn render_new(&self) -> String {
        let mut args = vec![RenderedArg {
            name: Some("name".into()),
            leading: vec![],
            body: format!("name = {}", quote(&self.name)),
            trailing: None,
        }];
        for attr in GeneratedAttr::ALL {
            if let Some(body) = self.render_attr(attr, Vec::new()) {
                args.push(RenderedArg {
                    name: Some(attr.name().into()),
                    leading: vec![],
                    body,
                    trailing: None,
                });
            }
        }
        render_rule(self.kind.function(), None, args, &[])
    }
}

/// What the merge needs besides the rules.
#[derive(Debug)]
pub struct MergeContext<'a> {
    /// Files of this package (names relative to it) that generated rules own.
    pub generated_sources: &'a BTreeSet<String>,
    /// Files of this package (names relative to it) that exist.
    pub existing_sources: &'a BTreeSet<String>,
    /// Files of this package (relative to it) that other packages' `data` names.
    pub exports: &'a BTreeSet<String>,
}

/// The new text of a BUILD file: `existing` (if any) merged with `rules`.
pub fn merge(existing: Option<&BuildFile>, rules: &[GeneratedRule], ctx: &MergeContext) -> String {
    let empty;
    let file = match existing {
        Some(file) => file,
        None => {
            empty = match BuildFile::parse(std::path::Path::new("BUILD.bazel"), String::new()) {
                Ok(file) => file,
                Err(_) => return render_fresh(rules),
            };
            &empty
        }
    };
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut used_kinds: BTreeSet<RuleKind> = BTreeSet::new();
    let mut defs_load = None;
    let mut last_load_end = None;
    let mut exported: BTreeSet<&str> = BTreeSet::new();
    let mut exports_edited = false;
    for statement in &file.statements {
        if let StatementKind::Rule(call) = &statement.kind {
            if call.kind == "exports_files" {
                let listed = exported_files(call);
                exported.extend(listed.iter().copied());
                let editable = !exports_edited
                    && call.args.len() == 1
                    && !listed.is_empty()
                    && !rule_has_keep(file, statement.start, call);
                if editable && ctx.exports.iter().any(|f| !exported.contains(f.as_str())) {
                    exports_edited = true;
                    let mut all: BTreeSet<&str> = listed;
                    all.extend(ctx.exports.iter().map(String::as_str));
                    exported.extend(all.iter().copied());
                    edits.push((statement.start, statement.end, render_exports(&all)));
                }
                continue;
            }
        }
        let rule = match &statement.kind {
            StatementKind::Load(load) => {
                last_load_end = Some(statement.end);
                if load.module == DEFS_BZL && defs_load.is_none() {
                    defs_load = Some((statement, load));
                }
                continue;
            }
            StatementKind::Other => continue,
            StatementKind::Rule(rule) => rule,
        };
        let Some(kind) = RuleKind::from_function(&rule.kind) else {
            continue;
        };
        let keep = rule_has_keep(file, statement.start, rule);
        let generated = rule
            .name
            .as_deref()
            .filter(|name| !keep && !placed.contains(name))
            .and_then(|name| rules.iter().find(|g| g.name == name));
        match generated {
            Some(generated) => {
                placed.insert(&generated.name);
                used_kinds.insert(generated.kind);
                let text = merge_rule(file, rule, generated, statement.end);
                edits.push((statement.start, statement.end, text));
            }
            None if !keep && is_stale(rule, ctx) => {
                let (start, end) = deletion_range(file, statement.start, statement.end);
                edits.push((start, end, String::new()));
            }
            None => {
                used_kinds.insert(kind);
            }
        }
    }
    let mut new_rules: Vec<&GeneratedRule> = rules
        .iter()
        .filter(|r| !placed.contains(r.name.as_str()))
        .collect();
    new_rules.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    used_kinds.extend(new_rules.iter().map(|r| r.kind));

    // The load of our rule kinds: keep foreign symbols, add used kinds, drop unused ones.
    let wanted = |symbols: &[(String, String)]| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = symbols
            .iter()
            .filter(|(local, their)| {
                local != their
                    || RuleKind::from_function(their).is_none_or(|k| used_kinds.contains(&k))
            })
            .cloned()
            .collect();
        for kind in &used_kinds {
            let f = kind.function().to_owned();
            if !out.iter().any(|(local, _)| *local == f) {
                out.push((f.clone(), f));
            }
        }
        out
    };
    match defs_load {
        Some((statement, load)) => {
            let symbols = wanted(&load.symbols);
            if symbols.is_empty() {
                let (start, end) = deletion_range(file, statement.start, statement.end);
                edits.push((start, end, String::new()));
            } else {
                edits.push((
                    statement.start,
                    statement.end,
                    render_load(DEFS_BZL, &symbols),
                ));
            }
        }
        None if !used_kinds.is_empty() => {
            let text = render_load(DEFS_BZL, &wanted(&[]));
            let at = match (last_load_end, file.statements.first()) {
                (Some(end), _) => edits_insert_after(end, text),
                (None, Some(first)) => {
                    let start = file
                        .leading_comments(first.start)
                        .first()
                        .map_or(first.start, |c| file.line_range(file.line_of(c.start)).0);
                    (start, start, format!("{text}\n\n"))
                }
                (None, None) => (file.source.len(), file.source.len(), format!("\n{text}\n")),
            };
            edits.push(at);
        }
        None => {}
    }

    edits.sort_by_key(|(start, end, _)| (*start, *end));
    let mut out = String::with_capacity(file.source.len() + 256);
    let mut cursor = 0;
    for (start, end, text) in edits {
        if start < cursor {
            continue; // overlapping edits cannot happen for distinct statements; be safe
        }
        out.push_str(&file.source[cursor..start]);
        out.push_str(&text);
        cursor = end;
    }
    out.push_str(&file.source[cursor..]);
    for rule in new_rules {
        out.push_str("\n\n");
        out.push_str(&rule.render_new());
        out.push('\n');
    }
    let missing: BTreeSet<&str> = ctx
        .exports
        .iter()
        .map(String::as_str)
        .filter(|f| !exported.contains(f))
        .collect();
    if !missing.is_empty() {
        out.push_str("\n\n");
        out.push_str(&render_exports(&missing));
        out.push('\n');
    }
    normalize_blank_lines(&out)
}

/// The files an `exports_files` call lists (its first argument, if a literal list).
fn exported_files(call: &RuleCall) -> BTreeSet<&str> {
    match call.args.first() {
        Some(Arg {
            name: None,
            value: ArgValue::StringList(elements),
            ..
        }) => elements.iter().map(|e| e.value.as_str()).collect(),
        _ => BTreeSet::new(),
    }
}

/// `exports_files([...])`, buildifier-style.
fn render_exports(files: &BTreeSet<&str>) -> String {
    let elements = files.iter().map(|f| RenderedElement::plain(*f)).collect();
    let list = render_list("", elements, "");
    format!("exports_files({})", list.trim_start_matches(" = "))
}

fn edits_insert_after(end: usize, text: String) -> (usize, usize, String) {
    (end, end, format!("\n{text}"))
}

fn render_fresh(rules: &[GeneratedRule]) -> String {
    let mut out = String::new();
    for rule in rules {
        out.push_str(&rule.render_new());
        out.push_str("\n\n");
    }
    normalize_blank_lines(&out)
}

/// `# keep` directly above the rule or after its opening parenthesis.
fn rule_has_keep(file: &BuildFile, start: usize, rule: &RuleCall) -> bool {
    file.leading_comments(start).iter().any(|c| c.is_keep())
        || header_comment(file, rule).is_some_and(Comment::is_keep)
}

/// A comment on the line of the opening parenthesis, before the first argument.
fn header_comment<'f>(file: &'f BuildFile, rule: &RuleCall) -> Option<&'f Comment> {
    let comment = file.trailing_comment(rule.open_paren_end)?;
    let before_first = rule.args.first().is_none_or(|a| comment.start < a.start);
    before_first.then_some(comment)
}

/// A managed rule is stale when none of its literal sources lies outside generated targets.
fn is_stale(rule: &RuleCall, ctx: &MergeContext) -> bool {
    match rule.literal_srcs() {
        None => false,
        Some(srcs) => srcs
            .iter()
            .all(|src| !ctx.existing_sources.contains(src) || ctx.generated_sources.contains(src)),
    }
}

/// The range to delete for a statement: its attached comment block above, the statement,
/// a trailing comment and the newline.
fn deletion_range(file: &BuildFile, start: usize, end: usize) -> (usize, usize) {
    let first_line = file
        .leading_comments(start)
        .first()
        .map_or(file.line_of(start), |c| file.line_of(c.start));
    let (range_start, _) = file.line_range(first_line);
    let (_, line_end) = file.line_range(file.line_of(end));
    let after = file.source[end..line_end].trim_start();
    let end = if after.is_empty() || after.starts_with('#') {
        (line_end + 1).min(file.source.len())
    } else {
        end
    };
    (range_start, end)
}

/// Comment lines in `from..to` that do not sit on the line of `from` (those are trailing
/// comments of what ends there).
fn comment_lines_between(file: &BuildFile, from: usize, to: usize) -> Vec<String> {
    let from_line = file.line_of(from);
    file.comments_in(from, to)
        .filter(|c| file.line_of(c.start) != from_line)
        .map(|c| format!("#{}", c.text))
        .collect()
}

/// The comment after `end` on its line, if it comes before `limit`.
fn trailing_before(file: &BuildFile, end: usize, limit: usize) -> Option<&Comment> {
    file.trailing_comment(end).filter(|c| c.start < limit)
}

fn merge_rule(
    file: &BuildFile,
    rule: &RuleCall,
    generated: &GeneratedRule,
    statement_end: usize,
) -> String {
    let header = header_comment(file, rule);
    let mut boundary = header.map_or(rule.open_paren_end, |c| c.end);
    let mut args = Vec::new();
    let mut seen: BTreeSet<GeneratedAttr> = BTreeSet::new();
    // The statement ends just after the closing parenthesis.
    let call_end = statement_end.saturating_sub(1);
    for (index, arg) in rule.args.iter().enumerate() {
        let next_start = rule.args.get(index + 1).map_or(call_end, |a| a.start);
        let leading = comment_lines_between(file, boundary, arg.start);
        let trailing = trailing_before(file, arg.end, next_start);
        boundary = trailing.map_or(arg.end, |c| c.end);
        let trailing_text = trailing.map(|c| format!("#{}", c.text));
        let verbatim = file.source[arg.start..arg.end].to_owned();
        let attr = arg.name.as_deref().and_then(GeneratedAttr::from_name);
        let body = match attr {
            Some(attr) => {
                seen.insert(attr);
                if attr_has_keep(file, arg, trailing) || arg.value == ArgValue::Opaque {
                    Some(verbatim)
                } else {
                    // `data` is only ever added to: what is there may be hand-written (or a
                    // generated file's label) and nothing tells it from an inferred entry.
                    let keep_all = attr == GeneratedAttr::Data;
                    let kept = surviving_elements(file, arg, generated.list(attr), keep_all);
                    generated.render_attr(attr, kept)
                }
            }
            None if arg.name.as_deref() == Some("name") => {
                Some(format!("name = {}", quote(&generated.name)))
            }
            None => Some(verbatim),
        };
        if let Some(body) = body {
            args.push(RenderedArg {
                name: arg.name.clone(),
                leading,
                body,
                trailing: trailing_text,
            });
        }
    }
    let footer = comment_lines_between(file, boundary, call_end);
    for attr in GeneratedAttr::ALL {
        if seen.contains(&attr) {
            continue;
        }
        if let Some(body) = generated.render_attr(attr, Vec::new()) {
            args.push(RenderedArg {
                name: Some(attr.name().into()),
                leading: vec![],
                body,
                trailing: None,
            });
        }
    }
    render_rule(
        generated.kind.function(),
        header.map(|c| format!("#{}", c.text)).as_deref(),
        args,
        &footer,
    )
}

/// `# keep` on the attribute's first line (after its start) or trailing its value.
fn attr_has_keep(file: &BuildFile, arg: &Arg, trailing: Option<&Comment>) -> bool {
    let (_, first_line_end) = file.line_range(file.line_of(arg.start));
    let on_first_line = file
        .comments_in(arg.start, first_line_end)
        .any(|c| c.is_keep() && c.start < arg.end);
    on_first_line || trailing.is_some_and(Comment::is_keep)
}

/// Existing list elements that stay: those with `# keep`, and those still generated (with
/// their comments); all of them with `keep_all`.
fn surviving_elements(
    file: &BuildFile,
    arg: &Arg,
    generated: Option<&[String]>,
    keep_all: bool,
) -> Vec<RenderedElement> {
    let ArgValue::StringList(elements) = &arg.value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut boundary = arg.start;
    for (index, element) in elements.iter().enumerate() {
        let next = elements.get(index + 1).map_or(arg.end, |e| e.start);
        let leading = comment_lines_between(file, boundary, element.start);
        let trailing = trailing_before(file, element.end, next);
        boundary = trailing.map_or(element.end, |c| c.end);
        let keep = trailing.is_some_and(Comment::is_keep);
        let still = generated.is_some_and(|g| g.contains(&element.value));
        if keep || still || keep_all {
            out.push(RenderedElement {
                value: element.value.clone(),
                leading,
                trailing: trailing.map(|c| format!("#{}", c.text)),
            });
        }
    }
    out
}

/// At most one blank line in a row, none at the start, one newline at the end.
pub fn normalize_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() && blank_run > 0 {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    fn rule_strategy() -> impl Strategy<Value = GeneratedRule> {
        (
            prop_oneof![Just(RuleKind::Library), Just(RuleKind::Test)],
            "[a-d]{1,2}",
            proptest::collection::vec("[a-d]{1,2}\\.py", 1..3),
            proptest::collection::vec(prop_oneof!["//[a-c]{1,2}", ":[a-c]", "@pypi//[a-c]"], 0..4),
            any::<bool>(),
        )
            .prop_map(|(kind, name, srcs, deps, testonly)| GeneratedRule {
                kind,
                name,
                srcs,
                data: vec![],
                deps,
                imports: vec![],
                testonly,
                visibility: vec![],
            })
    }

    fn rules_strategy() -> impl Strategy<Value = Vec<GeneratedRule>> {
        proptest::collection::vec(rule_strategy(), 0..5).prop_map(|mut rules| {
            rules.sort_by(|a, b| a.name.cmp(&b.name));
            rules.dedup_by(|a, b| a.name == b.name);
            rules
        })
    }

    fn merged(existing: &str, rules: &[GeneratedRule]) -> String {
        let file = BuildFile::parse(Path::new("BUILD.bazel"), existing.to_owned());
        let file = match file {
            Ok(file) => file,
            Err(error) => panic!("generated text does not parse: {error}\n{existing}"),
        };
        let sources: BTreeSet<String> = rules.iter().flat_map(|r| r.srcs.clone()).collect();
        let exports = BTreeSet::new();
        let ctx = MergeContext {
            generated_sources: &sources,
            existing_sources: &sources,
            exports: &exports,
        };
        merge(Some(&file), rules, &ctx)
    }

    /// The statements of a file as text, sorted.
    fn rule_texts(text: &str) -> Vec<String> {
        let file = BuildFile::parse(Path::new("BUILD.bazel"), text.to_owned());
        let mut out: Vec<String> = file
            .map(|f| {
                f.statements
                    .iter()
                    .map(|s| f.source[s.start..s.end].to_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    proptest! {
        #[test]
        fn merging_is_idempotent(rules in rules_strategy()) {
            let once = merged("", &rules);
            prop_assert_eq!(merged(&once, &rules), once);
        }

        #[test]
        fn an_update_converges_to_the_fresh_output(before in rules_strategy(), after in rules_strategy()) {
            // Rules that share no name with `after` and whose sources are all regenerated are
            // stale and removed: the update holds exactly `after`'s rules (existing ones keep
            // their place, so only the order may differ), and is a fixed point.
            let updated = merged(&merged("", &before), &after);
            prop_assert_eq!(rule_texts(&updated), rule_texts(&merged("", &after)));
            prop_assert_eq!(merged(&updated, &after), updated);
        }
    }

    #[test]
    fn a_hand_written_rule_and_comments_survive() {
        let existing = "# header\n\nsh_binary(\n    name = \"x\",  # why\n)\n";
        let rules = vec![GeneratedRule {
            kind: RuleKind::Test,
            name: "test_a".into(),
            srcs: vec!["test_a.py".into()],
            data: vec![],
            deps: vec![],
            imports: vec![],
            testonly: false,
            visibility: vec![],
        }];
        let out = merged(existing, &rules);
        assert!(out.starts_with("# header\n\nload(\"@rules_dxpy//rules:defs.bzl\", \"dx_py_test\")\n\nsh_binary(\n    name = \"x\",  # why\n)\n"), "{out}");
        assert!(
            out.ends_with("dx_py_test(\n    name = \"test_a\",\n    srcs = [\"test_a.py\"],\n)\n"),
            "{out}"
        );
    }
}
