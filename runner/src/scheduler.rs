//! Work units and their order.
//!
//! Layout:
//! - this file: [`ModuleTests`] (the scheduler's input: one test file and its node IDs, as
//!   discovery lists them), [`WorkUnit`] (one batch for one worker), [`plan`] (splitting and
//!   longest-first ordering);
//! - [`durations`]: the store of unit durations from previous runs.
//!
//! A unit is a whole module, so module- and class-scoped fixtures are set up once. A module
//! with more than [`SplitPolicy::max_unit_tests`] tests that has classes is cut into one unit
//! per class plus one for its module-level functions (when that makes ≥ 2 units): the extra module
//! fixture setups are the price of spreading a big module over several workers.
//!
//! Order: longest first, by each unit's duration in the store; a unit the store does not know
//! is estimated as `tests × mean seconds per test` of the known units (or ordered by test
//! count alone when nothing is known). Ties keep discovery order, so plans are deterministic.

pub mod durations;

use std::collections::BTreeMap;

pub use durations::{DurationStore, DurationsError, LoadStatus};

/// The tests of one file, in discovery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleTests {
    /// Path relative to rootdir, as in node IDs (`tests/test_a.py`).
    pub path: String,
    /// Full node IDs (`tests/test_a.py::TestX::test_y[1]`).
    pub node_ids: Vec<String>,
}

/// One batch of node IDs sent to one worker as a single RunItems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkUnit {
    /// Stable name used by the durations store: the module path, or `path::Class` for a
    /// class split out of a large module, or `path::` for that module's free functions.
    pub key: String,
    pub node_ids: Vec<String>,
    /// Test index of `node_ids[0]` (the plan's running count of node IDs). The remainder of
    /// a batch requeued after a crash keeps its unit's index, so indexes are a hint for
    /// ordering output; node IDs are the identity.
    pub first_index: u32,
}

/// When to split a module by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Modules with more tests than this are split by class (when that makes ≥ 2 units).
    pub max_unit_tests: usize,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy {
            max_unit_tests: 200,
        }
    }
}

/// The class a node ID belongs to, if any: `path::Class::test` → `Class`. A node ID with a
/// single `::` part is a module-level function.
fn class_of<'a>(path: &str, node_id: &'a str) -> Option<&'a str> {
    let rest = node_id.strip_prefix(path)?.strip_prefix("::")?;
    // Parameter ids may contain `::`; only look before the first `[`.
    let head = rest.split('[').next().unwrap_or(rest);
    let (class, _) = head.split_once("::")?;
    Some(&rest[..class.len()])
}

/// Splits modules into units (without ordering or indexes).
pub fn units_of(modules: &[ModuleTests], policy: SplitPolicy) -> Vec<WorkUnit> {
    let mut units = Vec::new();
    for module in modules.iter().filter(|m| !m.node_ids.is_empty()) {
        let whole = || WorkUnit {
            key: module.path.clone(),
            node_ids: module.node_ids.clone(),
            first_index: 0,
        };
        if module.node_ids.len() <= policy.max_unit_tests {
            units.push(whole());
            continue;
        }
        // Group by class, keeping first-appearance order of the groups.
        let mut order: Vec<Option<&str>> = Vec::new();
        let mut groups: BTreeMap<Option<&str>, Vec<String>> = BTreeMap::new();
        for node_id in &module.node_ids {
            let class = class_of(&module.path, node_id);
            let group = groups.entry(class).or_default();
            if group.is_empty() {
                order.push(class);
            }
            group.push(node_id.clone());
        }
        let has_class = order.iter().any(Option::is_some);
        if !has_class || order.len() < 2 {
            units.push(whole());
            continue;
        }
        for class in order {
            let node_ids = groups.remove(&class).unwrap_or_default();
            let key = match class {
                Some(class) => format!("{}::{class}", module.path),
                None => format!("{}::", module.path),
            };
            units.push(WorkUnit {
                key,
                node_ids,
                first_index: 0,
            });
        }
    }
    units
}

