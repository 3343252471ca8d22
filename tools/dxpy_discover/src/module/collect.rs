//! pytest's collection rules applied to the namespace model.
//!
//! - Module and class collectors iterate `__dict__` in definition order; a class also walks
//!   its MRO (C3) and emits inherited entries first, farthest base first, as
//!   `PyCollector.collect` does.
//! - `unittest.TestCase` subclasses (any name) yield their `test*` methods sorted by name, as
//!   `unittest.TestLoader.getTestCaseNames` does.
//! - Marks follow `iter_markers()`: the function's own (bottom decorator first), its parameter
//!   set's, then each enclosing class (its MRO's `pytestmark` from `object` down), then the module.

use std::collections::HashSet;
use std::sync::Arc;

use super::fixtures::{FixtureLayer, FixtureLookup, FixtureParams};

use super::model::{Base, Binding, CallableKind, ClassDef, FunctionDef, MarkDef, ModuleModel};
use super::{ExternalDef, ExternalRef, ExternalUse, ModuleAnalysis, ModuleContext};
use crate::item::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};
use crate::params::{expand, Expansion, ParametrizeSpec};

/// One step of a class's method resolution order.
#[derive(Debug, Clone)]
enum MroEntry {
    Class(Arc<ClassDef>),
    TestCase,
    Abc,
    Builtin,
    Unknown,
}

/// What the functions of a module or class inherit from their collectors.
struct Inherited<'m> {
    /// Marks of enclosing nodes, innermost first.
    marks: Vec<&'m MarkDef>,
    /// Some enclosing `pytestmark` or a `pytest_generate_tests` hides the parametrization.
    dynamic: bool,
}

struct Collector<'m, 'c> {
    ctx: &'m ModuleContext<'c>,
    module: &'m ModuleModel,
    module_marks: &'m [MarkDef],
    module_dynamic: bool,
    module_fixtures: FixtureLayer,
    items: Vec<TestItem>,
    errors: Vec<CollectError>,
    unresolved: Vec<ExternalRef>,
}

pub fn collect_module(module: &ModuleModel, ctx: &ModuleContext<'_>) -> ModuleAnalysis {
    let ns = &module.namespace;
    let (module_marks, marks_dynamic) = match ns.lookup("pytestmark") {
        Some(Binding::Marks(marks)) => (marks.as_slice(), false),
        Some(Binding::Unknown) => (&[][..], true),
        _ => (&[][..], false),
    };
    let mut collector = Collector {
        ctx,
        module,
        module_marks,
        module_dynamic: marks_dynamic
            || ns.lookup("pytest_generate_tests").is_some()
            || ctx.fixtures.is_some_and(|f| f.generate_tests),
        module_fixtures: FixtureLayer::from_namespace(ns),
        items: Vec::new(),
        errors: Vec::new(),
        unresolved: module.unresolved.clone(),
    };
    if !matches!(ns.lookup("__test__"), Some(Binding::Bool(false))) {
        collector.collect_module_entries();
    }
    ModuleAnalysis {
        result: FileResult {
            items: collector.items,
            errors: collector.errors,
        },
        unresolved: collector.unresolved,
    }
}

