//! Reading an existing BUILD file: a real Starlark parse (`starlark_syntax`) plus the comments
//! the parser drops (collected with the same crate's lexer), both keyed by byte offsets into
//! the original text so the merge can copy untouched parts verbatim.
//!
//! Only what the merge needs is modelled: top-level `load(...)` statements, top-level rule
//! calls `kind(name = "...", ...)` with their arguments (string lists, strings and booleans
//! are understood; anything else is kept as opaque source text), and the comments with the
//! lines they sit on. Every other statement is [`StatementKind::Other`] and is copied as is.

use std::path::{Path, PathBuf};

use starlark_syntax::codemap::CodeMap;
use starlark_syntax::lexer::{Lexer, Token};
use starlark_syntax::syntax::ast::{ArgumentP, AstExpr, AstLiteral, AstStmt, ExprP, StmtP};
use starlark_syntax::syntax::module::AstModuleFields;
use starlark_syntax::syntax::{AstModule, Dialect};

use crate::GazelleError;

/// One `#` comment: byte range of the whole comment and its text after the `#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Comment {
    /// `# keep`, `# keep: reason` (Gazelle's spelling).
    pub fn is_keep(&self) -> bool {
        let text = self.text.trim();
        text == "keep" || text.starts_with("keep:") || text.starts_with("keep ")
    }
}

/// A string element of a list literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListElement {
    pub value: String,
    pub start: usize,
    pub end: usize,
}

/// The value of a rule argument, as far as the merge understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// A list literal made only of string literals.
    StringList(Vec<ListElement>),
    String(String),
    Bool(bool),
    /// Anything else (globs, selects, concatenations, variables).
    Opaque,
}

/// One argument of a rule call; `start..end` covers `name = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// `None` for positional, `*args` and `**kwargs` arguments.
    pub name: Option<String>,
    pub start: usize,
    pub end: usize,
    pub value: ArgValue,
}

/// A top-level call of a named function, e.g. `dx_py_test(name = "x", ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCall {
    pub kind: String,
    pub name: Option<String>,
    pub args: Vec<Arg>,
    /// Byte offset just after the opening parenthesis.
    pub open_paren_end: usize,
}

impl RuleCall {
    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.name.as_deref() == Some(name))
    }

    /// The literal `srcs` entries, or `None` when `srcs` is absent or not a string list.
    pub fn literal_srcs(&self) -> Option<Vec<String>> {
        match &self.arg("srcs")?.value {
            ArgValue::StringList(items) => Some(items.iter().map(|i| i.value.clone()).collect()),
            _ => None,
        }
    }
}

/// `load("module", "a", b = "c")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStatement {
    pub module: String,
    /// `(local name, exported name)`.
    pub symbols: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    Load(LoadStatement),
    Rule(RuleCall),
    Other,
}

/// A top-level statement with its byte range (without trailing comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub start: usize,
    pub end: usize,
    pub kind: StatementKind,
}

/// A parsed BUILD file.
#[derive(Debug, Clone)]
pub struct BuildFile {
    pub path: PathBuf,
    pub source: String,
    pub statements: Vec<Statement>,
    /// Sorted by position.
    pub comments: Vec<Comment>,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl BuildFile {
    /// Parse `source` (the contents of `path`, used in messages).
    pub fn parse(path: &Path, source: String) -> Result<BuildFile, GazelleError> {
        let dialect = Dialect::Standard;
        let module = AstModule::parse(&path.to_string_lossy(), source.clone(), &dialect).map_err(
            |error| GazelleError::BuildSyntax {
                path: path.to_path_buf(),
                message: error.to_string(),
            },
        )?;
        let mut statements = Vec::new();
        collect_statements(module.statement(), &mut statements);
        let codemap = CodeMap::new(path.to_string_lossy().into_owned(), source.clone());
        let mut comments = Vec::new();
        for lexeme in Lexer::new(&source, &dialect, codemap) {
            // The parse above succeeded, so the lexer cannot fail on this text.
            if let Ok((start, Token::Comment(text), end)) = lexeme {
                comments.push(Comment { start, end, text });
            }
        }
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ok(BuildFile {
            path: path.to_path_buf(),
            source,
            statements,
            comments,
            line_starts,
        })
    }

    /// 0-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Byte range of a line, without its newline.
    pub fn line_range(&self, line: usize) -> (usize, usize) {
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.source.len());
        let end = self
            .line_starts
            .get(line + 1)
            .map(|next| next - 1)
            .unwrap_or(self.source.len());
        (start, end)
    }

    /// Comments within `start..end`.
    pub fn comments_in(&self, start: usize, end: usize) -> impl Iterator<Item = &Comment> {
        self.comments
            .iter()
            .filter(move |c| c.start >= start && c.end <= end)
    }

    /// The comment that follows `offset` on the same line, if any.
    pub fn trailing_comment(&self, offset: usize) -> Option<&Comment> {
        let (_, line_end) = self.line_range(self.line_of(offset));
        self.comments_in(offset, line_end).next()
    }

    /// Whether only whitespace precedes `offset` on its line.
    pub fn starts_line(&self, offset: usize) -> bool {
        let (line_start, _) = self.line_range(self.line_of(offset));
        self.source[line_start..offset].trim().is_empty()
    }

    /// Comments on whole lines directly above the line of `offset` (no blank line between),
    /// outermost first.
    pub fn leading_comments(&self, offset: usize) -> Vec<&Comment> {
        let mut out = Vec::new();
        let mut line = self.line_of(offset);
        while line > 0 {
            line -= 1;
            let (start, end) = self.line_range(line);
            let text = self.source[start..end].trim();
            if !text.starts_with('#') {
                break;
            }
            match self.comments_in(start, end).next() {
                Some(comment) => out.push(comment),
                None => break,
            }
        }
        out.reverse();
        out
    }

