//! A Python file cut into what a test can execute separately: its **units** (every function
//! that is not nested inside another function: module-level functions and methods, at any
//! depth of classes) and its **skeleton** (everything else: imports, globals, class bodies,
//! decorators, signatures and defaults, with each unit's body left out).
//!
//! An edit inside a unit's body changes only that unit's digest, so only the tests that
//! executed it need to run again; any other edit changes the skeleton, and every test that
//! imports the file runs again. Units are named by their class path (`Class.method`); a name
//! defined twice in one scope (`if PY2: def f` / `else: def f`, a property's setter) gets
//! `#2`, `#3`, … in source order. The worker reports executed functions by the line of their
//! `def` keyword ([`FileUnits::unit_at_def_line`]), which is where both sides meet.

use std::collections::HashMap;

use tree_sitter::{Node, Parser};

/// A blake3 digest.
pub type Digest = [u8; 32];

/// One function that is not nested in another function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `name`, `Class.name`, `Outer.Inner.name`, with `#n` for the n-th definition of a name.
    pub name: String,
    /// 1-based line of the `def` (or `async`) keyword: Python's `FunctionDef.lineno`.
    pub def_line: u32,
    /// Digest of the body's source text (docstring included).
    pub body: Digest,
}

/// A file's digests: whole, skeleton and per unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUnits {
    pub full: Digest,
    pub skeleton: Digest,
    pub units: Vec<Unit>,
}

#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error("the Python grammar could not be loaded: {0}")]
    Grammar(String),
    #[error("tree-sitter produced no tree")]
    NoTree,
}

impl FileUnits {
    /// Cut `source` into units and skeleton. A file with syntax errors still gets digests
    /// (tree-sitter recovers); the test that imports it fails and is never replayed anyway.
    pub fn parse(source: &[u8]) -> Result<FileUnits, UnitsError> {
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_python::LANGUAGE.into())
            .map_err(|e| UnitsError::Grammar(e.to_string()))?;
        let tree = parser.parse(source, None).ok_or(UnitsError::NoTree)?;
        let mut found = Vec::new();
        collect_units(tree.root_node(), source, "", &mut found);
        Ok(FileUnits::from_found(source, found))
    }

    fn from_found(source: &[u8], found: Vec<Found>) -> FileUnits {
        let mut skeleton = blake3::Hasher::new();
        let mut at = 0;
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut units = Vec::with_capacity(found.len());
        for unit in found {
            skeleton.update(&source[at..unit.body.start]);
            // A marker where the body was, so moving text across a body boundary still
            // changes the skeleton.
            skeleton.update(b"\0body\0");
            at = unit.body.end;
            let count = seen.entry(unit.qualname.clone()).or_insert(0);
            *count += 1;
            let name = if *count == 1 {
                unit.qualname
            } else {
                format!("{}#{count}", unit.qualname)
            };
            units.push(Unit {
                name,
                def_line: unit.def_line,
                body: *blake3::hash(&source[unit.body.clone()]).as_bytes(),
            });
        }
        skeleton.update(&source[at..]);
        FileUnits {
            full: *blake3::hash(source).as_bytes(),
            skeleton: *skeleton.finalize().as_bytes(),
            units,
        }
    }

    /// The unit whose `def` keyword is on `line` (1-based).
    pub fn unit_at_def_line(&self, line: u32) -> Option<&Unit> {
        self.units.iter().find(|u| u.def_line == line)
    }

    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name)
    }
}

struct Found {
    qualname: String,
    def_line: u32,
    body: std::ops::Range<usize>,
}

/// Walk statements (through classes and compound statements, never into a function) and
/// collect every function met, in source order.
fn collect_units(node: Node<'_>, source: &[u8], prefix: &str, out: &mut Vec<Found>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "function_definition" => push_function(child, source, prefix, out),
            "class_definition" => {
                let name = field_text(child, "name", source);
                let inner = format!("{prefix}{name}.");
                if let Some(body) = child.child_by_field_name("body") {
                    collect_units(body, source, &inner, out);
                }
            }
            "decorated_definition" => {
                if let Some(definition) = child.child_by_field_name("definition") {
                    // The decorators stay in the skeleton; the definition is walked as if bare.
                    walk_definition(definition, source, prefix, out);
                }
            }
            // Expressions and simple statements hold no `def`; lambdas are skeleton.
            "expression_statement"
            | "import_statement"
            | "import_from_statement"
            | "comment"
            | "pass_statement"
            | "return_statement" => {}
            // if/try/with/for/while/match and their clauses and blocks.
            _ => collect_units(child, source, prefix, out),
        }
    }
}