impl<'m> Collector<'m, '_> {
    fn collect_module_entries(&mut self) {
        let prefix = self.ctx.rel_path.to_owned();
        let inherited = Inherited {
            marks: self.module_marks.iter().collect(),
            dynamic: self.module_dynamic,
        };
        let mut items = Vec::new();
        for (name, binding) in self.module.namespace.iter() {
            let outcome = match binding {
                Binding::Import(_) if !self.ctx.collect_imported_tests => Ok(Vec::new()),
                Binding::Import(import) => self.imported(name, import, &prefix, &inherited),
                _ => self.entry(name, binding, &prefix, &inherited, None),
            };
            match outcome {
                Ok(found) => items.extend(found),
                Err(message) => {
                    // A failing module collector reports one error and no items; its
                    // classes are never collected, so their errors never show.
                    self.errors.clear();
                    self.errors.push(CollectError::Other {
                        path: self.ctx.rel_path.to_owned(),
                        message,
                    });
                    return;
                }
            }
        }
        self.items = items;
    }

    /// A name imported into the module: pytest collects it here when it is a test class or
    /// function (`collect_imported_tests`, on by default).
    fn imported(
        &mut self,
        name: &str,
        import: &super::model::Import,
        prefix: &str,
        inherited: &Inherited<'_>,
    ) -> Result<Vec<TestItem>, String> {
        let rules = self.ctx.rules;
        let Some(imported) = &import.name else {
            return Ok(Vec::new());
        };
        let matches_rules = rules.matches_class(name) || rules.matches_function(name);
        // TestCase subclasses are collected whatever their name; class names are capitalised
        // by convention, so those are worth a lookup too.
        let maybe_test_case = name.starts_with(|c: char| c.is_ascii_uppercase());
        if !(matches_rules || maybe_test_case)
            || matches!(
                import.module.as_str(),
                "unittest" | "pytest" | "_pytest" | "typing" | "abc"
            )
        {
            return Ok(Vec::new());
        }
        let resolved = self
            .ctx
            .resolver
            .and_then(|r| r.resolve(self.ctx.rel_path, &import.module, imported));
        let binding = match resolved {
            Some(ExternalDef::Class(class)) => Binding::Class(class),
            Some(ExternalDef::Function(function)) => Binding::Function(function),
            None if !matches_rules => return Ok(Vec::new()),
            None => {
                self.unresolved.push(ExternalRef {
                    module: import.module.clone(),
                    name: imported.clone(),
                    line: import.line,
                    usage: ExternalUse::CollectedName,
                });
                return Ok(Vec::new());
            }
        };
        self.entry(name, &binding, prefix, inherited, None)
    }

    /// Items for one `__dict__` entry of a module (`class_mro` is `None`) or class.
    fn entry(
        &mut self,
        name: &str,
        binding: &Binding,
        prefix: &str,
        inherited: &Inherited<'_>,
        class_mro: Option<&[MroEntry]>,
    ) -> Result<Vec<TestItem>, String> {
        let rules = self.ctx.rules;
        match binding {
            Binding::Class(class) => {
                let mro = linearize(class);
                if is_abstract(&mro) {
                    // `inspect.isabstract`: pytest silently skips abstract classes.
                    return Ok(Vec::new());
                }
                if mro.iter().any(|e| matches!(e, MroEntry::TestCase)) {
                    return Ok(self.unittest_items(name, &mro, prefix, inherited));
                }
                let explicit_test =
                    matches!(mro_lookup(&mro, "__test__"), Some(Binding::Bool(true)));
                if rules.matches_class(name) || explicit_test {
                    return match self.class_items(name, &mro, prefix, inherited) {
                        Ok(items) => Ok(items),
                        // A failing class collector loses its own items only.
                        Err(message) => {
                            self.errors.push(CollectError::Other {
                                path: self.ctx.rel_path.to_owned(),
                                message: if message.starts_with(&format!("{prefix}::{name}")) {
                                    message
                                } else {
                                    format!("{prefix}::{name}: {message}")
                                },
                            });
                            Ok(Vec::new())
                        }
                    };
                }
                Ok(Vec::new())
            }
            Binding::Function(function) => {
                let selected = rules.matches_function(name) || function.test_attr == Some(true);
                if !selected
                    || function.callable != CallableKind::Function
                    || function.test_attr == Some(false)
                {
                    return Ok(Vec::new());
                }
                if function.is_generator {
                    return Err(format!(
                        "'yield' keyword is allowed in fixtures, but not in tests ({name})"
                    ));
                }
                let kind = if class_mro.is_some() {
                    TestKind::Method
                } else {
                    TestKind::Function
                };
                self.function_items(name, function, prefix, inherited, kind, class_mro)
            }
            Binding::Lambda { line } if rules.matches_function(name) => {
                let kind = if class_mro.is_some() {
                    TestKind::Method
                } else {
                    TestKind::Function
                };
                let lambda = FunctionDef {
                    name: name.to_owned(),
                    line: *line,
                    is_async: false,
                    marks: Vec::new(),
                    callable: CallableKind::Function,
                    test_attr: None,
                    is_generator: false,
                    is_abstract: false,
                    args: Vec::new(),
                    fixture: None,
                    unknown_decorator: false,
                };
                self.function_items(name, &lambda, prefix, inherited, kind, class_mro)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn class_items(
        &mut self,
        name: &str,
        mro: &[MroEntry],
        prefix: &str,
        outer: &Inherited<'_>,
    ) -> Result<Vec<TestItem>, String> {
        if matches!(mro_lookup(mro, "__test__"), Some(Binding::Bool(false))) {
            return Ok(Vec::new());
        }
        // pytest warns and skips classes with a constructor (own, inherited or generated).
        let has_constructor = mro.iter().any(|entry| match entry {
            MroEntry::Class(class) => {
                class.generated_init
                    || class.namespace.lookup("__init__").is_some()
                    || class.namespace.lookup("__new__").is_some()
            }
            MroEntry::Builtin => true,
            MroEntry::TestCase | MroEntry::Abc | MroEntry::Unknown => false,
        });
        if has_constructor {
            return Ok(Vec::new());
        }
        let (class_marks, class_dynamic) = class_marks(mro);
        let mut marks = class_marks;
        marks.extend(outer.marks.iter().copied());
        let inherited = Inherited {
            marks,
            dynamic: outer.dynamic || class_dynamic,
        };
        let prefix = format!("{prefix}::{name}");
        // Walk the MRO's dicts: names seen in a nearer class shadow farther ones, and each
        // class's entries come out together, farthest class first.
        let mut seen = std::collections::HashSet::new();
        let mut per_class: Vec<Vec<TestItem>> = Vec::new();
        for entry in mro {
            let MroEntry::Class(class) = entry else {
                continue;
            };
            let mut found = Vec::new();
            for (member, binding) in class.namespace.iter() {
                if !seen.insert(member) {
                    continue;
                }
                match binding {
                    Binding::Import(_) => {}
                    _ => {
                        found.extend(self.entry(member, binding, &prefix, &inherited, Some(mro))?)
                    }
                }
            }
            per_class.push(found);
        }
        Ok(per_class.into_iter().rev().flatten().collect())
    }

    fn unittest_items(
        &mut self,
        name: &str,
        mro: &[MroEntry],
        prefix: &str,
        outer: &Inherited<'_>,
    ) -> Vec<TestItem> {
        if matches!(mro_lookup(mro, "__test__"), Some(Binding::Bool(false))) {
            return Vec::new();
        }
        let (mut marks, _) = class_marks(mro);
        marks.extend(outer.marks.iter().copied());
        let prefix = format!("{prefix}::{name}");
        // `dir(cls)` filtered by unittest's `testMethodPrefix` and `callable`, sorted.
        let mut names: Vec<&str> = Vec::new();
        for entry in mro {
            let MroEntry::Class(class) = entry else {
                continue;
            };
            names.extend(
                class
                    .namespace
                    .iter()
                    .map(|(member, _)| member)
                    .filter(|m| m.starts_with("test")),
            );
        }
        names.sort_unstable();
        names.dedup();
        let mut items = Vec::new();
        let make = |member: &str, items: &mut Vec<TestItem>| {
            let (line, is_async, own) = match mro_lookup(mro, member) {
                Some(Binding::Function(f)) if f.callable != CallableKind::NotCallable => {
                    if f.test_attr == Some(false) {
                        return false;
                    }
                    (
                        f.line,
                        f.is_async,
                        f.marks.iter().map(|m| m.mark.clone()).collect::<Vec<_>>(),
                    )
                }
                Some(Binding::Lambda { line }) => (*line, false, Vec::new()),
                Some(Binding::Class(c)) => (c.line, false, Vec::new()),
                _ => return false,
            };
            let mut all_marks = own;
            all_marks.extend(marks.iter().map(|m| m.mark.clone()));
            items.push(TestItem {
                node_id: format!("{prefix}::{member}"),
                line,
                kind: TestKind::UnitTest,
                is_async,
                marks: all_marks,
                params: ParamState::None,
            });
            true
        };
        let mut found_any = false;
        for member in names {
            found_any |= make(member, &mut items);
        }
        if !found_any {
            make("runTest", &mut items);
        }
        items
    }

    fn function_items(
        &self,
        name: &str,
        function: &FunctionDef,
        prefix: &str,
        inherited: &Inherited<'_>,
        kind: TestKind,
        class_mro: Option<&[MroEntry]>,
    ) -> Result<Vec<TestItem>, String> {
        let class_generates =
            class_mro.is_some_and(|mro| mro_lookup(mro, "pytest_generate_tests").is_some());
        let node_id = format!("{prefix}::{name}");
        let own: Vec<Mark> = function.marks.iter().map(|m| m.mark.clone()).collect();
        let enclosing: Vec<Mark> = inherited.marks.iter().map(|m| m.mark.clone()).collect();
        let specs: Vec<&ParametrizeSpec> = function
            .marks
            .iter()
            .chain(inherited.marks.iter().copied())
            .filter_map(|m| m.parametrize.as_ref())
            .collect();
        let item = |node_id: String, extra: &[Mark], params: ParamState| TestItem {
            node_id,
            line: function.line,
            kind,
            is_async: function.is_async,
            marks: own.iter().chain(extra).chain(&enclosing).cloned().collect(),
            params,
        };
        // Parametrizing one argument twice fails the enclosing collector.
        let mut argnames = std::collections::HashSet::new();
        for spec in &specs {
            if let ParametrizeSpec::Static(call) = spec {
                if let Some(duplicate) = call
                    .argnames
                    .iter()
                    .find(|arg| !argnames.insert(arg.as_str()))
                {
                    return Err(format!(
                        "{node_id}: duplicate parametrization of '{duplicate}'"
                    ));
                }
            }
        }
        if inherited.dynamic || class_generates {
            return Ok(vec![item(node_id, &[], ParamState::Dynamic)]);
        }
        let direct: HashSet<String> = specs
            .iter()
            .filter_map(|spec| match spec {
                ParametrizeSpec::Static(call) => Some(call.argnames.iter().cloned()),
                ParametrizeSpec::Dynamic => None,
            })
            .flatten()
            .collect();
        let all_marks: Vec<Mark> = own.iter().chain(&enclosing).cloned().collect();
        let fixture_specs = match self.fixture_params(function, &all_marks, &direct, class_mro) {
            FixtureParams::Static(found) => found,
            FixtureParams::Dynamic => return Ok(vec![item(node_id, &[], ParamState::Dynamic)]),
        };
        let specs: Vec<&ParametrizeSpec> = fixture_specs.iter().chain(specs).collect();
        if specs.is_empty() {
            return Ok(vec![item(node_id, &[], ParamState::None)]);
        }
        Ok(match expand(&specs, &self.ctx.effective_id_options()) {
            Expansion::Static(variants) => variants
                .into_iter()
                .map(|v| {
                    item(
                        format!("{node_id}[{}]", v.id),
                        &v.marks,
                        ParamState::Static(v.id),
                    )
                })
                .collect(),
            Expansion::Dynamic => vec![item(node_id, &[], ParamState::Dynamic)],
        })
    }
}

impl Collector<'_, '_> {
    /// The parametrizations the fixture closure of `function` adds.
    fn fixture_params(
        &self,
        function: &FunctionDef,
        marks: &[Mark],
        direct: &HashSet<String>,
        class_mro: Option<&[MroEntry]>,
    ) -> FixtureParams {
        let class_layer = class_mro.map(class_fixtures);
        let mut layers: Vec<&FixtureLayer> = self
            .ctx
            .fixtures
            .map(|f| f.conftests.iter().map(|l| l.as_ref()).collect())
            .unwrap_or_default();
        layers.push(&self.module_fixtures);
        let module_position = layers.len();
        if let Some(layer) = &class_layer {
            layers.push(layer);
        }
        let imported = |name: &str| -> Option<Arc<FunctionDef>> {
            let resolver = self.ctx.resolver?;
            let Some(Binding::Import(import)) = self.module.namespace.lookup(name) else {
                return None;
            };
            let imported = import.name.as_deref()?;
            match resolver.resolve(self.ctx.rel_path, &import.module, imported)? {
                ExternalDef::Function(f) if f.fixture.is_some() => Some(f),
                _ => None,
            }
        };
        let lookup = FixtureLookup {
            layers,
            module_position,
            imported: Some(&imported),
        };
        lookup.params(&function.args, marks, direct, function.unknown_decorator)
    }
}

/// The fixtures a class provides: its MRO's members, nearest definition of each name.
fn class_fixtures(mro: &[MroEntry]) -> FixtureLayer {
    let mut layer = FixtureLayer::default();
    let mut seen = HashSet::new();
    for entry in mro {
        if let MroEntry::Class(class) = entry {
            for (name, binding) in class.namespace.iter() {
                if !seen.insert(name) {
                    continue;
                }
                if let Binding::Function(function) = binding {
                    layer.push(name, function.clone());
                }
            }
        }
    }
    layer.sort();
    layer
}

/// A class node's own markers: every MRO class's `pytestmark`, from the farthest base down.
fn class_marks(mro: &[MroEntry]) -> (Vec<&MarkDef>, bool) {
    let mut marks = Vec::new();
    let mut dynamic = false;
    for entry in mro.iter().rev() {
        if let MroEntry::Class(class) = entry {
            marks.extend(class.marks.iter());
            dynamic |= class.marks_dynamic;
        }
    }
    (marks, dynamic)
}

/// `inspect.isabstract`: an ABC whose resolved attributes include an abstract method.
fn is_abstract(mro: &[MroEntry]) -> bool {
    let abc = mro.iter().any(|entry| match entry {
        MroEntry::Abc => true,
        MroEntry::Class(class) => class.abc_metaclass,
        _ => false,
    });
    abc && mro.iter().any(|entry| {
        match entry {
        MroEntry::Class(class) => class.namespace.iter().any(|(name, _)| {
            matches!(mro_lookup(mro, name), Some(Binding::Function(f)) if f.is_abstract)
        }),
        _ => false,
    }
    })
}

/// `getattr(cls, name)` over the statically known part of the MRO.
fn mro_lookup<'a>(mro: &'a [MroEntry], name: &str) -> Option<&'a Binding> {
    mro.iter().find_map(|entry| match entry {
        MroEntry::Class(class) => class.namespace.lookup(name),
        _ => None,
    })
}

