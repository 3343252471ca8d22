//! Tree-sitter analysis of one Python test module into [`TestItem`](crate::TestItem)s,
//! following pytest 9.2's collection rules without importing anything.
//!
//! Contract (used by [`crate::session`]): [`analyze`] never panics and never fails as a whole;
//! problems become [`crate::CollectError`]s in the returned [`FileResult`].
//!
//! Layout:
//! - this file: the public API ([`analyze`], [`analyze_detailed`], [`exported_definition`],
//!   [`exported_definitions`]), the context and the cross-file resolver contract; one
//!   tree-sitter parser per thread. Name-rule matching is [`NameRules`], in [`crate::options`].
//! - `source`: decoding (UTF-8, BOM, `latin-1` coding cookie) and syntax-error location.
//! - `model`: the owned namespace model (functions, classes, marks, imports), mimicking
//!   `__dict__` semantics: a redefined name keeps its first position but its last value.
//! - `build`: the statement walk that builds the model in one pass over the tree.
//! - `signature`: a `def`'s fixture-relevant argument names and `@pytest.fixture(...)` arguments.
//! - [`fixtures`]: parametrized fixtures (conftest/module/class layers, closure, overrides) and
//!   the collection hooks a conftest defines.
//! - `symbols`: name resolution (imports, `pytest`/`unittest` aliases, mark expressions).
//! - `collect`: pytest's rules applied to the model: name matching, `__test__`, `__init__`,
//!   MRO inheritance, unittest loading order, marks order and parametrize expansion.
//!
//! Cross-file inheritance: a base class or a test function imported from another module
//! (`from .base import Mixin`) is reported in [`ModuleAnalysis::unresolved`]. A caller that
//! implements [`DefinitionResolver`] (typically by analysing the other file with
//! [`exported_definition`]) lets inherited tests, marks, `__test__`, `__init__` and
//! TestCase-ness flow in exactly as for same-file bases. Covered: `from M import Name [as X]`
//! (absolute or relative) and `import M` + `M.Name`. Not covered: star imports, names built at
//! run time, re-exports the resolver cannot follow; such bases count as plain `object`.
//!
//! Inherited items keep the `line` of their `def`, which for a resolved external base is a line
//! of that other file. Imported names are collected as pytest does with its default
//! `collect_imported_tests = true`; a resolver is consulted for imported names matching the
//! name rules or starting with a capital (possible `TestCase` subclasses), and only the former
//! are reported when unresolved.
//!
//! Known static limits (documented, not bugs): definitions under `if`/`try`/`with`/loops are
//! treated as executed (both branches define, the last wins), except the body of
//! `if __name__ == "__main__":`; `@pytest.mark` applied through unknown decorators or
//! `setattr` is not seen, but a test with an unknown decorator and an argument no visible
//! fixture provides is dynamic (the decorator may parametrize it); assignments
//! `test_x = <call>` are not tests; a parametrize argname the function does not use is not
//! reported (pytest fails collection when no fixture provides it); items reordering by
//! higher-scoped parametrization (`scope="module"`/`"session"` fixture params, indirect
//! class-scoped fixtures) is not modelled: IDs are right, cross-item order may differ;
//! `pytest.HIDDEN_PARAM`, the `sha256`/`disallow` long-string strategies and
//! `empty_parameter_set_mark = fail_at_collect` make the function dynamic. Parametrized
//! fixtures of conftests (and `pytest_generate_tests` there) come from `ctx.fixtures`; see
//! [`fixtures`]. Abstract classes are detected when the ABC comes from `abc.ABC`/`metaclass=abc.ABCMeta` and the abstract methods are visible.
//!
//! Syntax errors: pytest reports them only when `compile()` fails; here the first ERROR or
//! MISSING node of tree-sitter's tree is reported (line and character column, 1-based), which
//! may point elsewhere than CPython's message. tree-sitter accepts some code `compile()`
//! rejects (Python 2 `print x`, `return` outside a function, invalid escapes, misplaced
//! `nonlocal`, inconsistent tabs and spaces, missing indentation of bodies nested inside
//! functions); such modules are analysed as if valid. A module-level or class-level `def` or
//! `class` whose body is not indented is reported like Python ("expected an indented block").
//! Conversely syntax newer than the grammar may be flagged although the interpreter accepts
//! it, and syntax newer than the interpreter (PEP 695 on 3.11) is accepted.
//!
//! Collector errors follow pytest's scope: a generator test (`yield`) or an argument
//! parametrized twice fails the module when the function is module-level (no items at all),
//! or only the enclosing class otherwise; both become [`crate::CollectError::Other`].
//!
//! Encoding: UTF-8 (a BOM is skipped); a PEP 263 cookie naming latin-1 (on line 1, or on line
//! 2 after a comment/blank line 1) is decoded byte for byte. Other non-UTF-8 input is
//! [`crate::CollectError::NotUtf8`] with the offset of the first bad byte.
//!
//! Mark arguments ([`crate::Mark::args`]) are the call's source text including parentheses,
//! e.g. `(reason="x")`; marks pytest synthesises (empty parameter set `skip`) have none. Mark
//! order is `iter_markers()`'s: own decorators bottom first, then the parameter set's marks,
//! then enclosing classes (each class's MRO from `object` down), then the module.

