//! `@pytest.mark.parametrize` expansion into pytest's exact parameter IDs.
//!
//! Layout:
//! - this file: the statically known parameter model ([`ParamValue`], [`ParamSet`],
//!   [`Parametrize`]) and its expansion into IDs the way pytest 9.2's `IdMaker` and
//!   `Metafunc.parametrize` do it (stacked calls, `ids=`, `pytest.param(id=, marks=)`,
//!   de-duplication suffixes, empty parameter sets).
//! - [`format`](mod@format): Python's `str()` of literals (float repr rules) and pytest's ASCII escaping.
//! - [`literal`]: evaluation of tree-sitter expression nodes into [`ParamValue`]s.
//!
//! Anything that only Python can evaluate makes the whole expansion [`Expansion::Dynamic`].

pub mod format;
pub mod literal;

use std::collections::{HashMap, HashSet};

use crate::item::Mark;
pub use crate::options::{EmptyParameterSetMark, IdOptions, LongStrIdStrategy};

/// A parameter value, reduced to what decides its ID.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Str(String),
    Bytes(Vec<u8>),
    /// An `int`, `float`, `complex`, `bool` or `None`, already rendered with Python's `str()`.
    Scalar(String),
    /// A value pytest cannot name (tuple, list, dict, set, `...`): ID is `argname<index>`.
    Unnamed,
    /// A value with a statically known `__name__` (a lambda is `<lambda>`).
    Named(String),
}

/// One entry of the argvalues list.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSet {
    /// One value per argname.
    pub values: Vec<ParamValue>,
    /// `pytest.param(..., id=...)`.
    pub id: Option<String>,
    /// `pytest.param(..., marks=...)`.
    pub marks: Vec<Mark>,
}

/// An explicit entry of `ids=[...]`.
#[derive(Debug, Clone, PartialEq)]
pub enum IdEntry {
    /// `None`: the ID is generated from the values.
    Generated,
    /// A string (escaped like pytest escapes user IDs).
    Str(String),
    /// Any other literal: its Python `str()`.
    Scalar(String),
}

/// One statically understood `parametrize(...)` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Parametrize {
    pub argnames: Vec<String>,
    pub sets: Vec<ParamSet>,
    pub ids: Option<Vec<IdEntry>>,
}

/// A `parametrize` mark as the module analysis found it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParametrizeSpec {
    Static(Parametrize),
    /// Arguments only Python can evaluate.
    Dynamic,
}

/// One expanded parametrization: the `[...]` ID and the marks its parameter sets add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: String,
    pub marks: Vec<Mark>,
}

/// The result of expanding every `parametrize` that applies to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    Static(Vec<Variant>),
    Dynamic,
}

/// Expand parametrize calls given in pytest's application order (the function's own marks
/// bottom decorator first, then enclosing classes, then the module). Items come out in pytest's
/// order: the first call is the outermost loop, and IDs join the calls' IDs with `-`.
pub fn expand(specs: &[&ParametrizeSpec], options: &IdOptions) -> Expansion {
    let mut variants = vec![Variant {
        id: String::new(),
        marks: Vec::new(),
    }];
    for (call_index, spec) in specs.iter().enumerate() {
        let ParametrizeSpec::Static(call) = spec else {
            return Expansion::Dynamic;
        };
        let Some(call_variants) = call_ids(call, options) else {
            return Expansion::Dynamic;
        };
        let mut next = Vec::with_capacity(variants.len() * call_variants.len());
        for outer in &variants {
            for inner in &call_variants {
                let id = if call_index == 0 {
                    inner.id.clone()
                } else {
                    format!("{}-{}", outer.id, inner.id)
                };
                let marks = outer.marks.iter().chain(&inner.marks).cloned().collect();
                next.push(Variant { id, marks });
            }
        }
        variants = next;
    }
    Expansion::Static(variants)
}

