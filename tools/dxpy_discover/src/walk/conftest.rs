//! Static reading of `collect_ignore` / `collect_ignore_glob` in `conftest.py` files.
//!
//! Only the plain form is understood: exactly one mention of the name in the module, a
//! top-level `NAME = [...]` (or tuple) of plain string literals. Anything else (appends,
//! conditionals, computed values, a syntax error) means only running the conftest can tell.

use tree_sitter::{Node, Parser};

/// What a conftest says about one of the two variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreList {
    /// The conftest does not define it.
    Absent,
    Literal(Vec<String>),
    /// Defined in a way only Python can evaluate; the string says how, for the report.
    NeedsRunner(String),
}

/// Both variables of one conftest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConftestIgnores {
    pub collect_ignore: IgnoreList,
    pub collect_ignore_glob: IgnoreList,
}

/// Read both lists from a conftest's source.
pub fn read_ignores(source: &[u8]) -> ConftestIgnores {
    // Cheap pre-check: most conftests never mention either name.
    if !contains(source, b"collect_ignore") {
        return ConftestIgnores {
            collect_ignore: IgnoreList::Absent,
            collect_ignore_glob: IgnoreList::Absent,
        };
    }
    let mut parser = Parser::new();
    let parsed = parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()
        .and_then(|_| parser.parse(source, None));
    let Some(tree) = parsed else {
        let why = IgnoreList::NeedsRunner("the parser could not read the file".into());
        return ConftestIgnores {
            collect_ignore: why.clone(),
            collect_ignore_glob: why,
        };
    };
    let root = tree.root_node();
    if root.has_error() {
        let why = IgnoreList::NeedsRunner("the file has a syntax error".into());
        return ConftestIgnores {
            collect_ignore: why.clone(),
            collect_ignore_glob: why,
        };
    }
    ConftestIgnores {
        collect_ignore: read_one(root, source, "collect_ignore"),
        collect_ignore_glob: read_one(root, source, "collect_ignore_glob"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn text<'s>(node: Node<'_>, source: &'s [u8]) -> &'s str {
    std::str::from_utf8(&source[node.byte_range()]).unwrap_or("")
}

fn mentions(node: Node<'_>, source: &[u8], name: &str, out: &mut Vec<usize>) {
    if node.kind() == "identifier" && text(node, source) == name {
        out.push(node.start_byte());
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        mentions(child, source, name, out);
    }
}

fn read_one(root: Node<'_>, source: &[u8], name: &str) -> IgnoreList {
    let mut found = Vec::new();
    mentions(root, source, name, &mut found);
    if found.is_empty() {
        return IgnoreList::Absent;
    }
    if found.len() > 1 {
        return IgnoreList::NeedsRunner(format!("`{name}` is used more than once"));
    }
    if let Some(right) = module_assignments(root, source, name).into_iter().next() {
        return match literal_strings(right, source) {
            Some(items) => IgnoreList::Literal(items),
            None => IgnoreList::NeedsRunner(format!("`{name}` is not a literal list of strings")),
        };
    }
    IgnoreList::NeedsRunner(format!("`{name}` is not assigned at module level"))
}

/// The right-hand sides of the module-level assignments `name = ...` in `root` (a parsed
/// module), in source order. Shared with the BUILD generator (`pytest_plugins`).
pub fn module_assignments<'t>(root: Node<'t>, source: &[u8], name: &str) -> Vec<Node<'t>> {
    let mut found = Vec::new();
    let mut cursor = root.walk();
    for statement in root.children(&mut cursor) {
        if statement.kind() != "expression_statement" {
            continue;
        }
        let Some(assignment) = statement
            .named_child(0)
            .filter(|n| n.kind() == "assignment")
        else {
            continue;
        };
        let (Some(left), Some(right)) = (
            assignment.child_by_field_name("left"),
            assignment.child_by_field_name("right"),
        ) else {
            continue;
        };
        if left.kind() == "identifier" && text(left, source) == name {
            found.push(right);
        }
    }
    found
}

fn literal_strings(node: Node<'_>, source: &[u8]) -> Option<Vec<String>> {
    if !matches!(node.kind(), "list" | "tuple") {
        return None;
    }
    let mut out = Vec::new();
    let mut cursor = node.walk();
    for item in node.named_children(&mut cursor) {
        match item.kind() {
            "comment" => {}
            "string" => out.push(string_value(item, source)?),
            "concatenated_string" => {
                let mut joined = String::new();
                let mut inner = item.walk();
                for part in item.named_children(&mut inner) {
                    joined.push_str(&string_value(part, source)?);
                }
                out.push(joined);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The value of a plain (optionally raw) string literal; `None` for f-strings and bytes.
fn string_value(node: Node<'_>, source: &[u8]) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let raw = text(node, source);
    let quote_at = raw.find(['\'', '"'])?;
    let prefix = raw[..quote_at].to_ascii_lowercase();
    if prefix.contains('f') || prefix.contains('b') || prefix.contains('t') {
        return None;
    }
    let body = &raw[quote_at..];
    let quote_len = if body.starts_with("\"\"\"") || body.starts_with("'''") {
        3
    } else {
        1
    };
    if body.len() < 2 * quote_len {
        return None;
    }
    let inner = &body[quote_len..body.len() - quote_len];
    if prefix.contains('r') {
        return Some(inner.to_string());
    }
    unescape(inner)
}

fn unescape(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            '\n' => {}
            // Rarer escapes (octal, \x, \N{...}) are left to the runner.
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(items: &[&str]) -> IgnoreList {
        IgnoreList::Literal(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn literal_lists_are_read() {
        let got = read_ignores(b"import os\ncollect_ignore = ['setup.py', \"legacy\", r'a\\b', 'x' 'y']\ncollect_ignore_glob = ('*_old.py',)\n");
        assert_eq!(
            got.collect_ignore,
            lit(&["setup.py", "legacy", "a\\b", "xy"])
        );
        assert_eq!(got.collect_ignore_glob, lit(&["*_old.py"]));
    }

    #[test]
    fn absent_when_not_mentioned() {
        let got = read_ignores(b"import pytest\n");
        assert_eq!(got.collect_ignore, IgnoreList::Absent);
        assert_eq!(got.collect_ignore_glob, IgnoreList::Absent);
    }

    #[test]
    fn anything_dynamic_needs_the_runner() {
        for src in [
            &b"collect_ignore = ['a']\ncollect_ignore.append('b')\n"[..],
            b"import sys\nif sys.version_info < (3, 12):\n    collect_ignore = ['a']\n",
            b"collect_ignore = [name for name in ('a',)]\n",
            b"collect_ignore = [f'{x}']\n",
            b"X = 'a'\ncollect_ignore = [X]\n",
            b"collect_ignore = ['a'\n",
        ] {
            assert!(
                matches!(read_ignores(src).collect_ignore, IgnoreList::NeedsRunner(_)),
                "{}",
                String::from_utf8_lossy(src)
            );
        }
    }
}
