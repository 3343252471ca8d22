//! `dxpy_gazelle`: generates and updates `BUILD.bazel` files for rules_dxpy from pytest's view
//! of the repository (which files are tests) and the import graph (what each file needs).
//!
//! Layout:
//! - [`tree`]: the repository walk into packages (one per directory with Python files or a
//!   BUILD file), each with its parsed BUILD file and its effective [`directives`].
//! - [`directives`]: `# dxpy:` directives and their inheritance by subpackages.
//! - [`generate`]: file ownership (which target owns each `.py`, and the libraries of test
//!   files other files import), per-file dependencies from `dxpy_graph`'s resolutions and
//!   `pytest_plugins`, and the rules of a package.
//! - [`literals`]: tree-sitter reading of `pytest_plugins` and of string literals that may
//!   name files, kept per file in [`literals_cache`]; [`data`]: those found on disk (and
//!   `# dxpy:data` globs) as `data` labels.
//! - [`manifest`]: the third-party manifest (module → distribution → label) and its
//!   construction from installed distributions' metadata.
//! - [`buildfile`]: the Starlark parse of existing BUILD files (`starlark_syntax`), with the
//!   comments the parser drops.
//! - [`merge`]: the merge of generated rules into existing files (`# keep`, hand-written rules,
//!   stale-target removal); [`render`]: buildifier-style text.
//! - this file: [`plan`] ties them together and returns the new text of every BUILD file,
//!   with [`Plan::write`] and [`unified_diff`] for the `fix` and `diff` modes.
//!
//! Test files are those pytest would collect (its configuration, `testpaths`,
//! `norecursedirs`, `collect_ignore`, `python_files`, read by `dxpy_discover` as if pytest ran
//! at the repository root), unless `# dxpy:test_file_pattern` says otherwise for a subtree.
//! The same configuration's `pythonpath` entries and rootdir (when below the repository root)
//! are import roots where no `# dxpy:python_root` is in effect.

pub mod buildfile;
pub mod data;
pub mod directives;
pub mod generate;
pub mod literals;
pub mod literals_cache;
pub mod manifest;
pub mod merge;
pub mod render;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dxpy_discover::config::{self, ConfigRequest};
use dxpy_discover::walk;
use dxpy_graph::{
    build_graph, first_roots, FileReport, GraphConfig, Import, ImportForm, PythonVersion,
    Resolution, Resolver,
};

pub use directives::{Directive, DirectiveError, Directives, GenerationMode};
pub use generate::{UnresolvedImport, UnresolvedReason};
pub use manifest::{Manifest, MANIFEST_FILE};
pub use tree::DirectiveWarning;

/// Everything that stops a run.
#[derive(Debug, thiserror::Error)]
pub enum GazelleError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot parse: {message}", path = path.display())]
    BuildSyntax { path: PathBuf, message: String },
    #[error("{path}: bad manifest: {message}", path = path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("pytest configuration: {0}")]
    PytestConfig(String),
}

impl GazelleError {
    pub fn io(path: &Path, source: std::io::Error) -> GazelleError {
        GazelleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repository (workspace) root: absolute.
    pub repo_root: PathBuf,
    /// Whose standard library is not a dependency.
    pub python_version: PythonVersion,
    pub manifest: Manifest,
    /// Where the import cache lives (`None`: no cache); the literal cache is beside it.
    pub cache_path: Option<PathBuf>,
    /// Only update BUILD files in these repo-relative directories and below (empty: all).
    pub only: Vec<PathBuf>,
}

/// The outcome for one BUILD file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Repo-relative.
    pub path: PathBuf,
    pub old: Option<String>,
    pub new: String,
}

impl PlannedFile {
    pub fn changed(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_str())
    }
}

/// Counters for `--verbose` and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packages: usize,
    pub python_files: usize,
    pub test_files: usize,
    /// Files parsed for imports, and files whose imports came from the cache.
    pub parsed: usize,
    pub reused: usize,
    /// Files scanned for literals, and files whose literals came from the cache.
    pub literals_parsed: usize,
    pub literals_reused: usize,
}

