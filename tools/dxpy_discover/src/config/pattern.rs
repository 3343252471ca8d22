//! Python's `fnmatch` (POSIX: case-sensitive, `*` also matches `/`), pytest's `fnmatch_ex`,
//! `glob.glob(recursive=True)` as used for `testpaths`, and `os.path.abspath`-style lexical
//! path normalisation (no symlink resolution, like pytest's `absolutepath`).

use std::path::{Component, Path, PathBuf};

/// One element of a compiled fnmatch pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(char),
    AnyOne,
    AnyRun,
    /// `[...]`: (negated, single chars and inclusive ranges).
    Class(bool, Vec<(char, char)>),
}

fn compile(pattern: &str) -> Vec<Piece> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if pieces.last() != Some(&Piece::AnyRun) {
                    pieces.push(Piece::AnyRun);
                }
            }
            '?' => pieces.push(Piece::AnyOne),
            '[' => {
                // Find the closing bracket; a `]` right after `[` or `[!` is literal.
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    pieces.push(Piece::Literal('['));
                    continue;
                }
                let mut body = &chars[i..j];
                i = j + 1;
                let negated = body.first() == Some(&'!');
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        // Python drops reversed ranges such as `z-a`.
                        if body[k] <= body[k + 2] {
                            ranges.push((body[k], body[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((body[k], body[k]));
                        k += 1;
                    }
                }
                pieces.push(Piece::Class(negated, ranges));
            }
            c => pieces.push(Piece::Literal(c)),
        }
    }
    pieces
}

fn matches_pieces(pieces: &[Piece], text: &[char]) -> bool {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let ok = match pieces.get(p) {
            Some(Piece::Literal(c)) => *c == text[t],
            Some(Piece::AnyOne) => true,
            Some(Piece::Class(negated, ranges)) => {
                ranges.iter().any(|(a, b)| *a <= text[t] && text[t] <= *b) != *negated
            }
            Some(Piece::AnyRun) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            None => false,
        };
        if ok {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pieces[p..].iter().all(|piece| *piece == Piece::AnyRun)
}

/// Python's `fnmatch.fnmatch(name, pattern)` on POSIX.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let text: Vec<char> = name.chars().collect();
    matches_pieces(&compile(pattern), &text)
}

/// pytest's `fnmatch_ex`: a pattern without `/` matches the basename; otherwise the whole
/// path, with `*/` prepended to relative patterns when the path is absolute.
/// A compiled `fnmatch` pattern.
#[derive(Debug, Clone)]
pub struct Pattern(Vec<Piece>);

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern(compile(pattern))
    }

    /// Same result as [`fnmatch`] with the source pattern.
    pub fn matches(&self, name: &str) -> bool {
        let text: Vec<char> = name.chars().collect();
        matches_pieces(&self.0, &text)
    }
}

/// A compiled `fnmatch_ex` pattern, for matching many paths (the walk's hot loop).
#[derive(Debug, Clone)]
pub struct PathPattern {
    /// No `/`: matched against the basename.
    basename_only: bool,
    pieces: Vec<Piece>,
    /// For absolute paths and a relative pattern: `*/` + pattern.
    anchored_pieces: Vec<Piece>,
}

impl PathPattern {
    pub fn new(pattern: &str) -> PathPattern {
        let basename_only = !pattern.contains('/');
        let anchored = if basename_only || pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("*/{pattern}")
        };
        PathPattern {
            basename_only,
            pieces: compile(pattern),
            anchored_pieces: compile(&anchored),
        }
    }

    /// Same result as [`fnmatch_ex`] with the source pattern.
    pub fn matches(&self, path: &Path) -> bool {
        if self.basename_only {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let text: Vec<char> = name.chars().collect();
            return matches_pieces(&self.pieces, &text);
        }
        let text: Vec<char> = path.to_string_lossy().chars().collect();
        if path.is_absolute() {
            matches_pieces(&self.anchored_pieces, &text)
        } else {
            matches_pieces(&self.pieces, &text)
        }
    }
}

pub fn fnmatch_ex(pattern: &str, path: &Path) -> bool {
    if !pattern.contains('/') {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        return fnmatch(&name, pattern);
    }
    let full = path.to_string_lossy();
    if path.is_absolute() && !pattern.starts_with('/') {
        fnmatch(&full, &format!("*/{pattern}"))
    } else {
        fnmatch(&full, pattern)
    }
}

