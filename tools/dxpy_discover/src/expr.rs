//! pytest's `-k` and `-m` expression language, and its evaluation against test items.
//!
//! Layout:
//! - this file: the scanner and recursive-descent parser (pytest's grammar: `or`, `and`,
//!   `not`, parentheses, identifiers of `\w : + - . [ ] \ /`, and `name(key=value, ...)` calls
//!   with string, integer, `True`/`False`/`None` values), evaluation with short-circuiting.
//! - [`matchers`]: the `-k` keyword matcher and the `-m` mark matcher for a [`TestItem`].
//!
//! Evaluation is three-valued: when an item's parameters are only known at run time
//! ([`crate::ParamState::Dynamic`]), a name that could only match such a parameter makes the
//! result [`Truth::Unknown`], and the runner must decide.

pub mod matchers;

pub use matchers::{keyword_matches, mark_matches, KeywordMatcher, MarkMatcher};

/// Which option the expression came from; only changes error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprKind {
    Keyword,
    Mark,
}

impl ExprKind {
    fn option(self) -> &'static str {
        match self {
            ExprKind::Keyword => "-k",
            ExprKind::Mark => "-m",
        }
    }
}

/// A usage error from an expression (pytest exits with code 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// `column` is 1-based, like pytest's.
    #[error("Wrong expression passed to '{option}': {input}: at column {column}: {message}", option = kind.option())]
    Syntax {
        kind: ExprKind,
        input: String,
        column: usize,
        message: String,
    },
    #[error("Keyword expressions do not support call parameters.")]
    KeywordCallParameters,
    #[error("Unknown marker(s) in '-m' expression: {names}. Use 'pytest --markers' to see available markers.")]
    UnknownMarkers { names: String },
}

/// A keyword-argument value in a `-m` call: what pytest's grammar allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KwValue {
    Str(String),
    Int(i128),
    /// An integer beyond `i128`: equal to no static mark argument.
    BigInt(String),
    Bool(bool),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Ident(String),
    Call(String, Vec<(String, KwValue)>),
}

/// Three-valued truth (Kleene logic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    pub fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    pub input: String,
    root: Option<Node>,
    idents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    Or,
    And,
    Not,
    Ident(String),
    Eof,
    Equal,
    Str(String),
    Comma,
}

impl Tok {
    fn describe(&self) -> &'static str {
        match self {
            Tok::LParen => "left parenthesis",
            Tok::RParen => "right parenthesis",
            Tok::Or => "or",
            Tok::And => "and",
            Tok::Not => "not",
            Tok::Ident(_) => "identifier",
            Tok::Eof => "end of input",
            Tok::Equal => "=",
            Tok::Str(_) => "string literal",
            Tok::Comma => ",",
        }
    }
}

/// A syntax error: 1-based column and message.
type SyntaxError = (usize, String);

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '+' | '-' | '.' | '[' | ']' | '\\' | '/')
}

/// Tokens with their 0-based character positions.
fn lex(input: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let c = chars[pos];
        match c {
            ' ' | '\t' => pos += 1,
            '(' => {
                tokens.push((Tok::LParen, pos));
                pos += 1;
            }
            ')' => {
                tokens.push((Tok::RParen, pos));
                pos += 1;
            }
            '=' => {
                tokens.push((Tok::Equal, pos));
                pos += 1;
            }
            ',' => {
                tokens.push((Tok::Comma, pos));
                pos += 1;
            }
            '\'' | '"' => {
                let Some(end) = chars[pos + 1..]
                    .iter()
                    .position(|&x| x == c)
                    .map(|e| e + pos + 1)
                else {
                    return Err((pos + 1, format!("closing quote \"{c}\" is missing")));
                };
                let value: String = chars[pos..=end].iter().collect();
                if let Some(backslash) = value.find('\\') {
                    let offset = value[..backslash].chars().count();
                    return Err((
                        pos + offset + 1,
                        "escaping with \"\\\" not supported in marker expression".into(),
                    ));
                }
                tokens.push((Tok::Str(value), pos));
                pos = end + 1;
            }
            c if is_ident_char(c) => {
                let start = pos;
                while pos < chars.len() && is_ident_char(chars[pos]) {
                    pos += 1;
                }
                let word: String = chars[start..pos].iter().collect();
                let tok = match word.as_str() {
                    "or" => Tok::Or,
                    "and" => Tok::And,
                    "not" => Tok::Not,
                    _ => Tok::Ident(word),
                };
                tokens.push((tok, start));
            }
            c => return Err((pos + 1, format!("unexpected character \"{c}\""))),
        }
    }
    tokens.push((Tok::Eof, chars.len()));
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
    idents: Vec<String>,
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