/// The IDs (and per-set marks) of one `parametrize` call, or `None` when pytest's result
/// cannot be known statically.
fn call_ids(call: &Parametrize, options: &IdOptions) -> Option<Vec<Variant>> {
    if call.sets.is_empty() {
        // pytest substitutes one NOTSET set carrying the `empty_parameter_set_mark`.
        let mark_name = match options.empty_set_mark {
            EmptyParameterSetMark::Skip => "skip",
            EmptyParameterSetMark::Xfail => "xfail",
            EmptyParameterSetMark::FailAtCollect => return None,
        };
        let marks = vec![Mark {
            name: mark_name.to_owned(),
            args: String::new(),
        }];
        return Some(vec![Variant {
            id: "NOTSET".to_owned(),
            marks,
        }]);
    }
    if let Some(ids) = &call.ids {
        if ids.len() != call.sets.len() {
            return None; // pytest raises a collection error.
        }
    }
    let mut resolved = Vec::with_capacity(call.sets.len());
    for (index, set) in call.sets.iter().enumerate() {
        if set.values.len() != call.argnames.len() {
            return None;
        }
        let explicit = call.ids.as_ref().and_then(|ids| ids.get(index));
        let id = if let Some(id) = &set.id {
            escape_user_str(id, options)?
        } else if let Some(entry) = explicit.filter(|e| !matches!(e, IdEntry::Generated)) {
            match entry {
                IdEntry::Str(s) => escape_user_str(s, options)?,
                IdEntry::Scalar(s) => s.clone(),
                IdEntry::Generated => return None,
            }
        } else {
            let mut parts = Vec::with_capacity(set.values.len());
            for (value, argname) in set.values.iter().zip(&call.argnames) {
                parts.push(value_id(value, argname, index, options)?);
            }
            parts.join("-")
        };
        resolved.push(id);
    }
    if options.strict_ids && has_duplicates(&resolved) {
        return None;
    }
    let ids = make_unique(resolved);
    Some(
        ids.into_iter()
            .zip(&call.sets)
            .map(|(id, set)| Variant {
                id,
                marks: set.marks.clone(),
            })
            .collect(),
    )
}

fn escape_user_str(id: &str, options: &IdOptions) -> Option<String> {
    Some(if options.disable_escaping {
        id.to_owned()
    } else {
        format::ascii_escape_str(id)
    })
}

fn value_id(
    value: &ParamValue,
    argname: &str,
    index: usize,
    options: &IdOptions,
) -> Option<String> {
    let fallback = || format!("{argname}{index}");
    let long = |len: usize| len > 100;
    Some(match value {
        ParamValue::Str(s) => {
            if long(s.chars().count()) {
                match options.long_str {
                    LongStrIdStrategy::Short => return Some(fallback()),
                    LongStrIdStrategy::Legacy => {}
                    // sha256 digests and `disallow` errors are left to Python at run time.
                    LongStrIdStrategy::Sha256 | LongStrIdStrategy::Disallow => return None,
                }
            }
            escape_user_str(s, options)?
        }
        ParamValue::Bytes(b) => {
            if long(b.len()) {
                match options.long_str {
                    LongStrIdStrategy::Short => return Some(fallback()),
                    LongStrIdStrategy::Legacy => {}
                    // sha256 digests and `disallow` errors are left to Python at run time.
                    LongStrIdStrategy::Sha256 | LongStrIdStrategy::Disallow => return None,
                }
            }
            if options.disable_escaping {
                // pytest would return bytes and fail while joining: let Python report it.
                return None;
            }
            format::ascii_escape_bytes(b)
        }
        ParamValue::Scalar(s) | ParamValue::Named(s) => s.clone(),
        ParamValue::Unnamed => fallback(),
    })
}

fn has_duplicates(ids: &[String]) -> bool {
    let mut seen = HashSet::with_capacity(ids.len());
    !ids.iter().all(|id| seen.insert(id.as_str()))
}

