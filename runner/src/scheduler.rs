//! Work units and their order.
//!
//! Layout:
//! - this file: [`ModuleTests`] (the scheduler's input: one test file and its node IDs, as
//!   discovery lists them), [`WorkUnit`] (one batch for one worker), [`plan`] (splitting and
//!   longest-first ordering), [`plan_batched`] (the same, small units joined first) and
//!   [`hook_units`] (the directories where conftest `pytest_collect_file` hooks make items);
//! - [`durations`]: the store of unit durations from previous runs.
//!
//! A unit is a whole module, so module- and class-scoped fixtures are set up once. A module
//! with more than [`SplitPolicy::max_unit_tests`] tests that has classes is cut into one unit
//! per class plus one for its module-level functions (when that makes ≥ 2 units): the extra module
//! fixture setups are the price of spreading a big module over several workers.
//!
//! [`plan_batched`] joins small units (fewer tests than [`BATCH_MAX_TESTS`] and than the suite's tests over
//! [`MIN_BATCHES`]), in path order, into batches up to that size: each request
//! costs the worker a collection of the directories on its paths and a round trip.
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

/// One batch sent to one worker as a single request (RunItems, or RunHookItems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkUnit {
    /// Stable name used by the durations store: the module path, or `path::Class` for a
    /// class split out of a large module, or `path::` for that module's free functions;
    /// for hook items, the unit's directories joined with `" + "`, after `hook items: `.
    pub key: String,
    /// Node IDs to run; for [`UnitKind::HookItems`], the directories to collect (which
    /// the run accounts for like node IDs: settled when the batch completes).
    pub node_ids: Vec<String>,
    pub kind: UnitKind,
    /// Test index of `node_ids[0]` (the plan's running count of node IDs). The remainder of
    /// a batch requeued after a crash keeps its unit's index, so indexes are a hint for
    /// ordering output; node IDs are the identity.
    pub first_index: u32,
}

/// What a unit asks its worker to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UnitKind {
    /// Exactly the node IDs (discovery's items).
    #[default]
    Tests,
    /// Whatever pytest collects under the directories in `node_ids` except Python test
    /// modules (other units run those): the items of conftest `pytest_collect_file` hooks,
    /// which no static discovery can list.
    HookItems {
        /// Directories below `node_ids` that other units collect.
        skip_dirs: Vec<String>,
        /// Items already run by an earlier attempt of this unit (before a worker crash).
        skip_items: Vec<String>,
    },
}

impl UnitKind {
    pub fn is_hook_items(&self) -> bool {
        matches!(self, UnitKind::HookItems { .. })
    }
}

/// A directory where conftest `pytest_collect_file` hooks can make items, with the
/// directories directly below it (discovery's `HookScope`): the input of [`hook_units`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTree {
    /// Rootdir-relative (`""`: the rootdir).
    pub root: String,
    pub subdirs: Vec<String>,
}

/// A hook-items unit collects at most this many subdirectories, so a tree like pygments'
/// `tests/examplefiles` (458 of them) spreads over the workers in a few dozen requests.
pub const HOOK_UNIT_DIRS: usize = 24;

/// Units for the hook trees: the subdirectories in groups of up to [`HOOK_UNIT_DIRS`], and
/// each root by itself with its subdirectories skipped (its own files; a root with no such
/// files costs one directory collection and yields nothing). Not yet ordered or numbered:
/// [`plan_batched_with_hooks`] does that.
pub fn hook_units(trees: &[HookTree]) -> Vec<WorkUnit> {
    let mut units = Vec::new();
    for tree in trees {
        units.push(WorkUnit {
            key: format!("hook items: {}", display_dir(&tree.root)),
            node_ids: vec![tree.root.clone()],
            kind: UnitKind::HookItems {
                skip_dirs: tree.subdirs.clone(),
                skip_items: Vec::new(),
            },
            first_index: 0,
        });
        for group in tree.subdirs.chunks(HOOK_UNIT_DIRS) {
            let names: Vec<&str> = group.iter().map(|d| display_dir(d)).collect();
            units.push(WorkUnit {
                key: format!("hook items: {}", names.join(" + ")),
                node_ids: group.to_vec(),
                kind: UnitKind::HookItems {
                    skip_dirs: Vec::new(),
                    skip_items: Vec::new(),
                },
                first_index: 0,
            });
        }
    }
    units
}

