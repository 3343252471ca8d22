//! The statement walk that builds a module's [`ModuleModel`] in one pass over the syntax tree:
//! definitions, decorators, assignments, imports and `del`, in execution order. The types it
//! fills live in `model`, which the name resolution (`symbols`) and `signature` read too.

use std::sync::Arc;

use tree_sitter::Node;

use super::model::{
    Base, Binding, CallableKind, ClassDef, FixtureDecl, FunctionDef, Import, MarkDef, ModuleModel,
    Namespace,
};
use super::signature;
use super::symbols::Scope;
use super::{ExternalDef, ExternalRef, ExternalUse, ModuleContext};

pub fn build_module(root: Node<'_>, src: &str, ctx: &ModuleContext<'_>) -> ModuleModel {
    let mut builder = Builder {
        src,
        ctx,
        unresolved: Vec::new(),
        depth: 0,
        syntax_error: None,
    };
    let mut namespace = Namespace::default();
    builder.block(root, &mut namespace, None);
    ModuleModel {
        namespace,
        unresolved: builder.unresolved,
        syntax_error: builder.syntax_error,
    }
}

struct Builder<'a, 'c> {
    src: &'a str,
    ctx: &'a ModuleContext<'c>,
    unresolved: Vec<ExternalRef>,
    /// Block nesting depth: bounded so that pathological input cannot exhaust the stack
    /// (CPython itself refuses such deeply nested code).
    depth: usize,
    syntax_error: Option<(u32, u32, String)>,
}

/// What a `def`'s decorators make of it.
struct FunctionDecorators {
    /// Marks, bottom decorator first.
    marks: Vec<MarkDef>,
    callable: CallableKind,
    is_abstract: bool,
    is_static: bool,
    fixture: Option<FixtureDecl>,
    /// Any decorator but marks, staticmethod and classmethod may replace the function with
    /// a wrapper, which `inspect.isgeneratorfunction` does not see through.
    wrapped: bool,
    /// Arguments `@hypothesis.given` binds (not fixtures).
    given: Vec<String>,
}

/// Deeper blocks are ignored; CPython's parser gives up long before.
const MAX_BLOCK_DEPTH: usize = 200;

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

