//! Parametrized fixtures: which fixtures a test's closure pulls in, and the parametrizations
//! they add, following pytest 9.2's `getfixtureclosure` and its fixture `pytest_generate_tests`.
//!
//! Fixtures live in layers, farthest first: each visible `conftest.py` (rootdir down to the
//! test's directory), the test module, then the test's class (its MRO merged). A name resolves
//! to the nearest layer defining it; a fixture that requests its own name reaches the next
//! farther definition (override chains).
//!
//! Rules applied (each confirmed against pytest 9.2):
//! - initial names: autouse fixtures (layer by layer, farthest first; within a layer sorted by
//!   attribute name, as `dir()` lists them), then `usefixtures` marks (closest first), then the
//!   function's arguments; the closure is their depth-first expansion through each fixture's own
//!   arguments, then stably sorted by scope (session first);
//! - a name also parametrized directly by a `parametrize` mark is neither expanded nor
//!   parametrized by its fixture (direct parametrization wins);
//! - each remaining name parametrized by its nearest definition with `params=` (walking outward
//!   only while a definition requests its own name) adds one parametrization, in closure order,
//!   before the parametrize marks.
//!
//! Anything only Python can evaluate (params or ids that are names, calls, lambdas; a
//! non-literal `scope=` together with params; non-literal `usefixtures` arguments) makes the
//! test dynamic, as does `pytest_generate_tests` in the module, its classes or a visible
//! conftest. A test with an unknown decorator and an argument no visible fixture or builtin
//! provides is dynamic too (the decorator may parametrize it).
//!
//! Assumed unparametrized (documented limits): names not found in any visible file (pytest's
//! builtins such as `tmp_path`, plugin fixtures, fixtures of `pytest_plugins` modules, names
//! from star imports or re-exports the resolver does not follow), and the `usefixtures` ini
//! option. Item reordering by higher-scoped params is not modelled (IDs are exact, the order
//! across items may differ from pytest's).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::model::{Binding, FixtureScope, FunctionDef, Namespace};
use crate::item::Mark;
use crate::params::ParametrizeSpec;

/// The fixtures one namespace (a conftest, a module, a class) defines.
#[derive(Debug, Clone, Default)]
pub struct FixtureLayer {
    /// (attribute name, definition), sorted by attribute name like `dir()`.
    defs: Vec<(String, Arc<FunctionDef>)>,
}

impl FixtureLayer {
    /// The fixture functions of a namespace.
    pub(crate) fn from_namespace(ns: &Namespace) -> Self {
        let mut layer = FixtureLayer::default();
        for (name, binding) in ns.iter() {
            if let Binding::Function(function) = binding {
                layer.push(name, function.clone());
            }
        }
        layer.sort();
        layer
    }

    pub(crate) fn push(&mut self, attribute: &str, function: Arc<FunctionDef>) {
        if function.fixture.is_some() {
            self.defs.push((attribute.to_owned(), function));
        }
    }

    pub(crate) fn sort(&mut self) {
        self.defs.sort_by(|a, b| a.0.cmp(&b.0));
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The definition registered under fixture name `name` (the last in `dir()` order wins).
    fn lookup(&self, name: &str) -> Option<&Arc<FunctionDef>> {
        self.defs
            .iter()
            .rev()
            .find(|(_, f)| f.fixture.as_ref().is_some_and(|d| d.name == name))
            .map(|(_, f)| f)
    }

    fn autouse(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().filter_map(|(_, f)| {
            f.fixture
                .as_ref()
                .filter(|d| d.autouse)
                .map(|d| d.name.as_str())
        })
    }
}

/// What the conftests visible to one test module contribute, farthest first.
#[derive(Debug, Clone, Default)]
pub struct VisibleFixtures {
    pub conftests: Vec<Arc<FixtureLayer>>,
    /// A visible conftest defines `pytest_generate_tests`: every test may be parametrized by it.
    pub generate_tests: bool,
}

/// A hook in a `conftest.py` that changes collection in ways only Python can reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConftestHook {
    /// `pytest_collect_file`: may create non-Python items from any file.
    CollectFile,
    /// `pytest_pycollect_makeitem`: may replace how module members become items.
    PycollectMakeitem,
    /// `pytest_collection_modifyitems`: may reorder, add or drop items.
    CollectionModifyitems,
    /// `pytest_generate_tests`: parametrizes tests at run time (those tests are dynamic).
    GenerateTests,
    /// `pytest_ignore_collect`: may leave out any path, by rules only Python can evaluate.
    IgnoreCollect,
}

