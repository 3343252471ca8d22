//! From packages to rules: which target owns each file, and the `deps` of each target.
//!
//! Ownership: `conftest.py` → `conftest` (a `testonly` library); a test file → a `dx_py_test`
//! named after its stem; any other `.py` → the package library (named after the directory,
//! `root` at the repository root, `<dir>_lib` when a test already has that name) or, in file
//! mode, a library named after its stem (`__init__.py` takes the package library's name).
//! Files listed in a `# keep` rule of our kinds belong to that rule and are not generated.
//! A test file that another file imports (a test module importing a test module, in
//! `setUp` or anywhere) is also a library, `<stem>_lib` (`testonly` unless a non-test library
//! imports it), holding its dependencies: the importer and the test target both depend on it.
//!
//! Dependencies of a file: the owners of the first-party files its imports execute (imports
//! under `if TYPE_CHECKING:` never run and are skipped: they are how import cycles are usually
//! broken, and a Bazel dependency cycle is an error), the `# dxpy:resolve` or manifest label of
//! third-party imports, nothing for the standard library. Tests and conftests also depend on
//! the nearest `conftest` above them and on the `__init__.py` libraries of their enclosing
//! packages (pytest imports a test module through its package).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use dxpy_graph::{FileReport, ImportForm, ResolutionKind};

/// Generated libraries are usable from any package of the repository (tests in other
/// packages depend on them), like Gazelle's Python extension makes them.
const LIBRARY_VISIBILITY: &str = "//:__subpackages__";

use crate::buildfile::StatementKind;
use crate::data::DataContext;
use crate::merge::GeneratedRule;
use crate::render::RuleKind;
use crate::tree::Package;
use crate::Options;

/// Who owns a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub package: PathBuf,
    pub name: String,
    pub role: Role,
}

/// The role of a file's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Library,
    Conftest,
    Test,
    /// A `# keep` rule written by hand.
    Kept,
    /// The library of a test file that other files import (`testonly` or not).
    TestLibrary {
        testonly: bool,
    },
}

impl Owner {
    /// The label as written in `from` package: `:x`, `//a/b`, `//a/b:x`, `//:x`.
    pub fn label_from(&self, from: &Path) -> String {
        if self.package == from {
            return format!(":{}", self.name);
        }
        let package = slash_path(&self.package);
        let last = self.package.file_name().map(|n| n.to_string_lossy());
        if last.as_deref() == Some(self.name.as_str()) {
            format!("//{package}")
        } else {
            format!("//{package}:{}", self.name)
        }
    }
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Why an import got no dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnresolvedReason {
    /// Third-party, but neither the manifest nor a `resolve` directive names it.
    UnmappedThirdParty,
    /// The resolver could not find it.
    NotFound(String),
    /// A first-party file that no target owns (ignored, or outside every package).
    NoOwner(PathBuf),
    /// A test file: `dx_py_test` targets cannot be dependencies (only when the test file
    /// is owned by a hand-written rule).
    TestFile(PathBuf),
}

/// An import that produced no (or an incomplete) dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedImport {
    pub file: PathBuf,
    pub line: u32,
    pub module: String,
    pub reason: UnresolvedReason,
}

impl UnresolvedImport {
    /// What the user can do about it.
    pub fn suggestion(&self) -> String {
        let top = self.module.split('.').next().unwrap_or(&self.module);
        match &self.reason {
            UnresolvedReason::UnmappedThirdParty => format!(
                "install its distribution and run `dx-py gazelle --update-manifest`, or add \
                 `# dxpy:resolve {top} @pypi//<distribution>` to a BUILD file above"
            ),
            UnresolvedReason::NotFound(_) => format!(
                "check the module name, mark an import root with `# dxpy:python_root`, or add \
                 `# dxpy:resolve {top} LABEL`"
            ),
            UnresolvedReason::NoOwner(_) => {
                "stop ignoring that file, or add `# dxpy:resolve` with the label that provides it"
                    .to_owned()
            }
            UnresolvedReason::TestFile(_) => {
                "move the shared code out of the test file into a helper module".to_owned()
            }
        }
    }
}

impl fmt::Display for UnresolvedImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.reason {
            UnresolvedReason::UnmappedThirdParty => "no distribution provides it".to_owned(),
            UnresolvedReason::NotFound(message) => message.clone(),
            UnresolvedReason::NoOwner(file) => {
                format!("{} belongs to no target", file.display())
            }
            UnresolvedReason::TestFile(file) => format!("{} is a test file", file.display()),
        };
        write!(
            f,
            "{}:{}: unresolved import `{}`: {what}; {}",
            self.file.display(),
            self.line,
            self.module,
            self.suggestion()
        )
    }
}