mod build;
mod collect;
pub mod fixtures;
mod import_skip;
mod model;
mod signature;
mod source;
mod symbols;

use std::cell::RefCell;
use std::sync::Arc;

pub use import_skip::skips_at_import;
pub use model::{ClassDef, FunctionDef};

use crate::item::{CollectError, FileResult};
use crate::options::IdOptions;
// Re-exported where analysis callers have always found it.
pub use crate::options::NameRules;

/// A definition found in another module, as a [`DefinitionResolver`] returns it.
#[derive(Debug, Clone)]
pub enum ExternalDef {
    Class(Arc<ClassDef>),
    Function(Arc<FunctionDef>),
}

/// Resolves names imported from other modules (`from .base import Mixin`).
/// `module` is written as in the import (`.base`, `pkg.base`); `importer` is the importing
/// module's `rel_path`.
pub trait DefinitionResolver: Sync {
    fn resolve(&self, importer: &str, module: &str, name: &str) -> Option<ExternalDef>;
}

/// Why a name imported from another module matters to collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalUse {
    /// Used as a base class of a collected class.
    BaseClass,
    /// Imported under a name pytest would collect in this module.
    CollectedName,
}

/// An imported definition the analysis needed but could not see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalRef {
    /// The module as written in the import (`.base`, `pkg.base`).
    pub module: String,
    pub name: String,
    /// 1-based line of the import.
    pub line: u32,
    pub usage: ExternalUse,
}

/// What the analysis needs to know besides the source.
#[derive(Clone, Copy)]
pub struct ModuleContext<'a> {
    /// Path relative to rootdir with `/` separators: the node ID prefix.
    pub rel_path: &'a str,
    pub rules: &'a NameRules,
    /// pytest's `disable_test_id_escaping_and_forfeit_all_rights_to_community_support` ini option.
    pub disable_id_escaping: bool,
    /// `parametrize_long_str_id_strategy` and `empty_parameter_set_mark`.
    pub id_options: IdOptions,
    /// Cross-file definitions; `None` treats imported bases as plain classes.
    pub resolver: Option<&'a dyn DefinitionResolver>,
    /// pytest's `collect_imported_tests` ini option (default `true`): whether test classes
    /// and functions imported into the module are collected there too.
    pub collect_imported_tests: bool,
    /// Fixtures of the conftests visible to the module; `None` means none are.
    pub fixtures: Option<&'a fixtures::VisibleFixtures>,
}

impl std::fmt::Debug for ModuleContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleContext")
            .field("rel_path", &self.rel_path)
            .field("rules", &self.rules)
            .field("disable_id_escaping", &self.disable_id_escaping)
            .field("id_options", &self.id_options)
            .field("resolver", &self.resolver.is_some())
            .field("collect_imported_tests", &self.collect_imported_tests)
            .field("fixtures", &self.fixtures.is_some())
            .finish()
    }
}

impl<'a> ModuleContext<'a> {
    /// A context with pytest's defaults for everything but the path and name rules.
    pub fn new(rel_path: &'a str, rules: &'a NameRules) -> Self {
        ModuleContext {
            rel_path,
            rules,
            disable_id_escaping: false,
            id_options: IdOptions::default(),
            resolver: None,
            collect_imported_tests: true,
            fixtures: None,
        }
    }

    fn effective_id_options(&self) -> IdOptions {
        IdOptions {
            disable_escaping: self.disable_id_escaping || self.id_options.disable_escaping,
            ..self.id_options
        }
    }
}

/// [`analyze`]'s result plus what a caller needs for cross-file resolution.
#[derive(Debug, Clone, Default)]
pub struct ModuleAnalysis {
    pub result: FileResult,
    /// Imported definitions that would change the items if known, in source order.
    pub unresolved: Vec<ExternalRef>,
}

