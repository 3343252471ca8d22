//! Assembling the selected items in pytest's order, and deselection.
//!
//! Order: per initial argument, its files in walk order, each file's items in analysis order,
//! filtered by the argument's `::` selector. Then pytest's `pytest_collection_modifyitems`
//! filters: `--deselect` prefixes, `-k`, `-m` (each removed item counts as deselected).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::expr::matchers::{node_names, path_names};
use crate::expr::{keyword_matches, mark_matches, ExprError, ExprKind, Expression, Truth};
use crate::item::{CollectError, FileResult, ParamState, TestItem};
use crate::walk::{ArgFiles, NodeSelector, Walk};

use super::DiscoverError;

/// Markers pytest registers itself (accepted by `-m` under `strict_markers`).
const BUILTIN_MARKERS: &[&str] = &[
    "filterwarnings",
    "skip",
    "skipif",
    "xfail",
    "parametrize",
    "usefixtures",
    "tryfirst",
    "trylast",
];

#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub items: Vec<TestItem>,
    pub errors: Vec<CollectError>,
    pub deselected: usize,
    pub undecided: Vec<String>,
    /// `-m` names not registered in the config under `strict_markers`, when a conftest or
    /// plugin might still register them.
    pub unknown_markers: Vec<String>,
}

/// The top directory pytest collects for `file`: its highest ancestor that is not above
/// `confcutdir`. That directory's own name is not a `-k` keyword.
pub(crate) fn collection_root(file: &Path, confcutdir: &Path) -> PathBuf {
    let mut root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    for ancestor in file.ancestors().skip(1) {
        let strictly_above = confcutdir.starts_with(ancestor) && confcutdir != ancestor;
        if strictly_above {
            break;
        }
        root = ancestor.to_path_buf();
    }
    root
}

pub(crate) fn select(
    config: &Config,
    walked: &Walk,
    results: &[Option<FileResult>],
) -> Result<Selection, DiscoverError> {
    let mut selection = Selection::default();
    let collected = collect_args(walked, results, &mut selection)?;
    let filters = Filters::compile(config, walked, &mut selection)?;
    for (item, file_index) in collected {
        match filters.verdict(&item, &walked.files[file_index].path, &config.confcutdir)? {
            Verdict::Deselected => selection.deselected += 1,
            Verdict::Kept { undecided } => {
                if undecided && !selection.undecided.contains(&item.node_id) {
                    selection.undecided.push(item.node_id.clone());
                }
                selection.items.push(item.into_owned());
            }
        }
    }
    Ok(selection)
}

/// The items of every initial argument, in pytest's order, with the index of their file;
/// each file's errors are reported once. A `path::name` argument matching nothing in a file
/// without errors fails like pytest. Items are borrowed: only those the filters keep are
/// copied (a `-m` run may deselect most of a suite).
fn collect_args<'r>(
    walked: &Walk,
    results: &'r [Option<FileResult>],
    selection: &mut Selection,
) -> Result<Vec<(Cow<'r, TestItem>, usize)>, DiscoverError> {
    let mut reported = vec![false; walked.files.len()];
    let total: usize = walked
        .args
        .iter()
        .flat_map(|arg| &arg.files)
        .filter_map(|&index| results[index].as_ref())
        .map(|result| result.items.len())
        .sum();
    let mut collected: Vec<(Cow<'r, TestItem>, usize)> = Vec::with_capacity(total);
    for arg in &walked.args {
        let mut matched_any = false;
        let mut had_errors = false;
        for &index in &arg.files {
            let Some(result) = &results[index] else {
                continue;
            };
            if !result.errors.is_empty() {
                had_errors = true;
                if !reported[index] {
                    reported[index] = true;
                    selection.errors.extend(result.errors.iter().cloned());
                }
            }
            for item in &result.items {
                if let Some(kept) =
                    selector_keeps(arg.selector.as_ref(), item, &mut selection.undecided)
                {
                    matched_any = true;
                    collected.push((kept, index));
                }
            }
        }
        // A doctest file's items are the runner's to find (they need the imported module).
        let doctests = arg.files.iter().any(|&i| {
            let roles = walked.files[i].roles;
            roles.doctest_module || roles.doctest_text
        });
        if arg.selector.is_some() && !matched_any && !had_errors && !doctests {
            return Err(node_not_found(arg));
        }
    }
    Ok(collected)
}

/// What an argument's `::` selector keeps of `item`, if anything. An item whose parameters
/// only the runner knows is kept on its function-level match, recorded in `undecided`; when
/// the selector names the function itself with a parametrization (`test_f[a-1]`), the kept
/// item is that node ID, so the runner collects only it, as pytest does.
fn selector_keeps<'r>(
    selector: Option<&NodeSelector>,
    item: &'r TestItem,
    undecided: &mut Vec<String>,
) -> Option<Cow<'r, TestItem>> {
    let Some(selector) = selector else {
        return Some(Cow::Borrowed(item));
    };
    let names = node_names(&item.node_id);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if selector.matches(&refs) {
        return Some(Cow::Borrowed(item));
    }
    let param = selector.parametrization.as_ref()?;
    if item.params != ParamState::Dynamic {
        return None;
    }
    let bare = NodeSelectorBare {
        parts: &selector.parts,
    };
    if !bare.matches(&refs) {
        return None;
    }
    let names_the_function = refs.len() == selector.parts.len() && !item.node_id.ends_with(']');
    if !names_the_function {
        undecided.push(item.node_id.clone());
        return Some(Cow::Borrowed(item));
    }
    let mut exact = item.clone();
    exact.node_id = format!("{}{param}", item.node_id);
    undecided.push(exact.node_id.clone());
    Some(Cow::Owned(exact))
}