/// File → owner for every file in `packages`; `tests` are the test files (repo-relative).
pub fn assign_owners(packages: &[Package], tests: &BTreeSet<PathBuf>) -> BTreeMap<PathBuf, Owner> {
    let mut owners = BTreeMap::new();
    for package in packages {
        let kept = kept_sources(package);
        let test_names: BTreeSet<String> = package
            .py_files
            .iter()
            .filter(|f| tests.contains(&package.dir.join(f)))
            .map(|f| stem(f).to_owned())
            .collect();
        let mut library_name = package
            .dir
            .file_name()
            .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
        if test_names.contains(&library_name) || library_name == "conftest" {
            library_name.push_str("_lib");
        }
        for file in &package.py_files {
            let path = package.dir.join(file);
            let owner = |name: &str, role| Owner {
                package: package.dir.clone(),
                name: name.to_owned(),
                role,
            };
            let owner = if let Some(name) = kept.get(file.as_str()) {
                owner(name, Role::Kept)
            } else if file == "conftest.py" {
                owner("conftest", Role::Conftest)
            } else if tests.contains(&path) {
                owner(stem(file), Role::Test)
            } else if package.directives.mode == crate::GenerationMode::File
                && file != "__init__.py"
            {
                owner(stem(file), Role::Library)
            } else {
                owner(&library_name, Role::Library)
            };
            owners.insert(path, owner);
        }
    }
    owners
}

fn stem(file: &str) -> &str {
    file.strip_suffix(".py").unwrap_or(file)
}

/// Sources listed by `# keep` rules of our kinds in this package → the rule's name.
fn kept_sources(package: &Package) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(file) = &package.existing else {
        return out;
    };
    for statement in &file.statements {
        let StatementKind::Rule(rule) = &statement.kind else {
            continue;
        };
        if RuleKind::from_function(&rule.kind).is_none() {
            continue;
        }
        let keep = file
            .leading_comments(statement.start)
            .iter()
            .any(|c| c.is_keep())
            || file.trailing_comment(rule.open_paren_end).is_some_and(|c| {
                rule.args.first().is_none_or(|a| c.start < a.start) && c.is_keep()
            });
        if let (true, Some(name), Some(srcs)) = (keep, &rule.name, rule.literal_srcs()) {
            for src in srcs {
                out.insert(src, name.clone());
            }
        }
    }
    out
}

/// The test files that other files import (by executed imports) → whether a non-test
/// library is among the importers (then the test's library cannot be `testonly`).
pub fn imported_tests<'f>(
    reports: impl Iterator<Item = (&'f PathBuf, &'f FileReport)>,
    owners: &BTreeMap<PathBuf, Owner>,
) -> BTreeMap<PathBuf, bool> {
    let mut out: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for (file, report) in reports {
        let importer_is_library = owners.get(file).is_some_and(|o| o.role == Role::Library);
        for (import, resolution) in report.imports.imports.iter().zip(&report.resolutions) {
            if import.type_only || import.form == ImportForm::Dynamic {
                continue;
            }
            for target in &resolution.files {
                let is_test = owners.get(target).is_some_and(|o| o.role == Role::Test);
                if is_test && target != file {
                    *out.entry(target.clone()).or_default() |= importer_is_library;
                }
            }
        }
    }
    out
}

/// The library of each imported test file: `<stem>_lib`, `_lib` added until the name is
/// free in its package.
pub fn test_libraries(
    imported: &BTreeMap<PathBuf, bool>,
    owners: &BTreeMap<PathBuf, Owner>,
) -> BTreeMap<PathBuf, Owner> {
    let mut taken: BTreeSet<(PathBuf, String)> = owners
        .values()
        .map(|o| (o.package.clone(), o.name.clone()))
        .collect();
    let mut out = BTreeMap::new();
    for (file, &needed_by_library) in imported {
        let Some(test) = owners.get(file) else {
            continue;
        };
        let mut name = format!("{}_lib", test.name);
        while taken.contains(&(test.package.clone(), name.clone())) {
            name.push_str("_lib");
        }
        taken.insert((test.package.clone(), name.clone()));
        out.insert(
            file.clone(),
            Owner {
                package: test.package.clone(),
                name,
                role: Role::TestLibrary {
                    testonly: !needed_by_library,
                },
            },
        );
    }
    out
}

