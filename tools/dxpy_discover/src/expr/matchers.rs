//! The `-k` and `-m` matchers for one [`TestItem`].
//!
//! `-k` (pytest's `KeywordMatcher`): case-insensitive substring match against the names of the
//! item and its parents (function name with its `[param]` id, classes, the module's file name,
//! package/directory names below the collection root) and the names of its marks. Attributes
//! assigned to the function object at run time are not visible statically.
//!
//! `-m` (pytest's `MarkMatcher`): a mark name, optionally with keyword arguments that must
//! equal the mark's (Python `==`, so `True == 1`).

use std::path::Path;

use super::{ExprError, KwValue, Truth};
use crate::item::{ParamState, TestItem};

/// The names after the path in a node ID (`Class`, `test[param]`), split like pytest's
/// `NodeId.parse`: the `[...]` part is peeled off before splitting on `::`.
pub fn node_names(node_id: &str) -> Vec<String> {
    let Some((_, tail)) = node_id.split_once("::") else {
        return Vec::new();
    };
    let (names_part, params) = match tail.find('[') {
        Some(i) => (&tail[..i], Some(&tail[i..])),
        None => (tail, None),
    };
    let mut names: Vec<String> = names_part.split("::").map(String::from).collect();
    if let (Some(last), Some(params)) = (names.last_mut(), params) {
        last.push_str(params);
    }
    names
}

/// The names of the directories and the module between the collection root (excluded, like
/// pytest's root `Directory`) and `file`.
pub fn path_names(file: &Path, collection_root: &Path) -> Vec<String> {
    match file.strip_prefix(collection_root) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect(),
        Err(_) => file
            .file_name()
            .map(|n| vec![n.to_string_lossy().into_owned()])
            .unwrap_or_default(),
    }
}

/// pytest's `KeywordMatcher` for one item.
#[derive(Debug, Clone)]
pub struct KeywordMatcher {
    lowered: Vec<String>,
    /// The item's parameter ids are only known at run time.
    dynamic: bool,
}

impl KeywordMatcher {
    /// `path_names`: see [`path_names`].
    pub fn for_item(item: &TestItem, path_names: &[String]) -> KeywordMatcher {
        let mut names: Vec<String> = path_names.to_vec();
        names.extend(node_names(&item.node_id));
        names.extend(item.marks.iter().map(|m| m.name.clone()));
        KeywordMatcher {
            lowered: names.iter().map(|n| n.to_lowercase()).collect(),
            dynamic: item.params == ParamState::Dynamic,
        }
    }

    pub fn matches(&self, subname: &str, kwargs: &[(String, KwValue)]) -> Result<Truth, ExprError> {
        if !kwargs.is_empty() {
            return Err(ExprError::KeywordCallParameters);
        }
        let needle = subname.to_lowercase();
        if self.lowered.iter().any(|n| n.contains(&needle)) {
            Ok(Truth::True)
        } else if self.dynamic {
            // Could be a substring of a parameter id (or a mark from `pytest.param`).
            Ok(Truth::Unknown)
        } else {
            Ok(Truth::False)
        }
    }
}

/// Evaluate a `-k` expression for `item`; `path_names` as returned by [`path_names`].
pub fn keyword_matches(
    expr: &super::Expression,
    item: &TestItem,
    path_names: &[String],
) -> Result<Truth, ExprError> {
    let matcher = KeywordMatcher::for_item(item, path_names);
    expr.evaluate(&|name: &str, kwargs: &[(String, KwValue)]| matcher.matches(name, kwargs))
}

/// Evaluate a `-m` expression for `item`.
pub fn mark_matches(expr: &super::Expression, item: &TestItem) -> Result<Truth, ExprError> {
    let matcher = MarkMatcher::for_item(item);
    expr.evaluate(&|name: &str, kwargs: &[(String, KwValue)]| matcher.matches(name, kwargs))
}

/// A mark argument value as far as static reading can tell.
#[derive(Debug, Clone, PartialEq)]
enum ArgValue {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    None,
    /// Not a literal.
    Opaque,
}

/// The keyword arguments of one mark, read from its argument source text.
#[derive(Debug, Clone, PartialEq)]
struct MarkKwargs {
    values: Vec<(String, ArgValue)>,
    /// `**mapping` was passed: any name might be present.
    open: bool,
}

/// pytest's `MarkMatcher` for one item. A mark's keyword arguments are read from its source
/// text only when the expression asks about them (`-m 'name(key=value)'`): most `-m` runs
/// name marks only, over every item of the suite.
#[derive(Debug, Clone)]
pub struct MarkMatcher<'i> {
    item: &'i TestItem,
}

