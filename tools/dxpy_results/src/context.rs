//! The digest of what every test of a run shares: config files, the options that change
//! outcomes, the interpreter, the installed distributions, the environment and the
//! configured input globs. A record made under another context is never replayed.

use std::path::Path;

use crate::units::Digest;

/// Builds a context digest from labelled parts; the labels keep parts from running into
/// each other (`a` + `bc` is not `ab` + `c`).
#[derive(Debug, Default)]
pub struct ContextBuilder {
    hasher: blake3::Hasher,
}

impl ContextBuilder {
    pub fn new() -> ContextBuilder {
        let mut builder = ContextBuilder::default();
        // Records of another dx-py may have been made by other rules.
        builder.text("dx-py", env!("CARGO_PKG_VERSION"));
        builder
    }

    pub fn text(&mut self, label: &str, value: &str) -> &mut Self {
        self.bytes(label, value.as_bytes())
    }

    pub fn bytes(&mut self, label: &str, value: &[u8]) -> &mut Self {
        let len = u64::try_from(value.len()).unwrap_or(u64::MAX);
        self.hasher.update(label.as_bytes());
        self.hasher.update(&[0]);
        self.hasher.update(&len.to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// A file's contents, or its absence (which is a state too).
    pub fn file(&mut self, label: &str, path: &Path) -> &mut Self {
        match std::fs::read(path) {
            Ok(bytes) => self.bytes(label, &bytes),
            Err(_) => self.text(label, "<absent>"),
        }
    }

    pub fn finish(&self) -> Digest {
        *self.hasher.finalize().as_bytes()
    }
}

/// What identifies the installed distributions of `site_dirs`: the names and modification
/// times of their `*.dist-info`, `*.egg-info`, `*.egg-link` and `*.pth` entries. Installing,
/// upgrading or removing a package changes it; so does reinstalling one in place.
pub fn distributions_fingerprint(site_dirs: &[&Path]) -> String {
    let mut lines = Vec::new();
    for dir in site_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let marks_distribution = [".dist-info", ".egg-info", ".egg-link", ".pth"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
            if !marks_distribution {
                continue;
            }
            let mtime = entry
                .metadata()
                .ok()
                .and_then(|m| dxpy_fs::mtime_ns(&m).ok())
                .unwrap_or(0);
            lines.push(format!("{}/{name} {mtime}", dir.display()));
        }
    }
    lines.sort();
    lines.join("\n")
}