impl ConftestHook {
    /// The hook function's name.
    pub fn name(self) -> &'static str {
        match self {
            ConftestHook::CollectFile => "pytest_collect_file",
            ConftestHook::PycollectMakeitem => "pytest_pycollect_makeitem",
            ConftestHook::CollectionModifyitems => "pytest_collection_modifyitems",
            ConftestHook::GenerateTests => "pytest_generate_tests",
            ConftestHook::IgnoreCollect => "pytest_ignore_collect",
        }
    }

    const ALL: [ConftestHook; 5] = [
        ConftestHook::CollectFile,
        ConftestHook::PycollectMakeitem,
        ConftestHook::CollectionModifyitems,
        ConftestHook::GenerateTests,
        ConftestHook::IgnoreCollect,
    ];
}

/// What one `conftest.py` contributes to collection.
#[derive(Debug, Clone, Default)]
pub struct ConftestAnalysis {
    pub fixtures: FixtureLayer,
    /// Collection hooks it defines, in [`ConftestHook`] order.
    pub hooks: Vec<ConftestHook>,
}

impl ConftestAnalysis {
    pub(crate) fn from_namespace(
        ns: &Namespace,
        rel_path: &str,
        resolver: Option<&dyn super::DefinitionResolver>,
    ) -> Self {
        let mut fixtures = FixtureLayer::default();
        for (name, binding) in ns.iter() {
            match binding {
                Binding::Function(function) => fixtures.push(name, function.clone()),
                // `from .fixtures import db` registers `db` in the conftest too.
                Binding::Import(import) => {
                    let (Some(resolver), Some(imported)) = (resolver, import.name.as_deref())
                    else {
                        continue;
                    };
                    if let Some(super::ExternalDef::Function(function)) =
                        resolver.resolve(rel_path, &import.module, imported)
                    {
                        fixtures.push(name, function);
                    }
                }
                _ => {}
            }
        }
        fixtures.sort();
        let hooks = ConftestHook::ALL
            .into_iter()
            .filter(|hook| matches!(ns.lookup(hook.name()), Some(Binding::Function(_))))
            .collect();
        ConftestAnalysis { fixtures, hooks }
    }
}

/// The parametrizations fixtures add to one test, before its own parametrize marks.
#[derive(Debug, Clone, PartialEq)]
pub enum FixtureParams {
    Static(Vec<ParametrizeSpec>),
    /// A fixture in the closure has parameters only Python can evaluate, or `usefixtures`
    /// names are not literal.
    Dynamic,
}

/// A lookup from a fixture name to definitions found lazily (names imported into the module).
pub(crate) type LazyLookup<'a> = &'a dyn Fn(&str) -> Option<Arc<FunctionDef>>;

/// The layers visible to one test, farthest first, plus the module's imported fixtures.
pub(crate) struct FixtureLookup<'a> {
    pub layers: Vec<&'a FixtureLayer>,
    /// Position in `layers` right after which the module's imported fixtures sit.
    pub module_position: usize,
    pub imported: Option<LazyLookup<'a>>,
}

