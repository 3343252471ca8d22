//! The file dependency graph (petgraph) and reverse-dependency queries.
//!
//! Nodes are files (project-relative paths); an edge `a → b` means "a depends on b": a
//! imports b, or b is a `conftest.py` whose directory contains test file a. A change to b can
//! therefore affect every file that reaches b, which [`ImportGraph::affected`] computes by a
//! breadth-first search over incoming edges (cycles are fine: each node is visited once).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::resolve::normalize;

/// Why one file depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// The source file imports the target (directly, or via a package `__init__.py`).
    Import,
    /// The target is a `conftest.py` in the source test file's directory or an ancestor.
    Conftest,
}

/// Files and their dependencies.
#[derive(Debug, Clone, Default)]
pub struct ImportGraph {
    graph: DiGraph<PathBuf, EdgeKind>,
    nodes: HashMap<PathBuf, NodeIndex>,
}

impl ImportGraph {
    pub fn new() -> ImportGraph {
        ImportGraph::default()
    }

    /// The node of `file`, added if new.
    pub fn add_file(&mut self, file: &Path) -> NodeIndex {
        let file = normalize(file);
        if let Some(&index) = self.nodes.get(&file) {
            return index;
        }
        let index = self.graph.add_node(file.clone());
        self.nodes.insert(file, index);
        index
    }

    /// Record that `from` depends on `to` (both added if new; duplicates are merged, an
    /// `Import` edge takes precedence over a `Conftest` one). Self-dependencies are ignored.
    pub fn add_dependency(&mut self, from: &Path, to: &Path, kind: EdgeKind) {
        let (a, b) = (self.add_file(from), self.add_file(to));
        if a == b {
            return;
        }
        match self.graph.find_edge(a, b) {
            Some(edge) if kind == EdgeKind::Import => self.graph[edge] = EdgeKind::Import,
            Some(_) => {}
            None => {
                self.graph.add_edge(a, b, kind);
            }
        }
    }

    /// Make every file of `test_files` depend on each `conftest.py` node of the graph that
    /// lives in the test file's directory or one of its ancestors.
    pub fn add_conftest_edges<'a>(&mut self, test_files: impl IntoIterator<Item = &'a Path>) {
        let conftest_dirs: Vec<(PathBuf, PathBuf)> = self
            .nodes
            .keys()
            .filter(|path| path.file_name().is_some_and(|name| name == "conftest.py"))
            .map(|path| {
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (dir, path.clone())
            })
            .collect();
        for test in test_files {
            let test_dir = test.parent().unwrap_or(Path::new(""));
            for (dir, conftest) in &conftest_dirs {
                if test_dir.starts_with(dir) {
                    self.add_dependency(test, conftest, EdgeKind::Conftest);
                }
            }
        }
    }

    pub fn contains(&self, file: &Path) -> bool {
        self.nodes.contains_key(&normalize(file))
    }

    pub fn file_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn dependency_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// All files, sorted.
    pub fn files(&self) -> BTreeSet<&Path> {
        self.nodes.keys().map(PathBuf::as_path).collect()
    }

    /// Direct dependencies of `file`, sorted.
    pub fn dependencies(&self, file: &Path) -> Vec<(&Path, EdgeKind)> {
        let Some(&index) = self.nodes.get(&normalize(file)) else {
            return Vec::new();
        };
        let mut out: Vec<(&Path, EdgeKind)> = self
            .graph
            .edges_directed(index, Direction::Outgoing)
            .map(|edge| {
                use petgraph::visit::EdgeRef;
                (self.graph[edge.target()].as_path(), *edge.weight())
            })
            .collect();
        out.sort();
        out
    }

    /// Every file that (transitively) depends on a changed file, plus the changed files
    /// themselves (also those not in the graph, e.g. new or deleted files). Paths are
    /// project-relative; they are normalized lexically (`./a.py` is `a.py`).
    pub fn affected<'a>(&self, changed: impl IntoIterator<Item = &'a Path>) -> BTreeSet<PathBuf> {
        let mut result = BTreeSet::new();
        let mut visited = vec![false; self.graph.node_count()];
        let mut queue = VecDeque::new();
        for file in changed {
            let file = normalize(file);
            if let Some(&index) = self.nodes.get(&file) {
                if !visited[index.index()] {
                    visited[index.index()] = true;
                    queue.push_back(index);
                }
            }
            result.insert(file);
        }
        while let Some(index) = queue.pop_front() {
            result.insert(self.graph[index].clone());
            for dependent in self.graph.neighbors_directed(index, Direction::Incoming) {
                if !visited[dependent.index()] {
                    visited[dependent.index()] = true;
                    queue.push_back(dependent);
                }
            }
        }
        result
    }

    /// Every file `file` depends on, transitively (imports and conftest edges), itself
    /// included: what a test module's outcome can depend on among project files.
    pub fn dependencies_of(&self, file: &Path) -> BTreeSet<&Path> {
        let mut result = BTreeSet::new();
        let Some(&start) = self.nodes.get(&normalize(file)) else {
            return result;
        };
        let mut visited = vec![false; self.graph.node_count()];
        visited[start.index()] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(index) = queue.pop_front() {
            result.insert(self.graph[index].as_path());
            for dependency in self.graph.neighbors_directed(index, Direction::Outgoing) {
                if !visited[dependency.index()] {
                    visited[dependency.index()] = true;
                    queue.push_back(dependency);
                }
            }
        }
        result
    }

    /// The subset of `test_files` affected by `changed` (see [`ImportGraph::affected`]).
    pub fn tests_affected<'a, 'b>(
        &self,
        changed: impl IntoIterator<Item = &'a Path>,
        test_files: impl IntoIterator<Item = &'b Path>,
    ) -> BTreeSet<PathBuf> {
        let affected = self.affected(changed);
        test_files
            .into_iter()
            .map(normalize)
            .filter(|test| affected.contains(test))
            .collect()
    }
}