/// pytest's duplicate-ID disambiguation: every duplicated ID gets a counter suffix (preceded
/// by `_` when the ID ends in a digit), skipping counters that would collide with other IDs.
fn make_unique(mut ids: Vec<String>) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    if counts.values().all(|&n| n == 1) {
        return ids;
    }
    let duplicated: HashSet<String> = counts
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(id, _)| (*id).to_owned())
        .collect();
    // pytest checks collisions against the list as it is being rewritten.
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    for index in 0..ids.len() {
        if !duplicated.contains(&ids[index]) {
            continue;
        }
        let original = ids[index].clone();
        let separator = if original.ends_with(|c: char| c.is_ascii_digit()) {
            "_"
        } else {
            ""
        };
        let counter = next_suffix.entry(original.clone()).or_default();
        let mut candidate = format!("{original}{separator}{counter}");
        while ids.contains(&candidate) {
            *counter += 1;
            candidate = format!("{original}{separator}{counter}");
        }
        *counter += 1;
        ids[index] = candidate;
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: Vec<ParamValue>) -> ParamSet {
        ParamSet {
            values,
            id: None,
            marks: Vec::new(),
        }
    }

    fn ids_of(expansion: Expansion) -> Vec<String> {
        match expansion {
            Expansion::Static(v) => v.into_iter().map(|v| v.id).collect(),
            Expansion::Dynamic => vec!["<dynamic>".into()],
        }
    }

    #[test]
    fn duplicate_ids_get_pytest_suffixes() {
        let ids = make_unique(vec![
            "a".into(),
            "a".into(),
            "a0".into(),
            "1".into(),
            "1".into(),
        ]);
        // "a0" already exists, so the first duplicate "a" skips to "a1".
        assert_eq!(ids, vec!["a1", "a2", "a0", "1_0", "1_1"]);
    }

    #[test]
    fn stacked_calls_nest_first_call_outermost() {
        let x = ParametrizeSpec::Static(Parametrize {
            argnames: vec!["x".into()],
            sets: vec![
                set(vec![ParamValue::Scalar("1".into())]),
                set(vec![ParamValue::Unnamed]),
            ],
            ids: None,
        });
        let y = ParametrizeSpec::Static(Parametrize {
            argnames: vec!["y".into()],
            sets: vec![set(vec![ParamValue::Str("a".into())])],
            ids: Some(vec![IdEntry::Generated]),
        });
        let got = ids_of(expand(&[&x, &y], &IdOptions::default()));
        assert_eq!(got, vec!["1-a", "x1-a"]);
        assert_eq!(
            ids_of(expand(
                &[&x, &ParametrizeSpec::Dynamic],
                &IdOptions::default()
            )),
            vec!["<dynamic>"]
        );
    }

    #[test]
    fn long_strings_fall_back_to_argname() {
        let long = "y".repeat(101);
        let call = ParametrizeSpec::Static(Parametrize {
            argnames: vec!["v".into()],
            sets: vec![set(vec![ParamValue::Str(long.clone())])],
            ids: None,
        });
        assert_eq!(ids_of(expand(&[&call], &IdOptions::default())), vec!["v0"]);
        let legacy = IdOptions {
            long_str: LongStrIdStrategy::Legacy,
            ..IdOptions::default()
        };
        assert_eq!(ids_of(expand(&[&call], &legacy)), vec![long]);
    }

    #[test]
    fn strict_ids_leave_duplicates_to_python() {
        let call = ParametrizeSpec::Static(Parametrize {
            argnames: vec!["v".into()],
            sets: vec![
                set(vec![ParamValue::Scalar("1".into())]),
                set(vec![ParamValue::Scalar("1".into())]),
            ],
            ids: None,
        });
        assert_eq!(
            ids_of(expand(&[&call], &IdOptions::default())),
            vec!["1_0", "1_1"]
        );
        let strict = IdOptions {
            strict_ids: true,
            ..IdOptions::default()
        };
        assert_eq!(ids_of(expand(&[&call], &strict)), vec!["<dynamic>"]);
    }
}