impl FixtureLookup<'_> {
    /// All definitions of `name`, farthest first.
    fn defs(&self, name: &str) -> Vec<Arc<FunctionDef>> {
        let mut defs = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(def) = layer.lookup(name) {
                defs.push(def.clone());
            } else if i + 1 == self.module_position {
                if let Some(def) = self.imported.and_then(|lookup| lookup(name)) {
                    defs.push(def);
                }
            }
        }
        defs
    }

    /// The parametrizations fixtures add to a test with these arguments and marks (in
    /// `iter_markers()` order) whose parametrize marks name `direct` arguments. With
    /// `unknown_decorator`, an argument no visible fixture provides (and no builtin fixture
    /// has) is taken as parametrized by that decorator: the test is dynamic.
    pub fn params(
        &self,
        args: &[String],
        marks: &[Mark],
        direct: &HashSet<String>,
        unknown_decorator: bool,
    ) -> FixtureParams {
        if unknown_decorator
            && args.iter().any(|arg| {
                !direct.contains(arg)
                    && !BUILTIN_FIXTURES.contains(&arg.as_str())
                    && self.defs(arg).is_empty()
            })
        {
            return FixtureParams::Dynamic;
        }
        let mut initial: Vec<String> = Vec::new();
        for layer in &self.layers {
            initial.extend(layer.autouse().map(str::to_owned));
        }
        for mark in marks.iter().filter(|m| m.name == "usefixtures") {
            match usefixtures_names(&mark.args) {
                Some(names) => initial.extend(names),
                None => return FixtureParams::Dynamic,
            }
        }
        initial.extend(args.iter().cloned());
        let mut cache: HashMap<String, Vec<Arc<FunctionDef>>> = HashMap::new();
        let mut defs_of = |name: &str| -> Vec<Arc<FunctionDef>> {
            if direct.contains(name) {
                return Vec::new();
            }
            cache
                .entry(name.to_owned())
                .or_insert_with(|| self.defs(name))
                .clone()
        };
        let mut closure = Vec::new();
        let mut indices: HashMap<String, usize> = HashMap::new();
        for name in &initial {
            visit(name, &mut defs_of, &mut indices, &mut closure, 0);
        }
        let scope_of = |name: &str, defs_of: &mut dyn FnMut(&str) -> Vec<Arc<FunctionDef>>| {
            defs_of(name)
                .last()
                .and_then(|d| d.fixture.as_ref().map(|f| f.scope))
                .unwrap_or(FixtureScope::Function)
        };
        let mut keyed: Vec<(FixtureScope, String)> = closure
            .into_iter()
            .map(|name| (scope_of(&name, &mut defs_of), name))
            .collect();
        let any_dynamic_scope = keyed.iter().any(|(s, _)| *s == FixtureScope::Dynamic);
        // Stable: equal scopes keep closure order.
        keyed.sort_by_key(|(scope, _)| std::cmp::Reverse(*scope));
        let mut specs = Vec::new();
        for (_, name) in &keyed {
            if direct.contains(name) {
                continue;
            }
            for def in defs_of(name).iter().rev() {
                let Some(decl) = &def.fixture else { break };
                if let Some(params) = &decl.params {
                    match params {
                        ParametrizeSpec::Static(_) => specs.push(params.clone()),
                        ParametrizeSpec::Dynamic => return FixtureParams::Dynamic,
                    }
                    break;
                }
                if !def.args.iter().any(|a| a == name) {
                    break;
                }
            }
        }
        // A scope only known at run time decides where its parametrization sorts.
        if any_dynamic_scope && !specs.is_empty() {
            return FixtureParams::Dynamic;
        }
        FixtureParams::Static(specs)
    }
}

/// Fixtures pytest 9.2 itself provides (none is parametrized).
const BUILTIN_FIXTURES: &[&str] = &[
    "cache",
    "capfd",
    "capfdbinary",
    "caplog",
    "capsys",
    "capsysbinary",
    "capteesys",
    "doctest_namespace",
    "monkeypatch",
    "pytestconfig",
    "pytester",
    "record_property",
    "record_testsuite_property",
    "record_xml_attribute",
    "recwarn",
    "request",
    "subtests",
    "testdir",
    "tmp_path",
    "tmp_path_factory",
    "tmpdir",
    "tmpdir_factory",
];

/// Maximum depth of fixture dependencies followed (real suites stay far below).
const MAX_FIXTURE_DEPTH: usize = 256;

/// Depth-first closure walk; `indices` counts how far down each name's override chain the
/// walk currently is (0 = the nearest definition), `usize::MAX` marking a finished name.
fn visit(
    name: &str,
    defs_of: &mut dyn FnMut(&str) -> Vec<Arc<FunctionDef>>,
    indices: &mut HashMap<String, usize>,
    closure: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_FIXTURE_DEPTH {
        return;
    }
    let current = indices.get(name).copied();
    if current == Some(0) {
        return;
    }
    if current.is_none() {
        closure.push(name.to_owned());
        indices.insert(name.to_owned(), 0);
    }
    let defs = defs_of(name);
    let level = current.unwrap_or(0);
    let Some(def) = defs.len().checked_sub(level + 1).and_then(|i| defs.get(i)) else {
        return;
    };
    indices.insert(name.to_owned(), level + 1);
    for dep in &def.args {
        visit(dep, defs_of, indices, closure, depth + 1);
    }
    indices.insert(name.to_owned(), level);
}

/// The names of `usefixtures("a", "b")` given the call's source text, or `None` when an
/// argument is not a string literal.
fn usefixtures_names(args: &str) -> Option<Vec<String>> {
    let inner = args.trim().strip_prefix('(')?.strip_suffix(')')?;
    let mut names = Vec::new();
    for piece in inner.split(',') {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        match crate::params::literal::decode_string_literal(piece)? {
            crate::params::literal::StrLiteral::Str(s) => names.push(s),
            crate::params::literal::StrLiteral::Bytes(_) => return None,
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::usefixtures_names;

    #[test]
    fn usefixtures_arguments_are_string_literals() {
        assert_eq!(
            usefixtures_names("(\"a\", 'b')"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(usefixtures_names("(NAME)"), None);
        assert_eq!(usefixtures_names("()"), Some(Vec::new()));
    }
}
