//! What a `def` tells fixture resolution: its argument names (pytest's `getfuncargnames`)
//! and, for `@pytest.fixture(...)`, the declared name, scope, autouse flag and params.

use tree_sitter::Node;

use super::model::{FixtureDecl, FixtureScope};
use super::symbols::Scope;
use crate::params::literal::{eval_string, parse_fixture_params, StrLiteral};

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// pytest's `getfuncargnames`: positional-or-keyword and keyword-only arguments without a
/// default, minus the bound first argument of a method.
pub(crate) fn argument_names(def: Node<'_>, src: &str, drop_first: bool) -> Vec<String> {
    let Some(parameters) = def.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut first = true;
    for parameter in children(parameters) {
        let name = match parameter.kind() {
            "identifier" => Some(text(parameter, src)),
            "typed_parameter" => children(parameter)
                .into_iter()
                .next()
                .filter(|n| n.kind() == "identifier")
                .map(|n| text(n, src)),
            "comment" | "positional_separator" | "keyword_separator" => continue,
            _ => None,
        };
        let was_first = std::mem::replace(&mut first, false);
        if drop_first && was_first {
            continue;
        }
        if let Some(name) = name {
            names.push(name.to_owned());
        }
    }
    names
}

/// The names of the positional-or-keyword parameters (with or without a default), in order:
/// the ones `@hypothesis.given(...)`'s positional strategies fill, from the right.
fn positional_names(def: Node<'_>, src: &str) -> Vec<String> {
    let Some(parameters) = def.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for parameter in children(parameters) {
        let name_node = match parameter.kind() {
            "identifier" => Some(parameter),
            "typed_parameter" => children(parameter).into_iter().next(),
            "default_parameter" | "typed_default_parameter" => {
                parameter.child_by_field_name("name")
            }
            "comment" | "positional_separator" => continue,
            // `*args`, a bare `*`, `**kwargs`: no more positional parameters.
            _ => break,
        };
        if let Some(node) = name_node.filter(|n| n.kind() == "identifier") {
            names.push(text(node, src).to_owned());
        }
    }
    names
}

/// The arguments `@given(...)` binds, so they are not fixtures (hypothesis replaces the
/// test's signature with one without them). `None` when the call cannot be read (`*args`,
/// `**kwargs`): then nothing is known.
pub(crate) fn given_bound(decorator: Node<'_>, def: Node<'_>, src: &str) -> Option<Vec<String>> {
    let arguments = decorator.child_by_field_name("arguments")?;
    let mut positional = 0usize;
    let mut bound = Vec::new();
    for argument in children(arguments) {
        match argument.kind() {
            "keyword_argument" => {
                bound.push(text(argument.child_by_field_name("name")?, src).to_owned());
            }
            "list_splat" | "dictionary_splat" => return None,
            "comment" => {}
            _ => positional += 1,
        }
    }
    let names = positional_names(def, src);
    bound.extend(names.iter().rev().take(positional).cloned());
    Some(bound)
}

/// `@pytest.fixture` or `@pytest.fixture(scope=..., params=..., autouse=..., ids=..., name=...)`.
pub(crate) fn fixture_decl(
    decorator: Node<'_>,
    function_name: &str,
    scope: &Scope<'_>,
) -> FixtureDecl {
    let mut decl = FixtureDecl {
        name: function_name.to_owned(),
        autouse: false,
        scope: FixtureScope::Function,
        params: None,
    };
    let Some(arguments) = (decorator.kind() == "call")
        .then(|| decorator.child_by_field_name("arguments"))
        .flatten()
    else {
        return decl;
    };
    let (mut params, mut ids) = (None, None);
    for argument in children(arguments) {
        if argument.kind() != "keyword_argument" {
            continue;
        }
        let (Some(key), Some(value)) = (
            argument.child_by_field_name("name"),
            argument.child_by_field_name("value"),
        ) else {
            continue;
        };
        match text(key, scope.src) {
            "params" => params = Some(value),
            "ids" => ids = Some(value),
            "autouse" => decl.autouse = value.kind() == "true",
            "name" => {
                if let Some(StrLiteral::Str(name)) = eval_string(value, scope.src) {
                    decl.name = name;
                }
            }
            "scope" => {
                decl.scope = match eval_string(value, scope.src) {
                    Some(StrLiteral::Str(s)) => match s.as_str() {
                        "function" => FixtureScope::Function,
                        "class" => FixtureScope::Class,
                        "module" => FixtureScope::Module,
                        "package" => FixtureScope::Package,
                        "session" => FixtureScope::Session,
                        _ => FixtureScope::Dynamic,
                    },
                    _ => FixtureScope::Dynamic,
                }
            }
            _ => {}
        }
    }
    // The name is known only now: `name=` may come after `params=`.
    decl.params =
        params.map(|params| parse_fixture_params(params, ids, &decl.name, scope.src, scope));
    decl
}