/// pytest's "not found" usage error for a selector that matched nothing.
fn node_not_found(arg: &ArgFiles) -> DiscoverError {
    let names = arg
        .selector
        .as_ref()
        .map(|s| s.parts.join("::"))
        .unwrap_or_default();
    let module = arg
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    DiscoverError::NodeNotFound {
        arg: format!("{}::{names}", arg.path.display()),
        module,
    }
}

/// pytest's `pytest_collection_modifyitems` filters, in its order: `--deselect`, `-k`, `-m`.
struct Filters<'c> {
    /// `--deselect`: plain node-ID prefixes.
    prefixes: &'c [String],
    keyword: Option<Expression>,
    markexpr: Option<Expression>,
}

/// What the filters make of one item.
enum Verdict {
    Deselected,
    /// `undecided`: only the runner can tell (parameters known at run time).
    Kept {
        undecided: bool,
    },
}

impl<'c> Filters<'c> {
    /// Compile `-k` and `-m`; under `strict_markers`, unknown `-m` names fail like pytest
    /// when nothing could register them at run time, else they go to `unknown_markers`.
    fn compile(
        config: &'c Config,
        walked: &Walk,
        selection: &mut Selection,
    ) -> Result<Self, DiscoverError> {
        let keyword = config
            .args
            .keyword
            .as_deref()
            .map(str::trim_start)
            .filter(|k| !k.is_empty());
        let keyword = keyword
            .map(|k| Expression::compile(k, ExprKind::Keyword))
            .transpose()?;
        let markexpr = config.args.markexpr.as_deref().filter(|m| !m.is_empty());
        let markexpr = markexpr
            .map(|m| Expression::compile(m, ExprKind::Mark))
            .transpose()?;
        if let Some(expr) = &markexpr {
            if config.strict_markers() {
                selection.unknown_markers = unknown_markers(config, walked, expr)?;
            }
        }
        Ok(Filters {
            prefixes: &config.args.deselect,
            keyword,
            markexpr,
        })
    }

    fn verdict(
        &self,
        item: &TestItem,
        file: &Path,
        confcutdir: &Path,
    ) -> Result<Verdict, DiscoverError> {
        let mut undecided = false;
        if !self.prefixes.is_empty() {
            if self
                .prefixes
                .iter()
                .any(|p| item.node_id.starts_with(p.as_str()))
            {
                return Ok(Verdict::Deselected);
            }
            if item.params == ParamState::Dynamic
                && self
                    .prefixes
                    .iter()
                    .any(|p| p.starts_with(&format!("{}[", item.node_id)))
            {
                undecided = true;
            }
        }
        if let Some(expr) = &self.keyword {
            let names = path_names(file, &collection_root(file, confcutdir));
            match keyword_matches(expr, item, &names)? {
                Truth::False => return Ok(Verdict::Deselected),
                Truth::Unknown => undecided = true,
                Truth::True => {}
            }
        }
        if let Some(expr) = &self.markexpr {
            match mark_matches(expr, item)? {
                Truth::False => return Ok(Verdict::Deselected),
                Truth::Unknown => undecided = true,
                Truth::True => {}
            }
        }
        Ok(Verdict::Kept { undecided })
    }
}

/// The `-m` names registered neither in the config nor by pytest, sorted. An error when no
/// conftest or plugin could register them at run time (`addinivalue_line`).
fn unknown_markers(
    config: &Config,
    walked: &Walk,
    expr: &Expression,
) -> Result<Vec<String>, DiscoverError> {
    let mut registered = config.marker_names();
    registered.extend(BUILTIN_MARKERS.iter().map(|s| s.to_string()));
    let mut unknown: Vec<String> = expr
        .idents()
        .iter()
        .filter(|i| !registered.contains(i))
        .cloned()
        .collect();
    unknown.sort();
    if !unknown.is_empty() && walked.conftests.is_empty() && config.args.plugins.is_empty() {
        return Err(ExprError::UnknownMarkers {
            names: unknown.join(", "),
        }
        .into());
    }
    Ok(unknown)
}

/// A selector without its `[param]` part: for items whose parameters are only known at run
/// time, the function-level match is all that can be checked statically.
struct NodeSelectorBare<'a> {
    parts: &'a [String],
}

impl NodeSelectorBare<'_> {
    fn matches(&self, names: &[&str]) -> bool {
        names.len() >= self.parts.len()
            && self
                .parts
                .iter()
                .zip(names)
                .all(|(p, n)| n.split('[').next() == Some(p.as_str()))
    }
}