fn walk_definition(definition: Node<'_>, source: &[u8], prefix: &str, out: &mut Vec<Found>) {
    match definition.kind() {
        "function_definition" => push_function(definition, source, prefix, out),
        "class_definition" => {
            let name = field_text(definition, "name", source);
            let inner = format!("{prefix}{name}.");
            if let Some(body) = definition.child_by_field_name("body") {
                collect_units(body, source, &inner, out);
            }
        }
        _ => {}
    }
}

fn push_function(function: Node<'_>, source: &[u8], prefix: &str, out: &mut Vec<Found>) {
    let Some(body) = function.child_by_field_name("body") else {
        return;
    };
    let name = field_text(function, "name", source);
    out.push(Found {
        qualname: format!("{prefix}{name}"),
        def_line: u32::try_from(function.start_position().row + 1).unwrap_or(u32::MAX),
        body: body.byte_range(),
    });
}

fn field_text<'s>(node: Node<'_>, field: &str, source: &'s [u8]) -> &'s str {
    node.child_by_field_name(field)
        .and_then(|n| std::str::from_utf8(&source[n.byte_range()]).ok())
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileUnits {
        FileUnits::parse(text.as_bytes()).expect("parses")
    }

    fn names(units: &FileUnits) -> Vec<(&str, u32)> {
        units
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.def_line))
            .collect()
    }

    const SOURCE: &str = "\
import os

X = 1

@decorate(1)
def top(a=X):
    \"\"\"Doc.\"\"\"
    def inner():
        return a
    return inner()

class Outer:
    attr = 2

    async def method(self):
        return 1

    class Inner:
        @property
        def p(self):
            return 1

        @p.setter
        def p(self, v):
            pass

if os.name:
    def alt():
        return 1
else:
    def alt():
        return 2
";

    #[test]
    fn units_are_outermost_functions_named_by_class_path() {
        assert_eq!(
            names(&parse(SOURCE)),
            [
                ("top", 6),
                ("Outer.method", 15),
                ("Outer.Inner.p", 20),
                ("Outer.Inner.p#2", 24),
                ("alt", 28),
                ("alt#2", 31),
            ]
        );
    }

    #[test]
    fn a_body_edit_changes_that_unit_only() {
        let before = parse(SOURCE);
        let after = parse(&SOURCE.replace("return a", "return a + 1"));
        assert_eq!(before.skeleton, after.skeleton);
        assert_ne!(before.full, after.full);
        for (b, a) in before.units.iter().zip(&after.units) {
            assert_eq!(b.name, a.name);
            assert_eq!(b.body == a.body, b.name != "top", "{}", b.name);
        }
    }

    #[test]
    fn edits_outside_bodies_change_the_skeleton() {
        let before = parse(SOURCE);
        for (from, to) in [
            ("X = 1", "X = 2"),
            ("@decorate(1)", "@decorate(2)"),
            ("def top(a=X)", "def top(a=None)"),
            ("attr = 2", "attr = 3"),
            ("import os", "import sys"),
            ("if os.name:", "if not os.name:"),
        ] {
            let after = parse(&SOURCE.replace(from, to));
            assert_ne!(before.skeleton, after.skeleton, "{from} -> {to}");
        }
    }

    #[test]
    fn moving_a_unit_keeps_its_body_digest_and_the_lookup_follows_the_def_line() {
        let before = parse(SOURCE);
        let after = parse(&format!("# a new first line\n{SOURCE}"));
        let b = before.unit("Outer.method").expect("unit");
        let a = after.unit("Outer.method").expect("unit");
        assert_eq!(a.body, b.body);
        assert_eq!(a.def_line, b.def_line + 1);
        assert_eq!(
            after.unit_at_def_line(16).map(|u| u.name.as_str()),
            Some("Outer.method")
        );
        assert!(
            after.unit_at_def_line(9).is_none(),
            "a nested def is no unit"
        );
    }

    #[test]
    fn broken_source_still_gets_digests() {
        let units = parse("def f(:\n    return 1\ndef g():\n    return 2\n");
        assert!(units.unit("g").is_some());
    }
}
