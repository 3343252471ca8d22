//! Tree-sitter analysis of one Python test module into [`TestItem`]s.
//!
//! Contract (used by [`crate::session`]): [`analyze`] never panics and never fails as a whole;
//! problems become [`crate::CollectError`]s in the returned [`FileResult`].

use crate::item::FileResult;

/// pytest's `python_classes` / `python_functions`: each entry is a prefix, or an fnmatch glob
/// when it contains `*`, `?` or `[` (pytest's `_matches_prefix_or_glob_option`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameRules {
    pub classes: Vec<String>,
    pub functions: Vec<String>,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules { classes: vec!["Test".into()], functions: vec!["test".into()] }
    }
}

/// What the analysis needs to know besides the source.
#[derive(Debug, Clone)]
pub struct ModuleContext<'a> {
    /// Path relative to rootdir with `/` separators: the node ID prefix.
    pub rel_path: &'a str,
    pub rules: &'a NameRules,
    /// pytest's `disable_test_id_escaping_and_forfeit_all_rights_to_community_support` ini option.
    pub disable_id_escaping: bool,
}

/// Analyse one module's source. Placeholder until the analysis lands.
pub fn analyze(_source: &[u8], _ctx: &ModuleContext<'_>) -> FileResult {
    FileResult::default()
}