impl<'i> MarkMatcher<'i> {
    pub fn for_item(item: &'i TestItem) -> MarkMatcher<'i> {
        MarkMatcher { item }
    }

    pub fn matches(&self, name: &str, kwargs: &[(String, KwValue)]) -> Result<Truth, ExprError> {
        let mut result = Truth::False;
        for mark in self.item.marks.iter().filter(|m| m.name == name) {
            let truth = if kwargs.is_empty() {
                Truth::True
            } else {
                kwargs_match(&parse_kwargs(&mark.args), kwargs)
            };
            match truth {
                Truth::True => return Ok(Truth::True),
                Truth::Unknown => result = Truth::Unknown,
                Truth::False => {}
            }
        }
        if result == Truth::False && self.item.params == ParamState::Dynamic {
            // `pytest.param(..., marks=...)` in a dynamic parametrization may add it.
            result = Truth::Unknown;
        }
        Ok(result)
    }
}

fn kwargs_match(mark: &MarkKwargs, wanted: &[(String, KwValue)]) -> Truth {
    let mut result = Truth::True;
    for (key, want) in wanted {
        let found = mark.values.iter().rev().find(|(k, _)| k == key);
        let truth = match found {
            Some((_, value)) => python_eq(value, want),
            None if mark.open => Truth::Unknown,
            None => Truth::False,
        };
        match truth {
            Truth::False => return Truth::False,
            Truth::Unknown => result = Truth::Unknown,
            Truth::True => {}
        }
    }
    result
}

/// Python `==` between a literal mark argument and an expression value.
fn python_eq(have: &ArgValue, want: &KwValue) -> Truth {
    let as_number = |v: &ArgValue| match v {
        ArgValue::Int(i) => Some(*i as f64),
        ArgValue::Float(f) => Some(*f),
        ArgValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    let want_number = match want {
        KwValue::Int(i) => Some(*i as f64),
        KwValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    Truth::from_bool(match (have, want) {
        (ArgValue::Opaque, _) => return Truth::Unknown,
        (ArgValue::Str(a), KwValue::Str(b)) => a == b,
        (ArgValue::None, KwValue::None) => true,
        (ArgValue::Int(a), KwValue::Int(b)) => a == b,
        (_, KwValue::BigInt(_)) => false,
        _ => match (as_number(have), want_number) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    })
}

/// Split call-argument source (`("x", key="v", n=1)`) on top-level commas.
fn split_top_level(args: &str) -> Vec<String> {
    let inner = args.trim();
    let inner = inner
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(inner);
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in inner.chars() {
        if let Some(q) = quote {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

fn parse_kwargs(args: &str) -> MarkKwargs {
    let mut out = MarkKwargs {
        values: Vec::new(),
        open: false,
    };
    for part in split_top_level(args) {
        let part = part.trim();
        if part.starts_with("**") {
            out.open = true;
            continue;
        }
        // `name=value`, but not `a == b` or a positional string containing `=`.
        let Some(eq) = part.find('=') else { continue };
        let (name, rest) = (part[..eq].trim(), &part[eq + 1..]);
        if rest.starts_with('=')
            || name.is_empty()
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        out.values
            .push((name.to_string(), parse_literal(rest.trim())));
    }
    out
}

fn parse_literal(src: &str) -> ArgValue {
    match src {
        "True" => return ArgValue::Bool(true),
        "False" => return ArgValue::Bool(false),
        "None" => return ArgValue::None,
        _ => {}
    }
    let plain = src.replace('_', "");
    if let Ok(i) = plain.parse::<i128>() {
        return ArgValue::Int(i);
    }
    if plain
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        if let Ok(f) = plain.parse::<f64>() {
            return ArgValue::Float(f);
        }
    }
    let lower_prefix: String = src
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    let body = &src[lower_prefix.len()..];
    if lower_prefix.chars().all(|c| c == 'r' || c == 'u') && lower_prefix.len() <= 1 {
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            if let Some(inner) = body.strip_prefix(quote).and_then(|s| s.strip_suffix(quote)) {
                if inner.contains(quote) || (lower_prefix != "r" && inner.contains('\\')) {
                    return ArgValue::Opaque;
                }
                return ArgValue::Str(inner.to_string());
            }
        }
    }
    ArgValue::Opaque
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwargs_are_read_from_mark_source() {
        let k = parse_kwargs(
            "(\"pos\", serial=\"123\", n=1_000, f=1.0, flag=True, none=None, expr=a.b, s=r'x\\y')",
        );
        assert_eq!(
            k.values,
            vec![
                ("serial".to_string(), ArgValue::Str("123".into())),
                ("n".to_string(), ArgValue::Int(1000)),
                ("f".to_string(), ArgValue::Float(1.0)),
                ("flag".to_string(), ArgValue::Bool(true)),
                ("none".to_string(), ArgValue::None),
                ("expr".to_string(), ArgValue::Opaque),
                ("s".to_string(), ArgValue::Str("x\\y".into())),
            ]
        );
        assert!(!k.open);
        assert!(parse_kwargs("(**opts)").open);
        assert!(parse_kwargs("(a == b, 'x=y')").values.is_empty());
    }

    #[test]
    fn python_equality_rules() {
        assert_eq!(
            python_eq(&ArgValue::Bool(true), &KwValue::Int(1)),
            Truth::True
        );
        assert_eq!(
            python_eq(&ArgValue::Float(2.0), &KwValue::Int(2)),
            Truth::True
        );
        assert_eq!(
            python_eq(&ArgValue::Str("1".into()), &KwValue::Int(1)),
            Truth::False
        );
        assert_eq!(
            python_eq(&ArgValue::None, &KwValue::Bool(false)),
            Truth::False
        );
        assert_eq!(python_eq(&ArgValue::Opaque, &KwValue::None), Truth::Unknown);
    }

    #[test]
    fn node_names_peel_params_first() {
        assert_eq!(
            node_names("a/t.py::TestC::test_f[x::y]"),
            vec!["TestC", "test_f[x::y]"]
        );
        assert_eq!(node_names("a/t.py::test_f"), vec!["test_f"]);
        assert!(node_names("a/t.py").is_empty());
    }
}
