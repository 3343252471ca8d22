//! Evaluation of tree-sitter expression nodes into parameter values, and of a whole
//! `parametrize(...)` argument list into a [`ParametrizeSpec`].
//!
//! Only literals are evaluated; every other expression makes the result dynamic (`None`).
//! Names (`pytest`, `float`, `math`) are resolved by the caller through [`SymbolEnv`], since
//! only the module analysis knows the imports.

use tree_sitter::Node;

use super::format::{float_repr, imaginary_repr};
use super::{IdEntry, ParamSet, ParamValue, Parametrize, ParametrizeSpec};
use crate::item::Mark;

/// What a name or attribute expression refers to, as far as parameters care.
#[derive(Debug, Clone, PartialEq)]
pub enum Symbol {
    PytestParam,
    /// The builtin `float` (not rebound in the module).
    BuiltinFloat,
    /// The builtin `range` (not rebound in the module).
    BuiltinRange,
    /// A float constant such as `math.inf`.
    FloatConstant(f64),
    Other,
}

/// Name resolution supplied by the module analysis.
pub trait SymbolEnv {
    fn symbol(&self, node: Node<'_>) -> Symbol;
    /// The mark an expression denotes (`pytest.mark.x`, `pytest.mark.x(...)`, an alias of one),
    /// or `None` when it is not statically a mark.
    fn mark(&self, node: Node<'_>) -> Option<Mark>;
}

/// A decoded string or bytes literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrLiteral {
    Str(String),
    Bytes(Vec<u8>),
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect()
}

/// Parse the argument list of `parametrize(...)`.
pub fn parse_parametrize(args: Node<'_>, src: &str, env: &dyn SymbolEnv) -> ParametrizeSpec {
    parse_parametrize_inner(args, src, env)
        .map_or(ParametrizeSpec::Dynamic, ParametrizeSpec::Static)
}

fn parse_parametrize_inner(args: Node<'_>, src: &str, env: &dyn SymbolEnv) -> Option<Parametrize> {
    if args.kind() != "argument_list" {
        return None;
    }
    let mut positional = Vec::new();
    let (mut argnames, mut argvalues, mut ids) = (None, None, None);
    for arg in named_children(args) {
        match arg.kind() {
            "keyword_argument" => {
                let name = text(arg.child_by_field_name("name")?, src);
                let value = arg.child_by_field_name("value")?;
                match name {
                    "argnames" => argnames = Some(value),
                    "argvalues" => argvalues = Some(value),
                    "ids" => ids = Some(value),
                    // `indirect` and `scope` do not change IDs.
                    "indirect" | "scope" => {}
                    _ => return None,
                }
            }
            "list_splat" | "dictionary_splat" => return None,
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let argnames = argnames.or_else(|| positional.next())?;
    let argvalues = argvalues.or_else(|| positional.next())?;
    if let Some(extra) = positional.next() {
        // The third positional parameter is `indirect`; more is an error pytest reports.
        let _ = extra;
        if positional.next().is_some() {
            return None;
        }
    }
    let (names, force_tuple) = parse_argnames(argnames, src)?;
    if argvalues.kind() == "call" && names.len() == 1 {
        // `range(...)` of integer literals: each int is its own ID.
        let sets = eval_range(argvalues, src, env)?
            .map(|i| ParamSet {
                values: vec![ParamValue::Scalar(i.to_string())],
                id: None,
                marks: Vec::new(),
            })
            .collect();
        let ids = match ids {
            None => None,
            Some(node) if node.kind() == "none" => None,
            Some(node) => Some(parse_ids(node, src)?),
        };
        return Some(Parametrize {
            argnames: names,
            sets,
            ids,
        });
    }
    let mut sets = Vec::new();
    if !matches!(argvalues.kind(), "list" | "tuple") {
        return None;
    }
    for entry in named_children(argvalues) {
        sets.push(parse_param_set(entry, src, env, names.len(), force_tuple)?);
    }
    let ids = match ids {
        None => None,
        Some(node) if node.kind() == "none" => None,
        Some(node) => Some(parse_ids(node, src)?),
    };
    Some(Parametrize {
        argnames: names,
        sets,
        ids,
    })
}

/// The `params=` (and `ids=`) of `@pytest.fixture(...)` as the parametrization pytest applies
/// for it: one argument named after the fixture, one set per value (`pytest.param` allowed).
pub fn parse_fixture_params(
    params: Node<'_>,
    ids: Option<Node<'_>>,
    fixture_name: &str,
    src: &str,
    env: &dyn SymbolEnv,
) -> ParametrizeSpec {
    let parse = || -> Option<Parametrize> {
        let params = unparenthesize(params);
        if !matches!(params.kind(), "list" | "tuple") {
            return None;
        }
        let mut sets = Vec::new();
        for entry in named_children(params) {
            sets.push(parse_param_set(entry, src, env, 1, true)?);
        }
        let ids = match ids {
            None => None,
            Some(node) if node.kind() == "none" => None,
            Some(node) => Some(parse_ids(node, src)?),
        };
        Some(Parametrize {
            argnames: vec![fixture_name.to_owned()],
            sets,
            ids,
        })
    };
    parse().map_or(ParametrizeSpec::Dynamic, ParametrizeSpec::Static)
}

/// `"a,b"`, `"a, b"` or a list/tuple of strings. The flag says whether pytest treats each
/// value as the single argument (a string naming one argument).
fn parse_argnames(node: Node<'_>, src: &str) -> Option<(Vec<String>, bool)> {
    match node.kind() {
        "string" | "concatenated_string" => {
            let StrLiteral::Str(s) = eval_string(node, src)? else {
                return None;
            };
            let names: Vec<String> = s
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            // pytest 9: a trailing comma ("arg,") means tuple-style values, like ("arg",).
            let single = names.len() == 1 && !s.trim_end().ends_with(',');
            Some((names, single))
        }
        "list" | "tuple" => {
            let mut names = Vec::new();
            for child in named_children(node) {
                match eval_string(child, src)? {
                    StrLiteral::Str(s) => names.push(s),
                    StrLiteral::Bytes(_) => return None,
                }
            }
            Some((names, false))
        }
        "parenthesized_expression" => {
            let inner = unparenthesize(node);
            if inner.kind() == "parenthesized_expression" {
                return None;
            }
            parse_argnames(inner, src)
        }
        _ => None,
    }
}

fn parse_param_set(
    node: Node<'_>,
    src: &str,
    env: &dyn SymbolEnv,
    arity: usize,
    force_tuple: bool,
) -> Option<ParamSet> {
    if node.kind() == "list_splat" {
        return None;
    }
    if node.kind() == "call" {
        let function = node.child_by_field_name("function")?;
        if env.symbol(function) == Symbol::PytestParam {
            return parse_pytest_param(node.child_by_field_name("arguments")?, src, env, arity);
        }
    }
    if force_tuple {
        return Some(ParamSet {
            values: vec![eval_value(node, src, env)?],
            id: None,
            marks: Vec::new(),
        });
    }
    let node = unparenthesize(node);
    if !matches!(node.kind(), "tuple" | "list") {
        return None;
    }
    let values = named_children(node)
        .into_iter()
        .map(|child| eval_element(child, src, env))
        .collect::<Option<Vec<_>>>()?;
    (values.len() == arity).then_some(ParamSet {
        values,
        id: None,
        marks: Vec::new(),
    })
}

/// Larger ranges are left to Python rather than expanded into that many items here.
const MAX_RANGE_ITEMS: i64 = 1_000_000;

/// The values of `range(stop)`, `range(start, stop)` or `range(start, stop, step)` with
/// integer literals (underscores and signs allowed).
fn eval_range(node: Node<'_>, src: &str, env: &dyn SymbolEnv) -> Option<impl Iterator<Item = i64>> {
    if env.symbol(node.child_by_field_name("function")?) != Symbol::BuiltinRange {
        return None;
    }
    let args = named_children(node.child_by_field_name("arguments")?);
    let ints = args
        .iter()
        .map(|arg| match eval_number(*arg, src)? {
            ParamValue::Scalar(text) => text.parse::<i64>().ok(),
            _ => None,
        })
        .collect::<Option<Vec<i64>>>()?;
    let (start, stop, step) = match ints.as_slice() {
        [stop] => (0, *stop, 1),
        [start, stop] => (*start, *stop, 1),
        [start, stop, step] if *step != 0 => (*start, *stop, *step),
        _ => return None,
    };
    let count = if step > 0 {
        (stop - start).max(0).checked_add(step - 1)? / step
    } else {
        (start - stop).max(0).checked_add(-step - 1)? / -step
    };
    (count <= MAX_RANGE_ITEMS).then(|| (0..count).map(move |k| start + k * step))
}

fn unparenthesize(mut node: Node<'_>) -> Node<'_> {
    while node.kind() == "parenthesized_expression" {
        match named_children(node).into_iter().next() {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

fn eval_element(node: Node<'_>, src: &str, env: &dyn SymbolEnv) -> Option<ParamValue> {
    if node.kind() == "list_splat" {
        return None;
    }
    eval_value(node, src, env)
}

fn parse_pytest_param(
    args: Node<'_>,
    src: &str,
    env: &dyn SymbolEnv,
    arity: usize,
) -> Option<ParamSet> {
    if args.kind() != "argument_list" {
        return None;
    }
    let mut set = ParamSet {
        values: Vec::new(),
        id: None,
        marks: Vec::new(),
    };
    for arg in named_children(args) {
        match arg.kind() {
            "keyword_argument" => {
                let value = arg.child_by_field_name("value")?;
                match text(arg.child_by_field_name("name")?, src) {
                    "id" => match value.kind() {
                        "none" => set.id = None,
                        _ => match eval_string(value, src)? {
                            StrLiteral::Str(s) => set.id = Some(s),
                            StrLiteral::Bytes(_) => return None,
                        },
                    },
                    "marks" => set.marks = parse_marks(value, env)?,
                    _ => return None,
                }
            }
            _ => set.values.push(eval_element(arg, src, env)?),
        }
    }
    (set.values.len() == arity).then_some(set)
}

/// A mark or a list/tuple of marks.
pub fn parse_marks(node: Node<'_>, env: &dyn SymbolEnv) -> Option<Vec<Mark>> {
    match node.kind() {
        "list" | "tuple" => named_children(node)
            .into_iter()
            .map(|n| env.mark(n))
            .collect(),
        _ => Some(vec![env.mark(node)?]),
    }
}

fn parse_ids(node: Node<'_>, src: &str) -> Option<Vec<IdEntry>> {
    if !matches!(node.kind(), "list" | "tuple") {
        return None;
    }
    named_children(node)
        .into_iter()
        .map(|entry| match entry.kind() {
            "none" => Some(IdEntry::Generated),
            "string" | "concatenated_string" => match eval_string(entry, src)? {
                StrLiteral::Str(s) => Some(IdEntry::Str(s)),
                // pytest escapes bytes IDs like bytes values.
                StrLiteral::Bytes(b) => {
                    Some(IdEntry::Scalar(super::format::ascii_escape_bytes(&b)))
                }
            },
            _ => match eval_number(entry, src)? {
                ParamValue::Scalar(s) => Some(IdEntry::Scalar(s)),
                _ => None,
            },
        })
        .collect()
}

/// Evaluate a parameter value, or `None` when only Python can tell its ID.
pub fn eval_value(node: Node<'_>, src: &str, env: &dyn SymbolEnv) -> Option<ParamValue> {
    match node.kind() {
        "string" | "concatenated_string" => Some(match eval_string(node, src)? {
            StrLiteral::Str(s) => ParamValue::Str(s),
            StrLiteral::Bytes(b) => ParamValue::Bytes(b),
        }),
        "tuple"
        | "list"
        | "dictionary"
        | "set"
        | "list_comprehension"
        | "set_comprehension"
        | "dictionary_comprehension"
        | "ellipsis" => Some(ParamValue::Unnamed),
        "lambda" => Some(ParamValue::Named("<lambda>".to_owned())),
        "parenthesized_expression" => {
            let inner = unparenthesize(node);
            if inner.kind() == "parenthesized_expression" {
                return None;
            }
            eval_value(inner, src, env)
        }
        "call" => {
            let function = node.child_by_field_name("function")?;
            if env.symbol(function) != Symbol::BuiltinFloat {
                return None;
            }
            let args = named_children(node.child_by_field_name("arguments")?);
            let [arg] = args.as_slice() else { return None };
            let StrLiteral::Str(s) = eval_string(*arg, src)? else {
                return None;
            };
            Some(ParamValue::Scalar(float_repr(parse_float_text(&s)?)))
        }
        "attribute" | "identifier" => match env.symbol(node) {
            Symbol::FloatConstant(f) => Some(ParamValue::Scalar(float_repr(f))),
            _ => None,
        },
        _ => eval_number(node, src),
    }
}

/// Python's `float(str)` for the spellings people use in tests.
fn parse_float_text(s: &str) -> Option<f64> {
    let t = s.trim().to_ascii_lowercase();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let magnitude = match body {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
                return None;
            }
            let cleaned: String = body.chars().filter(|c| *c != '_').collect();
            if cleaned.is_empty()
                || !cleaned
                    .chars()
                    .all(|c| c.is_ascii_digit() || "e.+-".contains(c))
            {
                return None;
            }
            cleaned.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Numbers, booleans and `None`, with unary `+`/`-`.
fn eval_number(node: Node<'_>, src: &str) -> Option<ParamValue> {
    match node.kind() {
        "true" => Some(ParamValue::Scalar("True".to_owned())),
        "false" => Some(ParamValue::Scalar("False".to_owned())),
        "none" => Some(ParamValue::Scalar("None".to_owned())),
        "integer" | "float" => Some(ParamValue::Scalar(number_str(text(node, src), false)?)),
        "unary_operator" => {
            let operator = text(node.child_by_field_name("operator")?, src);
            let argument = unparenthesize(node.child_by_field_name("argument")?);
            if !matches!(argument.kind(), "integer" | "float") {
                return None;
            }
            let negative = match operator {
                "-" => true,
                "+" => false,
                _ => return None,
            };
            Some(ParamValue::Scalar(number_str(
                text(argument, src),
                negative,
            )?))
        }
        _ => None,
    }
}

/// Python's `str()` of a numeric literal, optionally negated.
fn number_str(literal: &str, negative: bool) -> Option<String> {
    let cleaned: String = literal.chars().filter(|c| *c != '_').collect();
    let lower = cleaned.to_ascii_lowercase();
    if let Some(imaginary) = lower.strip_suffix('j') {
        if negative {
            return None; // `-2j` is `(-0-2j)`: rare enough to leave to Python.
        }
        return Some(imaginary_repr(imaginary.parse::<f64>().ok()?));
    }
    let is_float = !lower.starts_with("0x") && (lower.contains('.') || lower.contains('e'));
    if is_float {
        let value: f64 = lower.parse().ok()?;
        return Some(float_repr(if negative { -value } else { value }));
    }
    let digits = if let Some(hex) = lower.strip_prefix("0x") {
        u128::from_str_radix(hex, 16).ok()?.to_string()
    } else if let Some(oct) = lower.strip_prefix("0o") {
        u128::from_str_radix(oct, 8).ok()?.to_string()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        u128::from_str_radix(bin, 2).ok()?.to_string()
    } else {
        if lower.is_empty() || !lower.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Decimal literals can be arbitrarily long: keep the digits.
        let trimmed = lower.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    };
    Some(if negative && digits != "0" {
        format!("-{digits}")
    } else {
        digits
    })
}

/// Decode a string literal (or an implicit concatenation); `None` for f-strings with
/// placeholders, `\N{...}` escapes and mixed str/bytes concatenations.
pub fn eval_string(node: Node<'_>, src: &str) -> Option<StrLiteral> {
    match node.kind() {
        "string" => decode_string_literal(text(node, src)),
        "concatenated_string" => {
            let mut parts = named_children(node)
                .into_iter()
                .map(|part| eval_string(part, src));
            let mut acc = parts.next()??;
            for part in parts {
                match (&mut acc, part?) {
                    (StrLiteral::Str(a), StrLiteral::Str(b)) => a.push_str(&b),
                    (StrLiteral::Bytes(a), StrLiteral::Bytes(b)) => a.extend(b),
                    _ => return None,
                }
            }
            Some(acc)
        }
        "parenthesized_expression" => {
            let inner = unparenthesize(node);
            if inner.kind() == "parenthesized_expression" {
                return None;
            }
            eval_string(inner, src)
        }
        _ => None,
    }
}

/// Decode the source text of one string literal, prefix and quotes included.
pub fn decode_string_literal(literal: &str) -> Option<StrLiteral> {
    let quote_at = literal.find(['\'', '"'])?;
    let prefix = literal[..quote_at].to_ascii_lowercase();
    let rest = &literal[quote_at..];
    let quote_len = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        3
    } else {
        1
    };
    if rest.len() < 2 * quote_len || !rest.ends_with(&rest[..quote_len]) {
        return None;
    }
    let body = rest.get(quote_len..rest.len() - quote_len)?;
    let (raw, bytes, formatted) = (
        prefix.contains('r'),
        prefix.contains('b'),
        prefix.contains('f'),
    );
    if prefix.contains('t') || (formatted && (body.contains('{') || body.contains('}'))) {
        return None;
    }
    // Python reads source lines with universal newlines.
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    if bytes {
        if !body.is_ascii() {
            return None;
        }
        let decoded = if raw {
            body.into_bytes()
        } else {
            decode_escapes(&body, true)?
        };
        return Some(StrLiteral::Bytes(decoded));
    }
    if raw {
        return Some(StrLiteral::Str(body));
    }
    let decoded = decode_escapes(&body, false)?;
    // Only ASCII-range or `\x`/octal escapes can yield invalid UTF-8 here, and those are
    // mapped to code points, never raw bytes.
    String::from_utf8(decoded).ok().map(StrLiteral::Str)
}

/// Process backslash escapes; output is UTF-8 for str, raw bytes for bytes.
fn decode_escapes(body: &str, bytes: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let push_code = |out: &mut Vec<u8>, code: u32| -> Option<()> {
        if bytes {
            out.push(u8::try_from(code & 0xff).ok()?);
        } else {
            let c = char::from_u32(code)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        Some(())
    };
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(escape) = chars.next() else {
            out.push(b'\\');
            break;
        };
        match escape {
            '\n' => {}
            '\\' => out.push(b'\\'),
            '\'' => out.push(b'\''),
            '"' => out.push(b'"'),
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '0'..='7' => {
                let mut code = escape.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                push_code(&mut out, code)?;
            }
            'x' => push_code(&mut out, hex_digits(&mut chars, 2)?)?,
            'u' if !bytes => push_code(&mut out, hex_digits(&mut chars, 4)?)?,
            'U' if !bytes => push_code(&mut out, hex_digits(&mut chars, 8)?)?,
            'N' if !bytes => return None,
            other => {
                // Unknown escapes keep their backslash.
                out.push(b'\\');
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(out)
}

fn hex_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, count: usize) -> Option<u32> {
    let mut code = 0u32;
    for _ in 0..count {
        code = code
            .checked_mul(16)?
            .checked_add(chars.next()?.to_digit(16)?)?;
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_python_string_literals() {
        let s = |t: &str| decode_string_literal(t);
        assert_eq!(s(r#""a\tb""#), Some(StrLiteral::Str("a\tb".into())));
        assert_eq!(s(r#"r"a\tb""#), Some(StrLiteral::Str("a\\tb".into())));
        assert_eq!(
            s(r#"b"\xff\\""#),
            Some(StrLiteral::Bytes(vec![0xff, b'\\']))
        );
        assert_eq!(
            s(r#""\u2603\U0001f600\x41\101\q""#),
            Some(StrLiteral::Str("\u{2603}\u{1f600}AA\\q".into()))
        );
        assert_eq!(s("'''a\r\nb'''"), Some(StrLiteral::Str("a\nb".into())));
        assert_eq!(s(r#"f"x{y}""#), None);
        assert_eq!(s(r#"F"plain""#), Some(StrLiteral::Str("plain".into())));
        assert_eq!(s(r#""\N{BULLET}""#), None);
        assert_eq!(s("\"unterminated \u{e9}"), None);
        assert_eq!(s("'''"), None);
    }

    #[test]
    fn numbers_render_like_python_str() {
        assert_eq!(number_str("1_000", false).as_deref(), Some("1000"));
        assert_eq!(number_str("0x1F", true).as_deref(), Some("-31"));
        assert_eq!(number_str("00", true).as_deref(), Some("0"));
        assert_eq!(number_str("1.50", false).as_deref(), Some("1.5"));
        assert_eq!(number_str("1E5", false).as_deref(), Some("100000.0"));
        assert_eq!(number_str("0.0", true).as_deref(), Some("-0.0"));
        assert_eq!(number_str("3j", false).as_deref(), Some("3j"));
        assert_eq!(parse_float_text(" -Infinity "), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float_text("1_0.5"), Some(10.5));
        assert_eq!(parse_float_text("abc"), None);
    }
}