fn display_dir(dir: &str) -> &str {
    if dir.is_empty() {
        "."
    } else {
        dir
    }
}

/// When to split a module by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Modules with more tests than this are split by class (when that makes ≥ 2 units), and
    /// a class (or a module's tests outside classes) with more than this is cut into ranges,
    /// at most [`MAX_RANGES`] of them, so that several workers share it as pytest-xdist's
    /// `--dist load` would (each runs the class's `setUpClass` and class-scoped fixtures).
    pub max_unit_tests: usize,
}

/// Ranges a class (or a module's class-less tests) is cut into at most: each range's worker
/// collects the whole module, so more ranges cost more collection than they save on 2 cores.
pub const MAX_RANGES: usize = 4;

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
            kind: UnitKind::Tests,
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
        if order.len() < 2 {
            // One group (a single class, or no class at all): only ranges can share it.
            units.extend(ranges(module.path.clone(), module.node_ids.clone(), policy));
            continue;
        }
        for class in order {
            let node_ids = groups.remove(&class).unwrap_or_default();
            let key = match class {
                Some(class) => format!("{}::{class}", module.path),
                None => format!("{}::", module.path),
            };
            units.extend(ranges(key, node_ids, policy));
        }
    }
    units
}

/// `node_ids` as one unit, or cut in order into up to [`MAX_RANGES`] near-equal ranges when
/// there are more than the policy's `max_unit_tests` (keys `KEY#i/n`).
fn ranges(key: String, node_ids: Vec<String>, policy: SplitPolicy) -> Vec<WorkUnit> {
    let unit = |key: String, node_ids: Vec<String>| WorkUnit {
        key,
        node_ids,
        kind: UnitKind::Tests,
        first_index: 0,
    };
    let count = node_ids
        .len()
        .div_ceil(policy.max_unit_tests.max(1))
        .clamp(1, MAX_RANGES);
    if count == 1 {
        return vec![unit(key, node_ids)];
    }
    let size = node_ids.len().div_ceil(count);
    node_ids
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| unit(format!("{key}#{}/{count}", i + 1), chunk.to_vec()))
        .collect()
}

/// A batch of small units never holds more tests than this...
pub const BATCH_MAX_TESTS: usize = 200;
/// ...nor more than the suite's tests over this many, so a small suite still spreads over
/// the workers and the last batches of a run stay short.
pub const MIN_BATCHES: usize = 8;

/// Splits, orders longest-first and numbers the units: one unit per module (or class).
pub fn plan(modules: &[ModuleTests], store: &DurationStore, policy: SplitPolicy) -> Vec<WorkUnit> {
    plan_units(units_of(modules, policy), store, false)
}

/// [`plan`], with small units joined into batches first (what `dx-py test` runs).
pub fn plan_batched(
    modules: &[ModuleTests],
    store: &DurationStore,
    policy: SplitPolicy,
) -> Vec<WorkUnit> {
    plan_units(units_of(modules, policy), store, true)
}

/// [`plan_batched`] plus the [`hook_units`] of `trees`, all ordered longest-first together.
/// A hook unit the store does not know yet is estimated by its directory count (it has no
/// known tests), like a unit with that many tests; hook units are never joined into batches.
pub fn plan_batched_with_hooks(
    modules: &[ModuleTests],
    trees: &[HookTree],
    store: &DurationStore,
    policy: SplitPolicy,
) -> Vec<WorkUnit> {
    let mut units = units_of(modules, policy);
    units.extend(hook_units(trees));
    plan_units(units, store, true)
}