fn line_of(node: Node<'_>) -> u32 {
    u32::try_from(node.start_position().row)
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

impl<'a> Builder<'a, '_> {
    fn scope<'m>(&self, ns: &'m Namespace, globals: Option<&'m Namespace>) -> Scope<'m>
    where
        'a: 'm,
    {
        match globals {
            Some(module) => Scope {
                local: Some(ns),
                module,
                src: self.src,
            },
            None => Scope {
                local: None,
                module: ns,
                src: self.src,
            },
        }
    }

    /// Walk the statements of a module, a class body or a compound statement's block.
    fn block(&mut self, node: Node<'_>, ns: &mut Namespace, globals: Option<&Namespace>) {
        if self.depth >= MAX_BLOCK_DEPTH {
            return;
        }
        self.depth += 1;
        for statement in children(node) {
            self.statement(statement, ns, globals);
        }
        self.depth -= 1;
    }

    fn statement(&mut self, node: Node<'_>, ns: &mut Namespace, globals: Option<&Namespace>) {
        match node.kind() {
            "function_definition" => self.function(node, &[], ns, globals),
            "class_definition" => self.class(node, &[], ns, globals),
            "decorated_definition" => {
                let decorators: Vec<Node<'_>> = children(node)
                    .into_iter()
                    .filter(|n| n.kind() == "decorator")
                    .filter_map(|n| children(n).into_iter().find(|c| c.kind() != "comment"))
                    .collect();
                match node.child_by_field_name("definition") {
                    Some(def) if def.kind() == "function_definition" => {
                        self.function(def, &decorators, ns, globals)
                    }
                    Some(def) if def.kind() == "class_definition" => {
                        self.class(def, &decorators, ns, globals)
                    }
                    _ => {}
                }
            }
            "expression_statement" => {
                for child in children(node) {
                    if child.kind() == "assignment" {
                        self.assignment(child, ns, globals);
                    }
                }
            }
            "import_statement" => self.import(node, ns),
            "import_from_statement" => self.import_from(node, ns),
            "delete_statement" => {
                for target in children(node) {
                    let targets = if target.kind() == "expression_list" {
                        children(target)
                    } else {
                        vec![target]
                    };
                    for t in targets.into_iter().filter(|t| t.kind() == "identifier") {
                        ns.delete(text(t, self.src));
                    }
                }
            }
            "if_statement" | "try_statement" | "with_statement" | "for_statement"
            | "while_statement" | "elif_clause" | "else_clause" | "except_clause"
            | "finally_clause" => {
                // Under pytest a module's `__name__` is never `"__main__"`.
                let main_guard = node.kind() == "if_statement"
                    && node
                        .child_by_field_name("condition")
                        .is_some_and(|c| is_main_guard(c, self.src));
                for child in children(node) {
                    if main_guard && child.kind() == "block" {
                        continue;
                    }
                    match child.kind() {
                        "block" => self.block(child, ns, globals),
                        "elif_clause" | "else_clause" | "except_clause" | "finally_clause" => {
                            self.statement(child, ns, globals)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// The opening shared by `def` and `class`: the body's indentation is checked, then the
    /// defined name; `None` when tree-sitter recovered a definition without one.
    fn definition_name(&mut self, definition: Node<'_>) -> Option<&'a str> {
        self.check_indented_body(definition);
        let src = self.src;
        definition
            .child_by_field_name("name")
            .map(|name| text(name, src))
    }

    /// tree-sitter accepts a body that is not indented (`def f():` newline `pass`); Python
    /// reports "expected an indented block".
    fn check_indented_body(&mut self, definition: Node<'_>) {
        let Some(body) = definition.child_by_field_name("body") else {
            return;
        };
        // tree-sitter leaves an empty block at the end of the header line.
        if self.syntax_error.is_none() && body.start_byte() == body.end_byte() {
            // Python points at the statement on the next line.
            let line = u32::try_from(body.start_position().row)
                .unwrap_or(u32::MAX)
                .saturating_add(2);
            self.syntax_error = Some((line, 1, "expected an indented block".to_owned()));
        }
    }

    fn function(
        &mut self,
        node: Node<'_>,
        decorators: &[Node<'_>],
        ns: &mut Namespace,
        globals: Option<&Namespace>,
    ) {
        let Some(name) = self.definition_name(node) else {
            return;
        };
        let is_async = node.child(0).is_some_and(|first| first.kind() == "async");
        let scope = self.scope(ns, globals);
        let decorated = self.function_decorators(&scope, name, node, decorators);
        // Computed for every function: an imported or `__test__`-enabled one may be a test
        // under rules other than the ones in effect here.
        let is_generator = !is_async
            && !decorated.wrapped
            && node
                .child_by_field_name("body")
                // Cheap text check first: most bodies never mention `yield`.
                .is_some_and(|body| text(body, self.src).contains("yield") && contains_yield(body));
        let def = FunctionDef {
            name: name.to_owned(),
            line: line_of(node),
            is_async,
            marks: decorated.marks,
            callable: decorated.callable,
            test_attr: None,
            is_generator,
            is_abstract: decorated.is_abstract,
            args: signature::argument_names(
                node,
                self.src,
                globals.is_some() && !decorated.is_static,
            )
            .into_iter()
            .filter(|arg| !decorated.given.contains(arg))
            .collect(),
            fixture: decorated.fixture.map(Arc::new),
            unknown_decorator: decorated.wrapped,
        };
        ns.define(name, Binding::Function(Arc::new(def)));
    }

    /// What a `def`'s decorators say about it, read bottom first (the order they apply in).
    fn function_decorators(
        &self,
        scope: &Scope<'_>,
        name: &str,
        def: Node<'_>,
        decorators: &[Node<'_>],
    ) -> FunctionDecorators {
        let mut decorated = FunctionDecorators {
            marks: Vec::new(),
            callable: CallableKind::Function,
            is_abstract: false,
            is_static: false,
            fixture: None,
            wrapped: false,
            given: Vec::new(),
        };
        for &decorator in decorators.iter().rev() {
            if let Some(mark) = scope.mark_def(decorator) {
                decorated.marks.push(mark);
                continue;
            }
            let (target, _) = decorator_callee(decorator);
            let path = scope.canonical_path(target);
            let path: Option<Vec<&str>> = path
                .as_ref()
                .map(|p| p.iter().map(String::as_str).collect());
            match path.as_deref() {
                Some(["pytest", "fixture" | "yield_fixture"]) => {
                    decorated.callable = CallableKind::Fixture;
                    decorated.fixture = Some(signature::fixture_decl(decorator, name, scope));
                }
                Some(["builtins", "property"] | ["functools", "cached_property"]) => {
                    decorated.callable = CallableKind::NotCallable
                }
                Some(["hypothesis", "given"]) => {
                    // A wrapper: arguments it cannot name stay unknown (the test is dynamic).
                    decorated.wrapped = true;
                    if let Some(bound) = signature::given_bound(decorator, def, self.src) {
                        decorated.given.extend(bound);
                    }
                }
                Some(["abc", "abstractmethod"]) => decorated.is_abstract = true,
                Some(["builtins", "staticmethod"]) => decorated.is_static = true,
                Some(["builtins", "classmethod"]) => {}
                Some(["abc", "abstractproperty"]) => {
                    decorated.is_abstract = true;
                    decorated.callable = CallableKind::NotCallable;
                }
                _ if target.kind() == "attribute"
                    && matches!(
                        target
                            .child_by_field_name("attribute")
                            .map(|a| text(a, self.src)),
                        Some("setter" | "getter" | "deleter")
                    ) =>
                {
                    decorated.callable = CallableKind::NotCallable
                }
                _ => decorated.wrapped = true,
            }
        }
        decorated
    }

    fn class(
        &mut self,
        node: Node<'_>,
        decorators: &[Node<'_>],
        ns: &mut Namespace,
        globals: Option<&Namespace>,
    ) {
        let Some(name) = self.definition_name(node) else {
            return;
        };
        let (bases, abc_metaclass) = self.class_bases(node, ns, globals);
        let mut body_ns = Namespace::default();
        if let Some(body) = node.child_by_field_name("body") {
            let module = globals.unwrap_or(ns);
            self.block(body, &mut body_ns, Some(module));
        }
        let (mut marks, marks_dynamic) = match body_ns.lookup("pytestmark") {
            Some(Binding::Marks(marks)) => (marks.clone(), false),
            Some(Binding::Unknown) => (Vec::new(), true),
            _ => (Vec::new(), false),
        };
        let scope = self.scope(ns, globals);
        let generated_init = self.class_decorators(&scope, decorators, &mut marks);
        let class = ClassDef {
            name: name.to_owned(),
            line: line_of(node),
            bases,
            marks,
            marks_dynamic,
            namespace: body_ns,
            generated_init,
            abc_metaclass,
        };
        ns.define(name, Binding::Class(Arc::new(class)));
    }

    /// A class's bases in order, and whether its metaclass is `abc.ABCMeta`.
    fn class_bases(
        &mut self,
        node: Node<'_>,
        ns: &Namespace,
        globals: Option<&Namespace>,
    ) -> (Vec<Base>, bool) {
        let mut bases = Vec::new();
        let mut abc_metaclass = false;
        let Some(arguments) = node.child_by_field_name("superclasses") else {
            return (bases, abc_metaclass);
        };
        for argument in children(arguments) {
            match argument.kind() {
                "keyword_argument" => {
                    let scope = self.scope(ns, globals);
                    let is_metaclass = argument
                        .child_by_field_name("name")
                        .is_some_and(|n| text(n, self.src) == "metaclass");
                    abc_metaclass |= is_metaclass
                        && argument
                            .child_by_field_name("value")
                            .is_some_and(|v| scope.path_is(v, &["abc", "ABCMeta"]));
                }
                "comment" => {}
                "list_splat" | "dictionary_splat" => bases.push(Base::Unknown),
                _ => {
                    let base = self.base(argument, ns, globals);
                    bases.push(base);
                }
            }
        }
        (bases, abc_metaclass)
    }

    /// A class's decorators, bottom first: marks are appended to `marks`; the result says
    /// whether `@dataclass` generates an `__init__`.
    fn class_decorators(
        &self,
        scope: &Scope<'_>,
        decorators: &[Node<'_>],
        marks: &mut Vec<MarkDef>,
    ) -> bool {
        let mut generated_init = false;
        for &decorator in decorators.iter().rev() {
            if let Some(mark) = scope.mark_def(decorator) {
                marks.push(mark);
                continue;
            }
            let (target, call_args) = decorator_callee(decorator);
            if scope.path_is(target, &["dataclasses", "dataclass"]) {
                let init_disabled = call_args.is_some_and(|args| {
                    children(args).into_iter().any(|kw| {
                        kw.kind() == "keyword_argument"
                            && kw
                                .child_by_field_name("name")
                                .is_some_and(|n| text(n, self.src) == "init")
                            && kw
                                .child_by_field_name("value")
                                .is_some_and(|v| v.kind() == "false")
                    })
                });
                generated_init |= !init_disabled;
            }
        }
        generated_init
    }

    fn base(&mut self, node: Node<'_>, ns: &Namespace, globals: Option<&Namespace>) -> Base {
        let scope = self.scope(ns, globals);
        if node.kind() == "identifier" {
            if let Some(Binding::Class(class)) = scope.lookup(text(node, self.src)) {
                return Base::Class(class.clone());
            }
        }
        let Some(path) = scope.canonical_path(node) else {
            return Base::Unknown;
        };
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["unittest", "TestCase" | "IsolatedAsyncioTestCase"]
            | ["unittest", "case", "TestCase"]
            | ["unittest", "async_case", "IsolatedAsyncioTestCase"] => return Base::TestCase,
            ["builtins", "object"] => return Base::Object,
            ["abc", "ABC"] => return Base::Abc,
            ["builtins", _] => return Base::Builtin,
            [_] => return Base::Unknown,
            _ => {}
        }
        let (module, name) = split_module(&path);
        if let Some(ExternalDef::Class(class)) = self
            .ctx
            .resolver
            .and_then(|resolver| resolver.resolve(self.ctx.rel_path, &module, &name))
        {
            return Base::Class(class);
        }
        let line = import_line(&scope, node).unwrap_or_else(|| line_of(node));
        self.unresolved.push(ExternalRef {
            module,
            name,
            line,
            usage: ExternalUse::BaseClass,
        });
        Base::Unknown
    }

    fn assignment(&mut self, node: Node<'_>, ns: &mut Namespace, globals: Option<&Namespace>) {
        // `a = b = value` nests assignments on the right.
        let mut targets = Vec::new();
        let mut current = node;
        loop {
            if let Some(left) = current.child_by_field_name("left") {
                targets.push(left);
            }
            match current.child_by_field_name("right") {
                Some(right) if right.kind() == "assignment" => current = right,
                Some(right) => {
                    for target in targets {
                        self.bind_target(target, right, ns, globals);
                    }
                    return;
                }
                // An annotation without a value binds nothing.
                None => return,
            }
        }
    }

    fn bind_target(
        &mut self,
        target: Node<'_>,
        value: Node<'_>,
        ns: &mut Namespace,
        globals: Option<&Namespace>,
    ) {
        match target.kind() {
            "identifier" => {
                let name = text(target, self.src);
                let binding = self.value_binding(name, value, ns, globals);
                ns.define(name, binding);
            }
            "attribute" => {
                // `test_x.__test__ = False` after the definition.
                let (Some(object), Some(attribute)) = (
                    target.child_by_field_name("object"),
                    target.child_by_field_name("attribute"),
                ) else {
                    return;
                };
                if object.kind() != "identifier" || text(attribute, self.src) != "__test__" {
                    return;
                }
                let flag = match value.kind() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                };
                match ns.lookup_mut(text(object, self.src)) {
                    Some(Binding::Function(function)) => Arc::make_mut(function).test_attr = flag,
                    // `TestX.__test__ = False` after the class body.
                    Some(Binding::Class(class)) => {
                        let binding = flag.map_or(Binding::Unknown, Binding::Bool);
                        Arc::make_mut(class).namespace.define("__test__", binding);
                    }
                    _ => {}
                }
            }
            "pattern_list" | "tuple_pattern" | "list_pattern" => {
                for part in children(target) {
                    if part.kind() == "identifier" {
                        ns.define(text(part, self.src), Binding::Unknown);
                    }
                }
            }
            _ => {}
        }
    }

    fn value_binding(
        &self,
        name: &str,
        value: Node<'_>,
        ns: &Namespace,
        globals: Option<&Namespace>,
    ) -> Binding {
        let scope = self.scope(ns, globals);
        if name == "pytestmark" {
            return scope
                .mark_list(value)
                .map_or(Binding::Unknown, Binding::Marks);
        }
        match value.kind() {
            "true" => Binding::Bool(true),
            "false" => Binding::Bool(false),
            "lambda" => Binding::Lambda {
                line: line_of(value),
            },
            "identifier" => match scope.lookup(text(value, self.src)) {
                Some(
                    binding @ (Binding::Function(_)
                    | Binding::Class(_)
                    | Binding::Lambda { .. }
                    | Binding::Marks(_)),
                ) => binding.clone(),
                Some(Binding::Value | Binding::Bool(_)) => Binding::Value,
                _ => Binding::Unknown,
            },
            // `test_x = OtherTests.test_x` reuses a method of a class defined in this file.
            "attribute" if class_member(&scope, value, self.src).is_some() => {
                class_member(&scope, value, self.src)
                    .cloned()
                    .unwrap_or(Binding::Unknown)
            }
            "string"
            | "concatenated_string"
            | "integer"
            | "float"
            | "none"
            | "list"
            | "tuple"
            | "dictionary"
            | "set"
            | "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => match scope.mark_list(value) {
                Some(marks) if matches!(value.kind(), "list" | "tuple") && !marks.is_empty() => {
                    Binding::Marks(marks)
                }
                _ => Binding::Value,
            },
            _ => scope
                .mark_def(value)
                .map_or(Binding::Unknown, |mark| Binding::Marks(vec![mark])),
        }
    }

    fn import(&mut self, node: Node<'_>, ns: &mut Namespace) {
        let line = line_of(node);
        for child in children(node) {
            match child.kind() {
                // `import a.b` binds `a` to package `a`.
                "dotted_name" => {
                    let full = text(child, self.src);
                    let head = full.split('.').next().unwrap_or(full).trim();
                    ns.define(
                        head,
                        Binding::Import(Import {
                            module: head.to_owned(),
                            name: None,
                            line,
                        }),
                    );
                }
                "aliased_import" => {
                    let (Some(module), Some(alias)) = (
                        child.child_by_field_name("name"),
                        child.child_by_field_name("alias"),
                    ) else {
                        continue;
                    };
                    let module = compact(text(module, self.src));
                    ns.define(
                        text(alias, self.src),
                        Binding::Import(Import {
                            module,
                            name: None,
                            line,
                        }),
                    );
                }
                _ => {}
            }
        }
    }

    fn import_from(&mut self, node: Node<'_>, ns: &mut Namespace) {
        let line = line_of(node);
        let Some(module_node) = node.child_by_field_name("module_name") else {
            return;
        };
        let module = compact(text(module_node, self.src));
        let mut cursor = node.walk();
        let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
        for name_node in names {
            let (imported, bound) = match name_node.kind() {
                "aliased_import" => {
                    let (Some(name), Some(alias)) = (
                        name_node.child_by_field_name("name"),
                        name_node.child_by_field_name("alias"),
                    ) else {
                        continue;
                    };
                    (
                        compact(text(name, self.src)),
                        text(alias, self.src).to_owned(),
                    )
                }
                _ => {
                    let name = compact(text(name_node, self.src));
                    (name.clone(), name)
                }
            };
            ns.define(
                &bound,
                Binding::Import(Import {
                    module: module.clone(),
                    name: Some(imported),
                    line,
                }),
            );
        }
    }
}

/// `Class.member` for a class of this module, looked up through its local bases (depth
/// first, which matches the MRO for the single-inheritance chains this is used with).
/// What a decorator applies: `@x` is `x`; `@x(...)` is `x` and its argument list.
fn decorator_callee(decorator: Node<'_>) -> (Node<'_>, Option<Node<'_>>) {
    if decorator.kind() == "call" {
        (
            decorator
                .child_by_field_name("function")
                .unwrap_or(decorator),
            decorator.child_by_field_name("arguments"),
        )
    } else {
        (decorator, None)
    }
}

fn class_member<'m>(scope: &Scope<'m>, node: Node<'_>, src: &str) -> Option<&'m Binding> {
    let object = node.child_by_field_name("object")?;
    let member = text(node.child_by_field_name("attribute")?, src);
    if object.kind() != "identifier" {
        return None;
    }
    let Binding::Class(class) = scope.lookup(text(object, src))? else {
        return None;
    };
    let mut stack: Vec<&'m ClassDef> = vec![class.as_ref()];
    let mut visited = 0usize;
    while let Some(current) = stack.pop() {
        visited += 1;
        if visited > 256 {
            return None;
        }
        if let Some(binding) = current.namespace.lookup(member) {
            return matches!(
                binding,
                Binding::Function(_) | Binding::Lambda { .. } | Binding::Class(_)
            )
            .then_some(binding);
        }
        for base in current.bases.iter().rev() {
            if let Base::Class(parent) = base {
                stack.push(parent.as_ref());
            }
        }
    }
    None
}

/// `__name__ == "__main__"` (either operand order, any quotes).
fn is_main_guard(condition: Node<'_>, src: &str) -> bool {
    if condition.kind() != "comparison_operator" {
        return false;
    }
    let operands = children(condition);
    let [left, right] = operands.as_slice() else {
        return false;
    };
    let is_name = |n: &Node<'_>| n.kind() == "identifier" && text(*n, src) == "__name__";
    let is_main = |n: &Node<'_>| {
        matches!(
            crate::params::literal::eval_string(*n, src),
            Some(crate::params::literal::StrLiteral::Str(s)) if s == "__main__"
        )
    };
    text(condition, src).contains("==")
        && ((is_name(left) && is_main(right)) || (is_main(left) && is_name(right)))
}

/// Dotted names may contain spaces and line continuations (`a . b`).
fn compact(dotted: &str) -> String {
    dotted
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\\')
        .collect()
}

/// Split a canonical path into (module as written, attribute).
pub fn split_module(path: &[String]) -> (String, String) {
    let name = path.last().cloned().unwrap_or_default();
    let mut module = path.first().cloned().unwrap_or_default();
    for segment in path.iter().take(path.len().saturating_sub(1)).skip(1) {
        if !module.ends_with('.') {
            module.push('.');
        }
        module.push_str(segment);
    }
    (module, name)
}

/// The line of the import that binds the head name of `node`.
fn import_line(scope: &Scope<'_>, node: Node<'_>) -> Option<u32> {
    let mut head = node;
    while head.kind() == "attribute" {
        head = head.child_by_field_name("object")?;
    }
    match scope.lookup(text(head, scope.src))? {
        Binding::Import(import) => Some(import.line),
        _ => None,
    }
}

/// Whether a function body yields (not counting nested functions, lambdas and classes).
fn contains_yield(body: Node<'_>) -> bool {
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if node.kind() == "yield" {
            return true;
        }
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if !matches!(
                child.kind(),
                "function_definition" | "lambda" | "class_definition" | "decorated_definition"
            ) {
                stack.push(child);
            }
        }
    }
    false
}
