//! The import cache: warm builds reuse entries, changed files are re-parsed, and a corrupt,
//! truncated, foreign-version or non-private cache is never trusted but rebuilt.

use std::fs;
use std::path::{Path, PathBuf};

use dxpy_graph::{
    build_graph, python_files_under, CacheError, CacheOutcome, GraphBuild, GraphConfig,
    ImportCache, PythonVersion, Resolver,
};
use dxpy_test_support::copy_tree;

/// A private copy of the fixture project (tests modify files) plus a cache path in it.
struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
}

fn project() -> Project {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/project"),
        &root,
    );
    let cache = dir.path().join("cache/imports.bin");
    Project {
        _dir: dir,
        root,
        cache,
    }
}

impl Project {
    fn build(&self) -> GraphBuild {
        let files = python_files_under(&self.root, Path::new("."));
        let config = GraphConfig {
            resolver: Resolver::new(
                &self.root,
                &[PathBuf::from("src"), PathBuf::from(".")],
                PythonVersion::Py311,
            ),
            test_files: files
                .iter()
                .filter(|f| f.to_string_lossy().contains("test_"))
                .cloned()
                .collect(),
            prepend_import_mode: true,
            cache_path: Some(self.cache.clone()),
        };
        build_graph(&config, &files)
    }

    fn file_count(&self) -> usize {
        python_files_under(&self.root, Path::new(".")).len()
    }
}

/// Move the mtime well past the old one (file systems with coarse timestamps included).
fn bump_mtime(path: &Path) {
    let file = fs::File::options().write(true).open(path).expect("open");
    let later = fs::metadata(path).expect("stat").modified().expect("mtime")
        + std::time::Duration::from_secs(5);
    file.set_modified(later).expect("set mtime");
}

/// Edges of the graph as text, to compare builds.
fn edges(build: &GraphBuild) -> Vec<String> {
    let mut out = Vec::new();
    for file in build.graph.files() {
        for (dependency, kind) in build.graph.dependencies(file) {
            out.push(format!(
                "{} -> {} {kind:?}",
                file.display(),
                dependency.display()
            ));
        }
    }
    out
}

#[test]
fn warm_build_reparses_only_changed_files() {
    let project = project();
    let cold = project.build();
    assert!(matches!(
        cold.cache,
        CacheOutcome::Rebuilt(CacheError::Missing)
    ));
    assert!(cold.cache_save_error.is_none());
    assert_eq!((cold.parsed, cold.reused), (project.file_count(), 0));

    let warm = project.build();
    assert!(matches!(warm.cache, CacheOutcome::Loaded));
    assert_eq!((warm.parsed, warm.reused), (0, project.file_count()));
    assert_eq!(edges(&warm), edges(&cold));

    // A real change: one file re-parsed, and its new import shows up in the graph.
    fs::write(project.root.join("tests/helpers.py"), "import modfile\n").expect("write");
    let changed = project.build();
    assert_eq!(
        (changed.parsed, changed.reused),
        (1, project.file_count() - 1)
    );
    assert!(edges(&changed).contains(&"tests/helpers.py -> modfile.py Import".to_string()));
}

#[test]
fn same_size_edit_is_reparsed() {
    // Same size, different content, new mtime: the stamp no longer matches → re-parsed.
    let project = project();
    project.build();
    let path = project.root.join("tests/helpers.py");
    let before = fs::read(&path).expect("read");
    let mut after = before.clone();
    after[4] = b'X'; // `def make` → `def Xake`: same length
    fs::write(&path, &after).expect("write");
    bump_mtime(&path);
    let build = project.build();
    assert_eq!(build.parsed, 1);
}

#[test]
fn touched_but_unchanged_file_is_reused_by_hash() {
    let project = project();
    project.build();
    let path = project.root.join("modfile.py");
    let contents = fs::read(&path).expect("read");
    fs::write(&path, &contents).expect("rewrite same bytes");
    bump_mtime(&path); // new mtime only
    let build = project.build();
    assert_eq!((build.parsed, build.reused), (0, project.file_count()));
    // The refreshed stamp was saved: the next build matches on metadata alone.
    let cache = ImportCache::load(&project.cache).expect("valid cache");
    let (stamp, _) = cache.get("modfile.py").expect("entry");
    let metadata = fs::metadata(&path).expect("stat");
    assert!(stamp.matches_metadata(&metadata));
}

fn assert_rebuilt(project: &Project, what: &str) {
    let error = ImportCache::load(&project.cache).expect_err(what);
    assert!(
        matches!(error, CacheError::Corrupt(_)),
        "{what}: expected Corrupt, got {error:?}"
    );
}

#[test]
fn truncated_cache_is_rejected_and_rebuilt() {
    let project = project();
    let cold = project.build();
    let bytes = fs::read(&project.cache).expect("cache written");
    // Every truncation length, including an empty file.
    for len in 0..bytes.len() {
        fs::write(&project.cache, &bytes[..len]).expect("truncate");
        assert_rebuilt(&project, &format!("truncated to {len}"));
    }
    fs::write(&project.cache, &bytes[..bytes.len() / 2]).expect("truncate");
    let rebuilt = project.build();
    assert!(matches!(
        rebuilt.cache,
        CacheOutcome::Rebuilt(CacheError::Corrupt(_))
    ));
    assert_eq!(rebuilt.parsed, project.file_count());
    assert_eq!(edges(&rebuilt), edges(&cold));
    // ... and the rebuilt cache is valid again.
    assert_eq!(
        ImportCache::load(&project.cache).expect("rewritten").len(),
        project.file_count()
    );
}

