//! Properties of the module analysis: it never panics, whatever the bytes, and what it
//! produces keeps pytest's invariants (node ID prefix, unique IDs).

use std::collections::HashSet;

use crate::module_common::{fixture_files, fixtures_root};
use dxpy_discover::module::{analyze, ModuleContext, NameRules};
use dxpy_discover::ParamState;
use proptest::prelude::*;

fn fixture_sources() -> Vec<Vec<u8>> {
    let root = fixtures_root();
    fixture_files()
        .iter()
        .map(|rel| std::fs::read(root.join(rel)).expect("fixture readable"))
        .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Duplicate { at: usize, len: usize },
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    prop::sample::select(b"()[]{}:,'\"\\\n @=#*jJ.-_".to_vec()),
                ],
                0..12
            )
        )
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Edit::Duplicate { at, len }),
    ]
}

fn apply(source: &mut Vec<u8>, edit: &Edit) {
    let n = source.len();
    match edit {
        Edit::Delete { at, len } => {
            let start = if n == 0 { 0 } else { at % n };
            let end = (start + len).min(n);
            source.drain(start..end);
        }
        Edit::Insert { at, bytes } => {
            let start = at % (n + 1);
            source.splice(start..start, bytes.iter().copied());
        }
        Edit::Duplicate { at, len } => {
            let start = if n == 0 { 0 } else { at % n };
            let end = (start + len).min(n);
            let copy = source[start..end].to_vec();
            source.splice(end..end, copy);
        }
    }
}

fn check_invariants(source: &[u8]) -> Result<(), TestCaseError> {
    let rules = NameRules::default();
    let ctx = ModuleContext::new("pkg/test_fuzz.py", &rules);
    let result = analyze(source, &ctx);
    let mut seen = HashSet::new();
    for item in &result.items {
        prop_assert!(
            item.node_id.starts_with("pkg/test_fuzz.py::"),
            "bad prefix: {}",
            item.node_id
        );
        prop_assert!(item.line >= 1);
        if item.params != ParamState::Dynamic {
            prop_assert!(
                seen.insert(item.node_id.clone()),
                "duplicate node ID {}",
                item.node_id
            );
        }
    }
    let syntax_error = result
        .errors
        .iter()
        .any(|e| matches!(e, dxpy_discover::CollectError::Syntax { .. }));
    prop_assert!(
        !syntax_error || result.items.is_empty(),
        "items reported despite a syntax error"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_invariants(&bytes)?;
    }

    #[test]
    fn mutated_fixtures_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit_strategy(), 1..6),
    ) {
        let sources = fixture_sources();
        let mut source = index.get(&sources).clone();
        for edit in &edits {
            apply(&mut source, edit);
        }
        check_invariants(&source)?;
    }

    /// Integer parameters always expand to one item per value with unique IDs, and values
    /// that appear once keep their plain `str()` as ID.
    #[test]
    fn integer_parameters_expand_one_item_per_value(values in prop::collection::vec(-50i64..50, 1..20)) {
        let list: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let source = format!(
            "import pytest\n\n@pytest.mark.parametrize('n', [{}])\ndef test_n(n):\n    pass\n",
            list.join(", ")
        );
        let rules = NameRules::default();
        let result = analyze(source.as_bytes(), &ModuleContext::new("test_p.py", &rules));
        prop_assert_eq!(result.items.len(), values.len());
        let ids: HashSet<&str> = result.items.iter().map(|i| i.node_id.as_str()).collect();
        prop_assert_eq!(ids.len(), values.len());
        for (value, item) in values.iter().zip(&result.items) {
            if values.iter().filter(|v| *v == value).count() == 1 {
                prop_assert_eq!(&item.node_id, &format!("test_p.py::test_n[{value}]"));
            }
        }
    }
}

/// Pathologically deep nesting must neither panic nor overflow the stack.
#[test]
fn deep_nesting_is_survived() {
    let rules = NameRules::default();
    let ctx = ModuleContext::new("test_deep.py", &rules);
    let depth = 3000;
    let chain = format!(
        "@pytest{}\ndef test_chain():\n    pass\n",
        ".mark".repeat(depth)
    );
    let parens = format!(
        "import pytest\n@pytest.mark.parametrize('v', [{}1{}])\ndef test_parens(v):\n    pass\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let mut blocks = String::new();
    for level in 0..depth {
        blocks.push_str(&" ".repeat(level));
        blocks.push_str("if True:\n");
    }
    blocks.push_str(&" ".repeat(depth));
    blocks.push_str("def test_deep():\n");
    blocks.push_str(&" ".repeat(depth + 1));
    blocks.push_str("pass\n");
    let classes: String = (0..depth)
        .map(|level| format!("{}class TestC{level}:\n", " ".repeat(level)))
        .collect::<String>()
        + &" ".repeat(depth)
        + "def test_inner(self):\n"
        + &" ".repeat(depth + 1)
        + "pass\n";
    for source in [chain, parens, blocks, classes] {
        let thread = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                analyze(
                    source.as_bytes(),
                    &ModuleContext::new("test_deep.py", &NameRules::default()),
                )
                .items
                .len()
            });
        let handle = thread.expect("thread spawned");
        assert!(
            handle.join().is_ok(),
            "analysis of deeply nested source failed"
        );
    }
    // The parenthesised literal is still a literal.
    let simple =
        "import pytest\n@pytest.mark.parametrize('v', [((1))])\ndef test_p(v):\n    pass\n";
    let items = analyze(simple.as_bytes(), &ctx).items;
    assert_eq!(
        items.iter().map(|i| i.node_id.as_str()).collect::<Vec<_>>(),
        vec!["test_deep.py::test_p[1]"]
    );
}