/// Splits, orders longest-first and numbers the units.
pub fn plan(modules: &[ModuleTests], store: &DurationStore, policy: SplitPolicy) -> Vec<WorkUnit> {
    let units = units_of(modules, policy);
    let (known_seconds, known_tests) = units
        .iter()
        .filter_map(|u| store.get(&u.key).map(|s| (s, u.node_ids.len())))
        .fold((0.0, 0usize), |(s, n), (secs, tests)| (s + secs, n + tests));
    let per_test = if known_tests > 0 {
        Some(known_seconds / known_tests as f64)
    } else {
        None
    };
    let estimate = |unit: &WorkUnit| -> f64 {
        match (store.get(&unit.key), per_test) {
            (Some(seconds), _) => seconds,
            (None, Some(per_test)) => per_test * unit.node_ids.len() as f64,
            (None, None) => unit.node_ids.len() as f64,
        }
    };
    let mut keyed: Vec<(f64, usize, WorkUnit)> = units
        .into_iter()
        .enumerate()
        .map(|(position, unit)| (estimate(&unit), position, unit))
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut next_index: u32 = 0;
    keyed
        .into_iter()
        .map(|(_, _, mut unit)| {
            unit.first_index = next_index;
            next_index = next_index.saturating_add(unit.node_ids.len() as u32);
            unit
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn module(path: &str, names: &[&str]) -> ModuleTests {
        ModuleTests {
            path: path.to_owned(),
            node_ids: names.iter().map(|n| format!("{path}::{n}")).collect(),
        }
    }

    #[test]
    fn large_module_with_classes_is_split_by_class() {
        let big = module(
            "t/test_big.py",
            &[
                "test_a",
                "TestX::test_1",
                "TestY::test_1",
                "TestX::test_2[a::b]",
                "test_b",
            ],
        );
        let small = module("t/test_small.py", &["TestX::test_1", "TestY::test_1"]);
        let units = units_of(&[big, small], SplitPolicy { max_unit_tests: 3 });
        let summary: Vec<(String, usize)> = units
            .iter()
            .map(|u| (u.key.clone(), u.node_ids.len()))
            .collect();
        insta::assert_yaml_snapshot!(summary);
    }

    #[test]
    fn order_is_longest_first_known_durations_then_estimates() {
        let modules = vec![
            module("a.py", &["t1"]),
            module("b.py", &["t1", "t2", "t3", "t4"]),
            module("c.py", &["t1", "t2"]),
        ];
        let mut store = DurationStore::default();
        // a: 10 s for one test; c: 1 s for two: mean 11/3 s per test → b estimated ~14.7 s.
        store.record("a.py", 10.0);
        store.record("c.py", 1.0);
        let units = plan(&modules, &store, SplitPolicy::default());
        let keys: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["b.py", "a.py", "c.py"]);
        let indexes: Vec<u32> = units.iter().map(|u| u.first_index).collect();
        assert_eq!(indexes, [0, 4, 5]);
        // Nothing known: by test count.
        let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
        let keys: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["b.py", "c.py", "a.py"]);
    }

    proptest! {
        /// Splitting and ordering never lose, duplicate or invent a node ID.
        #[test]
        fn plan_keeps_every_node_id_once(
            shapes in proptest::collection::vec(
                proptest::collection::vec((0u8..4, 0u8..20), 0..30), 0..6),
            limit in 1usize..10,
        ) {
            let modules: Vec<ModuleTests> = shapes.iter().enumerate().map(|(m, tests)| {
                let path = format!("test_{m}.py");
                let mut node_ids: Vec<String> = tests.iter().map(|(class, test)| match class {
                    0 => format!("{path}::test_{test}"),
                    c => format!("{path}::TestC{c}::test_{test}"),
                }).collect();
                node_ids.dedup();
                ModuleTests { path, node_ids }
            }).collect();
            let units = plan(&modules, &DurationStore::default(), SplitPolicy { max_unit_tests: limit });
            let mut planned: Vec<String> = units.iter().flat_map(|u| u.node_ids.clone()).collect();
            let mut expected: Vec<String> = modules.iter().flat_map(|m| m.node_ids.clone()).collect();
            planned.sort();
            expected.sort();
            prop_assert_eq!(planned, expected);
        }
    }
}
