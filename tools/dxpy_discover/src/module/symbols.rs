//! Name resolution: what an expression refers to, given the imports and bindings seen so far.
//!
//! Names are reduced to a canonical dotted path (`pt.mark.slow` with `import pytest as pt`
//! becomes `pytest.mark.slow`; `TestCase` from `from unittest import TestCase` becomes
//! `unittest.TestCase`; an unbound name `float` becomes `builtins.float`). Local bindings that
//! hold marks (`slow = pytest.mark.slow`) resolve to those marks.

use tree_sitter::Node;

use super::model::{Binding, MarkDef, Namespace};
use crate::item::Mark;
use crate::params::literal::{parse_parametrize, Symbol, SymbolEnv};
use crate::params::ParametrizeSpec;

/// The namespaces visible from a statement: a class body sees its own names, then globals.
#[derive(Clone, Copy)]
pub struct Scope<'m> {
    pub local: Option<&'m Namespace>,
    pub module: &'m Namespace,
    pub src: &'m str,
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

impl<'m> Scope<'m> {
    pub fn lookup(&self, name: &str) -> Option<&'m Binding> {
        self.local
            .and_then(|ns| ns.lookup(name))
            .or_else(|| self.module.lookup(name))
    }

    /// The canonical dotted path of a name or attribute chain, if it goes through an import or
    /// a builtin. Locally defined names have none.
    pub fn canonical_path(&self, node: Node<'_>) -> Option<Vec<String>> {
        // Walk down `a.b.c` iteratively: attribute chains can be arbitrarily long.
        let mut attributes = Vec::new();
        let mut head = node;
        while head.kind() == "attribute" {
            attributes.push(text(head.child_by_field_name("attribute")?, self.src));
            head = head.child_by_field_name("object")?;
        }
        if head.kind() != "identifier" {
            return None;
        }
        let name = text(head, self.src);
        let mut path: Vec<String> = match self.lookup(name) {
            None => vec!["builtins".to_owned(), name.to_owned()],
            Some(Binding::Import(import)) => match &import.name {
                None => import.module.split('.').map(str::to_owned).collect(),
                Some(imported) => {
                    let mut path: Vec<String> = if import.module.starts_with('.') {
                        vec![import.module.clone()]
                    } else {
                        import.module.split('.').map(str::to_owned).collect()
                    };
                    path.push(imported.clone());
                    path
                }
            },
            Some(_) => return None,
        };
        path.extend(attributes.into_iter().rev().map(str::to_owned));
        Some(path)
    }

    pub fn path_is(&self, node: Node<'_>, expected: &[&str]) -> bool {
        self.canonical_path(node)
            .is_some_and(|path| path.iter().map(String::as_str).eq(expected.iter().copied()))
    }

    /// The mark an expression denotes, with its parametrize arguments parsed.
    pub fn mark_def(&self, node: Node<'_>) -> Option<MarkDef> {
        match node.kind() {
            "call" => {
                let function = node.child_by_field_name("function")?;
                let arguments = node.child_by_field_name("arguments")?;
                let args = text(arguments, self.src).to_owned();
                if let Some(name) = self.mark_name(function) {
                    let parametrize = (name == "parametrize")
                        .then(|| parse_parametrize(arguments, self.src, self));
                    return Some(MarkDef {
                        mark: Mark { name, args },
                        parametrize,
                    });
                }
                // Calling an alias of an uncalled mark (`slow = pytest.mark.slow; @slow(1)`).
                let alias = self.local_mark(function)?;
                let parametrize = alias.parametrize.as_ref().map(|_| ParametrizeSpec::Dynamic);
                Some(MarkDef {
                    mark: Mark {
                        name: alias.mark.name.clone(),
                        args,
                    },
                    parametrize,
                })
            }
            "attribute" => match self.mark_name(node) {
                Some(name) => {
                    let parametrize = (name == "parametrize").then_some(ParametrizeSpec::Dynamic);
                    Some(MarkDef {
                        mark: Mark {
                            name,
                            args: String::new(),
                        },
                        parametrize,
                    })
                }
                None => self.local_mark(node).cloned(),
            },
            "identifier" => self.local_mark(node).cloned(),
            _ => None,
        }
    }

    /// `NAME` for `pytest.mark.NAME` (through any alias of `pytest` or `pytest.mark`).
    fn mark_name(&self, node: Node<'_>) -> Option<String> {
        if node.kind() != "attribute" {
            return None;
        }
        let path = self.canonical_path(node)?;
        match path.as_slice() {
            [pytest, mark, name] if pytest == "pytest" && mark == "mark" => Some(name.clone()),
            _ => None,
        }
    }

    fn local_mark(&self, node: Node<'_>) -> Option<&'m MarkDef> {
        if node.kind() != "identifier" {
            return None;
        }
        match self.lookup(text(node, self.src))? {
            Binding::Marks(marks) if marks.len() == 1 => marks.first(),
            _ => None,
        }
    }

    /// A mark, or a list/tuple of marks (`pytestmark = [...]`); `None` if any is not static.
    pub fn mark_list(&self, node: Node<'_>) -> Option<Vec<MarkDef>> {
        match node.kind() {
            "list" | "tuple" => {
                let mut cursor = node.walk();
                let children: Vec<Node<'_>> = node
                    .named_children(&mut cursor)
                    .filter(|n| n.kind() != "comment")
                    .collect();
                children
                    .into_iter()
                    .map(|child| self.mark_def(child))
                    .collect()
            }
            "identifier" => match self.lookup(text(node, self.src)) {
                Some(Binding::Marks(marks)) => Some(marks.clone()),
                _ => None,
            },
            _ => Some(vec![self.mark_def(node)?]),
        }
    }
}

impl SymbolEnv for Scope<'_> {
    fn symbol(&self, node: Node<'_>) -> Symbol {
        let Some(path) = self.canonical_path(node) else {
            return Symbol::Other;
        };
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["pytest", "param"] => Symbol::PytestParam,
            ["builtins", "float"] => Symbol::BuiltinFloat,
            ["builtins", "range"] => Symbol::BuiltinRange,
            ["math", "inf"] => Symbol::FloatConstant(f64::INFINITY),
            ["math", "nan"] => Symbol::FloatConstant(f64::NAN),
            ["math", "pi"] => Symbol::FloatConstant(std::f64::consts::PI),
            ["math", "e"] => Symbol::FloatConstant(std::f64::consts::E),
            ["math", "tau"] => Symbol::FloatConstant(std::f64::consts::TAU),
            _ => Symbol::Other,
        }
    }

    fn mark(&self, node: Node<'_>) -> Option<Mark> {
        self.mark_def(node).map(|def| def.mark)
    }
}
