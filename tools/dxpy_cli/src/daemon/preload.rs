//! What the daemon's zygote imports besides pytest: the third-party top-level modules that the
//! project's test modules, conftests and the first-party modules they reach import (from the
//! import graph, `dxpy_graph`), so a fork finds them loaded. Never first-party code (a run must
//! see the files as they are now), and never a pytest plugin's module: pytest rewrites the
//! asserts of plugins it loads, and warns when one was imported before it could.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dxpy_discover::session::Discovery;
use dxpy_graph::{GraphBuild, PythonVersion, ResolutionKind};

/// Already in every zygote (or pytest's own).
const ALWAYS_LOADED: [&str; 3] = ["pytest", "_pytest", "pluggy"];

/// What one import-graph build tells the daemon: [`third_party_imports`] and
/// [`session_files`].
pub fn scan(
    discovery: &Discovery,
    version: PythonVersion,
    site_dirs: &[&Path],
) -> (BTreeSet<String>, BTreeSet<PathBuf>) {
    let graph = crate::project::project_graph(discovery, version, false);
    let (build, test_files) = &*graph;
    (
        third_party_imports(build, site_dirs),
        session_files(build, test_files),
    )
}

/// The first-party files (rootdir-relative) a worker's pytest session may load before it
/// imports the test modules: every file of the graph that is not a test module (conftests
/// and what they reach, and the modules the tests reach) and whatever those import (a test
/// module a conftest imports included). A spare worker is valid while none of them changed.
pub fn session_files(build: &GraphBuild, test_files: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for (path, report) in &build.files {
        if test_files.contains(path) {
            continue;
        }
        files.insert(path.clone());
        for resolution in &report.resolutions {
            files.extend(resolution.files.iter().cloned());
        }
    }
    files
}

/// The third-party top-level modules the project's tests reach, minus pytest plugins found in
/// `site_dirs`.
fn third_party_imports(build: &GraphBuild, site_dirs: &[&Path]) -> BTreeSet<String> {
    let plugins = pytest_plugin_modules(site_dirs);
    build
        .files
        .values()
        .flat_map(|report| &report.resolutions)
        .filter_map(|resolution| match &resolution.kind {
            ResolutionKind::ThirdParty { top } => Some(top.clone()),
            _ => None,
        })
        .filter(|top| is_identifier(top))
        .filter(|top| !ALWAYS_LOADED.contains(&top.as_str()) && !plugins.contains(top))
        .collect()
}

/// The top-level modules of the `pytest11` entry points of the distributions in `site_dirs`.
pub fn pytest_plugin_modules(site_dirs: &[&Path]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for dir in site_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.ends_with(".dist-info") || name.ends_with(".egg-info")) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(entry.path().join("entry_points.txt")) {
                found.extend(pytest11_tops(&text));
            }
        }
    }
    found
}

/// `[pytest11]` entries of an `entry_points.txt`: `name = package.module:attr` → `package`.
fn pytest11_tops(text: &str) -> Vec<String> {
    let mut in_section = false;
    let mut tops = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[pytest11]";
        } else if in_section {
            if let Some((_, value)) = line.split_once('=') {
                let module = value.trim().split(':').next().unwrap_or("");
                if let Some(top) = module.split('.').next().filter(|t| !t.is_empty()) {
                    tops.push(top.trim().to_owned());
                }
            }
        }
    }
    tops
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest11_entry_points_name_their_top_level_modules() {
        let text = "[console_scripts]\nfoo = foo.cli:main\n\n[pytest11]\nxdist = xdist.plugin\n\
                    looponfail = xdist.looponfail:x\n asyncio = pytest_asyncio.plugin \n\n[other]\n\
                    bar = bar:baz\n";
        assert_eq!(
            pytest11_tops(text),
            ["xdist", "xdist", "pytest_asyncio"].map(String::from)
        );
    }

    #[test]
    fn only_identifiers_are_module_names() {
        assert!(is_identifier("numpy"));
        assert!(is_identifier("_private"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
