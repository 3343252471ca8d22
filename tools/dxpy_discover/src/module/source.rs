//! Source decoding and syntax-error location.
//!
//! Python reads source as UTF-8 unless a PEP 263 coding cookie on line 1 or 2 says otherwise.
//! A UTF-8 BOM is dropped. `latin-1` (and its aliases) is decoded here, byte for byte, so line
//! numbers stay exact. Any other declared encoding must still be valid UTF-8 (true of ASCII
//! content); otherwise the file is reported as [`crate::CollectError::NotUtf8`].

use std::borrow::Cow;

use tree_sitter::Node;

/// Decode source bytes to text, or the offset of the first byte that is not valid UTF-8.
pub fn decode(source: &[u8]) -> Result<Cow<'_, str>, u64> {
    let bom = source.starts_with(b"\xef\xbb\xbf");
    let body = if bom { &source[3..] } else { source };
    match std::str::from_utf8(body) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(error) => {
            if !bom && declares_latin1(body) {
                return Ok(Cow::Owned(body.iter().map(|&b| b as char).collect()));
            }
            let skipped = if bom { 3 } else { 0 };
            Err((error.valid_up_to() + skipped) as u64)
        }
    }
}

/// Whether one of the first two lines carries a `coding[:=]` cookie naming latin-1.
fn declares_latin1(source: &[u8]) -> bool {
    let mut lines = source.split(|&b| b == b'\n').take(2).enumerate();
    let mut first_is_comment_or_blank = false;
    lines.any(|(index, line)| {
        let text = String::from_utf8_lossy(line);
        let stripped = text.trim();
        if index == 0 {
            first_is_comment_or_blank = stripped.is_empty() || stripped.starts_with('#');
        } else if !first_is_comment_or_blank {
            // A cookie on line 2 only counts after a comment-only or blank line 1.
            return false;
        }
        let line = String::from_utf8_lossy(line);
        let trimmed = line.trim_start();
        if !trimmed.starts_with('#') {
            return false;
        }
        let Some(at) = trimmed.find("coding") else {
            return false;
        };
        let rest = &trimmed[at + "coding".len()..];
        let Some(rest) = rest.strip_prefix([':', '=']) else {
            return false;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect::<String>()
            .to_ascii_lowercase()
            .replace('_', "-");
        matches!(
            name.as_str(),
            "latin-1" | "iso-8859-1" | "iso8859-1" | "latin1" | "l1" | "iso-latin-1"
        ) || name.starts_with("latin-1-")
            || name.starts_with("iso-8859-1-")
    })
}

/// The first ERROR or MISSING node in document order: 1-based line, 1-based column counted in
/// characters (as Python's `SyntaxError.offset`), and a message.
pub fn first_syntax_error(root: Node<'_>, text: &str) -> Option<(u32, u32, String)> {
    if !root.has_error() {
        return None;
    }
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            let position = node.start_position();
            let line_start = text
                .len()
                .min(node.start_byte().saturating_sub(position.column));
            let column = text
                .get(line_start..node.start_byte().min(text.len()))
                .map_or(position.column, |prefix| prefix.chars().count());
            let message = if node.is_missing() {
                format!("expected `{}`", node.kind())
            } else {
                "invalid syntax".to_owned()
            };
            return Some((position.row as u32 + 1, column as u32 + 1, message));
        }
        // Descend only into subtrees that contain the error.
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Some((1, 1, "invalid syntax".to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_bom_and_latin1_cookie() {
        assert_eq!(decode(b"\xef\xbb\xbfx = 1\n").as_deref(), Ok("x = 1\n"));
        assert_eq!(
            decode(b"# -*- coding: latin-1 -*-\ns = '\xe9'\n").as_deref(),
            Ok("# -*- coding: latin-1 -*-\ns = '\u{e9}'\n")
        );
        assert_eq!(decode(b"x = 1\n# coding: latin-1\ns = '\xe9'\n"), Err(29));
        assert_eq!(
            decode(b"#!/usr/bin/env python\n# coding=latin1\n'\xe9'").as_deref(),
            Ok("#!/usr/bin/env python\n# coding=latin1\n'\u{e9}'")
        );
        assert_eq!(decode(b"ok\n\xff"), Err(3));
        assert_eq!(decode(b"\xef\xbb\xbfok\xff"), Err(5));
    }
}
