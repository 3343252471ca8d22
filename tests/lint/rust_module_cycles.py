#!/usr/bin/env python3
"""Fail when the modules of a workspace crate depend on each other in a loop.

Usage: python3 tests/lint/rust_module_cycles.py [REPO]   (exit 1 and the loops on stderr)

What counts (rustc accepts any loop inside a crate, so this is a design rule, not a compile rule):
- Nodes are modules: each file reached from the crate root (`src/lib.rs`, else `src/main.rs`) by
  `mod x;`, and inline `mod x { ... }` blocks.
- An edge A -> B is a path in A's code that names B or an item of B: `use` trees, and paths in
  expressions and types that start with `crate::`, `super::`, `self::`, a child module or a name
  `use` bound to a module. A `pub use` re-export is followed to the module that defines the item,
  so `crate::TestItem` is an edge to `item`, not to the crate root.
- A module and its own ancestors are one line of ownership, not a loop: a parent using its child
  and a child using its parent's shared items (`super::Error`) are not counted.
- Every other edge is lifted to the two sibling subtrees that contain its ends (below their
  nearest common ancestor). At each level the siblings must form a DAG: `config/locate.rs`
  using `module/` and `module/model.rs` using `config.rs` is a loop between `config` and
  `module`, as are two files in one folder that use each other.
Lexing is deliberately small: comments and string/char literals are blanked, then `mod`, `use`
and paths are read with regular expressions; macros' insides count as code.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from graph_cycles import strongly_connected

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass
class Module:
    path: tuple[str, ...]  # segments below the crate root; () is the root
    file: Path
    children: dict[str, Module] = field(default_factory=dict)
    # name -> (module path it resolved to, remaining segments) for `use` bindings
    aliases: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    reexports: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    uses: list[tuple[tuple[str, ...], tuple[str, ...], int]] = field(default_factory=list)

    def name(self) -> str:
        return "::".join(("crate",) + self.path)


def blank_literals(src: str) -> str:
    """Comments and the contents of string and char literals become spaces (newlines kept)."""
    out = []
    i, n = 0, len(src)

    def blank(text: str) -> str:
        return "".join(c if c == "\n" else " " for c in text)

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', src[i:])) and not (i and re.match(r"\w", src[i - 1])):
            close = '"' + m.group(1)
            j = src.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + blank(src[i + 2 : j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + blank(src[i + 1 : j - 1]) if j > i + 1 else '""')
            i = j + 1
        elif c == "'":
            if src.startswith("\\", i + 1):
                j = src.find("'", i + 3)
                out.append("' '" + blank(src[i + 3 : j]))
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":
                out.append("' '")
                i += 3
            else:  # a lifetime or a label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_use_tree(text: str) -> list[tuple[tuple[str, ...], str | None]]:
    """`a::{b, c::d as e, self}` -> [(('a','b'), None), (('a','c','d'), 'e'), (('a',), None)]."""
    tokens = re.findall(rf"::|{IDENT}|\*|[{{}},]", text)
    pos = 0

    def tree(prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], str | None]]:
        nonlocal pos
        path = list(prefix)
        while pos < len(tokens):
            tok = tokens[pos]
            if tok == "{":
                pos += 1
                leaves = []
                while pos < len(tokens) and tokens[pos] != "}":
                    if tokens[pos] == ",":
                        pos += 1
                        continue
                    leaves += tree(tuple(path))
                pos += 1
                return leaves
            if tok == "*":
                pos += 1
                return [(tuple(path) + ("*",), None)]
            if tok == "::":
                pos += 1
                continue
            if tok in (",", "}"):
                break
            if tok == "as":
                alias = tokens[pos + 1]
                pos += 2
                return [(tuple(path), alias)]
            path.append(tok)
            pos += 1
        return [(tuple(path), None)]

    return tree(())


class Crate:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = Module((), root)
        self.modules: dict[tuple[str, ...], Module] = {(): self.root}
        self._load(self.root, root, child_dir=root.parent)

    def _load(self, module: Module, file: Path, child_dir: Path) -> None:
        code = blank_literals(file.read_text(encoding="utf-8"))
        line_of = _line_index(code)
        # Scopes: (module, brace depth at which its block closes, its child folder).
        scopes = [(module, -1, child_dir)]
        depth = 0
        token = re.compile(
            rf"(?P<mod>\bmod\s+(?P<modname>{IDENT})\s*(?P<modend>[;{{]))"
            rf"|(?P<use>(?<![\w:])use\s+(?P<tree>[^;]*);)"
            rf"|(?P<path>(?<![\w:])(?P<first>{IDENT})(?:\s*::\s*(?:{IDENT}|<))+)"
            r"|(?P<open>\{)|(?P<close>\})"
        )
        for m in token.finditer(code):
            current, _, cdir = scopes[-1]
            line = line_of(m.start())
            if m.group("open"):
                depth += 1
            elif m.group("close"):
                depth -= 1
                if scopes[-1][1] == depth:
                    scopes.pop()
            elif m.group("mod"):
                name = m.group("modname")
                child = Module(current.path + (name,), file)
                current.children[name] = child
                self.modules[child.path] = child
                if m.group("modend") == ";":
                    target = cdir / f"{name}.rs"
                    if not target.exists():
                        target = cdir / name / "mod.rs"
                    child.file = target
                    self._load(child, target, child_dir=cdir / name)
                else:
                    depth += 1
                    scopes.append((child, depth - 1, cdir / name))
            elif m.group("use"):
                public = re.search(r"\bpub(\([^)]*\))?\s*$", code[max(0, m.start() - 40) : m.start()])
                for segments, alias in parse_use_tree(m.group("tree")):
                    binding = alias or segments[-1]
                    if segments[-1] == "self":
                        segments = segments[:-1]
                        binding = alias or segments[-1]
                    current.uses.append((segments, (), line))
                    if segments[-1] != "*":
                        current.aliases[binding] = (segments, ())
                        if public:
                            current.reexports[binding] = (segments, ())
            elif m.group("path"):
                segments = tuple(re.findall(IDENT, m.group("path")))
                current.uses.append((segments, ("expr",), line))

    def resolve(self, start: Module, segments: tuple[str, ...], seen=None) -> tuple[str, ...] | None:
        """The module (path) a path names or names an item of; None for other crates' paths."""
        seen = set() if seen is None else seen
        first, rest = segments[0], list(segments[1:])
        if first == "crate":
            at = self.root
        elif first in ("self", "super"):
            at = start
            if first == "super":
                at = self.modules[start.path[:-1]]
            while rest and rest[0] == "super":
                at = self.modules[at.path[:-1]]
                rest.pop(0)
        elif first in start.children:
            at = start.children[first]
        elif first in start.aliases and (start.path, first) not in seen:
            seen.add((start.path, first))
            target = self.resolve(start, start.aliases[first][0], seen)
            if target is None:
                return None
            return self.resolve(self.modules[target], ("self",) + tuple(rest), seen)
        else:
            return None
        while rest:
            name = rest[0]
            if name in at.children:
                at = at.children[name]
                rest.pop(0)
                continue
            if name in at.reexports and (at.path, name) not in seen:
                seen.add((at.path, name))
                target = self.resolve(at, at.reexports[name][0], seen)
                return at.path if target is None else target
            break
        return at.path

    def edges(self) -> dict[tuple[tuple[str, ...], tuple[str, ...]], str]:
        found = {}
        for module in self.modules.values():
            for segments, kind, line in module.uses:
                if kind and segments[0] not in ("crate", "self", "super") and (
                    segments[0] not in module.children and segments[0] not in module.aliases
                ):
                    continue
                target = self.resolve(module, segments)
                if target is None or target == module.path:
                    continue
                key = (module.path, target)
                found.setdefault(key, f"{module.file}:{line}: {'::'.join(segments)}")
        return found


