//! Import extraction from Python source with tree-sitter.
//!
//! [`extract_imports`] walks the whole syntax tree once, carrying the context flags
//! (`optional` inside a `try` body whose handlers catch `ImportError`, `type_only` inside an
//! `if TYPE_CHECKING:` body) down to every import it meets. Imports anywhere count: module
//! level, inside functions and classes, and inside tree-sitter `ERROR` nodes (so a file with
//! a syntax error still yields what the parser recovered, alongside the error).

use std::fmt;

use tree_sitter::{Node, Parser};

/// How an import was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportForm {
    /// `import a.b` / `import a.b as c`.
    Import,
    /// `from a import b, c` (also relative: `from ..a import b`).
    From,
    /// `from a import *`.
    FromStar,
    /// `importlib.import_module("a.b")`, optionally with `package=` for a relative name.
    ImportModule,
    /// `__import__("a.b")`.
    DunderImport,
    /// `importlib.import_module(expr)` / `__import__(expr)` whose name is only known at run
    /// time (`pygments.lexers` imports its lexers by names from a table). `module` holds the
    /// literal dotted prefix the name is built from (`"pkg.sub." + name`, `f"pkg.sub.{name}"`,
    /// `"pkg.sub.%s" % name`), or is empty: then the target can be any module of the
    /// importing file's own package.
    Dynamic,
}

/// One name imported by a `from` import: `b` or `b as c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportedName {
    pub name: String,
    pub alias: Option<String>,
}

/// One import found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Import {
    pub form: ImportForm,
    /// Dotted module name without the leading dots (empty for `from . import x`).
    pub module: String,
    /// Number of leading dots: 0 for an absolute import.
    pub level: u32,
    /// `import a.b as c` → `c`.
    pub alias: Option<String>,
    /// Names of a `from` import (empty for the other forms).
    pub names: Vec<ImportedName>,
    /// `package=` of `importlib.import_module`: the anchor of a relative name.
    pub package: Option<String>,
    /// 1-based line of the statement or call.
    pub line: u32,
    /// Inside the body of a `try` whose handlers catch `ImportError`.
    pub optional: bool,
    /// Inside the body of `if TYPE_CHECKING:` (never executed at run time).
    pub type_only: bool,
}

/// Why a file's imports may be incomplete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ExtractError {
    /// The parser met invalid syntax; the imports it recovered are still reported.
    #[error("syntax error at line {line}, column {column}")]
    Syntax { line: u32, column: u32 },
    /// The file is not UTF-8 (Python would refuse it); it was parsed with replacement characters.
    #[error("file is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: u64 },
    /// The file could not be read.
    #[error("cannot read file: {message}")]
    Unreadable { message: String },
    /// tree-sitter refused to parse (should not happen with a compatible grammar).
    #[error("parser failure: {message}")]
    Parser { message: String },
}

/// Everything extracted from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileImports {
    pub imports: Vec<Import>,
    /// Set when the imports may be incomplete; [`FileImports::imports`] holds what was found.
    pub error: Option<ExtractError>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Context {
    optional: bool,
    type_only: bool,
}

/// Extract every import from `source` (raw bytes, as read from disk). Never panics.
pub fn extract_imports(source: &[u8]) -> FileImports {
    let (text, utf8_error) = match std::str::from_utf8(source) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), None),
        Err(e) => (
            String::from_utf8_lossy(source),
            Some(ExtractError::NotUtf8 {
                offset: e.valid_up_to() as u64,
            }),
        ),
    };
    let mut parser = Parser::new();
    if let Err(e) = parser.set_language(&tree_sitter_python::LANGUAGE.into()) {
        return FileImports {
            imports: Vec::new(),
            error: Some(ExtractError::Parser {
                message: e.to_string(),
            }),
        };
    }
    let Some(tree) = parser.parse(text.as_bytes(), None) else {
        return FileImports {
            imports: Vec::new(),
            error: Some(ExtractError::Parser {
                message: "parse returned no tree".into(),
            }),
        };
    };
    let mut walker = Walker {
        source: text.as_bytes(),
        imports: Vec::new(),
        bare_import_module_calls: Vec::new(),
    };
    walker.visit(tree.root_node(), Context::default());
    walker.keep_bare_import_module_if_imported();
    let mut imports = walker.imports;
    imports.sort_by_key(|import| import.line);
    let error = utf8_error.or_else(|| first_syntax_error(tree.root_node()));
    FileImports { imports, error }
}

