//! Assembling the selected items in pytest's order, and deselection.
//!
//! Order: per initial argument, its files in walk order, each file's items in analysis order,
//! filtered by the argument's `::` selector. Then pytest's `pytest_collection_modifyitems`
//! filters: `--deselect` prefixes, `-k`, `-m` (each removed item counts as deselected).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::expr::matchers::{node_names, path_names};
use crate::expr::{keyword_matches, mark_matches, ExprError, ExprKind, Expression, Truth};
use crate::item::{CollectError, FileResult, ParamState, TestItem};
use crate::walk::Walk;

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
    let mut reported = vec![false; walked.files.len()];
    // (item, path names for -k)
    let mut collected: Vec<(TestItem, usize)> = Vec::new();
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
                let keep = match &arg.selector {
                    None => true,
                    Some(selector) => {
                        let names = node_names(&item.node_id);
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        if selector.matches(&refs) {
                            true
                        } else if item.params == ParamState::Dynamic
                            && selector.parametrization.is_some()
                        {
                            let bare = NodeSelectorBare {
                                parts: &selector.parts,
                            };
                            let kept = bare.matches(&refs);
                            if kept {
                                selection.undecided.push(item.node_id.clone());
                            }
                            kept
                        } else {
                            false
                        }
                    }
                };
                if keep {
                    matched_any = true;
                    collected.push((item.clone(), index));
                }
            }
        }
        if arg.selector.is_some() && !matched_any && !had_errors {
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
            return Err(DiscoverError::NodeNotFound {
                arg: format!("{}::{names}", arg.path.display()),
                module,
            });
        }
    }

    // --deselect: plain node-ID prefixes.
    let prefixes = &config.args.deselect;
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
            let mut registered = config.marker_names();
            registered.extend(BUILTIN_MARKERS.iter().map(|s| s.to_string()));
            let mut unknown: Vec<String> = expr
                .idents()
                .iter()
                .filter(|i| !registered.contains(i))
                .cloned()
                .collect();
            unknown.sort();
            if !unknown.is_empty() {
                // Conftests and plugins may register markers at run time (`addinivalue_line`),
                // so only a project without either is known to fail like pytest.
                if walked.conftests.is_empty() && config.args.plugins.is_empty() {
                    return Err(ExprError::UnknownMarkers {
                        names: unknown.join(", "),
                    }
                    .into());
                }
                selection.unknown_markers = unknown;
            }
        }
    }

    for (item, file_index) in collected {
        let mut undecided = false;
        if !prefixes.is_empty() {
            if prefixes
                .iter()
                .any(|p| item.node_id.starts_with(p.as_str()))
            {
                selection.deselected += 1;
                continue;
            }
            if item.params == ParamState::Dynamic
                && prefixes
                    .iter()
                    .any(|p| p.starts_with(&format!("{}[", item.node_id)))
            {
                undecided = true;
            }
        }
        if let Some(expr) = &keyword {
            let file = &walked.files[file_index];
            let names = path_names(&file.path, &collection_root(&file.path, &config.confcutdir));
            match keyword_matches(expr, &item, &names)? {
                Truth::False => {
                    selection.deselected += 1;
                    continue;
                }
                Truth::Unknown => undecided = true,
                Truth::True => {}
            }
        }
        if let Some(expr) = &markexpr {
            match mark_matches(expr, &item)? {
                Truth::False => {
                    selection.deselected += 1;
                    continue;
                }
                Truth::Unknown => undecided = true,
                Truth::True => {}
            }
        }
        if undecided && !selection.undecided.contains(&item.node_id) {
            selection.undecided.push(item.node_id.clone());
        }
        selection.items.push(item);
    }
    Ok(selection)
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
