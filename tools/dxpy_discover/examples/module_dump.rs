//! Prints what `module::analyze` finds in Python files, one node ID per line (dynamic items
//! marked with a trailing ` [dynamic]`), for comparing with `pytest --collect-only -q` by hand.
//! Usage: `module_dump ROOTDIR FILE...` (FILE relative to ROOTDIR). Imported bases are
//! resolved against ROOTDIR and the directories in `$DXPY_DUMP_PATH` (`:`-separated).
#![allow(clippy::print_stdout)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use dxpy_discover::module::{
    analyze, exported_definitions, DefinitionResolver, ExternalDef, ModuleContext, NameRules,
};
use dxpy_discover::ParamState;

struct PathResolver {
    roots: Vec<PathBuf>,
}

thread_local! {
    /// Files being resolved on this thread: import cycles end here.
    static ACTIVE: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

impl PathResolver {
    fn candidates(&self, importer: &str, module: &str) -> Vec<(PathBuf, String)> {
        let dots = module.chars().take_while(|c| *c == '.').count();
        let rest: Vec<&str> = module[dots..]
            .split('.')
            .filter(|s| !s.is_empty())
            .collect();
        let mut out = Vec::new();
        let bases: Vec<(PathBuf, Vec<String>)> = if dots > 0 {
            let mut parts: Vec<String> = importer.split('/').map(str::to_owned).collect();
            parts.pop();
            for _ in 1..dots {
                parts.pop();
            }
            vec![(self.roots[0].clone(), parts)]
        } else {
            self.roots.iter().map(|r| (r.clone(), Vec::new())).collect()
        };
        for (root, mut parts) in bases {
            parts.extend(rest.iter().map(|s| (*s).to_owned()));
            let rel = parts.join("/");
            for candidate in [format!("{rel}.py"), format!("{rel}/__init__.py")] {
                out.push((root.join(&candidate), candidate));
            }
        }
        out
    }
}

impl DefinitionResolver for PathResolver {
    fn resolve(&self, importer: &str, module: &str, name: &str) -> Option<ExternalDef> {
        let (path, rel) = self
            .candidates(importer, module)
            .into_iter()
            .find(|(p, _)| p.is_file())?;
        if ACTIVE.with(|a| a.borrow().contains(&path)) {
            return None;
        }
        let source = std::fs::read(&path).ok()?;
        ACTIVE.with(|a| a.borrow_mut().push(path.clone()));
        let rules = NameRules::default();
        let mut ctx = ModuleContext::new(&rel, &rules);
        ctx.resolver = Some(self);
        let found = exported_definitions(&source, &ctx)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d);
        ACTIVE.with(|a| a.borrow_mut().pop());
        found
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        println!("usage: module_dump ROOTDIR FILE...");
        return;
    };
    let mut roots = vec![PathBuf::from(&root)];
    if let Ok(extra) = std::env::var("DXPY_DUMP_PATH") {
        roots.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    let resolver = PathResolver { roots };
    let rules = NameRules::default();
    for rel in args {
        let source = match std::fs::read(Path::new(&root).join(&rel)) {
            Ok(source) => source,
            Err(e) => {
                println!("# {rel}: {e}");
                continue;
            }
        };
        let mut ctx = ModuleContext::new(&rel, &rules);
        ctx.resolver = Some(&resolver);
        let result = analyze(&source, &ctx);
        for item in &result.items {
            let suffix = if item.params == ParamState::Dynamic {
                " [dynamic]"
            } else {
                ""
            };
            println!("{}{suffix}", item.node_id);
        }
        for error in &result.errors {
            println!("# ERROR {error}");
        }
    }
}
