//! Cross-file knowledge of one run: imported definitions and conftest fixtures.
//!
//! - [`ProjectResolver`] maps `from M import Name` to a file the way pytest's default `prepend`
//!   import mode makes modules importable: each test file or conftest puts its *basedir* (the
//!   first directory upward without `__init__.py`) at the front of `sys.path`; the importing
//!   file's own basedir is searched first, then every other basedir of the run, then rootdir.
//!   Relative imports resolve inside the importer's package. Each file is parsed once per run;
//!   an import cycle resolves to nothing (Python would fail on the partially initialised
//!   module). Every file an importer read definitions from is recorded with the hash of the
//!   bytes read ([`ProjectResolver::dependencies`], transitive), for the index's sidecar.
//! - [`ConftestSet`]: every loaded conftest's fixtures and hooks, its content hash and those of
//!   the files it imports fixtures from (folded into the index fingerprint so that changing
//!   them invalidates cached results), and the
//!   [`VisibleFixtures`] of each directory.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::module::fixtures::{ConftestAnalysis, ConftestHook, FixtureLayer, VisibleFixtures};
use crate::module::{self, DefinitionResolver, ExternalDef, ModuleContext, NameRules};

type Definitions = Arc<Vec<(String, ExternalDef)>>;

thread_local! {
    /// Files whose definitions this thread is computing: a repeat is an import cycle.
    static RESOLVING: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

/// The first directory upward from `dir` that is not a package (has no `__init__.py`).
pub fn basedir(dir: &Path) -> PathBuf {
    let mut current = dir.to_path_buf();
    while current.join("__init__.py").is_file() {
        match current.parent() {
            Some(parent) => current = parent.to_path_buf(),
            None => break,
        }
    }
    current
}

/// Resolves imported names to definitions in the project's own files.
#[derive(Debug)]
pub struct ProjectResolver {
    rootdir: PathBuf,
    rules: NameRules,
    /// `sys.path` entries the run's files add, in first-seen order, then rootdir.
    roots: Vec<PathBuf>,
    definitions: Mutex<HashMap<PathBuf, Definitions>>,
    /// rootdir-relative importer -> files it read definitions from.
    edges: Mutex<HashMap<String, HashSet<PathBuf>>>,
    /// blake3 of each file's bytes as read for its definitions.
    hashes: Mutex<HashMap<PathBuf, [u8; 32]>>,
}

impl ProjectResolver {
    /// `files` are the run's test modules and conftests (absolute paths).
    pub fn new<'p>(
        rootdir: &Path,
        rules: &NameRules,
        files: impl IntoIterator<Item = &'p Path>,
    ) -> Self {
        let mut roots: Vec<PathBuf> = Vec::new();
        let mut seen_dirs = HashSet::new();
        for file in files {
            if let Some(dir) = file.parent() {
                if seen_dirs.insert(dir.to_path_buf()) {
                    let root = basedir(dir);
                    if !roots.contains(&root) {
                        roots.push(root);
                    }
                }
            }
        }
        if !roots.iter().any(|r| r == rootdir) {
            roots.push(rootdir.to_path_buf());
        }
        ProjectResolver {
            rootdir: rootdir.to_path_buf(),
            rules: rules.clone(),
            roots,
            definitions: Mutex::new(HashMap::new()),
            edges: Mutex::new(HashMap::new()),
            hashes: Mutex::new(HashMap::new()),
        }
    }

    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.rootdir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/")
    }

    /// Every file `importer` (rootdir-relative) read definitions from, directly or through
    /// those files' own imports, with the hash of the contents read. Empty for a module that
    /// needed no other file.
    pub fn dependencies(&self, importer: &str) -> std::collections::BTreeMap<PathBuf, [u8; 32]> {
        let (Ok(edges), Ok(hashes)) = (self.edges.lock(), self.hashes.lock()) else {
            return Default::default();
        };
        let mut found = std::collections::BTreeMap::new();
        let mut queue: Vec<String> = vec![importer.to_owned()];
        let mut visited: HashSet<String> = HashSet::new();
        while let Some(current) = queue.pop() {
            if !visited.insert(current.clone()) {
                continue;
            }
            for dep in edges.get(&current).into_iter().flatten() {
                // Unread (vanished, unreadable): a hash no file has, so the next run re-checks.
                let hash = hashes.get(dep).copied().unwrap_or([0; 32]);
                found.insert(dep.clone(), hash);
                queue.push(self.rel(dep));
            }
        }
        found.remove(&self.rootdir.join(importer));
        found
    }

    /// The file defining module `module` as imported from `importer` (absolute path).
    fn module_file(&self, importer: &Path, module: &str) -> Option<PathBuf> {
        let dots = module.chars().take_while(|c| *c == '.').count();
        let rest: Vec<&str> = module[dots..]
            .split('.')
            .filter(|s| !s.is_empty())
            .collect();
        let candidates = |base: &Path| -> Option<PathBuf> {
            let mut path = base.to_path_buf();
            for part in &rest {
                path.push(part);
            }
            let as_file = path.with_extension("py");
            if !rest.is_empty() && as_file.is_file() {
                return Some(as_file);
            }
            let init = path.join("__init__.py");
            init.is_file().then_some(init)
        };
        if dots > 0 {
            // Relative imports only work inside a package.
            let mut package = importer.parent()?.to_path_buf();
            if !package.join("__init__.py").is_file() {
                return None;
            }
            for _ in 1..dots {
                package = package.parent()?.to_path_buf();
            }
            return candidates(&package);
        }
        let own = importer.parent().map(basedir);
        own.iter()
            .chain(self.roots.iter())
            .find_map(|root| candidates(root))
    }

    fn definitions_of(&self, file: &Path) -> Option<Definitions> {
        if let Ok(cache) = self.definitions.lock() {
            if let Some(found) = cache.get(file) {
                return Some(found.clone());
            }
        }
        let cyclic = RESOLVING.with(|stack| stack.borrow().iter().any(|p| p == file));
        if cyclic {
            return None;
        }
        let source = std::fs::read(file).ok()?;
        if let Ok(mut hashes) = self.hashes.lock() {
            hashes.insert(file.to_path_buf(), *blake3::hash(&source).as_bytes());
        }
        let rel_path = self.rel(file);
        let mut ctx = ModuleContext::new(&rel_path, &self.rules);
        ctx.resolver = Some(self);
        RESOLVING.with(|stack| stack.borrow_mut().push(file.to_path_buf()));
        let defs = Arc::new(module::exported_definitions(&source, &ctx));
        RESOLVING.with(|stack| {
            stack.borrow_mut().pop();
        });
        if let Ok(mut cache) = self.definitions.lock() {
            cache.insert(file.to_path_buf(), defs.clone());
        }
        Some(defs)
    }
}