impl Parser {
    fn current(&self) -> &(Tok, usize) {
        // `lex` always ends with Eof and `accept` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn accept(&mut self, want: fn(&Tok) -> bool) -> Option<(Tok, usize)> {
        let current = self.current().clone();
        if want(&current.0) {
            if current.0 != Tok::Eof {
                self.at += 1;
            }
            return Some(current);
        }
        None
    }

    fn reject(&self, expected: &[&str]) -> SyntaxError {
        let (tok, pos) = self.current();
        (
            pos + 1,
            format!("expected {}; got {}", expected.join(" OR "), tok.describe()),
        )
    }

    fn expect(&mut self, want: fn(&Tok) -> bool, name: &str) -> Result<(Tok, usize), SyntaxError> {
        self.accept(want).ok_or_else(|| self.reject(&[name]))
    }

    fn expression(&mut self) -> Result<Option<Node>, SyntaxError> {
        if self.accept(|t| *t == Tok::Eof).is_some() {
            return Ok(None);
        }
        let node = self.expr()?;
        self.expect(|t| *t == Tok::Eof, "end of input")?;
        Ok(Some(node))
    }

    fn expr(&mut self) -> Result<Node, SyntaxError> {
        let mut node = self.and_expr()?;
        while self.accept(|t| *t == Tok::Or).is_some() {
            node = Node::Or(Box::new(node), Box::new(self.and_expr()?));
        }
        Ok(node)
    }

    fn and_expr(&mut self) -> Result<Node, SyntaxError> {
        let mut node = self.not_expr()?;
        while self.accept(|t| *t == Tok::And).is_some() {
            node = Node::And(Box::new(node), Box::new(self.not_expr()?));
        }
        Ok(node)
    }

    fn not_expr(&mut self) -> Result<Node, SyntaxError> {
        if self.accept(|t| *t == Tok::Not).is_some() {
            return Ok(Node::Not(Box::new(self.not_expr()?)));
        }
        if self.accept(|t| *t == Tok::LParen).is_some() {
            let node = self.expr()?;
            self.expect(|t| *t == Tok::RParen, "right parenthesis")?;
            return Ok(node);
        }
        if let Some((Tok::Ident(name), _)) = self.accept(|t| matches!(t, Tok::Ident(_))) {
            if !self.idents.contains(&name) {
                self.idents.push(name.clone());
            }
            if self.accept(|t| *t == Tok::LParen).is_some() {
                let kwargs = self.all_kwargs()?;
                self.expect(|t| *t == Tok::RParen, "right parenthesis")?;
                return Ok(Node::Call(name, kwargs));
            }
            return Ok(Node::Ident(name));
        }
        Err(self.reject(&["not", "left parenthesis", "identifier"]))
    }

    fn all_kwargs(&mut self) -> Result<Vec<(String, KwValue)>, SyntaxError> {
        let mut out = vec![self.single_kwarg()?];
        while self.accept(|t| *t == Tok::Comma).is_some() {
            out.push(self.single_kwarg()?);
        }
        Ok(out)
    }