/// Dependencies of one file, as owners and external labels, plus what could not be resolved.
#[derive(Debug, Default)]
pub struct FileDeps {
    pub owners: Vec<Owner>,
    pub labels: Vec<String>,
}

pub fn file_deps(
    file: &Path,
    report: &FileReport,
    package: &Package,
    owners: &BTreeMap<PathBuf, Owner>,
    test_libraries: &BTreeMap<PathBuf, Owner>,
    options: &Options,
    unresolved: &mut Vec<UnresolvedImport>,
) -> FileDeps {
    let mut deps = FileDeps::default();
    for (import, resolution) in report.imports.imports.iter().zip(&report.resolutions) {
        // A computed import (`import_module(name)`) may load any module of its package: the
        // import graph counts them all for `affected`, but as BUILD deps they would make a
        // library depend on its own tests, a cycle. What it really loads is for the user to
        // add (and mark `# keep`).
        if import.type_only || import.form == ImportForm::Dynamic {
            continue;
        }
        let mut report_problem = |reason| {
            if !import.optional {
                unresolved.push(UnresolvedImport {
                    file: file.to_path_buf(),
                    line: import.line,
                    module: display_module(import),
                    reason,
                });
            }
        };
        for target in &resolution.files {
            match owners.get(target) {
                Some(owner) if owner.role == Role::Test && target != file => {
                    match test_libraries.get(target) {
                        Some(library) => deps.owners.push(library.clone()),
                        None => report_problem(UnresolvedReason::TestFile(target.clone())),
                    }
                }
                Some(owner) => deps.owners.push(owner.clone()),
                None => report_problem(UnresolvedReason::NoOwner(target.clone())),
            }
        }
        match &resolution.kind {
            ResolutionKind::FirstParty | ResolutionKind::Stdlib { .. } => {}
            ResolutionKind::ThirdParty { top } => match external_label(import, package, options) {
                Some(label) => deps.labels.push(label),
                None if RUNNER_PROVIDED.contains(&top.as_str()) => {}
                None => report_problem(UnresolvedReason::UnmappedThirdParty),
            },
            ResolutionKind::Unresolved { message } => {
                match (import.level, external_label(import, package, options)) {
                    (0, Some(label)) => deps.labels.push(label),
                    _ => report_problem(UnresolvedReason::NotFound(message.clone())),
                }
            }
        }
    }
    deps
}

/// Modules the test runner's interpreter always has (dx_py_test runs pytest): no dependency
/// unless the manifest or a `resolve` directive names one.
const RUNNER_PROVIDED: [&str; 3] = ["pytest", "_pytest", "pluggy"];

fn display_module(import: &dxpy_graph::Import) -> String {
    format!("{}{}", ".".repeat(import.level as usize), import.module)
}

/// The label of an absolute import from `resolve` directives, else the manifest; the most
/// specific name first (`from a import b` tries `a.b`, then `a`).
fn external_label(
    import: &dxpy_graph::Import,
    package: &Package,
    options: &Options,
) -> Option<String> {
    if import.level > 0 {
        return None;
    }
    let mut candidates: Vec<String> = Vec::new();
    if import.form == ImportForm::From {
        candidates.extend(
            import
                .names
                .iter()
                .map(|n| format!("{}.{}", import.module, n.name)),
        );
    }
    candidates.push(import.module.clone());
    candidates.iter().find_map(|module| {
        package
            .directives
            .resolve(module)
            .map(str::to_owned)
            .or_else(|| options.manifest.label_for(module))
    })
}

/// The `imports` entry pointing from `package` at its import root, if any.
pub fn imports_attr(package: &Package) -> Vec<String> {
    let Some(root) = &package.directives.python_root else {
        return Vec::new();
    };
    match package.dir.strip_prefix(root) {
        Ok(rest) => {
            let depth = rest.components().count();
            if depth == 0 {
                vec![".".to_owned()]
            } else {
                vec![vec![".."; depth].join("/")]
            }
        }
        Err(_) => Vec::new(),
    }
}