/// Identity of an MRO entry for C3 merging.
fn entry_key(entry: &MroEntry, unknown_id: usize) -> usize {
    match entry {
        MroEntry::Class(class) => Arc::as_ptr(class) as usize,
        MroEntry::TestCase => 1,
        MroEntry::Abc => 4,
        MroEntry::Builtin => 2,
        MroEntry::Unknown => 5 + unknown_id * 8,
    }
}

/// Python's C3 linearization; falls back to depth-first order where C3 has no solution
/// (Python would raise a TypeError at import time).
fn linearize(class: &Arc<ClassDef>) -> Vec<MroEntry> {
    let mut unknown_counter = 0usize;
    linearize_keyed(class, &mut unknown_counter, 0)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn linearize_keyed(
    class: &Arc<ClassDef>,
    unknown_counter: &mut usize,
    depth: usize,
) -> Vec<(usize, MroEntry)> {
    let own = MroEntry::Class(class.clone());
    let own_key = entry_key(&own, 0);
    if depth > 64 {
        return vec![(own_key, own)];
    }
    let mut sequences: Vec<Vec<(usize, MroEntry)>> = Vec::new();
    let mut direct = Vec::new();
    for base in &class.bases {
        let linear = match base {
            Base::Class(parent) => linearize_keyed(parent, unknown_counter, depth + 1),
            Base::TestCase => vec![(entry_key(&MroEntry::TestCase, 0), MroEntry::TestCase)],
            Base::Abc => vec![(entry_key(&MroEntry::Abc, 0), MroEntry::Abc)],
            Base::Builtin => vec![(entry_key(&MroEntry::Builtin, 0), MroEntry::Builtin)],
            Base::Unknown => {
                *unknown_counter += 1;
                vec![(
                    entry_key(&MroEntry::Unknown, *unknown_counter),
                    MroEntry::Unknown,
                )]
            }
            Base::Object => continue,
        };
        if let Some(first) = linear.first() {
            direct.push(first.clone());
        }
        sequences.push(linear);
    }
    sequences.push(direct);
    let mut result = vec![(own_key, own)];
    loop {
        sequences.retain(|s| !s.is_empty());
        if sequences.is_empty() {
            return result;
        }
        let candidate = sequences.iter().find_map(|seq| {
            let head = seq[0].0;
            let in_tail = sequences
                .iter()
                .any(|other| other[1..].iter().any(|(k, _)| *k == head));
            (!in_tail).then(|| seq[0].clone())
        });
        let Some(next) = candidate else {
            // Inconsistent hierarchy: keep the remaining entries in depth-first order.
            for seq in sequences {
                for entry in seq {
                    if !result.iter().any(|(k, _)| *k == entry.0) {
                        result.push(entry);
                    }
                }
            }
            return result;
        };
        for seq in &mut sequences {
            if seq[0].0 == next.0 {
                seq.remove(0);
            }
        }
        result.push(next);
    }
}