/// The result of a run: the BUILD files that differ from disk, and the problems met.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Only files whose content changes (or that are created).
    pub files: Vec<PlannedFile>,
    pub unresolved: Vec<UnresolvedImport>,
    pub directive_warnings: Vec<DirectiveWarning>,
    /// Generated targets that depend on each other in a cycle (absolute labels, each cycle
    /// sorted): Bazel rejects these; break the import cycle (or switch to file mode).
    pub dependency_cycles: Vec<Vec<String>>,
    /// Set when the import or literal cache could not be saved (the plan is still complete).
    pub cache_warning: Option<String>,
    pub stats: Stats,
}

impl Plan {
    /// Write every changed file under `repo_root` (atomically: temp file + rename).
    pub fn write(&self, repo_root: &Path) -> Result<(), GazelleError> {
        // Ordinary mode, like any source file; unsynced like before: a BUILD file is cheap to
        // regenerate, and a run may write thousands.
        let options = dxpy_fs::AtomicWrite::public().unsynced();
        for file in &self.files {
            let path = repo_root.join(&file.path);
            options
                .write(&path, file.new.as_bytes())
                .map_err(|e| GazelleError::io(&path, e))?;
        }
        Ok(())
    }
}

/// A unified diff of one planned file (`a/` and `b/` prefixes, like `git diff`).
pub fn unified_diff(file: &PlannedFile) -> String {
    let old = file.old.as_deref().unwrap_or("");
    let name = file.path.to_string_lossy();
    let old_name = if file.old.is_some() {
        format!("a/{name}")
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(old, &file.new)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &format!("b/{name}"))
        .to_string()
}

