//! Parser and evaluation tests. The error texts in the snapshot were compared with pytest
//! 9.2's `_parse_expression` for the same inputs.

use super::*;
use crate::item::{Mark, ParamState, TestItem, TestKind};
use proptest::prelude::*;

const CASES: &[&str] = &[
    "",
    "a and",
    "(a",
    "a b",
    "not",
    "a(",
    "a(b=)",
    "a(b='x)",
    "a(b=\"x\\y\")",
    "a(1=2)",
    "a(if=1)",
    "a(b=c)",
    "a$",
    "a or or",
    "a(b=1,)",
    ")",
    "a(b=1 c=2)",
    "and",
    "a(b=99999999999999999999)",
    "a(b=-3)",
    "été",
    "not (a or b) and c[1-2]",
    "x::y/z.py+1\\2",
    "device(serial=\"123\", n=True)",
];

#[test]
fn parse_results_match_pytest() {
    let mut out = String::new();
    for case in CASES {
        let line = match Expression::compile(case, ExprKind::Keyword) {
            Ok(e) => {
                let mut idents = e.idents().to_vec();
                idents.sort();
                format!("{case:?} OK {idents:?}")
            }
            Err(e) => format!("{case:?} ERR {e}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn mark_option_names_itself_in_errors() {
    let err = Expression::compile("(", ExprKind::Mark).expect_err("invalid");
    assert_eq!(err.to_string(), "Wrong expression passed to '-m': (: at column 2: expected not OR left parenthesis OR identifier; got end of input");
}

fn item(node_id: &str, marks: &[(&str, &str)], params: ParamState) -> TestItem {
    TestItem {
        node_id: node_id.into(),
        line: 1,
        kind: TestKind::Function,
        is_async: false,
        marks: marks
            .iter()
            .map(|(n, a)| Mark {
                name: n.to_string(),
                args: a.to_string(),
            })
            .collect(),
        params,
    }
}

fn keyword(expr: &str, item: &TestItem, path_names: &[&str]) -> Result<Truth, ExprError> {
    let names: Vec<String> = path_names.iter().map(|s| s.to_string()).collect();
    let matcher = KeywordMatcher::for_item(item, &names);
    Expression::compile(expr, ExprKind::Keyword)?
        .evaluate(&|n: &str, k: &[(String, KwValue)]| matcher.matches(n, k))
}

fn mark(expr: &str, item: &TestItem) -> Result<Truth, ExprError> {
    let matcher = MarkMatcher::for_item(item);
    Expression::compile(expr, ExprKind::Mark)?
        .evaluate(&|n: &str, k: &[(String, KwValue)]| matcher.matches(n, k))
}

#[test]
fn keyword_matching_uses_names_of_item_and_parents() {
    let it = item(
        "tests/unit/test_math.py::TestAdd::test_sum[1-2]",
        &[("slow", "")],
        ParamState::Static("1-2".into()),
    );
    let path = ["unit", "test_math.py"];
    for (expr, want) in [
        ("sum", Truth::True),
        ("SUM", Truth::True),
        ("1-2", Truth::True),
        ("testadd and not sub", Truth::True),
        ("math.py", Truth::True),
        ("unit", Truth::True),
        ("tests", Truth::False),
        ("slow", Truth::True),
        ("test_sum[1-3]", Truth::False),
        ("", Truth::False),
    ] {
        assert_eq!(keyword(expr, &it, &path).expect("valid"), want, "{expr}");
    }
    assert_eq!(
        keyword("sum(x=1)", &it, &path),
        Err(ExprError::KeywordCallParameters)
    );
    // Short-circuit: the call is never evaluated.
    assert_eq!(keyword("sum or x(y=1)", &it, &path), Ok(Truth::True));
}

#[test]
fn dynamic_params_make_unmatched_names_unknown() {
    let it = item("t.py::test_f", &[], ParamState::Dynamic);
    assert_eq!(keyword("test_f", &it, &["t.py"]), Ok(Truth::True));
    assert_eq!(keyword("alpha", &it, &["t.py"]), Ok(Truth::Unknown));
    assert_eq!(keyword("not alpha", &it, &["t.py"]), Ok(Truth::Unknown));
    assert_eq!(
        keyword("alpha and nothere", &it, &["t.py"]),
        Ok(Truth::Unknown)
    );
    assert_eq!(keyword("alpha or test_f", &it, &["t.py"]), Ok(Truth::True));
    assert_eq!(mark("slow", &it), Ok(Truth::Unknown));
}

#[test]
fn mark_matching_with_kwargs() {
    let it = item(
        "t.py::test_f",
        &[("device", "(serial=\"123\", fast=True)"), ("slow", "")],
        ParamState::None,
    );
    assert_eq!(mark("slow", &it), Ok(Truth::True));
    assert_eq!(mark("not slow", &it), Ok(Truth::False));
    assert_eq!(mark("fast", &it), Ok(Truth::False));
    assert_eq!(mark("device(serial=\"123\")", &it), Ok(Truth::True));
    assert_eq!(mark("device(serial='124')", &it), Ok(Truth::False));
    assert_eq!(mark("device(fast=1)", &it), Ok(Truth::True));
    assert_eq!(mark("device(other=None)", &it), Ok(Truth::False));
    assert_eq!(mark("slo", &it), Ok(Truth::False));
}

fn truth_of(b: bool) -> Truth {
    Truth::from_bool(b)
}

proptest! {
    /// Boolean structure evaluates like Python's `and`/`or`/`not` over known identifiers.
    #[test]
    fn boolean_structure_matches_reference(a in any::<bool>(), b in any::<bool>(), c in any::<bool>()) {
        let e = Expression::compile("not (a or b) and c or (a and not c)", ExprKind::Mark).expect("valid");
        let got = e.evaluate(&|n: &str, _k: &[(String, KwValue)]| Ok(truth_of(match n { "a" => a, "b" => b, _ => c }))).expect("eval");
        prop_assert_eq!(got, truth_of((!(a || b) && c) || (a && !c)));
    }

    /// Arbitrary input never panics: it compiles or yields a syntax error with a column inside it.
    #[test]
    fn arbitrary_input_never_panics(input in "[ a-z()=,'\"\\\\$0-9]{0,16}") {
        match Expression::compile(&input, ExprKind::Keyword) {
            Ok(_) => {}
            Err(ExprError::Syntax { column, .. }) => prop_assert!(column >= 1 && column <= input.chars().count() + 1),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