fn plan_units(units: Vec<WorkUnit>, store: &DurationStore, batched: bool) -> Vec<WorkUnit> {
    // `units` come in collection order: the position is each unit's place in it.
    let positioned: Vec<Planned> = units
        .into_iter()
        .enumerate()
        .map(|(position, unit)| Planned {
            seconds: 0.0,
            position,
            members: vec![(unit.key.clone(), unit.node_ids.len())],
            unit,
        })
        .collect();
    let mut planned = if batched {
        batch_small_units(positioned)
    } else {
        positioned
    };
    estimate_seconds(&mut planned, store);
    planned.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then(a.position.cmp(&b.position))
    });
    let mut next_index: u32 = 0;
    keep_module_order(planned)
        .into_iter()
        .map(|Planned { mut unit, .. }| {
            unit.first_index = next_index;
            next_index = next_index.saturating_add(unit.node_ids.len() as u32);
            unit
        })
        .collect()
}

/// A unit on its way through planning: its estimated duration and its place in collection
/// order (a batch takes its first member's).
struct Planned {
    seconds: f64,
    position: usize,
    /// The keys of the units it joins (one for a unit alone), with their test counts.
    members: Vec<(String, usize)>,
    unit: WorkUnit,
}

/// Each entry's expected duration. The store knows the keys of earlier runs' units, which are
/// batches as often as modules: a batch recurs while the suite's modules do, so its own
/// record comes first, then the sum of its members' (each recorded, or the suite's mean time
/// per test times its tests). With nothing recorded, test counts stand in for seconds.
fn estimate_seconds(planned: &mut [Planned], store: &DurationStore) {
    let mut known = (0.0, 0usize);
    for entry in planned.iter() {
        match store.get(&entry.unit.key) {
            Some(seconds) => {
                known = (known.0 + seconds, known.1 + entry.unit.node_ids.len());
            }
            None => {
                for (key, tests) in &entry.members {
                    if let Some(seconds) = store.get(key) {
                        known = (known.0 + seconds, known.1 + tests);
                    }
                }
            }
        }
    }
    let per_test = if known.1 > 0 {
        known.0 / known.1 as f64
    } else {
        1.0
    };
    for entry in planned.iter_mut() {
        entry.seconds = store.get(&entry.unit.key).unwrap_or_else(|| {
            entry
                .members
                .iter()
                .map(|(key, tests)| store.get(key).unwrap_or(per_test * *tests as f64))
                .sum()
        });
    }
}

/// The test module a unit's first node ID belongs to (`None` for hook items).
fn module_of(unit: &WorkUnit) -> Option<&str> {
    if unit.kind.is_hook_items() {
        return None;
    }
    let first = unit.node_ids.first()?;
    Some(
        first
            .split_once("::")
            .map_or(first.as_str(), |(path, _)| path),
    )
}

/// Puts the units of one module back into collection order, on the queue places the
/// longest-first order gave them. The run's queue is FIFO, so a worker that takes two units of
/// a module then runs them in pytest's order, as each pytest-xdist worker runs its items:
/// tests that leave state behind (a registry a later test's class extends) must not run
/// before the tests pytest runs first.
fn keep_module_order(planned: Vec<Planned>) -> Vec<Planned> {
    // order[place] = the entry that goes there.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    let mut places: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (place, entry) in planned.iter().enumerate() {
        if let Some(module) = module_of(&entry.unit) {
            places.entry(module).or_default().push(place);
        }
    }
    for places in places.values().filter(|p| p.len() > 1) {
        let mut members = places.clone();
        members.sort_by_key(|&place| planned[place].position);
        for (&place, &member) in places.iter().zip(&members) {
            order[place] = member;
        }
    }
    let mut entries: Vec<Option<Planned>> = planned.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|member| entries[member].take())
        .collect()
}

