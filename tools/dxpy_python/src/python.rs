//! The extension module `dx_py_test_runner._native`: a snapshot store per session, keyed by
//! test file, so Python hands over (file, name, serialised value) and Rust does the rest.

use std::collections::HashMap;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::file::Kind;
use crate::fixture_cache::{self, FixtureStore};
use crate::store::{Check, ModuleStore, StoreError};

fn to_py(err: StoreError) -> PyErr {
    PyOSError::new_err(err.to_string())
}

fn kind(text: bool) -> Kind {
    if text {
        Kind::Text
    } else {
        Kind::Value
    }
}

/// The session's snapshots: each test module's store, opened (and its index validated) once.
#[pyclass(module = "dx_py_test_runner._native")]
struct Store {
    modules: HashMap<String, ModuleStore>,
}

impl Store {
    fn module(&mut self, test_file: &str) -> PyResult<&mut ModuleStore> {
        if !self.modules.contains_key(test_file) {
            let store = ModuleStore::open(test_file.as_ref()).map_err(to_py)?;
            self.modules.insert(test_file.to_owned(), store);
        }
        self.modules
            .get_mut(test_file)
            .ok_or_else(|| PyOSError::new_err("snapshot store vanished"))
    }
}

#[pymethods]
impl Store {
    #[new]
    fn new() -> Store {
        Store {
            modules: HashMap::new(),
        }
    }

    /// `(0, None)` match, `(1, None)` missing, `(2, diff)` mismatch.
    fn check(
        &mut self,
        test_file: &str,
        name: &str,
        text: bool,
        body: &str,
    ) -> PyResult<(u8, Option<String>)> {
        match self
            .module(test_file)?
            .check(name, kind(text), body)
            .map_err(to_py)?
        {
            Check::Match => Ok((0, None)),
            Check::Missing => Ok((1, None)),
            Check::Mismatch { diff } => Ok((2, Some(diff))),
        }
    }

    /// Writes the snapshot; whether anything changed.
    fn write(&mut self, test_file: &str, name: &str, text: bool, body: &str) -> PyResult<bool> {
        self.module(test_file)?
            .write(name, kind(text), body)
            .map_err(to_py)
    }

    /// Deletes the named snapshots; how many existed.
    fn remove(&mut self, test_file: &str, names: Vec<String>) -> PyResult<usize> {
        self.module(test_file)?.remove(&names).map_err(to_py)
    }

    /// The stored snapshots' names, sorted.
    fn names(&mut self, test_file: &str) -> PyResult<Vec<String>> {
        Ok(self.module(test_file)?.names().map(str::to_owned).collect())
    }

    /// The module's snapshot directory.
    fn snapshot_dir(&mut self, test_file: &str) -> PyResult<String> {
        Ok(self.module(test_file)?.dir().to_string_lossy().into_owned())
    }

    /// The stored body and whether it is text, or `None`.
    fn read(&mut self, test_file: &str, name: &str) -> PyResult<Option<(bool, String)>> {
        let parsed = self.module(test_file)?.read(name).map_err(to_py)?;
        Ok(parsed.map(|p| (p.kind == Kind::Text, p.body)))
    }
}

/// The unified diff from `stored` to `received`.
#[pyfunction]
fn unified_diff(stored: &str, received: &str) -> String {
    crate::diff::unified(stored, received)
}

/// The cached fixtures of one project (`dir`, created 0700 on the first save).
#[pyclass(module = "dx_py_test_runner._native", name = "FixtureStore")]
struct PyFixtureStore {
    store: FixtureStore,
}

#[pymethods]
impl PyFixtureStore {
    #[new]
    fn new(dir: &str) -> PyFixtureStore {
        PyFixtureStore {
            store: FixtureStore::new(dir.into()),
        }
    }

    /// `(kind, payload)` stored under `key`, or `None`.
    fn load<'py>(
        &self,
        py: Python<'py>,
        key: &str,
    ) -> PyResult<Option<(u8, Bound<'py, pyo3::types::PyBytes>)>> {
        let found = self
            .store
            .load(key)
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(found.map(|(kind, payload)| (kind, pyo3::types::PyBytes::new(py, &payload))))
    }

    fn save(&self, key: &str, kind: u8, payload: &[u8]) -> PyResult<()> {
        self.store
            .save(key, kind, payload)
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }
}

/// The fixture store of the project at `rootdir`, or `None` without a cache directory.
#[pyfunction]
fn fixture_store_dir(rootdir: &str) -> Option<String> {
    fixture_cache::store_dir(rootdir.as_ref()).map(|dir| dir.to_string_lossy().into_owned())
}

/// Drops the fixture store of the project at `rootdir` (`--cache-clear`).
#[pyfunction]
fn clear_fixture_store(rootdir: &str) -> PyResult<()> {
    let Some(store) = fixture_cache::store_dir(rootdir.as_ref()) else {
        return Ok(());
    };
    let project = store.parent().unwrap_or(&store);
    fixture_cache::clear(project).map_err(|e| PyOSError::new_err(e.to_string()))
}

/// One discovered item: `(node_id, file, line, marks, param_id, dynamic)`.
type ItemTuple = (String, String, u32, Vec<String>, Option<String>, bool);

/// The rootdir and the items `dx-py discover ARGS` lists when run in `path`; a usage error
/// raises `ValueError` (pytest's exit code 4), an unusable `path` `OSError`.
#[pyfunction]
fn discover(py: Python<'_>, path: &str, args: Vec<String>) -> PyResult<(String, Vec<ItemTuple>)> {
    let path = std::path::PathBuf::from(path);
    let found = py.detach(move || crate::api::discover(&path, args));
    match found {
        Ok(found) => Ok((
            found.rootdir,
            found
                .items
                .into_iter()
                .map(|i| (i.node_id, i.file, i.line, i.marks, i.param_id, i.dynamic))
                .collect(),
        )),
        Err(err @ crate::api::ApiError::Path { .. }) => Err(PyOSError::new_err(err.to_string())),
        Err(err) => Err(pyo3::exceptions::PyValueError::new_err(err.to_string())),
    }
}

/// The Blake3 key of a fixture's parts (each length-prefixed).
#[pyfunction]
fn fixture_key(parts: Vec<Vec<u8>>) -> String {
    fixture_cache::key(parts)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Store>()?;
    m.add_class::<PyFixtureStore>()?;
    m.add_function(wrap_pyfunction!(fixture_key, m)?)?;
    m.add_function(wrap_pyfunction!(discover, m)?)?;
    m.add_function(wrap_pyfunction!(fixture_store_dir, m)?)?;
    m.add_function(wrap_pyfunction!(clear_fixture_store, m)?)?;
    m.add_function(wrap_pyfunction!(unified_diff, m)?)?;
    Ok(())
}
