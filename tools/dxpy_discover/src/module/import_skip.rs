//! Does a module possibly skip itself while it is imported?
//!
//! `pytest.importorskip(...)`, `pytest.skip(..., allow_module_level=True)` and
//! `raise unittest.SkipTest(...)` at module level (or in a class body, which also runs at
//! import) make pytest collect nothing from the module when they fire, which depends on the
//! interpreter and what is installed: only Python can tell. This says where to ask.

use tree_sitter::{Node, Parser};

/// Whether `source` has a call or raise that can skip the whole module at import time.
/// Errs on the side of `true` when the source cannot be parsed but mentions a skip.
pub fn skips_at_import(source: &[u8]) -> bool {
    // Cheap pre-check: most modules never mention a skip.
    if !contains(source, b"importorskip")
        && !contains(source, b"allow_module_level")
        && !contains(source, b"SkipTest")
        && !contains(source, b"skip.Exception")
    {
        return false;
    }
    let mut parser = Parser::new();
    let parsed = parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()
        .and_then(|_| parser.parse(source, None));
    match parsed {
        Some(tree) => runs_a_skip(tree.root_node(), source),
        None => true,
    }
}

/// A skip among the statements run at import under `node` (functions' bodies do not run).
fn runs_a_skip(node: Node<'_>, source: &[u8]) -> bool {
    match node.kind() {
        "function_definition" | "lambda" => return false,
        "call" => {
            let function = node
                .child_by_field_name("function")
                .map_or("", |f| text(f, source));
            let arguments = node
                .child_by_field_name("arguments")
                .map_or("", |a| text(a, source));
            if function.ends_with("importorskip")
                || (function.ends_with("skip") && arguments.contains("allow_module_level"))
            {
                return true;
            }
        }
        "raise_statement" => {
            let raised = text(node, source);
            if raised.contains("SkipTest") || raised.contains("skip.Exception") {
                return true;
            }
        }
        _ => {}
    }
    let mut cursor = node.walk();
    let found = node
        .children(&mut cursor)
        .any(|child| runs_a_skip(child, source));
    found
}

fn text<'a>(node: Node<'_>, source: &'a [u8]) -> &'a str {
    std::str::from_utf8(&source[node.byte_range()]).unwrap_or("")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::skips_at_import;

    #[test]
    fn module_level_skips_are_found() {
        for source in [
            "import pytest\nnp = pytest.importorskip('numpy')\n",
            "from pytest import importorskip\nimportorskip('x')\n",
            "import pytest\nif True:\n    pytest.skip('no', allow_module_level=True)\n",
            "import unittest\ntry:\n    import x\nexcept ImportError:\n    raise unittest.SkipTest('no x')\n",
            "import pytest\nclass T:\n    pytest.importorskip('y')\n",
        ] {
            assert!(skips_at_import(source.as_bytes()), "{source}");
        }
    }

    #[test]
    fn skips_inside_functions_or_without_module_level_do_not_count() {
        for source in [
            "import pytest\ndef test_a():\n    pytest.importorskip('numpy')\n",
            "import pytest\ndef test_b():\n    pytest.skip('later', allow_module_level=True)\n",
            "import pytest\npytest.skip('no')\n",
            "def test_c():\n    pass\n",
            "f = lambda: __import__('pytest').importorskip('x')\n",
        ] {
            assert!(!skips_at_import(source.as_bytes()), "{source}");
        }
    }
}
