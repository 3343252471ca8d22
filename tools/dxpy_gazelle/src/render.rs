//! Buildifier-style text: string quoting, label ordering, attribute ordering and rule layout.
//!
//! The conventions reproduced (so `buildifier` leaves the output unchanged): 4-space indent,
//! one argument per line with a trailing comma, lists with more than one element one item
//! per line, `name` first and `deps` last (buildifier's attribute priority), string lists
//! sorted with buildifier's key (`:local` labels, then `//absolute`, then `@external`, each
//! compared part by part), load symbols sorted.

use std::cmp::Ordering;

/// The rule kinds this generator owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    Library,
    Test,
}

impl RuleKind {
    pub const ALL: [RuleKind; 2] = [RuleKind::Library, RuleKind::Test];

    pub fn function(self) -> &'static str {
        match self {
            RuleKind::Library => "dx_py_library",
            RuleKind::Test => "dx_py_test",
        }
    }

    pub fn from_function(name: &str) -> Option<RuleKind> {
        RuleKind::ALL
            .into_iter()
            .find(|kind| kind.function() == name)
    }
}

/// Where the rule kinds are loaded from.
pub const DEFS_BZL: &str = "@rules_dxpy//rules:defs.bzl";

/// Attributes the generator computes (all others belong to the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GeneratedAttr {
    Srcs,
    Data,
    Deps,
    Imports,
    Testonly,
    Visibility,
}

impl GeneratedAttr {
    pub const ALL: [GeneratedAttr; 6] = [
        GeneratedAttr::Srcs,
        GeneratedAttr::Data,
        GeneratedAttr::Deps,
        GeneratedAttr::Imports,
        GeneratedAttr::Testonly,
        GeneratedAttr::Visibility,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GeneratedAttr::Srcs => "srcs",
            GeneratedAttr::Data => "data",
            GeneratedAttr::Deps => "deps",
            GeneratedAttr::Imports => "imports",
            GeneratedAttr::Testonly => "testonly",
            GeneratedAttr::Visibility => "visibility",
        }
    }

    pub fn from_name(name: &str) -> Option<GeneratedAttr> {
        GeneratedAttr::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A `"..."` Starlark string literal.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// buildifier's ordering of strings in sorted lists.
pub fn compare_list_strings(a: &str, b: &str) -> Ordering {
    fn key(value: &str) -> (u8, Vec<&str>) {
        let phase = if value.starts_with(':') {
            1
        } else if value.starts_with("//") {
            2
        } else if value.starts_with('@') {
            3
        } else {
            0
        };
        (phase, value.split([':', '.']).collect())
    }
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// buildifier's priority of a named argument (lower first; unknown names are 0 and keep their
/// relative order).
pub fn attribute_priority(name: &str) -> i32 {
    match name {
        "name" => -99,
        "size" => -95,
        "timeout" => -94,
        "testonly" => -93,
        "src" => -92,
        "srcdir" => -91,
        "srcs" => -90,
        "out" => -89,
        "outs" => -88,
        "hdrs" => -87,
        "exports" => 2,
        "runtime_deps" => 3,
        "deps" => 4,
        "visibility" => 5,
        _ => 0,
    }
}

/// One `name = value` line (or lines) of a rendered rule, with its comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedArg {
    /// Argument name for ordering (`None` for positional: kept first).
    pub name: Option<String>,
    /// Comment lines above the argument (each starting with `#`).
    pub leading: Vec<String>,
    /// `name = value` without the trailing comma; may span lines (already indented).
    pub body: String,
    /// Comment after the comma, starting with `#`.
    pub trailing: Option<String>,
}

/// A list element with its comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedElement {
    pub value: String,
    pub leading: Vec<String>,
    pub trailing: Option<String>,
}

impl RenderedElement {
    pub fn plain(value: impl Into<String>) -> RenderedElement {
        RenderedElement {
            value: value.into(),
            leading: Vec::new(),
            trailing: None,
        }
    }
}