/// Compute the new BUILD files for the repository.
pub fn plan(options: &Options) -> Result<Plan, GazelleError> {
    let root = &options.repo_root;
    let pytest = pytest_view(root)?;
    let (packages, directive_warnings) = tree::walk_packages(root, &pytest.import_roots)?;
    let pytest_tests = &pytest.test_files;
    let mut tests = BTreeSet::new();
    let mut files = Vec::new();
    for package in &packages {
        for name in &package.py_files {
            let path = package.dir.join(name);
            let is_test = name != "conftest.py"
                && name != "__init__.py"
                && package
                    .directives
                    .is_test_by_pattern(name)
                    .unwrap_or_else(|| pytest_tests.contains(&path));
            if is_test {
                tests.insert(path.clone());
            }
            files.push(path);
        }
    }
    let owners = generate::assign_owners(&packages, &tests);

    // Import roots: declared or inferred (deepest first), then the repository root.
    let mut roots: Vec<PathBuf> = packages
        .iter()
        .filter_map(|p| p.directives.python_root.clone())
        .filter(|root| !root.as_os_str().is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    roots.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(a.cmp(b))
    });
    roots.push(PathBuf::new());
    let graph_config = GraphConfig {
        resolver: Resolver::new(root, &roots, options.python_version),
        test_files: tests.clone(),
        prepend_import_mode: true,
        cache_path: options.cache_path.clone(),
    };
    let mut build = build_graph(&graph_config, &files);
    let scanned = scan_literals(
        root,
        &files,
        options
            .cache_path
            .as_ref()
            .map(|p| p.with_file_name(literals_cache::LITERALS_CACHE_FILE))
            .as_deref(),
    );
    let literals = &scanned.by_file;
    add_plugin_imports(&graph_config, literals, &mut build.files);

    let package_of: BTreeMap<&Path, &tree::Package> =
        packages.iter().map(|p| (p.dir.as_path(), p)).collect();
    let imported = generate::imported_tests(build.files.iter(), &owners);
    let test_libraries = generate::test_libraries(&imported, &owners);
    let mut unresolved = Vec::new();
    let mut deps_of = BTreeMap::new();
    for file in &files {
        let (Some(report), Some(package)) = (
            build.files.get(file),
            file.parent().and_then(|d| package_of.get(d)),
        ) else {
            continue;
        };
        let deps = generate::file_deps(
            file,
            report,
            package,
            &owners,
            &test_libraries,
            options,
            &mut unresolved,
        );
        deps_of.insert(file.clone(), deps);
    }

    let data_context = data::DataContext {
        repo_root: std::fs::canonicalize(root).map_err(|e| GazelleError::io(root, e))?,
        bases: std::iter::once(PathBuf::new())
            .chain(pytest.rootdir.clone())
            .chain(roots.iter().cloned())
            .collect(),
        import_roots: roots.clone(),
        packages: packages.iter().map(|p| p.dir.clone()).collect(),
    };
    let data_of: BTreeMap<PathBuf, BTreeSet<PathBuf>> = literals
        .iter()
        .map(|(file, found)| (file.clone(), data_context.files_for(file, &found.paths)))
        .filter(|(_, data)| !data.is_empty())
        .collect();
    let inputs = generate::RuleInputs {
        owners: &owners,
        test_libraries: &test_libraries,
        deps_of: &deps_of,
        data_of: &data_of,
        data: &data_context,
    };
    let mut glob_files = data::GlobFiles::default();

    unresolved.sort_by(|a, b| (&a.file, a.line, &a.module).cmp(&(&b.file, b.line, &b.module)));
    let all_rules: Vec<Vec<merge::GeneratedRule>> = packages
        .iter()
        .map(|package| {
            let test_data = glob_files.matching(&data_context, &package.directives.data_globs);
            generate::package_rules(package, &inputs, &test_data)
        })
        .collect();
    let dependency_cycles = generate::dependency_cycles(
        packages
            .iter()
            .map(|p| p.dir.as_path())
            .zip(all_rules.iter()),
    );
    let exports = data_exports(&all_rules);
    let no_exports = BTreeSet::new();
    let mut planned = Vec::new();
    for (package, rules) in packages.iter().zip(all_rules) {
        if !options.only.is_empty() && !options.only.iter().any(|o| package.dir.starts_with(o)) {
            continue;
        }
        let generated_sources: BTreeSet<String> =
            rules.iter().flat_map(|r| r.srcs.iter().cloned()).collect();
        let existing_sources: BTreeSet<String> = package.all_files.iter().cloned().collect();
        let package_exports = exports
            .get(&slash_path(&package.dir))
            .unwrap_or(&no_exports);
        let context = merge::MergeContext {
            generated_sources: &generated_sources,
            existing_sources: &existing_sources,
            exports: package_exports,
        };
        if package.existing.is_none() && rules.is_empty() && package_exports.is_empty() {
            continue;
        }
        let new = merge::merge(package.existing.as_ref(), &rules, &context);
        let file = PlannedFile {
            path: package.build_path.clone(),
            old: package.existing.as_ref().map(|f| f.source.clone()),
            new,
        };
        if file.changed() {
            planned.push(file);
        }
    }
    Ok(Plan {
        files: planned,
        unresolved,
        directive_warnings,
        dependency_cycles,
        cache_warning: build
            .cache_save_error
            .map(|e| e.to_string())
            .or(scanned.save_error.map(|e| e.to_string())),
        stats: Stats {
            packages: packages.len(),
            python_files: files.len(),
            test_files: tests.len(),
            parsed: build.parsed,
            reused: build.reused,
            literals_parsed: scanned.parsed,
            literals_reused: scanned.reused,
        },
    })
}

