//! What a module's string literals tell about its run-time needs, read with tree-sitter:
//! the plugin modules of a module-level `pytest_plugins` assignment, and the strings that may
//! name files it reads (its data, checked against the file system by [`crate::data`]).
//!
//! Path candidates, like asset inference in Pants (strings that look like relative POSIX
//! paths), but also the joined forms tests use to reach files beside them:
//! - a plain literal with a `/` (`"tests/fixtures/a.json"`) or a file extension
//!   (`"config.ini"`): [`Anchor::Loose`];
//! - the first run of string operands of a `/` chain (`Path(__file__).parent / "data" /
//!   "x.json"`) or of string arguments of an `os.path.join(...)` call, joined by `/`:
//!   [`Anchor::Joined`], whatever the left side is (it is usually the module's directory);
//! - `importlib.resources`/`pkgutil`/`pkg_resources` calls naming a package and a resource
//!   (`files("pkg") / "x.json"`, `read_text("pkg", "x.json")`, `get_data("pkg", "x.json")`):
//!   [`Anchor::Package`].

use tree_sitter::{Node, Parser};

/// Where a path candidate is relative to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anchor {
    /// A bare literal: the module's directory, the rootdir or an import root; files only,
    /// unless it has a `/`.
    Loose,
    /// Built from parts: the same places, and a single part may name a directory.
    Joined,
    /// A resource of the dotted package.
    Package(String),
}

/// A string that may name a file or directory the module reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathCandidate {
    pub text: String,
    pub anchor: Anchor,
}

/// What one module's literals say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Literals {
    /// Module names of `pytest_plugins` (module level), with their 1-based lines.
    pub plugins: Vec<(String, u32)>,
    pub paths: Vec<PathCandidate>,
}

/// Resource functions whose first argument is a package and second a resource name.
const RESOURCE_CALLS: [&str; 10] = [
    "read_text",
    "read_binary",
    "open_text",
    "open_binary",
    "path",
    "is_resource",
    "get_data",
    "resource_filename",
    "resource_stream",
    "resource_string",
];

/// Scan `source`; a file that does not parse gives what the parser recovered.
pub fn scan(source: &[u8]) -> Literals {
    let mut parser = Parser::new();
    if parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .is_err()
    {
        return Literals::default();
    }
    let Some(tree) = parser.parse(source, None) else {
        return Literals::default();
    };
    let mut scanner = Scanner {
        source,
        out: Literals::default(),
    };
    scanner.module_plugins(tree.root_node());
    scanner.visit(tree.root_node());
    scanner.out.paths.sort();
    scanner.out.paths.dedup();
    scanner.out
}

struct Scanner<'s> {
    source: &'s [u8],
    out: Literals,
}

impl Scanner<'_> {
    fn text(&self, node: Node) -> &str {
        node.utf8_text(self.source).unwrap_or("")
    }

    /// `pytest_plugins = "a"` / `["a", "b"]` / `("a",)` at module level.
    fn module_plugins(&mut self, root: Node) {
        let assigned =
            dxpy_discover::walk::conftest::module_assignments(root, self.source, "pytest_plugins");
        for right in assigned {
            let values: Vec<Node> = match right.kind() {
                "string" => vec![right],
                "list" | "tuple" => {
                    let mut c = right.walk();
                    right.named_children(&mut c).collect()
                }
                _ => Vec::new(),
            };
            for value in values {
                if let Some(name) = string_value(value, self.source) {
                    let line = value.start_position().row as u32 + 1;
                    self.out.plugins.push((name, line));
                }
            }
        }
    }

    // Explicit stack: deeply nested input must not overflow ours.
    fn visit(&mut self, root: Node) {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "string" => {
                    if let Some(text) = string_value(node, self.source) {
                        if looks_like_path(&text) {
                            self.push(text, Anchor::Loose);
                        }
                    }
                }
                "binary_operator" => self.division_chain(node),
                "call" => self.call(node),
                _ => {}
            }
            let mut cursor = node.walk();
            let children: Vec<Node> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }

    fn push(&mut self, text: String, anchor: Anchor) {
        self.out.paths.push(PathCandidate { text, anchor });
    }

    /// The outermost `a / "b" / "c"`: its trailing string operands, joined.
    fn division_chain(&mut self, node: Node) {
        let is_division = |n: Node| {
            n.kind() == "binary_operator"
                && n.child_by_field_name("operator")
                    .is_some_and(|op| op.kind() == "/")
        };
        if !is_division(node) || node.parent().is_some_and(is_division) {
            return;
        }
        let mut parts = Vec::new();
        let mut current = node;
        let leftmost = loop {
            let Some(right) = current.child_by_field_name("right") else {
                return;
            };
            parts.push(right);
            match current.child_by_field_name("left") {
                Some(left) if is_division(left) => current = left,
                Some(left) => break left,
                None => return,
            }
        };
        parts.reverse();
        let Some(joined) = self.trailing_strings(&parts) else {
            return;
        };
        let anchor = self
            .resource_package(leftmost)
            .map_or(Anchor::Joined, Anchor::Package);
        self.push(joined, anchor);
    }

    /// `files("pkg")` / `importlib.resources.files("pkg")`: the package.
    fn resource_package(&self, node: Node) -> Option<String> {
        if node.kind() != "call" || self.function_name(node)? != "files" {
            return None;
        }
        let first = arguments(node).into_iter().next()?;
        string_value(first, self.source)
    }

    /// The last identifier of a call's function (`os.path.join` → `join`).
    fn function_name(&self, call: Node) -> Option<&str> {
        let function = call.child_by_field_name("function")?;
        match function.kind() {
            "identifier" => Some(self.text(function)),
            "attribute" => Some(self.text(function.child_by_field_name("attribute")?)),
            _ => None,
        }
    }

    fn call(&mut self, call: Node) {
        let Some(name) = self.function_name(call) else {
            return;
        };
        let args = arguments(call);
        if name == "join" {
            if let Some(joined) = self.trailing_strings(&args) {
                self.push(joined, Anchor::Joined);
            }
        } else if RESOURCE_CALLS.contains(&name) && args.len() >= 2 {
            let package = string_value(args[0], self.source);
            let resource = string_value(args[1], self.source);
            if let (Some(package), Some(resource)) = (package, resource) {
                self.push(resource, Anchor::Package(package));
            }
        }
    }

    /// The first run of string nodes in `parts`, joined by `/`: what follows a computed part
    /// (`join(d, "fixtures", name)`) is unknown, the directory before it is not.
    fn trailing_strings(&self, parts: &[Node]) -> Option<String> {
        let strings: Vec<String> = parts
            .iter()
            .map(|part| string_value(*part, self.source).filter(|t| !t.is_empty()))
            .skip_while(Option::is_none)
            .map_while(|text| text)
            .collect();
        (!strings.is_empty()).then(|| strings.join("/"))
    }
}

