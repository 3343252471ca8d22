//! `dx-py gazelle`: generate and update BUILD files for rules_dxpy (`dxpy_gazelle` does the
//! work; this module reads the command line, prints, and picks the exit code).
//!
//! Modes: `fix` writes the files, `diff` prints a unified diff (exit 0), `check` lists the
//! files that would change and exits 1 when there are any (for CI). `--update-manifest` only
//! rewrites the third-party manifest from the interpreter's installed distributions (with
//! `--requirements LOCK`, only those the lock names).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use dxpy_discover::session;
use dxpy_gazelle::manifest::lock_distributions;
use dxpy_gazelle::{plan, unified_diff, Manifest, Options, MANIFEST_FILE};
use dxpy_graph::PythonVersion;

use crate::args::{GazelleArgs, GazelleMode};
use crate::exit::Code;

pub fn run(args: GazelleArgs) -> anyhow::Result<Code> {
    let repo_root = repo_root(args.repo_root.as_deref())?;
    let manifest_path = repo_root.join(MANIFEST_FILE);
    if args.update_manifest {
        return update_manifest(&args, &manifest_path);
    }
    let version = parse_version(&args.python_version)?;
    let manifest = Manifest::load(&manifest_path)?;
    let cache_path = session::cache_root()
        .filter(|_| !args.no_cache)
        .map(|root| session::project_cache_dir(&root, &repo_root).join("gazelle_imports.bin"));
    let only = args
        .paths
        .iter()
        .map(|path| repo_relative(&repo_root, path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = Options {
        repo_root: repo_root.clone(),
        python_version: version,
        manifest,
        cache_path,
        only,
    };
    let plan = plan(&options)?;
    for warning in &plan.directive_warnings {
        eprintln!(
            "dx-py gazelle: {}: {}",
            warning.build_file.display(),
            warning.error
        );
    }
    for cycle in &plan.dependency_cycles {
        eprintln!(
            "dx-py gazelle: dependency cycle (Bazel will reject it; break the import cycle or \
             use `# dxpy:generation_mode file`): {}",
            cycle.join(" <-> ")
        );
    }
    for unresolved in &plan.unresolved {
        eprintln!("dx-py gazelle: {unresolved}");
    }
    if let Some(warning) = &plan.cache_warning {
        eprintln!("dx-py gazelle: cache not saved: {warning}");
    }
    if args.verbose {
        let s = plan.stats;
        eprintln!(
            "dx-py gazelle: {} packages, {} Python files ({} tests), {} parsed, {} from cache; \
             literals: {} parsed, {} from cache",
            s.packages,
            s.python_files,
            s.test_files,
            s.parsed,
            s.reused,
            s.literals_parsed,
            s.literals_reused
        );
    }
    match args.mode {
        GazelleMode::Fix => {
            plan.write(&repo_root)?;
            if !plan.files.is_empty() {
                eprintln!("dx-py gazelle: updated {} BUILD file(s)", plan.files.len());
            }
            Ok(Code::Ok)
        }
        GazelleMode::Diff => {
            for file in &plan.files {
                print!("{}", unified_diff(file));
            }
            Ok(Code::Ok)
        }
        GazelleMode::Check => {
            for file in &plan.files {
                println!("{}", file.path.display());
            }
            if plan.files.is_empty() {
                Ok(Code::Ok)
            } else {
                eprintln!(
                    "dx-py gazelle: {} BUILD file(s) out of date; run `dx-py gazelle` to fix",
                    plan.files.len()
                );
                Ok(Code::TestsFailed)
            }
        }
    }
}

fn repo_root(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let root = match given {
        Some(path) => path.to_path_buf(),
        None => match std::env::var_os("BUILD_WORKSPACE_DIRECTORY").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir().context("reading the current directory")?,
        },
    };
    let root =
        std::path::absolute(&root).with_context(|| format!("resolving {}", root.display()))?;
    if !root.is_dir() {
        bail!("repository root {} is not a directory", root.display());
    }
    Ok(root)
}

/// A PATHS argument as a repo-relative directory; relative paths are taken from the user's
/// directory (`$BUILD_WORKING_DIRECTORY` under `bazel run`).
fn repo_relative(repo_root: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    let absolute = from_user_dir(path)?;
    match absolute.strip_prefix(repo_root) {
        Ok(relative) => Ok(relative.to_path_buf()),
        Err(_) => bail!(
            "{} is outside the repository {}",
            path.display(),
            repo_root.display()
        ),
    }
}

/// A path argument made absolute from the user's directory (`$BUILD_WORKING_DIRECTORY` under
/// `bazel run`, whose launcher runs in the workspace root).
fn from_user_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("BUILD_WORKING_DIRECTORY").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    Ok(std::path::absolute(base.join(path))?)
}

fn parse_version(text: &str) -> anyhow::Result<PythonVersion> {
    text.split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .and_then(|(major, minor)| PythonVersion::from_minor(major, minor))
        .with_context(|| format!("--python-version expects 3.9 to 3.14, got {text:?}"))
}

fn update_manifest(args: &GazelleArgs, manifest_path: &Path) -> anyhow::Result<Code> {
    let python = match &args.python {
        Some(python) => python.clone(),
        None => match std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            Some(venv) => PathBuf::from(venv).join("bin").join("python"),
            None => PathBuf::from("python3"),
        },
    };
    // purelib/platlib first (the interpreter's own environment), then site's list.
    let script = "import json, site, sysconfig\n\
paths = [sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']]\n\
paths += getattr(site, 'getsitepackages', lambda: [])()\n\
print(json.dumps(list(dict.fromkeys(paths))))";
    let output = Command::new(&python)
        .args(["-c", script])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let dirs: Vec<PathBuf> = serde_json::from_slice::<Vec<String>>(&output.stdout)
        .context("reading the interpreter's site-packages list")?
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let pattern = match &args.label_pattern {
        Some(pattern) => pattern.clone(),
        None => Manifest::load(manifest_path)?.label_pattern,
    };
    let (mut manifest, clashes) = Manifest::scan(&dirs, &pattern)?;
    if let Some(lock) = &args.requirements {
        let lock = from_user_dir(lock)?;
        let text = std::fs::read_to_string(&lock)
            .with_context(|| format!("reading {}", lock.display()))?;
        for missing in manifest.retain_locked(&lock_distributions(&text)) {
            eprintln!(
                "dx-py gazelle: {} names {missing}, which is not installed for {}; its imports \
                 stay unmapped",
                lock.display(),
                python.display()
            );
        }
    }
    for clash in &clashes {
        eprintln!(
            "dx-py gazelle: module `{}` is provided by {} and {}; using {}",
            clash.module, clash.chosen, clash.other, clash.chosen
        );
    }
    std::fs::write(manifest_path, manifest.to_text()?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    eprintln!(
        "dx-py gazelle: wrote {} ({} modules)",
        manifest_path.display(),
        manifest.modules.len()
    );
    Ok(Code::Ok)
}
