//! The data model: what discovery knows about one test, without importing it.

/// How pytest will run the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestKind {
    /// A module-level `def test_*` function.
    Function,
    /// A method of a `Test*` class collected by pytest's own class rules.
    Method,
    /// A method of a `unittest.TestCase` subclass (run through unittest's protocol).
    UnitTest,
}

/// Whether the `[...]` part of the node ID is known statically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamState {
    /// Not parametrized at all: the node ID has no `[...]`.
    None,
    /// Parametrized with literal arguments: this is pytest's exact ID (without brackets).
    Static(String),
    /// Parametrized with something only Python can evaluate (names, calls, comprehensions,
    /// parametrized fixtures, `pytest_generate_tests`): the runner expands it at run time.
    /// `node_id` then names the function only.
    Dynamic,
}

/// A mark applied to a test (`@pytest.mark.NAME(...)`, `pytestmark`, `pytest.param(marks=...)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mark {
    pub name: String,
    /// The argument list's source text, verbatim (empty when the mark was not called).
    pub args: String,
}

/// One test item, as pytest would collect it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TestItem {
    /// pytest's node ID: `path/to/test_x.py::TestClass::test_name[param-id]`, relative to rootdir.
    pub node_id: String,
    /// 1-based line of the `def`.
    pub line: u32,
    pub kind: TestKind,
    pub is_async: bool,
    /// Marks in pytest's order of `iter_markers()` (closest first).
    pub marks: Vec<Mark>,
    pub params: ParamState,
}

impl TestItem {
    /// The node ID without its `[...]` suffix: what identifies the function.
    pub fn function_id(&self) -> &str {
        match self.node_id.find('[') {
            Some(i) => &self.node_id[..i],
            None => &self.node_id,
        }
    }
}

/// A collection error, reported like pytest's "ERROR collecting path".
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CollectError {
    #[error("{path}:{line}:{column}: syntax error: {message}")]
    Syntax {
        path: String,
        line: u32,
        column: u32,
        message: String,
    },
    #[error("{path}: file is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { path: String, offset: u64 },
    #[error("{path}: cannot read: {message}")]
    Unreadable { path: String, message: String },
    #[error("{path}: file is larger than {limit} bytes; not analysed")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: {message}")]
    Other { path: String, message: String },
}

impl CollectError {
    pub fn path(&self) -> &str {
        match self {
            CollectError::Syntax { path, .. }
            | CollectError::NotUtf8 { path, .. }
            | CollectError::Unreadable { path, .. }
            | CollectError::TooLarge { path, .. }
            | CollectError::Other { path, .. } => path,
        }
    }
}

/// Everything discovery learned from one file: what the index caches per file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileResult {
    pub items: Vec<TestItem>,
    pub errors: Vec<CollectError>,
}
