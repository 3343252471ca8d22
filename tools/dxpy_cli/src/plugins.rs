//! Whether the workers' pytest loads a given plugin, decided without starting the
//! interpreter: for what dx-py does differently with a plugin there (pytest-randomly's seed,
//! pytest-timeout's `--timeout`).
//!
//! A plugin is loaded when `-p NAME` names it, or when a distribution on the interpreter's
//! path declares it as a `pytest11` entry point (and `PYTEST_DISABLE_PLUGIN_AUTOLOAD` is not
//! set), unless `-p no:NAME` blocks it. The interpreter's path here is its `site-packages`
//! as a virtualenv or a prefix install lays it out, and `PYTHONPATH`.

use std::path::{Path, PathBuf};

use dxpy_discover::session::Discovery;

/// Whether the plugin known as `names` (its entry point name, then its top-level module) is
/// loaded by the workers' pytest, given their `pytest_args` and the project's config.
pub fn loaded(
    pytest_args: &[String],
    discovery: &Discovery,
    python: &Path,
    names: &[&str; 2],
) -> bool {
    let plugins: Vec<String> = discovery
        .config
        .args
        .plugins
        .iter()
        .cloned()
        .chain(plugin_values(pytest_args))
        .collect();
    let named = |prefix: &str| {
        plugins
            .iter()
            .any(|p| names.iter().any(|n| *p == format!("{prefix}{n}")))
    };
    if named("no:") {
        return false;
    }
    let autoload = std::env::var_os("PYTEST_DISABLE_PLUGIN_AUTOLOAD").is_none_or(|v| v.is_empty());
    named("") || (autoload && installed(python, names[1]))
}

/// The values of `-p NAME` / `-pNAME` / `-p=NAME` in `args`.
fn plugin_values(args: &[String]) -> Vec<String> {
    let mut values = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-p" {
            values.extend(iter.next().cloned());
        } else if let Some(value) = arg.strip_prefix("-p") {
            values.push(value.trim_start_matches('=').to_owned());
        }
    }
    values
}

/// Whether a distribution on the interpreter's path declares a `pytest11` entry point in
/// `module`.
fn installed(python: &Path, module: &str) -> bool {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PYTHONPATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let prefix = python.parent().and_then(Path::parent);
    if let Some(lib) = prefix.map(|p| p.join("lib")) {
        for entry in std::fs::read_dir(lib).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                dirs.push(entry.path().join("site-packages"));
            }
        }
    }
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    crate::daemon::preload::pytest_plugin_modules(&dirs).contains(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_values_in_every_spelling() {
        let args: Vec<String> = ["-p", "no:randomly", "-pxdist", "-x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(plugin_values(&args), ["no:randomly", "xdist"]);
    }
}
