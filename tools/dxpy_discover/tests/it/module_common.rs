//! Shared helpers for the module-analysis integration tests: fixture discovery, per-fixture
//! pytest options, a filesystem resolver for imported bases, and item rendering.
#![allow(dead_code)]

use std::fmt::Write;
use std::path::{Path, PathBuf};

use dxpy_discover::module::{
    self, DefinitionResolver, ExternalDef, ModuleAnalysis, ModuleContext, NameRules,
};
use dxpy_discover::params::{EmptyParameterSetMark, IdOptions, LongStrIdStrategy};
use dxpy_discover::{ParamState, TestItem};

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/module")
}

/// `test_*.py` fixture files (relative paths with `/`), sorted; `errors/` holds the ones
/// that fail to collect.
pub fn fixture_files() -> Vec<String> {
    let root = fixtures_root();
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {dir:?}: {e}"));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    stack.push(path);
                }
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test_") && n.ends_with(".py"))
            {
                let rel = path.strip_prefix(&root).expect("under root");
                found.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// pytest ini options a fixture asks for in a `# dxpy-options: k=v; k=v` header line.
pub fn fixture_options(source: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(source);
    let Some(line) = text
        .lines()
        .take(3)
        .find_map(|l| l.strip_prefix("# dxpy-options:"))
    else {
        return Vec::new();
    };
    line.split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

pub struct FixtureConfig {
    pub rules: NameRules,
    pub disable_escaping: bool,
    pub id_options: IdOptions,
    pub collect_imported_tests: bool,
}

pub fn fixture_config(options: &[(String, String)]) -> FixtureConfig {
    let mut config = FixtureConfig {
        rules: NameRules::default(),
        disable_escaping: false,
        id_options: IdOptions::default(),
        collect_imported_tests: true,
    };
    for (key, value) in options {
        let list = || {
            value
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match key.as_str() {
            "python_functions" => config.rules.functions = list(),
            "python_classes" => config.rules.classes = list(),
            "disable_test_id_escaping_and_forfeit_all_rights_to_community_support" => {
                config.disable_escaping = value == "true"
            }
            "parametrize_long_str_id_strategy" => {
                config.id_options.long_str = match value.as_str() {
                    "short" => LongStrIdStrategy::Short,
                    "legacy" => LongStrIdStrategy::Legacy,
                    "sha256" => LongStrIdStrategy::Sha256,
                    _ => LongStrIdStrategy::Disallow,
                }
            }
            "empty_parameter_set_mark" => {
                config.id_options.empty_set_mark = match value.as_str() {
                    "skip" | "" => EmptyParameterSetMark::Skip,
                    "xfail" => EmptyParameterSetMark::Xfail,
                    _ => EmptyParameterSetMark::FailAtCollect,
                }
            }
            "collect_imported_tests" => config.collect_imported_tests = value == "true",
            other => panic!("fixture option {other} is not understood by the harness"),
        }
    }
    config
}

/// Resolves `from .mod import Name` against the fixture tree the way Python's relative
/// imports do, by analysing the other file with `module::exported_definition`.
pub struct FsResolver {
    pub root: PathBuf,
}

impl FsResolver {
    fn module_file(&self, importer: &str, module: &str) -> Option<(PathBuf, String)> {
        let dots = module.chars().take_while(|c| *c == '.').count();
        let rest = &module[dots..];
        let mut dir: Vec<&str> = if dots == 0 {
            Vec::new()
        } else {
            let mut parts: Vec<&str> = importer.split('/').collect();
            parts.pop();
            for _ in 1..dots {
                parts.pop()?;
            }
            parts
        };
        dir.extend(rest.split('.').filter(|s| !s.is_empty()));
        let base = dir.join("/");
        for candidate in [format!("{base}.py"), format!("{base}/__init__.py")] {
            let path = self.root.join(&candidate);
            if path.is_file() {
                return Some((path, candidate));
            }
        }
        None
    }
}

impl DefinitionResolver for FsResolver {
    fn resolve(&self, importer: &str, module: &str, name: &str) -> Option<ExternalDef> {
        let (path, rel) = self.module_file(importer, module)?;
        let source = std::fs::read(path).ok()?;
        let rules = NameRules::default();
        let mut ctx = ModuleContext::new(&rel, &rules);
        ctx.resolver = Some(self);
        module::exported_definition(&source, &ctx, name)
    }
}

pub fn analyze_fixture(rel: &str) -> ModuleAnalysis {
    let root = fixtures_root();
    let source = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    let config = fixture_config(&fixture_options(&source));
    let resolver = FsResolver { root };
    let mut ctx = ModuleContext::new(rel, &config.rules);
    ctx.disable_id_escaping = config.disable_escaping;
    ctx.id_options = config.id_options;
    ctx.collect_imported_tests = config.collect_imported_tests;
    ctx.resolver = Some(&resolver);
    module::analyze_detailed(&source, &ctx)
}

/// One line per item (node ID, kind, line, async, params, marks), then errors and
/// unresolved references.
pub fn render(analysis: &ModuleAnalysis) -> String {
    let mut out = String::new();
    for item in &analysis.result.items {
        let _ = writeln!(out, "{}", render_item(item));
    }
    for error in &analysis.result.errors {
        let _ = writeln!(out, "ERROR {error}");
    }
    for unresolved in &analysis.unresolved {
        let _ = writeln!(
            out,
            "UNRESOLVED {:?} {}:{} (line {})",
            unresolved.usage, unresolved.module, unresolved.name, unresolved.line
        );
    }
    out
}

pub fn render_item(item: &TestItem) -> String {
    let params = match &item.params {
        ParamState::None => "-".to_owned(),
        ParamState::Static(id) => format!("static[{id}]"),
        ParamState::Dynamic => "dynamic".to_owned(),
    };
    // Argument text is shown on one line so that each item stays one snapshot line.
    let marks: Vec<String> = item
        .marks
        .iter()
        .map(|m| {
            format!(
                "{}{}",
                m.name,
                m.args.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    format!(
        "{} | {:?}{} | line {} | {} | marks: {}",
        item.node_id,
        item.kind,
        if item.is_async { " async" } else { "" },
        item.line,
        params,
        marks.join(", ")
    )
}
