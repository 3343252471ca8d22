//! `dx-py cache clear|dir`.

use anyhow::Context;

use crate::args::CacheAction;
use crate::exit::Code;
use dxpy_discover::session::{cache_root, project_cache_dir};

pub fn run(action: CacheAction) -> anyhow::Result<Code> {
    let root =
        cache_root().context("no cache directory: set DXPY_CACHE_DIR, XDG_CACHE_HOME or HOME")?;
    match action {
        CacheAction::Dir => {
            println!("{}", root.display());
        }
        CacheAction::Clear { rootdir } => {
            // Only dx-py's own `projects/` tree is ever removed, never the root itself: a
            // mis-set DXPY_CACHE_DIR must not turn `cache clear` into deleting someone's home.
            let target = match rootdir {
                Some(dir) => project_cache_dir(&root, &canonical(&dir)?),
                None => root.join("projects"),
            };
            match std::fs::remove_dir_all(&target) {
                Ok(()) => println!("removed {}", target.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    println!("nothing to remove at {}", target.display())
                }
                Err(e) => return Err(e).with_context(|| format!("removing {}", target.display())),
            }
        }
    }
    Ok(Code::Ok)
}

/// Discovery keys a project by its rootdir as resolved (absolute, symlinks as given); match it.
fn canonical(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))
}
