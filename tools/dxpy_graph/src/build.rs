//! Building the graph for a project: parse (in parallel, through the cache), resolve, link.
//!
//! [`build_graph`] works in waves: it extracts the given files, resolves their imports, and
//! extracts the first-party files those imports reach that were not given, until no new file
//! appears. Each file's imports come from the [`ImportCache`] when its stamp still matches
//! (mtime and size, or else the Blake3 of the contents), otherwise from a fresh parse.
//! As in the discovery index, an edit that keeps both size and mtime (within the file
//! system's timestamp resolution) is not noticed.
//!
//! Every resolved first-party file becomes an edge, including those of `optional` and
//! `type_only` imports and of imports that are partly unresolved (e.g. the package
//! `__init__.py` of a missing submodule): over-approximating the dependencies can only select
//! more tests, never miss one. The flags stay available in [`FileReport`] for finer policies.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use dxpy_fs::FileStamp;
use rayon::prelude::*;

use crate::cache::{CacheError, ImportCache};
use crate::extract::{extract_imports, ExtractError, FileImports};
use crate::graph::{EdgeKind, ImportGraph};
use crate::resolve::{normalize, Resolution, ResolutionKind, Resolver};
// Listed where namespace packages are resolved; part of the build API as before.
pub use crate::resolve::python_files_under;

/// What [`build_graph`] needs to know about the project.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub resolver: Resolver,
    /// Test files (project-relative): they get `conftest.py` edges and, with
    /// `prepend_import_mode`, their basedir searched first.
    pub test_files: BTreeSet<PathBuf>,
    /// pytest's default `--import-mode=prepend`: a test or conftest file's *basedir* (the
    /// first directory upwards without `__init__.py`) is put first on `sys.path`.
    pub prepend_import_mode: bool,
    /// Where the import cache lives; `None` disables caching.
    pub cache_path: Option<PathBuf>,
}

/// How the cache was used.
#[derive(Debug)]
pub enum CacheOutcome {
    Disabled,
    /// Loaded and validated.
    Loaded,
    /// None or unusable: every file was parsed. Holds why (missing, corrupt, ...).
    Rebuilt(CacheError),
}

/// An import that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedImport {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
}

/// Extraction and resolution of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub imports: FileImports,
    /// One per import, in the same order.
    pub resolutions: Vec<Resolution>,
}

/// Everything [`build_graph`] produced.
#[derive(Debug)]
pub struct GraphBuild {
    pub graph: ImportGraph,
    pub files: BTreeMap<PathBuf, FileReport>,
    pub unresolved: Vec<UnresolvedImport>,
    pub cache: CacheOutcome,
    /// Set when saving the updated cache failed (the graph is still complete).
    pub cache_save_error: Option<CacheError>,
    /// Files parsed in this build, and files whose imports came from the cache.
    pub parsed: usize,
    pub reused: usize,
}

/// Build the graph of `files` (project-relative `.py` paths, including `conftest.py` files)
/// and every first-party file they reach.
pub fn build_graph(config: &GraphConfig, files: &[PathBuf]) -> GraphBuild {
    let (old_cache, cache) = match &config.cache_path {
        None => (ImportCache::new(), CacheOutcome::Disabled),
        Some(path) => match ImportCache::load(path) {
            Ok(loaded) => (loaded, CacheOutcome::Loaded),
            Err(error) => (ImportCache::new(), CacheOutcome::Rebuilt(error)),
        },
    };
    let root = config.resolver.project_root();
    let mut new_cache = ImportCache::new();
    let mut reports: BTreeMap<PathBuf, FileReport> = BTreeMap::new();
    let mut graph = ImportGraph::new();
    let (mut parsed, mut reused) = (0, 0);
    let mut wave: BTreeSet<PathBuf> = files.iter().map(|file| normalize(file)).collect();
    while !wave.is_empty() {
        let extracted: Vec<(PathBuf, Extracted)> = wave
            .par_iter()
            .map(|file| {
                (
                    file.clone(),
                    extract_file(&root.join(file), file, &old_cache),
                )
            })
            .collect();
        let resolved: Vec<(PathBuf, Extracted, Vec<Resolution>)> = extracted
            .into_par_iter()
            .map(|(file, extracted)| {
                let first = first_roots(config, root, &file);
                let resolutions = extracted
                    .imports
                    .imports
                    .iter()
                    .map(|import| config.resolver.resolve(&file, import, &first))
                    .collect();
                (file, extracted, resolutions)
            })
            .collect();
        let mut next = BTreeSet::new();
        for (file, extracted, resolutions) in resolved {
            graph.add_file(&file);
            if extracted.from_cache {
                reused += 1;
            } else {
                parsed += 1;
            }
            if let (Some(stamp), Some(key)) = (extracted.stamp, file.to_str()) {
                new_cache.insert(key.to_owned(), stamp, extracted.imports.clone());
            }
            for resolution in &resolutions {
                for target in &resolution.files {
                    graph.add_dependency(&file, target, EdgeKind::Import);
                    if !reports.contains_key(target) && !wave.contains(target) {
                        next.insert(target.clone());
                    }
                }
            }
            reports.insert(
                file,
                FileReport {
                    imports: extracted.imports,
                    resolutions,
                },
            );
        }
        wave = next;
    }
    let tests: Vec<PathBuf> = config.test_files.iter().map(|t| normalize(t)).collect();
    graph.add_conftest_edges(tests.iter().map(PathBuf::as_path));
    let unresolved = collect_unresolved(&reports);
    let cache_save_error = config
        .cache_path
        .as_ref()
        .and_then(|path| new_cache.save(path).err());
    GraphBuild {
        graph,
        files: reports,
        unresolved,
        cache,
        cache_save_error,
        parsed,
        reused,
    }
}