#[test]
fn every_flipped_bit_is_detected() {
    let project = project();
    project.build();
    let bytes = fs::read(&project.cache).expect("cache written");
    for index in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut flipped = bytes.clone();
            flipped[index] ^= bit;
            fs::write(&project.cache, &flipped).expect("write");
            let error = ImportCache::load(&project.cache).expect_err("flip must be detected");
            assert!(
                matches!(error, CacheError::Corrupt(_) | CacheError::Version { .. }),
                "byte {index}: {error:?}"
            );
        }
    }
    let rebuilt = project.build();
    assert!(matches!(rebuilt.cache, CacheOutcome::Rebuilt(_)));
    assert_eq!(rebuilt.parsed, project.file_count());
}

#[test]
fn trailing_garbage_is_rejected() {
    let project = project();
    project.build();
    let mut bytes = fs::read(&project.cache).expect("cache written");
    bytes.extend_from_slice(b"junk");
    fs::write(&project.cache, &bytes).expect("write");
    assert_rebuilt(&project, "trailing bytes");
}

#[test]
fn other_version_is_rejected() {
    let project = project();
    project.build();
    let mut bytes = fs::read(&project.cache).expect("cache written");
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    // Re-seal the header so only the version is wrong.
    let header_hash = *blake3::hash(&bytes[..64]).as_bytes();
    bytes[64..96].copy_from_slice(&header_hash);
    fs::write(&project.cache, &bytes).expect("write");
    let error = ImportCache::load(&project.cache).expect_err("version");
    assert!(
        matches!(error, CacheError::Version { found: 99, .. }),
        "{error:?}"
    );
    assert!(matches!(
        project.build().cache,
        CacheOutcome::Rebuilt(CacheError::Version { .. })
    ));
}

#[cfg(unix)]
#[test]
fn cache_is_private_and_a_shared_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let project = project();
    project.build();
    let mode = |path: &Path| fs::metadata(path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&project.cache), 0o600);
    assert_eq!(mode(project.cache.parent().expect("dir")), 0o700);
    fs::set_permissions(&project.cache, fs::Permissions::from_mode(0o644)).expect("chmod");
    let build = project.build();
    assert!(matches!(
        build.cache,
        CacheOutcome::Rebuilt(CacheError::Insecure(_))
    ));
    assert_eq!(mode(&project.cache), 0o600, "rewritten privately");
}

#[test]
fn unreadable_and_broken_files_are_cached_faithfully() {
    let project = project();
    fs::write(project.root.join("broken.py"), b"import ok\ndef f(:\n\xff").expect("write");
    let cold = project.build();
    let warm = project.build();
    let key = Path::new("broken.py");
    let (cold_report, warm_report) = (&cold.files[key], &warm.files[key]);
    assert!(cold_report.imports.error.is_some());
    assert_eq!(cold_report.imports, warm_report.imports);
    assert_eq!(warm.parsed, 0);
}

fn import_strategy() -> impl proptest::strategy::Strategy<Value = dxpy_graph::Import> {
    use dxpy_graph::{Import, ImportForm, ImportedName};
    use proptest::prelude::*;
    let text = "[a-zé_.]{0,12}";
    (
        prop_oneof![
            Just(ImportForm::Import),
            Just(ImportForm::From),
            Just(ImportForm::FromStar),
            Just(ImportForm::ImportModule),
            Just(ImportForm::DunderImport),
        ],
        text,
        any::<u32>(),
        proptest::option::of(text),
        proptest::collection::vec((text, proptest::option::of(text)), 0..4),
        proptest::option::of(text),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(form, module, level, alias, names, package, line, optional, type_only)| Import {
                form,
                module,
                level,
                alias,
                names: names
                    .into_iter()
                    .map(|(name, alias)| ImportedName { name, alias })
                    .collect(),
                package,
                line,
                optional,
                type_only,
            },
        )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever is stored loads back identically.
    #[test]
    fn cache_round_trips(
        entries in proptest::collection::btree_map(
            "[a-z/]{1,10}\\.py",
            (any_stamp(), proptest::collection::vec(import_strategy(), 0..5), any_error()),
            0..6,
        )
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("imports.bin");
        let mut cache = ImportCache::new();
        for (file, (stamp, imports, error)) in entries {
            cache.insert(file, stamp, dxpy_graph::FileImports { imports, error });
        }
        cache.save(&path).expect("save");
        let loaded = ImportCache::load(&path).expect("load");
        proptest::prop_assert_eq!(loaded, cache);
    }
}

fn any_stamp() -> impl proptest::strategy::Strategy<Value = dxpy_fs::FileStamp> {
    use proptest::prelude::*;
    (any::<i128>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(mtime_ns, size, blake3)| {
        dxpy_fs::FileStamp {
            mtime_ns,
            size,
            blake3,
        }
    })
}

fn any_error() -> impl proptest::strategy::Strategy<Value = Option<dxpy_graph::ExtractError>> {
    use dxpy_graph::ExtractError;
    use proptest::prelude::*;
    proptest::option::of(prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(line, column)| ExtractError::Syntax { line, column }),
        any::<u64>().prop_map(|offset| ExtractError::NotUtf8 { offset }),
        ".{0,20}".prop_map(|message| ExtractError::Unreadable { message }),
        ".{0,20}".prop_map(|message| ExtractError::Parser { message }),
    ])
}