/// Files other packages name as `data` (`//pkg:path`): package (slash path) → paths in it.
/// Bazel lets another package name a source file only if it is exported.
fn data_exports(all_rules: &[Vec<merge::GeneratedRule>]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in all_rules.iter().flatten() {
        for label in &rule.data {
            if let Some((package, file)) = label.strip_prefix("//").and_then(|l| l.split_once(':'))
            {
                out.entry(package.to_owned())
                    .or_default()
                    .insert(file.to_owned());
            }
        }
    }
    out
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// What pytest's configuration (read as if pytest ran at the repository root) says.
struct PytestView {
    /// The files pytest would collect as test modules (repo-relative).
    test_files: BTreeSet<PathBuf>,
    /// `pythonpath` entries and a rootdir below the repository root (repo-relative, never
    /// the root itself): import roots unless a directive says otherwise.
    import_roots: Vec<PathBuf>,
    /// The rootdir when it is below the repository root.
    rootdir: Option<PathBuf>,
}

fn pytest_view(root: &Path) -> Result<PytestView, GazelleError> {
    let request = ConfigRequest {
        invocation_dir: root.to_path_buf(),
        args: Vec::new(),
        env_addopts: None,
    };
    let config = config::load(&request).map_err(|e| GazelleError::PytestConfig(e.to_string()))?;
    let below_root = |dir: &Path| {
        dir.strip_prefix(root)
            .ok()
            .filter(|rel| !rel.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    let rootdir = below_root(&config.rootdir);
    let mut import_roots: Vec<PathBuf> = config
        .pythonpath
        .iter()
        .filter_map(|dir| below_root(dir))
        .collect();
    import_roots.extend(rootdir.clone());
    let walked = walk::walk(&config).map_err(|e| GazelleError::PytestConfig(e.to_string()))?;
    let test_files = walked
        .files
        .into_iter()
        .filter(|f| f.roles.test_module)
        .filter_map(|f| f.path.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect();
    Ok(PytestView {
        test_files,
        import_roots,
        rootdir,
    })
}

/// Every file's literals, with counters and the cache's save error.
struct ScannedLiterals {
    by_file: BTreeMap<PathBuf, literals::Literals>,
    parsed: usize,
    reused: usize,
    save_error: Option<literals_cache::LiteralCacheError>,
}

/// The literals of every file (unreadable files have none), in parallel: from the cache at
/// `cache_path` for files whose stamp still holds, else parsed; the cache is then rewritten
/// with exactly these files. An unusable cache is an empty one.
fn scan_literals(root: &Path, files: &[PathBuf], cache_path: Option<&Path>) -> ScannedLiterals {
    use literals_cache::{LiteralCache, Scanned};
    use rayon::prelude::*;
    let old = cache_path
        .and_then(|path| LiteralCache::load(path).ok())
        .unwrap_or_default();
    let scanned: Vec<(PathBuf, Option<String>, Scanned)> = files
        .par_iter()
        .map(|file| {
            let key = file.to_str().map(str::to_owned);
            let found =
                literals_cache::scan_file(&root.join(file), key.as_deref().unwrap_or(""), &old);
            (file.clone(), key, found)
        })
        .collect();
    let mut out = ScannedLiterals {
        by_file: BTreeMap::new(),
        parsed: 0,
        reused: 0,
        save_error: None,
    };
    let mut new = LiteralCache::default();
    for (file, key, found) in scanned {
        let (stamp, found) = match found {
            Scanned::Parsed(stamp, found) => {
                out.parsed += 1;
                (stamp, found)
            }
            Scanned::Reused(stamp, found) => {
                out.reused += 1;
                (stamp, found)
            }
            Scanned::Unreadable => continue,
        };
        if let Some(key) = key {
            new.insert(key, stamp, found.clone());
        }
        out.by_file.insert(file, found);
    }
    if let Some(path) = cache_path {
        out.save_error = new.save(path).err();
    }
    out
}

/// Plugins pytest itself provides under a short name (no distribution to depend on).
const BUILTIN_PLUGINS: [&str; 2] = ["pytester", "pytester_assertions"];

/// `pytest_plugins` of conftests and test modules are imports pytest makes: add them to
/// their files' reports, resolved like `import NAME` written there.
fn add_plugin_imports(
    config: &GraphConfig,
    literals: &BTreeMap<PathBuf, literals::Literals>,
    reports: &mut BTreeMap<PathBuf, FileReport>,
) {
    for (file, found) in literals {
        let is_conftest = file.file_name().is_some_and(|n| n == "conftest.py");
        if found.plugins.is_empty() || !(is_conftest || config.test_files.contains(file)) {
            continue;
        }
        let Some(report) = reports.get_mut(file) else {
            continue;
        };
        let first = first_roots(config, config.resolver.project_root(), file);
        for (name, line) in &found.plugins {
            if BUILTIN_PLUGINS.contains(&name.as_str()) {
                continue;
            }
            let import = Import {
                form: ImportForm::Import,
                module: name.clone(),
                level: 0,
                alias: None,
                names: Vec::new(),
                package: None,
                line: *line,
                optional: false,
                type_only: false,
            };
            let resolution: Resolution = config.resolver.resolve(file, &import, &first);
            report.imports.imports.push(import);
            report.resolutions.push(resolution);
        }
    }
}
