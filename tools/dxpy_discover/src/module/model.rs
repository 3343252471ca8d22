//! The owned namespace model of a module (`build` fills it in one pass over the syntax tree).
//!
//! A [`Namespace`] mimics a Python `__dict__`: insertion-ordered, a rebinding keeps the name's
//! first position but replaces its value, and `del` frees the position. Statements nested in
//! `if`/`try`/`with`/loops are treated as executed. Values are kept only as far as collection
//! cares: functions, classes, lambdas, marks, booleans, imports, other values.

use std::collections::HashMap;
use std::sync::Arc;

use super::ExternalRef;
use crate::item::Mark;
use crate::params::ParametrizeSpec;

/// A mark as written, with its parsed `parametrize` arguments when it is one.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkDef {
    pub mark: Mark,
    pub parametrize: Option<ParametrizeSpec>,
}

/// What a name bound by `def` is, as far as `istestfunction` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallableKind {
    Function,
    /// `@pytest.fixture`: never a test.
    Fixture,
    /// `@property` and friends: not callable, so never a test.
    NotCallable,
}

/// A function definition (module level or method).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    /// 1-based line of the `def`.
    pub line: u32,
    pub is_async: bool,
    /// Its own marks in `pytestmark` order (bottom decorator first).
    pub(crate) marks: Vec<MarkDef>,
    pub(crate) callable: CallableKind,
    /// `f.__test__ = ...` after the definition.
    pub(crate) test_attr: Option<bool>,
    /// A plain `def` containing `yield`: pytest refuses it as a test.
    pub(crate) is_generator: bool,
    /// `@abc.abstractmethod`.
    pub(crate) is_abstract: bool,
    /// Argument names pytest resolves as fixtures: no `self`/`cls` of a method, no arguments
    /// with defaults, no `*args`/`**kwargs`.
    pub(crate) args: Vec<String>,
    /// `@pytest.fixture(...)`: what the fixture declares.
    pub(crate) fixture: Option<Arc<FixtureDecl>>,
    /// A decorator other than marks, fixtures and the builtin descriptors: it may parametrize
    /// the function in ways only Python sees (a helper calling `pytest.mark.parametrize`).
    pub(crate) unknown_decorator: bool,
}

/// A fixture's `scope=`, ordered from narrowest to widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FixtureScope {
    Function,
    Class,
    Module,
    Package,
    Session,
    /// Not a literal (a callable decides at run time).
    Dynamic,
}

/// What `@pytest.fixture(...)` declares.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureDecl {
    /// The fixture's name: `name=` or the function's.
    pub name: String,
    pub autouse: bool,
    pub scope: FixtureScope,
    /// `params=`, parsed as pytest's indirect parametrization of the fixture's name.
    pub params: Option<ParametrizeSpec>,
}

/// A base class reference, resolved at class-definition time.
#[derive(Debug, Clone)]
pub enum Base {
    Class(Arc<ClassDef>),
    /// `unittest.TestCase` or `unittest.IsolatedAsyncioTestCase`.
    TestCase,
    /// `abc.ABC`: abstract methods make the class abstract.
    Abc,
    Object,
    /// A builtin other than `object`: it brings its own `__init__` or `__new__`.
    Builtin,
    /// Not statically known: treated like `object`.
    Unknown,
}

/// A class definition.
#[derive(Debug, Clone)]
pub struct ClassDef {
    pub name: String,
    /// 1-based line of the `class`.
    pub line: u32,
    pub(crate) bases: Vec<Base>,
    /// Its own `pytestmark` (body assignment, then decorators bottom first).
    pub(crate) marks: Vec<MarkDef>,
    /// `pytestmark` was assigned something only Python can evaluate.
    pub(crate) marks_dynamic: bool,
    pub(crate) namespace: Namespace,
    /// `@dataclass` generates an `__init__`.
    pub(crate) generated_init: bool,
    /// `metaclass=ABCMeta`.
    pub(crate) abc_metaclass: bool,
}

/// An `import` binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Module as written (`pkg.mod`, `.base`, `.`).
    pub module: String,
    /// `None` for `import module`, else the imported attribute.
    pub name: Option<String>,
    pub line: u32,
}

/// The value of a name.
#[derive(Debug, Clone)]
pub enum Binding {
    Function(Arc<FunctionDef>),
    Class(Arc<ClassDef>),
    /// `name = lambda: ...`: a callable function.
    Lambda {
        line: u32,
    },
    Marks(Vec<MarkDef>),
    Bool(bool),
    Import(Import),
    /// A literal or display: not callable.
    Value,
    /// Something only Python can evaluate.
    Unknown,
}

/// An insertion-ordered `__dict__`.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    entries: Vec<(String, Option<Binding>)>,
    index: HashMap<String, usize>,
}

impl Namespace {
    pub fn define(&mut self, name: &str, binding: Binding) {
        match self.index.get(name) {
            Some(&at) => self.entries[at].1 = Some(binding),
            None => {
                self.index.insert(name.to_owned(), self.entries.len());
                self.entries.push((name.to_owned(), Some(binding)));
            }
        }
    }

    pub(super) fn delete(&mut self, name: &str) {
        if let Some(at) = self.index.remove(name) {
            self.entries[at].1 = None;
        }
    }

    pub fn lookup(&self, name: &str) -> Option<&Binding> {
        self.index
            .get(name)
            .and_then(|&at| self.entries[at].1.as_ref())
    }

    pub(super) fn lookup_mut(&mut self, name: &str) -> Option<&mut Binding> {
        let at = *self.index.get(name)?;
        self.entries[at].1.as_mut()
    }

    /// Bindings in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.entries
            .iter()
            .filter_map(|(name, binding)| binding.as_ref().map(|b| (name.as_str(), b)))
    }
}

/// A whole module.
#[derive(Debug, Default)]
pub struct ModuleModel {
    pub namespace: Namespace,
    pub unresolved: Vec<ExternalRef>,
    /// A syntax error tree-sitter tolerates but `compile()` does not (line, column, message).
    pub syntax_error: Option<(u32, u32, String)>,
}