fn collect_unresolved(reports: &BTreeMap<PathBuf, FileReport>) -> Vec<UnresolvedImport> {
    let mut out = Vec::new();
    for (file, report) in reports {
        for (import, resolution) in report.imports.imports.iter().zip(&report.resolutions) {
            if let ResolutionKind::Unresolved { message } = &resolution.kind {
                out.push(UnresolvedImport {
                    file: file.clone(),
                    line: import.line,
                    message: message.clone(),
                });
            }
        }
    }
    out
}

/// Roots searched before the configured ones for `file`'s imports (the directory pytest's
/// `prepend` import mode inserts for a test module or conftest).
pub fn first_roots(config: &GraphConfig, root: &Path, file: &Path) -> Vec<PathBuf> {
    let is_conftest = file.file_name().is_some_and(|name| name == "conftest.py");
    if !config.prepend_import_mode || !(is_conftest || config.test_files.contains(file)) {
        return Vec::new();
    }
    let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    while root.join(&dir).join("__init__.py").is_file() {
        match dir.parent() {
            Some(parent) => dir = parent.to_path_buf(),
            None => break,
        }
    }
    vec![dir]
}

struct Extracted {
    imports: FileImports,
    /// `None` when the file could not be read (nothing to cache).
    stamp: Option<FileStamp>,
    from_cache: bool,
}

fn extract_file(absolute: &Path, file: &Path, cache: &ImportCache) -> Extracted {
    let unreadable = |error: std::io::Error| Extracted {
        imports: FileImports {
            imports: Vec::new(),
            error: Some(ExtractError::Unreadable {
                message: error.to_string(),
            }),
        },
        stamp: None,
        from_cache: false,
    };
    let cached = file.to_str().and_then(|key| cache.get(key));
    // Metadata before contents: a write racing the read moves the mtime past the stamp.
    let metadata = match fs::metadata(absolute) {
        Ok(metadata) => metadata,
        Err(error) => return unreadable(error),
    };
    if let Some((stamp, imports)) = cached {
        if stamp.matches_metadata(&metadata) {
            return Extracted {
                imports: imports.clone(),
                stamp: Some(stamp.clone()),
                from_cache: true,
            };
        }
    }
    let contents = match fs::read(absolute) {
        Ok(contents) => contents,
        Err(error) => return unreadable(error),
    };
    let stamp = match FileStamp::from_metadata(&metadata, &contents) {
        Ok(stamp) => stamp,
        Err(error) => return unreadable(error),
    };
    if let Some((old, imports)) = cached {
        if old.blake3 == stamp.blake3 {
            // Touched but unchanged: reuse, and record the new stamp.
            return Extracted {
                imports: imports.clone(),
                stamp: Some(stamp),
                from_cache: true,
            };
        }
    }
    Extracted {
        imports: extract_imports(&contents),
        stamp: Some(stamp),
        from_cache: false,
    }
}