impl DefinitionResolver for ProjectResolver {
    fn resolve(&self, importer: &str, module: &str, name: &str) -> Option<ExternalDef> {
        let importer_path = self.rootdir.join(importer);
        // `from pkg import mod` then `mod.Name`: the module part may itself be a submodule.
        let file = self.module_file(&importer_path, module)?;
        if file == importer_path {
            return None;
        }
        let defs = self.definitions_of(&file);
        if let Ok(mut edges) = self.edges.lock() {
            edges.entry(importer.to_owned()).or_default().insert(file);
        }
        let defs = defs?;
        defs.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, def)| def.clone())
    }
}

/// The loaded conftests of a run.
#[derive(Debug, Default)]
pub struct ConftestSet {
    /// (conftest path, directory, analysis), in load order.
    entries: Vec<(PathBuf, PathBuf, Arc<FixtureLayer>, Vec<ConftestHook>)>,
    /// blake3 over every conftest's path and contents.
    pub digest: [u8; 32],
}

impl ConftestSet {
    /// Read and analyse every conftest. An unreadable conftest contributes nothing but still
    /// changes the digest.
    pub fn load(
        conftests: &[PathBuf],
        rootdir: &Path,
        rules: &NameRules,
        resolver: &ProjectResolver,
    ) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"dxpy-conftests-1");
        let mut entries = Vec::new();
        for path in conftests {
            let path_text = path.to_string_lossy();
            hasher.update(&(path_text.len() as u64).to_le_bytes());
            hasher.update(path_text.as_bytes());
            let Ok(source) = std::fs::read(path) else {
                hasher.update(b"\0unreadable");
                continue;
            };
            hasher.update(blake3::hash(&source).as_bytes());
            let rel_path = path
                .strip_prefix(rootdir)
                .unwrap_or(path)
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let mut ctx = ModuleContext::new(&rel_path, rules);
            ctx.resolver = Some(resolver);
            let ConftestAnalysis { fixtures, hooks } = module::analyze_conftest(&source, &ctx);
            // Fixtures imported from other files count as the conftest's contents.
            for (dep, hash) in resolver.dependencies(&rel_path) {
                let dep_text = dep.to_string_lossy();
                hasher.update(&(dep_text.len() as u64).to_le_bytes());
                hasher.update(dep_text.as_bytes());
                hasher.update(&hash);
            }
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            entries.push((path.clone(), dir, Arc::new(fixtures), hooks));
        }
        ConftestSet {
            entries,
            digest: *hasher.finalize().as_bytes(),
        }
    }

    /// Conftests defining collection hooks, with those hooks.
    pub fn hooks(&self) -> impl Iterator<Item = (&Path, &[ConftestHook])> {
        self.entries
            .iter()
            .filter(|(_, _, _, hooks)| !hooks.is_empty())
            .map(|(path, _, _, hooks)| (path.as_path(), hooks.as_slice()))
    }

    /// What the conftests visible to a test file in `dir` provide, farthest first.
    pub fn visible(&self, dir: &Path) -> VisibleFixtures {
        let mut visible: Vec<&(PathBuf, PathBuf, Arc<FixtureLayer>, Vec<ConftestHook>)> = self
            .entries
            .iter()
            .filter(|(_, conftest_dir, _, _)| dir.starts_with(conftest_dir))
            .collect();
        visible.sort_by_key(|(_, conftest_dir, _, _)| conftest_dir.components().count());
        VisibleFixtures {
            conftests: visible
                .iter()
                .map(|(_, _, layer, _)| layer.clone())
                .collect(),
            generate_tests: visible
                .iter()
                .any(|(_, _, _, hooks)| hooks.contains(&ConftestHook::GenerateTests)),
        }
    }
}
