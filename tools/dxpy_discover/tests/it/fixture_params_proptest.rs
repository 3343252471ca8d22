//! Property: for any set of module-level fixtures with literal integer params and scopes, a
//! test requesting some of them (plus a parametrize mark) gets exactly the product of their
//! params, fixtures ordered by scope (widest first, request order among equals) before the
//! mark, the first parametrization varying slowest. The rules themselves are checked against
//! real pytest in `fixture_params.rs`.

use dxpy_discover::module::{analyze, ModuleContext, NameRules};
use dxpy_discover::ParamState;
use proptest::prelude::*;

const SCOPES: [&str; 3] = ["function", "module", "session"];

#[derive(Debug, Clone)]
struct Fixture {
    params: Vec<u16>,
    scope: usize,
}

fn product(lists: &[Vec<String>]) -> Vec<String> {
    let mut ids = vec![String::new()];
    for (i, list) in lists.iter().enumerate() {
        ids = ids
            .iter()
            .flat_map(|outer| {
                list.iter().map(move |inner| {
                    if i == 0 {
                        inner.clone()
                    } else {
                        format!("{outer}-{inner}")
                    }
                })
            })
            .collect();
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn fixture_params_multiply_in_scope_order(
        fixtures in prop::collection::vec(
            (prop::collection::vec(0u16..500, 1..4), 0usize..3)
                .prop_map(|(params, scope)| Fixture { params, scope }),
            1..4,
        ),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut order: Vec<usize> = (0..4).collect();
            for i in (1..order.len()).rev() {
                let j = (rng.next_u32() as usize) % (i + 1);
                order.swap(i, j);
            }
            order
        }),
        mark in prop::collection::vec(0u16..50, 0..3),
    ) {
        let mut source = String::from("import pytest\n\n");
        for (i, f) in fixtures.iter().enumerate() {
            let params: Vec<String> = f.params.iter().map(u16::to_string).collect();
            source.push_str(&format!(
                "@pytest.fixture(scope=\"{}\", params=[{}])\ndef fx{i}(request):\n    return request.param\n\n",
                SCOPES[f.scope],
                params.join(", ")
            ));
        }
        let requested: Vec<usize> = order.into_iter().filter(|&i| i < fixtures.len()).collect();
        let mut args: Vec<String> = requested.iter().map(|i| format!("fx{i}")).collect();
        if !mark.is_empty() {
            let values: Vec<String> = mark.iter().map(u16::to_string).collect();
            source.push_str(&format!("@pytest.mark.parametrize(\"x\", [{}])\n", values.join(", ")));
            args.push("x".to_owned());
        }
        source.push_str(&format!("def test_it({}):\n    pass\n", args.join(", ")));

        let rules = NameRules::default();
        let result = analyze(source.as_bytes(), &ModuleContext::new("test_p.py", &rules));
        prop_assert!(result.errors.is_empty(), "{:?}", result.errors);

        let mut by_scope = requested.clone();
        by_scope.sort_by_key(|&i| std::cmp::Reverse(fixtures[i].scope));
        let mut lists: Vec<Vec<String>> = by_scope
            .iter()
            .map(|&i| fixtures[i].params.iter().map(u16::to_string).collect())
            .collect();
        if !mark.is_empty() {
            lists.push(mark.iter().map(u16::to_string).collect());
        }
        let got: Vec<String> = result.items.iter().map(|i| i.node_id.clone()).collect();
        let expected: Vec<String> = if lists.is_empty() {
            vec!["test_p.py::test_it".to_owned()]
        } else {
            product(&lists).into_iter().map(|id| format!("test_p.py::test_it[{id}]")).collect()
        };
        // Duplicate values get pytest's de-duplication suffixes: compare only unique cases.
        let unique = lists.iter().all(|l| {
            let mut s = l.clone();
            s.sort();
            s.dedup();
            s.len() == l.len()
        });
        if unique {
            prop_assert_eq!(got, expected);
            prop_assert!(result.items.iter().all(|i| lists.is_empty() || matches!(i.params, ParamState::Static(_))));
        } else {
            prop_assert_eq!(got.len(), expected.len());
        }
    }
}