/// Joins units smaller than the batch limit into batches of consecutive paths (so a batch
/// mostly shares its directories), each up to the limit; within a module, units keep their
/// collection order (a split module's classes are not sorted by name).
///
/// Every unit is one request to a worker, and the worker's pytest collects the directories
/// on a request's paths once per request: for a suite of many small modules that collection
/// and the round trip cost as much as running the tests. Units at or above the limit stay
/// alone, in their order. A batch's key joins its units' keys with `" + "` (the durations
/// store then learns batches, which recur while the suite's modules do: see
/// [`estimate_seconds`]).
fn batch_small_units(units: Vec<Planned>) -> Vec<Planned> {
    let total: usize = units
        .iter()
        .filter(|p| !p.unit.kind.is_hook_items())
        .map(|p| p.unit.node_ids.len())
        .sum();
    let limit = (total / MIN_BATCHES).clamp(1, BATCH_MAX_TESTS);
    let (mut small, mut out): (Vec<_>, Vec<_>) = units
        .into_iter()
        .partition(|p| p.unit.node_ids.len() < limit && !p.unit.kind.is_hook_items());
    if small.len() < 2 {
        out.append(&mut small);
        return out;
    }
    small.sort_by(|a, b| {
        module_of(&a.unit)
            .cmp(&module_of(&b.unit))
            .then(a.position.cmp(&b.position))
    });
    let mut batch: Option<Planned> = None;
    // The batch's last member: a module's units join only when consecutive, so that no unit
    // of it sits between them and would run out of order.
    let mut last: Option<(String, usize)> = None;
    for entry in small {
        let module = module_of(&entry.unit).unwrap_or_default().to_owned();
        let gap = last
            .as_ref()
            .is_some_and(|(m, position)| *m == module && position + 1 != entry.position);
        last = Some((module, entry.position));
        match batch.as_mut() {
            Some(joined)
                if !gap && joined.unit.node_ids.len() + entry.unit.node_ids.len() <= limit =>
            {
                joined.members.extend(entry.members);
                joined.position = joined.position.min(entry.position);
                joined.unit.key = format!("{} + {}", joined.unit.key, entry.unit.key);
                joined.unit.node_ids.extend(entry.unit.node_ids);
            }
            _ => {
                if let Some(full) = batch.replace(entry) {
                    out.push(full);
                }
            }
        }
    }
    out.extend(batch);
    out
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
    fn a_large_class_or_function_is_cut_into_ordered_ranges() {
        let names: Vec<String> = (0..3000).map(|i| format!("TestHuge::test_{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let huge = module("t/test_huge.py", &refs);
        let units = units_of(std::slice::from_ref(&huge), SplitPolicy::default());
        let keys: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "t/test_huge.py#1/4",
                "t/test_huge.py#2/4",
                "t/test_huge.py#3/4",
                "t/test_huge.py#4/4"
            ]
        );
        let joined: Vec<String> = units.iter().flat_map(|u| u.node_ids.clone()).collect();
        assert_eq!(joined, huge.node_ids, "ranges keep the module's order");
        assert!(units.iter().all(|u| u.node_ids.len() == 750));
        // Just over the limit: two ranges. At the limit: one unit.
        let over = sized("t/test_params.py", 201);
        let parts: Vec<usize> = units_of(&[over], SplitPolicy::default())
            .iter()
            .map(|u| u.node_ids.len())
            .collect();
        assert_eq!(parts, [101, 100]);
        assert_eq!(
            units_of(&[sized("t/test_at.py", 200)], SplitPolicy::default()).len(),
            1
        );
        // A large class beside small ones: only the large one is cut.
        let mut mixed: Vec<String> = (0..450).map(|i| format!("TestBig::test_{i}")).collect();
        mixed.push("TestSmall::test_0".into());
        let refs: Vec<&str> = mixed.iter().map(String::as_str).collect();
        let keys: Vec<String> = units_of(&[module("m.py", &refs)], SplitPolicy::default())
            .into_iter()
            .map(|u| u.key)
            .collect();
        assert_eq!(
            keys,
            [
                "m.py::TestBig#1/3",
                "m.py::TestBig#2/3",
                "m.py::TestBig#3/3",
                "m.py::TestSmall"
            ]
        );
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

    #[test]
    fn a_split_modules_units_are_queued_and_batched_in_collection_order() {
        // arrow's test_locales.py: a short class whose test checks a registry, then a longer
        // one whose test extends it. Longest-first would queue the second first; a worker
        // taking both must run them in pytest's order.
        let mut names = vec!["TestValidation::test_registry".to_owned()];
        names.extend((0..30).map(|i| format!("TestCustom::test_{i}")));
        names.extend((0..5).map(|i| format!("TestAlpha::test_{i}")));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let modules = vec![
            module("t/test_locales.py", &refs),
            sized("t/test_other.py", 40),
        ];
        let policy = SplitPolicy { max_unit_tests: 20 };
        let units = plan(&modules, &DurationStore::default(), policy);
        let keys: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
        // test_other's ranges are longest; the module's own units keep its order on the
        // places longest-first gave them.
        assert_eq!(
            keys,
            [
                "t/test_other.py#1/2",
                "t/test_other.py#2/2",
                "t/test_locales.py::TestValidation",
                "t/test_locales.py::TestCustom#1/2",
                "t/test_locales.py::TestCustom#2/2",
                "t/test_locales.py::TestAlpha",
            ]
        );
        // Batched (small units joined): a batch holds a module's classes in its order, not
        // sorted by name.
        let units = plan_batched(&modules, &DurationStore::default(), policy);
        let locales: Vec<&String> = units
            .iter()
            .flat_map(|u| &u.node_ids)
            .filter(|id| id.starts_with("t/test_locales.py"))
            .collect();
        let expected: Vec<String> = names
            .iter()
            .map(|n| format!("t/test_locales.py::{n}"))
            .collect();
        assert_eq!(locales, expected.iter().collect::<Vec<_>>());
    }

    fn sized(path: &str, tests: usize) -> ModuleTests {
        let names: Vec<String> = (0..tests).map(|i| format!("test_{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        module(path, &refs)
    }

    #[test]
    fn small_units_are_batched_in_path_order_big_ones_stay_alone() {
        // 400 tests: the limit is 400 / MIN_BATCHES = 50 tests per batch.
        let modules = vec![
            sized("d2/test_z.py", 20),
            sized("d1/test_b.py", 30),
            sized("big/test_big.py", 120),
            sized("d1/test_a.py", 15),
            sized("d2/test_y.py", 50),
            sized("d1/test_c.py", 10),
            sized("d3/test_q.py", 40),
            sized("d3/test_r.py", 5),
            sized("d3/test_s.py", 110),
        ];
        let units = plan_batched(&modules, &DurationStore::default(), SplitPolicy::default());
        let summary: Vec<(String, usize, u32)> = units
            .iter()
            .map(|u| (u.key.clone(), u.node_ids.len(), u.first_index))
            .collect();
        insta::assert_yaml_snapshot!(summary);
    }

    #[test]
    fn a_batch_is_ordered_by_its_own_recorded_duration() {
        // 255 tests, batches of up to 31: the slow module sits in a batch with a neighbour,
        // which by test count alone runs last.
        let modules = vec![
            sized("t/test_a.py", 20),
            sized("t/test_slow.py", 5),
            sized("u/test_b.py", 30),
            sized("v/test_big.py", 200),
        ];
        let first = plan_batched(&modules, &DurationStore::default(), SplitPolicy::default());
        let keys: Vec<&str> = first.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "v/test_big.py",
                "u/test_b.py",
                "t/test_a.py + t/test_slow.py"
            ]
        );
        // The last run learnt that the batch holding the slow module takes longest.
        let mut store = DurationStore::default();
        store.record("v/test_big.py", 1.0);
        store.record("t/test_a.py + t/test_slow.py", 3.0);
        store.record("u/test_b.py", 0.2);
        let next = plan_batched(&modules, &store, SplitPolicy::default());
        let keys: Vec<&str> = next.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "t/test_a.py + t/test_slow.py",
                "v/test_big.py",
                "u/test_b.py"
            ]
        );
        // Members recorded alone (an earlier run split otherwise) are summed.
        let mut store = DurationStore::default();
        store.record("v/test_big.py", 1.0);
        store.record("t/test_slow.py", 2.5);
        let keys: Vec<String> = plan_batched(&modules, &store, SplitPolicy::default())
            .into_iter()
            .map(|u| u.key)
            .collect();
        assert_eq!(keys[0], "t/test_a.py + t/test_slow.py");
    }

    #[test]
    fn a_suite_too_small_to_batch_keeps_one_unit_per_module() {
        // 7 tests over 8 batches: the limit is 1 test, so nothing is joined.
        let modules = vec![sized("a.py", 3), sized("b.py", 2), sized("c.py", 2)];
        let units = plan_batched(&modules, &DurationStore::default(), SplitPolicy::default());
        assert_eq!(units.len(), 3);
    }

    #[test]
    fn hook_trees_become_root_and_subdirectory_units_never_batched() {
        let subdirs: Vec<String> = (0..50).map(|i| format!("data/d{i:02}")).collect();
        let trees = vec![HookTree {
            root: "data".into(),
            subdirs: subdirs.clone(),
        }];
        let units = hook_units(&trees);
        // The root (its own files, subdirectories skipped) plus 50 / HOOK_UNIT_DIRS groups.
        assert_eq!(units.len(), 1 + subdirs.len().div_ceil(HOOK_UNIT_DIRS));
        assert_eq!(units[0].node_ids, ["data"]);
        assert_eq!(
            units[0].kind,
            UnitKind::HookItems {
                skip_dirs: subdirs.clone(),
                skip_items: Vec::new(),
            }
        );
        let mut collected: Vec<String> =
            units[1..].iter().flat_map(|u| u.node_ids.clone()).collect();
        collected.sort();
        assert_eq!(collected, subdirs, "every subdirectory once");
        assert!(units.iter().all(|u| u.kind.is_hook_items()));
        // Planned with many small test modules: hook units stay whole and keep their kind.
        let modules: Vec<ModuleTests> = (0..20).map(|i| sized(&format!("t{i}.py"), 3)).collect();
        let planned = plan_batched_with_hooks(
            &modules,
            &trees,
            &DurationStore::default(),
            SplitPolicy::default(),
        );
        let hook: Vec<&WorkUnit> = planned.iter().filter(|u| u.kind.is_hook_items()).collect();
        assert_eq!(hook.len(), units.len());
        assert!(hook.iter().all(|u| u.key.starts_with("hook items: ")));
        let tests: usize = planned
            .iter()
            .filter(|u| !u.kind.is_hook_items())
            .map(|u| u.node_ids.len())
            .sum();
        assert_eq!(tests, 60);
        assert!(planned
            .iter()
            .filter(|u| !u.kind.is_hook_items())
            .all(|u| u.node_ids.iter().all(|id| id.contains("::"))));
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
            let batched = plan_batched(&modules, &DurationStore::default(), SplitPolicy { max_unit_tests: limit });
            let units = plan(&modules, &DurationStore::default(), SplitPolicy { max_unit_tests: limit });
            let mut batched_ids: Vec<String> = batched.iter().flat_map(|u| u.node_ids.clone()).collect();
            batched_ids.sort();
            let mut planned: Vec<String> = units.iter().flat_map(|u| u.node_ids.clone()).collect();
            let mut expected: Vec<String> = modules.iter().flat_map(|m| m.node_ids.clone()).collect();
            planned.sort();
            expected.sort();
            prop_assert_eq!(&planned, &expected);
            prop_assert_eq!(batched_ids, expected);
        }
    }
}