/// `os.path.abspath`: join to `base` when relative, then drop `.` and fold `..` lexically.
pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `sorted(glob.iglob(pattern, recursive=True))` evaluated in `cwd`; results are spelled like
/// the pattern (relative patterns give relative results). Hidden names only match patterns
/// that start with `.`, as in Python.
pub fn glob(cwd: &Path, pattern: &str) -> Vec<String> {
    let absolute_pattern = pattern.starts_with('/');
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut results: Vec<String> = Vec::new();
    let start = if absolute_pattern {
        "/".to_string()
    } else {
        String::new()
    };
    if components.is_empty() {
        if absolute_pattern {
            results.push("/".into());
        }
        return results;
    }
    glob_from(
        cwd,
        &start,
        &components,
        pattern.ends_with('/'),
        &mut results,
    );
    results.sort();
    results.dedup();
    results
}

fn glob_from(cwd: &Path, prefix: &str, rest: &[&str], trailing_slash: bool, out: &mut Vec<String>) {
    let Some((first, tail)) = rest.split_first() else {
        let spelled = if trailing_slash {
            format!("{prefix}/")
        } else {
            prefix.to_string()
        };
        let on_disk = absolute(cwd, Path::new(prefix));
        if (trailing_slash && on_disk.is_dir())
            || (!trailing_slash && std::fs::symlink_metadata(&on_disk).is_ok())
        {
            out.push(spelled);
        }
        return;
    };
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else if prefix.ends_with('/') {
            format!("{prefix}{name}")
        } else {
            format!("{prefix}/{name}")
        }
    };
    let dir = absolute(cwd, Path::new(if prefix.is_empty() { "." } else { prefix }));
    if *first == "**" {
        // Zero or more directories.
        glob_from(cwd, prefix, tail, trailing_slash, out);
        for name in list_dir(&dir, false) {
            let child = join(&name);
            if absolute(cwd, Path::new(&child)).is_dir() {
                glob_from(cwd, &child, rest, trailing_slash, out);
            }
        }
        return;
    }
    if !has_magic(first) {
        glob_from(cwd, &join(first), tail, trailing_slash, out);
        return;
    }
    let include_hidden = first.starts_with('.');
    for name in list_dir(&dir, include_hidden) {
        if fnmatch(&name, first) {
            let child = join(&name);
            if tail.is_empty() || absolute(cwd, Path::new(&child)).is_dir() {
                glob_from(cwd, &child, tail, trailing_slash, out);
            }
        }
    }
}

fn list_dir(dir: &Path, include_hidden: bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| include_hidden || !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch("test_a.py", "test_*.py"));
        assert!(fnmatch("a/b.py", "*.py"));
        assert!(!fnmatch("Test_a.py", "test_*.py"));
        assert!(fnmatch("x1", "x[0-9]"));
        assert!(!fnmatch("x1", "x[!0-9]"));
        assert!(fnmatch("]", "[]]"));
        assert!(fnmatch("[ab", "[ab"));
        assert!(fnmatch(".git", ".*"));
        assert!(fnmatch("{arch}", "{arch}"));
        assert!(fnmatch("", "*"));
        assert!(!fnmatch("abc", "a?"));
    }

    #[test]
    fn fnmatch_ex_uses_basename_or_full_path() {
        assert!(fnmatch_ex("test_*.py", Path::new("/r/tests/test_x.py")));
        assert!(fnmatch_ex("tests/*.py", Path::new("/r/tests/test_x.py")));
        assert!(fnmatch_ex(
            "tests/**/doc/test*.py",
            Path::new("/r/tests/foo/bar/doc/test_foo.py")
        ));
        assert!(!fnmatch_ex("other/*.py", Path::new("/r/tests/test_x.py")));
    }

    #[test]
    fn absolute_folds_dots() {
        assert_eq!(
            absolute(Path::new("/a/b"), Path::new("../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            absolute(Path::new("/a"), Path::new("/x/../y")),
            PathBuf::from("/y")
        );
    }

    proptest! {
        #[test]
        fn compiled_patterns_agree_with_fnmatch_ex(pattern in "[a-z*?/]{0,6}", path in "/?[a-z/]{0,10}") {
            let path = Path::new(&path);
            prop_assert_eq!(PathPattern::new(&pattern).matches(path), fnmatch_ex(&pattern, path));
        }

        #[test]
        fn literal_patterns_match_only_themselves(name in "[a-z_.]{0,12}", other in "[a-z_.]{0,12}") {
            prop_assert!(fnmatch(&name, &name));
            prop_assert_eq!(fnmatch(&other, &name), other == name);
            prop_assert!(fnmatch(&name, "*"));
        }
    }
}