thread_local! {
    static PARSER: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

/// Parse with this thread's parser (created once per thread).
fn parse(text: &str) -> Result<tree_sitter::Tree, String> {
    PARSER.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| "parser is busy".to_owned())?;
        if slot.is_none() {
            let mut parser = tree_sitter::Parser::new();
            parser
                .set_language(&tree_sitter_python::LANGUAGE.into())
                .map_err(|e| format!("cannot load the Python grammar: {e}"))?;
            *slot = Some(parser);
        }
        let parser = slot
            .as_mut()
            .ok_or_else(|| "parser unavailable".to_owned())?;
        parser
            .parse(text, None)
            .ok_or_else(|| "tree-sitter gave up parsing".to_owned())
    })
}

/// Analyse one module's source.
pub fn analyze(source: &[u8], ctx: &ModuleContext<'_>) -> FileResult {
    analyze_detailed(source, ctx).result
}

/// Analyse one module's source, also reporting unresolved imported definitions.
pub fn analyze_detailed(source: &[u8], ctx: &ModuleContext<'_>) -> ModuleAnalysis {
    let path = ctx.rel_path.to_owned();
    let text = match source::decode(source) {
        Ok(text) => text,
        Err(offset) => return ModuleAnalysis::failed(CollectError::NotUtf8 { path, offset }),
    };
    let tree = match parse(&text) {
        Ok(tree) => tree,
        Err(message) => return ModuleAnalysis::failed(CollectError::Other { path, message }),
    };
    let syntax_error = |(line, column, message)| {
        ModuleAnalysis::failed(CollectError::Syntax {
            path: path.clone(),
            line,
            column,
            message,
        })
    };
    if let Some(error) = source::first_syntax_error(tree.root_node(), &text) {
        return syntax_error(error);
    }
    let module = build::build_module(tree.root_node(), &text, ctx);
    if let Some(error) = module.syntax_error.clone() {
        return syntax_error(error);
    }
    collect::collect_module(&module, ctx)
}

impl ModuleAnalysis {
    /// A module that yields no items, only this collection error (as pytest's import failure).
    fn failed(error: CollectError) -> ModuleAnalysis {
        ModuleAnalysis {
            result: FileResult {
                items: Vec::new(),
                errors: vec![error],
            },
            unresolved: Vec::new(),
        }
    }
}

/// What a `conftest.py` contributes: its fixtures (and those it imports, through
/// `ctx.resolver`) and the collection hooks it defines. A conftest that cannot be parsed
/// contributes nothing.
pub fn analyze_conftest(source: &[u8], ctx: &ModuleContext<'_>) -> fixtures::ConftestAnalysis {
    let Ok(text) = source::decode(source) else {
        return fixtures::ConftestAnalysis::default();
    };
    let Ok(tree) = parse(&text) else {
        return fixtures::ConftestAnalysis::default();
    };
    if source::first_syntax_error(tree.root_node(), &text).is_some() {
        return fixtures::ConftestAnalysis::default();
    }
    let module = build::build_module(tree.root_node(), &text, ctx);
    fixtures::ConftestAnalysis::from_namespace(&module.namespace, ctx.rel_path, ctx.resolver)
}

/// The class or function `name` defined at module level in another file's source, for a
/// [`DefinitionResolver`]. Its own bases are resolved through `ctx.resolver` (with
/// `ctx.rel_path` naming that other file). `None` when the file does not define it statically.
pub fn exported_definition(
    source: &[u8],
    ctx: &ModuleContext<'_>,
    name: &str,
) -> Option<ExternalDef> {
    exported_definitions(source, ctx)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, def)| def)
}

/// Every module-level class and function of another file's source, in definition order: parse
/// a file once and cache this when resolving many names. A resolver must guard against import
/// cycles itself (e.g. return `None` for a file it is already resolving).
pub fn exported_definitions(source: &[u8], ctx: &ModuleContext<'_>) -> Vec<(String, ExternalDef)> {
    let Ok(text) = source::decode(source) else {
        return Vec::new();
    };
    let Ok(tree) = parse(&text) else {
        return Vec::new();
    };
    if source::first_syntax_error(tree.root_node(), &text).is_some() {
        return Vec::new();
    }
    let module = build::build_module(tree.root_node(), &text, ctx);
    module
        .namespace
        .iter()
        .filter_map(|(name, binding)| match binding {
            model::Binding::Class(class) => {
                Some((name.to_owned(), ExternalDef::Class(class.clone())))
            }
            model::Binding::Function(function) => {
                Some((name.to_owned(), ExternalDef::Function(function.clone())))
            }
            _ => None,
        })
        .collect()
}