/// The first `ERROR` or `MISSING` node in document order, as a 1-based position.
fn first_syntax_error(root: Node) -> Option<ExtractError> {
    if !root.has_error() {
        return None;
    }
    let mut node = root;
    'descend: loop {
        if node.is_error() || node.is_missing() {
            let start = node.start_position();
            return Some(ExtractError::Syntax {
                line: start.row as u32 + 1,
                column: start.column as u32 + 1,
            });
        }
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.has_error() {
                node = child;
                continue 'descend;
            }
        }
        // `has_error` was set but no child carries it: report this node's start.
        let start = node.start_position();
        return Some(ExtractError::Syntax {
            line: start.row as u32 + 1,
            column: start.column as u32 + 1,
        });
    }
}

struct Walker<'s> {
    source: &'s [u8],
    imports: Vec<Import>,
    /// `import_module("x")` calls: kept only if the file did `from importlib import import_module`.
    bare_import_module_calls: Vec<Import>,
}

impl<'s> Walker<'s> {
    fn text(&self, node: Node) -> &'s str {
        node.utf8_text(self.source).unwrap_or("")
    }

    fn line(node: Node) -> u32 {
        node.start_position().row as u32 + 1
    }

    // Explicit stack instead of recursion: deeply nested input must not overflow ours.
    fn visit(&mut self, root: Node, context: Context) {
        let mut stack = vec![(root, context)];
        while let Some((node, context)) = stack.pop() {
            match node.kind() {
                "import_statement" => self.import_statement(node, context),
                "import_from_statement" | "future_import_statement" => {
                    self.import_from_statement(node, context)
                }
                "call" => self.call(node, context),
                _ => {}
            }
            let child_context = |child: Node| self.child_context(node, child, context);
            let mut cursor = node.walk();
            let children: Vec<Node> = node.children(&mut cursor).collect();
            for child in children.into_iter().rev() {
                stack.push((child, child_context(child)));
            }
        }
    }

    /// The context of `child` of `parent`: only the guarded body inherits the new flag.
    fn child_context(&self, parent: Node, child: Node, context: Context) -> Context {
        let mut context = context;
        match parent.kind() {
            "try_statement" => {
                let is_body = parent
                    .child_by_field_name("body")
                    .is_some_and(|body| body.id() == child.id());
                if is_body && self.handlers_catch_import_error(parent) {
                    context.optional = true;
                }
            }
            // `elif TYPE_CHECKING:` guards its own consequence the same way.
            "if_statement" | "elif_clause" => {
                let is_consequence = parent
                    .child_by_field_name("consequence")
                    .is_some_and(|body| body.id() == child.id());
                let guarded = parent
                    .child_by_field_name("condition")
                    .is_some_and(|condition| self.is_type_checking(condition));
                if is_consequence && guarded {
                    context.type_only = true;
                }
            }
            _ => {}
        }
        context
    }

    /// `TYPE_CHECKING`, or `X.TYPE_CHECKING` for any module alias `X` (`typing`, `t`, `te`, ...):
    /// projects commonly `import typing as t`.
    fn is_type_checking(&self, condition: Node) -> bool {
        match condition.kind() {
            "identifier" => self.text(condition) == "TYPE_CHECKING",
            "attribute" => {
                condition
                    .child_by_field_name("object")
                    .is_some_and(|object| object.kind() == "identifier")
                    && condition
                        .child_by_field_name("attribute")
                        .is_some_and(|attribute| self.text(attribute) == "TYPE_CHECKING")
            }
            _ => false,
        }
    }

    /// Whether any `except` clause of `try_node` catches `ImportError` (a bare `except:`,
    /// `Exception`, `BaseException` and `ModuleNotFoundError` handlers do too).
    fn handlers_catch_import_error(&self, try_node: Node) -> bool {
        let mut cursor = try_node.walk();
        let clauses: Vec<Node> = try_node.children(&mut cursor).collect();
        clauses.into_iter().any(|clause| {
            if clause.kind() != "except_clause" && clause.kind() != "except_group_clause" {
                return false;
            }
            let mut cursor = clause.walk();
            let caught: Vec<Node> = clause
                .children_by_field_name("value", &mut cursor)
                .collect();
            if caught.is_empty() {
                // `except_group_clause` has no `value` field: look at its first named child.
                return match clause.named_child(0) {
                    Some(first) if first.kind() != "block" => self.catches_import_error(first),
                    _ => true, // bare `except:`
                };
            }
            caught
                .into_iter()
                .any(|value| self.catches_import_error(value))
        })
    }

    fn catches_import_error(&self, expression: Node) -> bool {
        match expression.kind() {
            "tuple" | "parenthesized_expression" | "expression_list" => {
                let mut cursor = expression.walk();
                let items: Vec<Node> = expression.named_children(&mut cursor).collect();
                items
                    .into_iter()
                    .any(|item| self.catches_import_error(item))
            }
            "as_pattern" => expression
                .named_child(0)
                .is_some_and(|inner| self.catches_import_error(inner)),
            _ => {
                let text = self.text(expression);
                let last = text.rsplit('.').next().unwrap_or(text);
                matches!(
                    last,
                    "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException"
                )
            }
        }
    }

    fn new_import(&self, form: ImportForm, node: Node, context: Context) -> Import {
        Import {
            form,
            module: String::new(),
            level: 0,
            alias: None,
            names: Vec::new(),
            package: None,
            line: Self::line(node),
            optional: context.optional,
            type_only: context.type_only,
        }
    }

    fn import_statement(&mut self, node: Node, context: Context) {
        let mut cursor = node.walk();
        let names: Vec<Node> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let mut import = self.new_import(ImportForm::Import, node, context);
            match name.kind() {
                "aliased_import" => {
                    let Some(dotted) = name.child_by_field_name("name") else {
                        continue;
                    };
                    import.module = self.dotted(dotted);
                    import.alias = name
                        .child_by_field_name("alias")
                        .map(|alias| self.text(alias).to_string());
                }
                "dotted_name" => import.module = self.dotted(name),
                _ => continue,
            }
            if !import.module.is_empty() {
                self.imports.push(import);
            }
        }
    }

    /// A dotted name's text with any whitespace or comments between parts removed.
    fn dotted(&self, node: Node) -> String {
        let mut cursor = node.walk();
        let parts: Vec<&str> = node
            .named_children(&mut cursor)
            .filter(|part| part.kind() == "identifier")
            .map(|part| self.text(part))
            .collect();
        if parts.is_empty() {
            self.text(node).to_string()
        } else {
            parts.join(".")
        }
    }

    fn import_from_statement(&mut self, node: Node, context: Context) {
        let mut import = self.new_import(ImportForm::From, node, context);
        if node.kind() == "future_import_statement" {
            import.module = "__future__".into();
        } else {
            let Some(module) = node.child_by_field_name("module_name") else {
                return;
            };
            if module.kind() == "relative_import" {
                let mut cursor = module.walk();
                for part in module.named_children(&mut cursor) {
                    match part.kind() {
                        "import_prefix" => {
                            import.level =
                                self.text(part).chars().filter(|c| *c == '.').count() as u32;
                        }
                        "dotted_name" => import.module = self.dotted(part),
                        _ => {}
                    }
                }
            } else {
                import.module = self.dotted(module);
            }
        }
        let mut cursor = node.walk();
        if node
            .named_children(&mut cursor)
            .any(|child| child.kind() == "wildcard_import")
        {
            import.form = ImportForm::FromStar;
        } else {
            let mut cursor = node.walk();
            let names: Vec<Node> = node.children_by_field_name("name", &mut cursor).collect();
            for name in names {
                let imported = match name.kind() {
                    "aliased_import" => name.child_by_field_name("name").map(|n| ImportedName {
                        name: self.dotted(n),
                        alias: name
                            .child_by_field_name("alias")
                            .map(|alias| self.text(alias).to_string()),
                    }),
                    "dotted_name" => Some(ImportedName {
                        name: self.dotted(name),
                        alias: None,
                    }),
                    _ => None,
                };
                import.names.extend(imported);
            }
        }
        if import.level == 0 && import.module.is_empty() {
            return;
        }
        self.imports.push(import);
    }

    fn call(&mut self, node: Node, context: Context) {
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let (form, bare) = match self.text(function) {
            "importlib.import_module" => (ImportForm::ImportModule, false),
            "import_module" => (ImportForm::ImportModule, true),
            "__import__" => (ImportForm::DunderImport, false),
            _ => return,
        };
        let Some(arguments) = node.child_by_field_name("arguments") else {
            return;
        };
        let mut cursor = arguments.walk();
        let arguments: Vec<Node> = arguments.named_children(&mut cursor).collect();
        let Some(first) = arguments.first() else {
            return;
        };
        let Some(name) = (first.kind() == "string")
            .then(|| self.string_literal(*first))
            .flatten()
        else {
            // Not a literal: the target is only known at run time.
            let mut import = self.new_import(ImportForm::Dynamic, node, context);
            import.module = self.literal_prefix(*first).unwrap_or_default();
            if bare {
                self.bare_import_module_calls.push(import);
            } else {
                self.imports.push(import);
            }
            return;
        };
        let mut import = self.new_import(form, node, context);
        let trimmed = name.trim_start_matches('.');
        import.level = (name.len() - trimmed.len()) as u32;
        import.module = trimmed.to_string();
        if form == ImportForm::ImportModule {
            import.package = arguments
                .iter()
                .skip(1)
                .find_map(|argument| self.package_argument(*argument, &arguments));
        }
        if import.module.is_empty() && import.level == 0 {
            return;
        }
        if bare {
            self.bare_import_module_calls.push(import);
        } else {
            self.imports.push(import);
        }
    }

    /// The absolute dotted package a computed module name starts with: the literal head of
    /// `"a.b." + x`, `"a.b.%s" % x` or `f"a.b.{x}"`, up to its last dot. `None` when the name
    /// has no such head (a variable, a relative name).
    fn literal_prefix(&self, node: Node) -> Option<String> {
        let head = match node.kind() {
            "binary_operator" => {
                let left = node.child_by_field_name("left")?;
                match left.kind() {
                    "string" => self.string_literal(left)?,
                    _ => self.literal_prefix(left)?,
                }
            }
            "string" => {
                // An f-string or %-template: the text before the first interpolation.
                let mut cursor = node.walk();
                let mut head = String::new();
                for part in node.named_children(&mut cursor) {
                    match part.kind() {
                        "string_start" | "string_end" => {}
                        "string_content" => {
                            let text = self.text(part);
                            let end = text.find(['%', '{', '\\']).unwrap_or(text.len());
                            head.push_str(&text[..end]);
                            if end < text.len() {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                head
            }
            _ => return None,
        };
        let package = &head[..head.rfind('.')?];
        let identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        };
        package
            .split('.')
            .all(identifier)
            .then(|| package.to_string())
    }

    /// `package="a.b"` keyword, or the second positional argument, as a literal.
    fn package_argument(&self, argument: Node, all: &[Node]) -> Option<String> {
        if argument.kind() == "keyword_argument" {
            let name = argument.child_by_field_name("name")?;
            let value = argument.child_by_field_name("value")?;
            return (self.text(name) == "package" && value.kind() == "string")
                .then(|| self.string_literal(value))
                .flatten();
        }
        let is_second = all
            .get(1)
            .is_some_and(|second| second.id() == argument.id());
        (is_second && argument.kind() == "string")
            .then(|| self.string_literal(argument))
            .flatten()
    }

    /// The value of a plain string literal (no prefix other than `r`/`u`, no interpolation
    /// or escapes), or `None`.
    fn string_literal(&self, node: Node) -> Option<String> {
        let mut cursor = node.walk();
        let mut value = String::new();
        for part in node.named_children(&mut cursor) {
            match part.kind() {
                "string_start" => {
                    let prefix = self.text(part).trim_end_matches(['"', '\'']);
                    if prefix.chars().any(|c| !matches!(c, 'r' | 'R' | 'u' | 'U')) {
                        return None;
                    }
                }
                "string_content" => {
                    let mut inner = part.walk();
                    if part.named_children(&mut inner).next().is_some() {
                        return None; // escapes or interpolation
                    }
                    value.push_str(self.text(part));
                }
                "string_end" => {}
                _ => return None,
            }
        }
        Some(value)
    }

    fn keep_bare_import_module_if_imported(&mut self) {
        let imported = self.imports.iter().any(|import| {
            import.form == ImportForm::From
                && import.level == 0
                && import.module == "importlib"
                && import
                    .names
                    .iter()
                    .any(|name| name.name == "import_module" && name.alias.is_none())
        });
        if imported {
            self.imports.append(&mut self.bare_import_module_calls);
        }
    }
}

impl fmt::Display for Import {
    /// One line per import, e.g. `L3 from ..pkg import y as z [optional]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dots = ".".repeat(self.level as usize);
        write!(f, "L{} ", self.line)?;
        match self.form {
            ImportForm::Import => write!(f, "import {}", self.module)?,
            ImportForm::From | ImportForm::FromStar => {
                write!(f, "from {dots}{} import ", self.module)?;
                if self.form == ImportForm::FromStar {
                    write!(f, "*")?;
                }
                for (i, name) in self.names.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", name.name)?;
                    if let Some(alias) = &name.alias {
                        write!(f, " as {alias}")?;
                    }
                }
            }
            ImportForm::ImportModule => {
                write!(f, "importlib.import_module({dots}{})", self.module)?
            }
            ImportForm::DunderImport => write!(f, "__import__({dots}{})", self.module)?,
            ImportForm::Dynamic if self.module.is_empty() => {
                write!(f, "dynamic import (own package)")?
            }
            ImportForm::Dynamic => write!(f, "dynamic import ({}.*)", self.module)?,
        }
        if let Some(alias) = &self.alias {
            write!(f, " as {alias}")?;
        }
        if let Some(package) = &self.package {
            write!(f, " package={package}")?;
        }
        if self.optional {
            write!(f, " [optional]")?;
        }
        if self.type_only {
            write!(f, " [type-only]")?;
        }
        Ok(())
    }
}
