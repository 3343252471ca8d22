//! The collection options that configuration produces and analysis consumes: name rules for
//! test classes and functions, and the options that shape parametrize IDs.
//!
//! A leaf: [`crate::config`] builds these values from ini options, [`crate::module`] and
//! [`crate::params`] read them, and none of them needs the others to name the types.
/// pytest's `python_classes` / `python_functions`: each entry is a prefix, or an fnmatch glob
/// when it contains `*`, `?` or `[` (pytest's `_matches_prefix_or_glob_option`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameRules {
    pub classes: Vec<String>,
    pub functions: Vec<String>,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules {
            classes: vec!["Test".into()],
            functions: vec!["test".into()],
        }
    }
}

impl NameRules {
    pub fn matches_class(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.classes, name)
    }

    pub fn matches_function(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.functions, name)
    }
}

fn matches_prefix_or_glob(options: &[String], name: &str) -> bool {
    options.iter().any(|option| {
        name.starts_with(option.as_str())
            || (option.contains(['*', '?', '[']) && fnmatch(option.as_bytes(), name.as_bytes()))
    })
}

/// Python's case-sensitive `fnmatch.fnmatchcase` (POSIX `fnmatch` does no case folding).
fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let pattern = String::from_utf8_lossy(pattern);
    let name = String::from_utf8_lossy(name);
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fnmatch_chars(&p, &n)
}

fn fnmatch_chars(p: &[char], n: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        // An unclosed `[` is a literal.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Match a `[...]` set at `p[start]`; `None` when the bracket is unclosed.
fn match_class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i).is_some_and(|x| *x == '!');
    if negate {
        i += 1;
    }
    let first = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > first {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// pytest's `empty_parameter_set_mark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmptyParameterSetMark {
    #[default]
    Skip,
    Xfail,
    FailAtCollect,
}

impl EmptyParameterSetMark {
    /// The ini spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EmptyParameterSetMark::Skip => "skip",
            EmptyParameterSetMark::Xfail => "xfail",
            EmptyParameterSetMark::FailAtCollect => "fail_at_collect",
        }
    }
}

/// pytest's `parametrize_long_str_id_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LongStrIdStrategy {
    #[default]
    Short,
    Sha256,
    Legacy,
    Disallow,
}

/// Options that change IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IdOptions {
    /// `disable_test_id_escaping_and_forfeit_all_rights_to_community_support`.
    pub disable_escaping: bool,
    pub long_str: LongStrIdStrategy,
    pub empty_set_mark: EmptyParameterSetMark,
    /// `strict_parametrization_ids` (or `strict`): duplicate IDs are a collection error
    /// instead of being suffixed, so such a function is left to Python.
    pub strict_ids: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_match_prefix_or_glob() {
        let rules = NameRules {
            classes: vec!["Test".into(), "*Suite".into()],
            functions: vec!["check_[ab]?".into(), "test".into()],
        };
        assert!(rules.matches_class("TestX"));
        assert!(rules.matches_class("MySuite"));
        assert!(!rules.matches_class("Suites"));
        assert!(rules.matches_function("check_a1"));
        assert!(!rules.matches_function("check_c1"));
        assert!(!rules.matches_function("check_a12"));
        assert!(rules.matches_function("test_x"));
        assert!(!rules.matches_function("Test_x"));
        assert!(fnmatch(b"a*b*c", b"aXbYbc"));
        assert!(fnmatch(b"[!x]y", b"zy"));
        assert!(!fnmatch(b"[!x]y", b"xy"));
    }
}