/// The owners a test or conftest in `dir` needs besides its imports: the nearest conftest
/// strictly above `start` (a conftest's own directory excluded) and the `__init__.py`
/// libraries of the packages enclosing `dir`.
pub fn implicit_owners(
    dir: &Path,
    include_own_dir_conftest: bool,
    owners: &BTreeMap<PathBuf, Owner>,
) -> Vec<Owner> {
    let mut out = Vec::new();
    let mut current = Some(dir.to_path_buf());
    let mut first = true;
    while let Some(d) = current {
        if include_own_dir_conftest || !first {
            if let Some(owner) = owners.get(&d.join("conftest.py")) {
                out.push(owner.clone());
                break;
            }
        }
        first = false;
        current = d.parent().map(Path::to_path_buf);
    }
    let mut current = Some(dir.to_path_buf());
    while let Some(d) = current {
        match owners.get(&d.join("__init__.py")) {
            Some(owner) => out.push(owner.clone()),
            None => break,
        }
        current = d.parent().map(Path::to_path_buf);
    }
    out
}

/// What the rules of every package are made from.
#[derive(Debug)]
pub struct RuleInputs<'a> {
    pub owners: &'a BTreeMap<PathBuf, Owner>,
    pub test_libraries: &'a BTreeMap<PathBuf, Owner>,
    pub deps_of: &'a BTreeMap<PathBuf, FileDeps>,
    /// The data files each source names (repo-relative).
    pub data_of: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    pub data: &'a DataContext,
}

/// Assemble the rules of one package from per-file dependencies; `test_data` (repo-relative
/// files, from `# dxpy:data`) goes to every test.
pub fn package_rules(
    package: &Package,
    inputs: &RuleInputs,
    test_data: &BTreeSet<PathBuf>,
) -> Vec<GeneratedRule> {
    let imports = imports_attr(package);
    let mut rules: BTreeMap<String, GeneratedRule> = BTreeMap::new();
    for file in &package.py_files {
        let path = package.dir.join(file);
        let Some(owner) = inputs.owners.get(&path) else {
            continue;
        };
        let library = inputs.test_libraries.get(&path);
        let (kind, testonly) = match owner.role {
            Role::Kept | Role::TestLibrary { .. } => continue,
            Role::Library => (RuleKind::Library, false),
            Role::Conftest => (RuleKind::Library, true),
            Role::Test => (RuleKind::Test, false),
        };
        // An imported test's code, dependencies and data live in its library.
        let code_owner = library.unwrap_or(owner);
        let new_rule = |kind, name: &str, testonly| GeneratedRule {
            kind,
            name: name.to_owned(),
            srcs: Vec::new(),
            data: Vec::new(),
            deps: Vec::new(),
            imports: imports.clone(),
            testonly,
            visibility: match kind {
                RuleKind::Library => vec![LIBRARY_VISIBILITY.to_owned()],
                RuleKind::Test => Vec::new(),
            },
        };
        if let Some(library) = library {
            let testonly = library.role == (Role::TestLibrary { testonly: true });
            let test = rules
                .entry(owner.name.clone())
                .or_insert_with(|| new_rule(RuleKind::Test, &owner.name, false));
            test.srcs.push(file.clone());
            test.deps.push(library.label_from(&package.dir));
            rules
                .entry(library.name.clone())
                .or_insert_with(|| new_rule(RuleKind::Library, &library.name, testonly));
        } else {
            rules
                .entry(owner.name.clone())
                .or_insert_with(|| new_rule(kind, &owner.name, testonly));
        }
        let (labels, data) = file_labels(package, &path, code_owner, inputs);
        let rule = rules
            .get_mut(&code_owner.name)
            .expect("the rule was just created");
        rule.srcs.push(file.clone());
        rule.deps.extend(labels);
        rule.data.extend(data);
        if owner.role == Role::Test {
            let test = rules.get_mut(&owner.name).expect("the test rule exists");
            test.data.extend(
                test_data
                    .iter()
                    .filter_map(|f| inputs.data.label(f, &package.dir)),
            );
        }
    }
    rules
        .into_values()
        .map(|mut rule| {
            rule.srcs.sort();
            rule.srcs.dedup();
            rule.deps.sort();
            rule.deps.dedup();
            rule.data.sort();
            rule.data.dedup();
            rule
        })
        .collect()
}

