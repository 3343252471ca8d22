//! `dx.discover()`: the items `dx-py discover` lists, from the Rust discovery (no test is
//! imported), in the shape the Python side hands on.

use std::io;
use std::path::Path;

use dxpy_discover::config::ConfigRequest;
use dxpy_discover::item::ParamState;
use dxpy_discover::session::{self, CacheLocation, DiscoverOptions};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{path}: {source}")]
    Path {
        path: String,
        #[source]
        source: io::Error,
    },
    /// pytest would stop with a usage error (exit code 4).
    #[error(transparent)]
    Discover(#[from] session::DiscoverError),
}

/// One collected test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// pytest's node ID, relative to the rootdir.
    pub node_id: String,
    /// The test module, absolute.
    pub file: String,
    /// 1-based line of the `def`.
    pub line: u32,
    /// Mark names, closest first (pytest's `iter_markers()` order).
    pub marks: Vec<String>,
    /// The parametrize ID (`a-1` of `test_x[a-1]`) when discovery can name it statically.
    pub param_id: Option<String>,
    /// Only Python can tell this test's parameters (`dx-py test` collects it through pytest).
    pub dynamic: bool,
}

/// What [`discover`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// pytest's rootdir, absolute: node IDs are relative to it.
    pub rootdir: String,
    pub items: Vec<Item>,
}

/// Discovery as `dx-py discover ARGS` run in `path` does it (with the user's cache):
/// pytest's configuration, `-k`/`-m`, node IDs and paths in `args`, `PYTEST_ADDOPTS`.
pub fn discover(path: &Path, args: Vec<String>) -> Result<Discovered, ApiError> {
    let invocation_dir = std::path::absolute(path).map_err(|source| ApiError::Path {
        path: path.display().to_string(),
        source,
    })?;
    let options = DiscoverOptions {
        request: ConfigRequest {
            invocation_dir,
            args,
            env_addopts: std::env::var("PYTEST_ADDOPTS").ok(),
        },
        cache: session::cache_root().map_or(CacheLocation::Off, CacheLocation::UnderRoot),
        ..DiscoverOptions::default()
    };
    let discovery = session::discover(&options)?;
    let rootdir = &discovery.config.rootdir;
    let items = discovery
        .items
        .iter()
        .map(|item| {
            let module = item.node_id.split("::").next().unwrap_or(&item.node_id);
            let (param_id, dynamic) = match &item.params {
                ParamState::None => (None, false),
                ParamState::Static(id) => (Some(id.clone()), false),
                ParamState::Dynamic => (None, true),
            };
            Item {
                node_id: item.node_id.clone(),
                file: rootdir.join(module).to_string_lossy().into_owned(),
                line: item.line,
                marks: item.marks.iter().map(|m| m.name.clone()).collect(),
                param_id,
                dynamic,
            }
        })
        .collect();
    Ok(Discovered {
        rootdir: rootdir.to_string_lossy().into_owned(),
        items,
    })
}
