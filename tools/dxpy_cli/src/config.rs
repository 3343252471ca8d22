//! dx-py's own settings in the project's `pyproject.toml` (`[tool.dx-py]`).

use std::path::Path;

use anyhow::Context as _;

/// `[tool.dx-py] <key>` from `pyproject`, `None` when the file or key is absent.
fn tool_value(pyproject: &Path, key: &str) -> anyhow::Result<Option<toml::Value>> {
    let text = match std::fs::read_to_string(pyproject) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", pyproject.display())),
    };
    let mut doc: toml::Table = text
        .parse()
        .with_context(|| format!("{}: invalid TOML", pyproject.display()))?;
    Ok(doc
        .remove("tool")
        .and_then(|mut t| t.as_table_mut().and_then(|t| t.remove("dx-py")))
        .and_then(|mut t| t.as_table_mut().and_then(|t| t.remove(key))))
}

/// `[tool.dx-py] <key> = ["...", ...]` from `pyproject`, empty when the file or key is absent.
pub fn string_list(pyproject: &Path, key: &str) -> anyhow::Result<Vec<String>> {
    let Some(value) = tool_value(pyproject, key)? else {
        return Ok(Vec::new());
    };
    let bad = || {
        anyhow::anyhow!(
            "{}: [tool.dx-py] {key} must be a list of strings",
            pyproject.display()
        )
    };
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

/// `[tool.dx-py] <key> = "..."` from `pyproject`, `None` when the file or key is absent.
pub fn string(pyproject: &Path, key: &str) -> anyhow::Result<Option<String>> {
    let Some(value) = tool_value(pyproject, key)? else {
        return Ok(None);
    };
    value.as_str().map(|s| Some(s.to_owned())).with_context(|| {
        format!(
            "{}: [tool.dx-py] {key} must be a string",
            pyproject.display()
        )
    })
}