    /// Every `# dxpy:` directive comment, as `(key, rest)` in file order.
    pub fn directives(&self) -> Vec<(String, String)> {
        self.comments
            .iter()
            .filter_map(|c| {
                let body = c.text.trim().strip_prefix("dxpy:")?;
                let (key, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                Some((key.to_owned(), rest.trim().to_owned()))
            })
            .collect()
    }
}

fn collect_statements(stmt: &AstStmt, out: &mut Vec<Statement>) {
    let (start, end) = (
        stmt.span.begin().get() as usize,
        stmt.span.end().get() as usize,
    );
    let kind = match &stmt.node {
        StmtP::Statements(stmts) => {
            for s in stmts {
                collect_statements(s, out);
            }
            return;
        }
        StmtP::Load(load) => StatementKind::Load(LoadStatement {
            module: load.module.node.clone(),
            symbols: load
                .args
                .iter()
                .map(|a| (a.local.node.ident.clone(), a.their.node.clone()))
                .collect(),
        }),
        StmtP::Expression(expr) => match rule_call(expr) {
            Some(call) => StatementKind::Rule(call),
            None => StatementKind::Other,
        },
        _ => StatementKind::Other,
    };
    out.push(Statement { start, end, kind });
}

fn rule_call(expr: &AstExpr) -> Option<RuleCall> {
    let ExprP::Call(callee, call_args) = &expr.node else {
        return None;
    };
    let ExprP::Identifier(ident) = &callee.node else {
        return None;
    };
    let mut args = Vec::new();
    let mut name = None;
    for arg in &call_args.args {
        let (arg_name, value_expr) = match &arg.node {
            ArgumentP::Named(n, value) => (Some(n.node.clone()), value),
            ArgumentP::Positional(value) | ArgumentP::Args(value) | ArgumentP::KwArgs(value) => {
                (None, value)
            }
        };
        let value = arg_value(value_expr);
        if let (Some("name"), ArgValue::String(s)) = (arg_name.as_deref(), &value) {
            name = Some(s.clone());
        }
        args.push(Arg {
            name: arg_name,
            start: arg.span.begin().get() as usize,
            end: arg.span.end().get() as usize,
            value,
        });
    }
    Some(RuleCall {
        kind: ident.node.ident.clone(),
        name,
        args,
        open_paren_end: callee.span.end().get() as usize + 1,
    })
}

fn arg_value(expr: &AstExpr) -> ArgValue {
    match &expr.node {
        ExprP::Literal(AstLiteral::String(s)) => ArgValue::String(s.node.clone()),
        ExprP::Identifier(ident) if ident.node.ident == "True" => ArgValue::Bool(true),
        ExprP::Identifier(ident) if ident.node.ident == "False" => ArgValue::Bool(false),
        ExprP::List(items) => {
            let mut elements = Vec::new();
            for item in items {
                match &item.node {
                    ExprP::Literal(AstLiteral::String(s)) => elements.push(ListElement {
                        value: s.node.clone(),
                        start: item.span.begin().get() as usize,
                        end: item.span.end().get() as usize,
                    }),
                    _ => return ArgValue::Opaque,
                }
            }
            ArgValue::StringList(elements)
        }
        _ => ArgValue::Opaque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BuildFile {
        match BuildFile::parse(Path::new("BUILD.bazel"), text.to_owned()) {
            Ok(file) => file,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn rules_loads_and_comments_are_located() {
        let text = "# dxpy:generation_mode file\nload(\"@x//:defs.bzl\", \"a\", b = \"c\")\n\n# keep\na(\n    name = \"n\",  # the name\n    srcs = [\"x.py\", \"y.py\"],\n    testonly = True,\n    deps = glob([\"*\"]),\n)\nX = 1\n";
        let file = parse(text);
        assert_eq!(file.statements.len(), 3);
        let StatementKind::Load(load) = &file.statements[0].kind else {
            panic!("not a load")
        };
        assert_eq!(
            load.symbols,
            vec![("a".into(), "a".into()), ("b".into(), "c".into())]
        );
        let StatementKind::Rule(rule) = &file.statements[1].kind else {
            panic!("not a rule")
        };
        assert_eq!(rule.name.as_deref(), Some("n"));
        assert_eq!(
            rule.literal_srcs(),
            Some(vec!["x.py".into(), "y.py".into()])
        );
        assert_eq!(
            rule.arg("testonly").map(|a| &a.value),
            Some(&ArgValue::Bool(true))
        );
        assert_eq!(rule.arg("deps").map(|a| &a.value), Some(&ArgValue::Opaque));
        assert_eq!(&text[rule.args[0].start..rule.args[0].end], "name = \"n\"");
        let trailing = file
            .trailing_comment(rule.args[0].end)
            .map(|c| c.text.clone());
        assert_eq!(trailing.as_deref(), Some(" the name"));
        let leading = file.leading_comments(file.statements[1].start);
        assert!(leading.len() == 1 && leading[0].is_keep());
        assert_eq!(file.statements[2].kind, StatementKind::Other);
        assert_eq!(
            file.directives(),
            vec![("generation_mode".into(), "file".into())]
        );
    }

    #[test]
    fn a_hash_inside_a_string_is_not_a_comment() {
        let file = parse("a(name = \"x # keep\")\n");
        assert!(file.comments.is_empty());
    }

    #[test]
    fn syntax_errors_are_reported_not_panicked() {
        let error = BuildFile::parse(Path::new("p/BUILD.bazel"), "a(\n".into());
        assert!(matches!(error, Err(GazelleError::BuildSyntax { .. })));
    }
}