    fn single_kwarg(&mut self) -> Result<(String, KwValue), SyntaxError> {
        let (Tok::Ident(name), pos) = self.expect(|t| matches!(t, Tok::Ident(_)), "identifier")?
        else {
            return Err(self.reject(&["identifier"]));
        };
        if !is_python_identifier(&name) {
            return Err((pos + 1, format!("not a valid python identifier {name}")));
        }
        if PYTHON_KEYWORDS.contains(&name.as_str()) {
            return Err((
                pos + 1,
                format!("unexpected reserved python keyword `{name}`"),
            ));
        }
        self.expect(|t| *t == Tok::Equal, "=")?;
        if let Some((Tok::Str(quoted), _)) = self.accept(|t| matches!(t, Tok::Str(_))) {
            let inner: String = quoted
                .chars()
                .skip(1)
                .take(quoted.chars().count().saturating_sub(2))
                .collect();
            return Ok((name, KwValue::Str(inner)));
        }
        let (Tok::Ident(raw), pos) = self.expect(|t| matches!(t, Tok::Ident(_)), "identifier")?
        else {
            return Err(self.reject(&["identifier"]));
        };
        let digits = raw.strip_prefix('-').unwrap_or(&raw);
        let value = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            match raw.parse::<i128>() {
                Ok(v) => KwValue::Int(v),
                Err(_) => KwValue::BigInt(raw.clone()),
            }
        } else {
            match raw.as_str() {
                "True" => KwValue::Bool(true),
                "False" => KwValue::Bool(false),
                "None" => KwValue::None,
                _ => return Err((pos + 1, format!("unexpected character/s \"{raw}\""))),
            }
        };
        Ok((name, value))
    }
}

fn is_python_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

impl Expression {
    /// Compile an expression as pytest's `-k`/`-m` would.
    pub fn compile(input: &str, kind: ExprKind) -> Result<Expression, ExprError> {
        let syntax = |(column, message): SyntaxError| ExprError::Syntax {
            kind,
            input: input.to_string(),
            column,
            message,
        };
        let tokens = lex(input).map_err(syntax)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            idents: Vec::new(),
        };
        let root = parser.expression().map_err(syntax)?;
        Ok(Expression {
            input: input.to_string(),
            root,
            idents: parser.idents,
        })
    }

    /// Every identifier in the expression (for `strict_markers` validation).
    pub fn idents(&self) -> &[String] {
        &self.idents
    }

    /// Evaluate with `matcher(name, kwargs)`; an empty expression is false. Short-circuits
    /// like Python, so a matcher error on an unevaluated branch is never raised.
    pub fn evaluate<M>(&self, matcher: &M) -> Result<Truth, ExprError>
    where
        M: Fn(&str, &[(String, KwValue)]) -> Result<Truth, ExprError>,
    {
        match &self.root {
            None => Ok(Truth::False),
            Some(node) => eval(node, matcher),
        }
    }
}

fn eval<M>(node: &Node, matcher: &M) -> Result<Truth, ExprError>
where
    M: Fn(&str, &[(String, KwValue)]) -> Result<Truth, ExprError>,
{
    Ok(match node {
        Node::Ident(name) => matcher(name, &[])?,
        Node::Call(name, kwargs) => matcher(name, kwargs)?,
        Node::Not(inner) => eval(inner, matcher)?.not(),
        Node::And(a, b) => match eval(a, matcher)? {
            Truth::False => Truth::False,
            Truth::True => eval(b, matcher)?,
            Truth::Unknown => match eval(b, matcher)? {
                Truth::False => Truth::False,
                _ => Truth::Unknown,
            },
        },
        Node::Or(a, b) => match eval(a, matcher)? {
            Truth::True => Truth::True,
            Truth::False => eval(b, matcher)?,
            Truth::Unknown => match eval(b, matcher)? {
                Truth::True => Truth::True,
                _ => Truth::Unknown,
            },
        },
    })
}

#[cfg(test)]
mod tests;