/// `name = [...]`: sorted, deduplicated, inline for zero or one element without comments,
/// else one element per line at `indent + 4`.
pub fn render_list(name: &str, mut elements: Vec<RenderedElement>, indent: &str) -> String {
    elements.sort_by(|a, b| compare_list_strings(&a.value, &b.value));
    elements.dedup_by(|later, earlier| {
        if later.value != earlier.value {
            return false;
        }
        // Keep the comments of either copy (a `# keep` must survive deduplication).
        if earlier.trailing.is_none() {
            earlier.trailing = later.trailing.take();
        }
        earlier.leading.append(&mut later.leading);
        true
    });
    let simple = elements.len() <= 1
        && elements
            .iter()
            .all(|e| e.leading.is_empty() && e.trailing.is_none());
    if simple {
        let inner = elements
            .iter()
            .map(|e| quote(&e.value))
            .collect::<Vec<_>>()
            .join(", ");
        return format!("{name} = [{inner}]");
    }
    let mut out = format!("{name} = [\n");
    for element in &elements {
        for comment in &element.leading {
            out.push_str(&format!("{indent}    {comment}\n"));
        }
        out.push_str(&format!("{indent}    {},", quote(&element.value)));
        if let Some(comment) = &element.trailing {
            out.push_str(&format!("  {comment}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("{indent}]"));
    out
}

/// A whole rule call in buildifier layout. `header` is a comment after the `(`; `footer`
/// comments sit before the `)`.
pub fn render_rule(
    function: &str,
    header: Option<&str>,
    mut args: Vec<RenderedArg>,
    footer: &[String],
) -> String {
    // Stable: equal priorities keep their existing order.
    args.sort_by_key(|arg| match &arg.name {
        None => i32::MIN,
        Some(name) => attribute_priority(name),
    });
    let mut out = format!("{function}(");
    if let Some(comment) = header {
        out.push_str(&format!("  {comment}"));
    }
    out.push('\n');
    for arg in &args {
        for comment in &arg.leading {
            out.push_str(&format!("    {comment}\n"));
        }
        out.push_str(&format!("    {},", arg.body));
        if let Some(comment) = &arg.trailing {
            out.push_str(&format!("  {comment}"));
        }
        out.push('\n');
    }
    for comment in footer {
        out.push_str(&format!("    {comment}\n"));
    }
    out.push(')');
    out
}

/// `load("module", "a", "b")` with sorted symbols; aliased symbols are written `x = "y"`.
pub fn render_load(module: &str, symbols: &[(String, String)]) -> String {
    let mut symbols = symbols.to_vec();
    symbols.sort_by(|a, b| a.0.cmp(&b.0));
    symbols.dedup();
    let mut parts = vec![quote(module)];
    for (local, their) in &symbols {
        if local == their {
            parts.push(quote(their));
        } else {
            parts.push(format!("{local} = {}", quote(their)));
        }
    }
    format!("load({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn labels_sort_like_buildifier() {
        let mut labels = vec![
            "@pypi//six",
            "//a/b",
            ":lib",
            "//a",
            "//a:x",
            "b.py",
            "a.py",
        ];
        labels.sort_by(|a, b| compare_list_strings(a, b));
        assert_eq!(
            labels,
            vec![
                "a.py",
                "b.py",
                ":lib",
                "//a",
                "//a:x",
                "//a/b",
                "@pypi//six"
            ]
        );
    }

    #[test]
    fn lists_are_inline_only_when_short_and_comment_free() {
        assert_eq!(render_list("srcs", vec![], ""), "srcs = []");
        assert_eq!(
            render_list("srcs", vec![RenderedElement::plain("a.py")], ""),
            "srcs = [\"a.py\"]"
        );
        let two = vec![
            RenderedElement::plain("b.py"),
            RenderedElement::plain("a.py"),
        ];
        assert_eq!(
            render_list("srcs", two, "    "),
            "srcs = [\n        \"a.py\",\n        \"b.py\",\n    ]"
        );
    }

    #[test]
    fn rule_attributes_follow_buildifier_priority() {
        let arg = |name: &str| RenderedArg {
            name: Some(name.into()),
            leading: vec![],
            body: format!("{name} = 1"),
            trailing: None,
        };
        let text = render_rule(
            "r",
            None,
            vec![arg("deps"), arg("data"), arg("srcs"), arg("name")],
            &[],
        );
        assert_eq!(
            text,
            "r(\n    name = 1,\n    srcs = 1,\n    data = 1,\n    deps = 1,\n)"
        );
    }

    proptest! {
        #[test]
        fn list_order_is_a_total_order(mut v in proptest::collection::vec("[:/@a-c.]{0,6}", 0..8)) {
            v.sort_by(|a, b| compare_list_strings(a, b));
            let mut again = v.clone();
            again.reverse();
            again.sort_by(|a, b| compare_list_strings(a, b));
            prop_assert_eq!(v, again);
        }

        #[test]
        fn quoting_round_trips_through_the_parser(s in "[ -~\n\t]{0,20}") {
            let text = format!("r(name = {})\n", quote(&s));
            let file = crate::buildfile::BuildFile::parse(std::path::Path::new("BUILD"), text);
            let name = file.ok().and_then(|f| match &f.statements[0].kind {
                crate::buildfile::StatementKind::Rule(rule) => rule.name.clone(),
                _ => None,
            });
            prop_assert_eq!(name, Some(s));
        }
    }
}