/// The positional arguments of a call.
fn arguments(call: Node) -> Vec<Node> {
    let Some(list) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = list.walk();
    list.named_children(&mut cursor)
        .filter(|a| a.kind() != "keyword_argument" && a.kind() != "comment")
        .collect()
}

/// The value of a plain string literal: no interpolation, no escapes, not bytes.
fn string_value(node: Node, source: &[u8]) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let mut value = String::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "string_start" => {
                let prefix = child.utf8_text(source).ok()?;
                if prefix
                    .chars()
                    .any(|c| matches!(c, 'b' | 'B' | 'f' | 'F' | 't' | 'T'))
                {
                    return None;
                }
            }
            "string_content" => value.push_str(child.utf8_text(source).ok()?),
            "string_end" => {}
            _ => return None,
        }
    }
    Some(value)
}

/// A relative POSIX path of a few parts, with a `/` or a file extension.
fn looks_like_path(text: &str) -> bool {
    if text.is_empty()
        || text.len() > 300
        || text.starts_with('/')
        || text.contains("://")
        || text
            .chars()
            .any(|c| c.is_whitespace() || c == '\\' || c == '\0')
    {
        return false;
    }
    text.contains('/') || has_extension(text)
}

fn has_extension(name: &str) -> bool {
    match name.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=10).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(source: &str) -> Vec<(String, Anchor)> {
        scan(source.as_bytes())
            .paths
            .into_iter()
            .map(|c| (c.text, c.anchor))
            .collect()
    }

    #[test]
    fn plugins_are_read_from_module_level_assignments() {
        let source = "pytest_plugins = ['a.b', \"c\"]\ndef f():\n    pytest_plugins = 'x'\n";
        let found = scan(source.as_bytes()).plugins;
        assert_eq!(found, vec![("a.b".to_owned(), 1), ("c".to_owned(), 1)]);
        let single = scan(b"pytest_plugins = 'p'\n").plugins;
        assert_eq!(single, vec![("p".to_owned(), 1)]);
    }

    #[test]
    fn joined_paths_are_found() {
        let found = paths(
            "from pathlib import Path\nimport os\n\
             A = Path(__file__).parent / 'data' / 'x.json'\n\
             B = os.path.join(os.path.dirname(__file__), 'fixtures', 'y')\n\
             C = tmp / name\n\
             D = os.path.join(HERE, 'examples', name, 'x')\n",
        );
        assert!(
            found.contains(&("data/x.json".into(), Anchor::Joined)),
            "{found:?}"
        );
        assert!(
            found.contains(&("fixtures/y".into(), Anchor::Joined)),
            "{found:?}"
        );
        assert!(
            found.contains(&("x.json".into(), Anchor::Loose)),
            "{found:?}"
        );
        assert!(
            found.contains(&("examples".into(), Anchor::Joined)),
            "{found:?}"
        );
        assert!(!found.iter().any(|(t, _)| t == "data"), "{found:?}");
    }

    #[test]
    fn resources_are_relative_to_their_package() {
        let found = paths(
            "import importlib.resources as r, pkgutil\n\
             r.files('pkg.res') / 'a.txt'\n\
             pkgutil.get_data('pkg', 'b/c.bin')\n",
        );
        assert!(found.contains(&("a.txt".into(), Anchor::Package("pkg.res".into()))));
        assert!(found.contains(&("b/c.bin".into(), Anchor::Package("pkg".into()))));
    }

    #[test]
    fn only_path_like_plain_literals_are_candidates() {
        let found = paths(
            "x = 'tests/fixtures/a.json'\ny = f'{d}/a.txt'\nz = 'hello world.txt'\n\
             w = 'https://a/b'\nv = 'word'\nu = b'a/b'\n",
        );
        assert_eq!(
            found,
            vec![("tests/fixtures/a.json".to_owned(), Anchor::Loose)]
        );
    }
}
