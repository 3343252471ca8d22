//! Property: `affected` equals reverse reachability computed independently (a fixpoint over
//! the edge list), for random graphs including cycles and self-loops.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dxpy_graph::{EdgeKind, ImportGraph};
use proptest::prelude::*;

fn name(i: usize) -> PathBuf {
    PathBuf::from(format!("m{i}.py"))
}

/// Files that reach a changed file, by iterating "importer of an affected file is affected"
/// until nothing changes: deliberately a different algorithm from the graph's BFS.
fn reverse_reachable(edges: &[(usize, usize)], changed: &BTreeSet<usize>) -> BTreeSet<usize> {
    let mut affected = changed.clone();
    loop {
        let before = affected.len();
        for &(from, to) in edges {
            if affected.contains(&to) {
                affected.insert(from);
            }
        }
        if affected.len() == before {
            return affected;
        }
    }
}

/// Node count, edges, changed nodes (some beyond the graph), test nodes.
type RandomGraph = (usize, Vec<(usize, usize)>, BTreeSet<usize>, BTreeSet<usize>);

fn graph_strategy() -> impl Strategy<Value = RandomGraph> {
    (1usize..25).prop_flat_map(|n| {
        (
            Just(n),
            proptest::collection::vec((0..n, 0..n), 0..60),
            proptest::collection::btree_set(0..n + 3, 0..5), // may name files not in the graph
            proptest::collection::btree_set(0..n, 0..n),
        )
    })
}

proptest! {
    #[test]
    fn affected_is_reverse_reachability((n, edges, changed, tests) in graph_strategy()) {
        let mut graph = ImportGraph::new();
        for i in 0..n {
            graph.add_file(&name(i));
        }
        for &(from, to) in &edges {
            graph.add_dependency(&name(from), &name(to), EdgeKind::Import);
        }
        let changed_paths: Vec<PathBuf> = changed.iter().map(|&i| name(i)).collect();
        let expected: BTreeSet<PathBuf> =
            reverse_reachable(&edges, &changed).into_iter().map(name).collect();
        let actual = graph.affected(changed_paths.iter().map(PathBuf::as_path));
        prop_assert_eq!(&actual, &expected);

        let test_paths: Vec<PathBuf> = tests.iter().map(|&i| name(i)).collect();
        let selected = graph.tests_affected(
            changed_paths.iter().map(PathBuf::as_path),
            test_paths.iter().map(PathBuf::as_path),
        );
        let expected_tests: BTreeSet<PathBuf> =
            test_paths.into_iter().filter(|t| expected.contains(t)).collect();
        prop_assert_eq!(selected, expected_tests);
    }

    /// The forward query is the dual of the reverse one: `b` is a dependency of `a` exactly
    /// when a change to `b` affects `a` (the result cache relies on it to know every file a
    /// test module can reach).
    #[test]
    fn dependencies_are_the_dual_of_affected((n, edges, _changed, _tests) in graph_strategy()) {
        let mut graph = ImportGraph::new();
        for i in 0..n {
            graph.add_file(&name(i));
        }
        for &(from, to) in &edges {
            graph.add_dependency(&name(from), &name(to), EdgeKind::Import);
        }
        for a in 0..n {
            let deps = graph.dependencies_of(&name(a));
            for b in 0..n {
                let reaches = reverse_reachable(&edges, &BTreeSet::from([b])).contains(&a);
                prop_assert_eq!(deps.contains(name(b).as_path()), reaches, "{} -> {}", a, b);
            }
        }
    }
}

#[test]
fn conftest_edges_cover_own_directory_and_below_only() {
    let mut graph = ImportGraph::new();
    for file in [
        "conftest.py",
        "a/conftest.py",
        "a/b/test_deep.py",
        "a/test_a.py",
        "c/test_c.py",
        "ab/test_prefix.py",
    ] {
        graph.add_file(Path::new(file));
    }
    let tests = [
        "a/b/test_deep.py",
        "a/test_a.py",
        "c/test_c.py",
        "ab/test_prefix.py",
    ];
    graph.add_conftest_edges(tests.iter().map(Path::new));
    let affected = |changed: &str| -> Vec<String> {
        graph
            .affected([Path::new(changed)])
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    // `ab/` shares a string prefix with `a/` but is not below it.
    assert_eq!(
        affected("a/conftest.py"),
        ["a/b/test_deep.py", "a/conftest.py", "a/test_a.py"]
    );
    assert_eq!(
        affected("conftest.py"),
        [
            "a/b/test_deep.py",
            "a/test_a.py",
            "ab/test_prefix.py",
            "c/test_c.py",
            "conftest.py"
        ]
    );
}

#[test]
fn query_paths_are_normalized() {
    let mut graph = ImportGraph::new();
    graph.add_dependency(
        Path::new("pkg/test_x.py"),
        Path::new("pkg/a.py"),
        EdgeKind::Import,
    );
    let affected = graph.affected([Path::new("./pkg/a.py")]);
    let expected: BTreeSet<PathBuf> = ["pkg/a.py", "pkg/test_x.py"].map(PathBuf::from).into();
    assert_eq!(affected, expected);
    let tests = graph.tests_affected([Path::new("pkg/./a.py")], [Path::new("./pkg/test_x.py")]);
    assert_eq!(tests, BTreeSet::from([PathBuf::from("pkg/test_x.py")]));
}