/// The dependency labels and data labels that `path`, owned by `owner`, brings to its rule.
fn file_labels(
    package: &Package,
    path: &Path,
    owner: &Owner,
    inputs: &RuleInputs,
) -> (Vec<String>, Vec<String>) {
    let mut dep_owners: Vec<Owner> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    if let Some(deps) = inputs.deps_of.get(path) {
        dep_owners.extend(deps.owners.iter().cloned());
        labels.extend(deps.labels.iter().cloned());
    }
    match owner.role {
        Role::Test | Role::TestLibrary { testonly: true } => {
            dep_owners.extend(implicit_owners(&package.dir, true, inputs.owners))
        }
        // A library that non-test code imports cannot depend on a `testonly` conftest.
        Role::TestLibrary { testonly: false } => dep_owners.extend(
            implicit_owners(&package.dir, true, inputs.owners)
                .into_iter()
                .filter(|o| o.role != Role::Conftest),
        ),
        Role::Conftest => dep_owners.extend(implicit_owners(&package.dir, false, inputs.owners)),
        Role::Library | Role::Kept => {}
    }
    for dep in dep_owners {
        if dep.role == Role::Test || (dep.package == package.dir && dep.name == owner.name) {
            continue;
        }
        labels.push(dep.label_from(&package.dir));
    }
    let data = inputs
        .data_of
        .get(path)
        .into_iter()
        .flatten()
        .filter_map(|f| inputs.data.label(f, &package.dir))
        .collect();
    (labels, data)
}

/// `dep` (as written in `package`) as an absolute label `//pkg:name`; `None` if external.
pub fn absolute_label(package: &Path, dep: &str) -> Option<String> {
    if let Some(name) = dep.strip_prefix(':') {
        return Some(format!("//{}:{name}", slash_path(package)));
    }
    let rest = dep.strip_prefix("//")?;
    Some(match rest.split_once(':') {
        Some(_) => dep.to_owned(),
        None => format!("//{rest}:{}", rest.rsplit('/').next().unwrap_or(rest)),
    })
}

/// Strongly connected groups of more than one generated target (Bazel forbids cycles).
pub fn dependency_cycles<'r>(
    packages: impl Iterator<Item = (&'r Path, &'r Vec<GeneratedRule>)>,
) -> Vec<Vec<String>> {
    let mut graph: petgraph::graph::DiGraph<String, ()> = petgraph::graph::DiGraph::new();
    let mut index = BTreeMap::new();
    let mut node = |graph: &mut petgraph::graph::DiGraph<String, ()>, label: String| {
        *index
            .entry(label.clone())
            .or_insert_with(|| graph.add_node(label))
    };
    for (package, rules) in packages {
        for rule in rules {
            let Some(from) = absolute_label(package, &format!(":{}", rule.name)) else {
                continue;
            };
            let from = node(&mut graph, from);
            for dep in &rule.deps {
                if let Some(to) = absolute_label(package, dep) {
                    let to = node(&mut graph, to);
                    graph.add_edge(from, to, ());
                }
            }
        }
    }
    let mut cycles: Vec<Vec<String>> = petgraph::algo::tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let mut labels: Vec<String> = scc.into_iter().map(|n| graph[n].clone()).collect();
            labels.sort();
            labels
        })
        .collect();
    cycles.sort();
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_relative_and_shortened() {
        let owner = |package: &str, name: &str| Owner {
            package: PathBuf::from(package),
            name: name.into(),
            role: Role::Library,
        };
        assert_eq!(owner("a/b", "b").label_from(Path::new("a/b")), ":b");
        assert_eq!(owner("a/b", "b").label_from(Path::new("c")), "//a/b");
        assert_eq!(owner("a/b", "x").label_from(Path::new("c")), "//a/b:x");
        assert_eq!(owner("", "root").label_from(Path::new("c")), "//:root");
    }

    #[test]
    fn cycles_between_packages_are_found() {
        let rule = |name: &str, deps: &[&str]| GeneratedRule {
            kind: RuleKind::Library,
            name: name.into(),
            srcs: vec![],
            data: vec![],
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            imports: vec![],
            testonly: false,
            visibility: vec![],
        };
        let a = vec![rule("a", &["//b", "@pypi//x"])];
        let b = vec![rule("b", &["//a:a"]), rule("t", &[":b"])];
        let c = vec![rule("c", &["//a"])];
        let packages = [
            (Path::new("a"), &a),
            (Path::new("b"), &b),
            (Path::new("c"), &c),
        ];
        let cycles = dependency_cycles(packages.into_iter());
        assert_eq!(cycles, vec![vec!["//a:a".to_owned(), "//b:b".to_owned()]]);
    }
}
