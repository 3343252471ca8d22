//! Prints what `module::analyze` finds in Python files, one node ID per line (dynamic items
//! marked with a trailing ` [dynamic]`), for comparing with `pytest --collect-only -q` by hand.
//! Usage: `module_dump ROOTDIR FILE...` (FILE relative to ROOTDIR).
#![allow(clippy::print_stdout)]

use dxpy_discover::module::{analyze, ModuleContext, NameRules};
use dxpy_discover::ParamState;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        println!("usage: module_dump ROOTDIR FILE...");
        return;
    };
    let rules = NameRules::default();
    for rel in args {
        let source = match std::fs::read(std::path::Path::new(&root).join(&rel)) {
            Ok(source) => source,
            Err(e) => {
                println!("# {rel}: {e}");
                continue;
            }
        };
        let result = analyze(&source, &ModuleContext::new(&rel, &rules));
        for item in &result.items {
            let suffix = if item.params == ParamState::Dynamic { " [dynamic]" } else { "" };
            println!("{}{suffix}", item.node_id);
        }
        for error in &result.errors {
            println!("# ERROR {error}");
        }
    }
}