def _line_index(code: str):
    starts = [0] + [i + 1 for i, c in enumerate(code) if c == "\n"]

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    return line_of


def sibling_loops(crate: Crate) -> list[tuple[tuple[str, ...], list[tuple[str, ...]], list[str]]]:
    """Loops between siblings at every level: (parent, members, evidence lines)."""
    lifted: dict[tuple[str, ...], dict[tuple[str, ...], set[tuple[str, ...]]]] = {}
    evidence: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for (src, dst), where in crate.edges().items():
        common = 0
        while common < min(len(src), len(dst)) and src[common] == dst[common]:
            common += 1
        if common in (len(src), len(dst)):
            continue  # one is the other's ancestor: ownership, not a loop
        a, b = src[: common + 1], dst[: common + 1]
        lifted.setdefault(src[:common], {}).setdefault(a, set()).add(b)
        evidence.setdefault((a, b), []).append(where)
    loops = []
    for parent, graph in sorted(lifted.items()):
        for component in strongly_connected(graph):
            if len(component) > 1:
                members = set(component)
                lines = [
                    w
                    for (a, b), ws in sorted(evidence.items())
                    if a in members and b in members
                    for w in ws
                ]
                loops.append((parent, sorted(component), lines))
    return loops


def workspace_crates(repo: Path) -> list[Crate]:
    manifest = tomllib.loads((repo / "Cargo.toml").read_text())
    crates = []
    for member in manifest["workspace"]["members"]:
        src = repo / member / "src"
        root = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
        name = tomllib.loads((repo / member / "Cargo.toml").read_text())["package"]["name"]
        crates.append(Crate(name, root))
    return crates


def main() -> int:
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    failed = 0
    for crate in workspace_crates(repo):
        for parent, members, lines in sibling_loops(crate):
            failed += 1
            names = ", ".join("::".join(("crate",) + m) for m in members)
            print(f"{crate.name}: module loop under {'::'.join(('crate',) + parent)}: {names}", file=sys.stderr)
            for line in lines:
                print(f"    {Path(line).relative_to(repo) if line.startswith(str(repo)) else line}", file=sys.stderr)
        print(f"{crate.name}: {len(crate.modules)} modules checked")
    if failed:
        print(f"{failed} module loop(s) found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
