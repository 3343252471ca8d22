"""Generate suites of the shapes a runner finds hardest, deterministically.

    python3 bench/shapes.py SHAPE N --out DIR

Shapes (every test passes; each suite has a `pytest.ini` and a `shape.json` manifest):
    huge-class       one `unittest.TestCase` with N trivial test methods and a `setUpClass`:
                     a module that cannot be split by file, run by one TestCase machinery
    huge-param       one test function parametrized over N values
    tiny-modules     N modules of one trivial test each: per-module cost dominates
    module-fixtures  N modules of 10 tests sharing a module-scoped fixture that sleeps 0.1 s:
                     splitting a module repeats its fixture, so how work is split shows

bench/test_bench.py runs them with `--shapes`. The output directory is replaced only when it is
empty or was made by this script (it holds shape.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

SHAPES = ("huge-class", "huge-param", "tiny-modules", "module-fixtures")


def huge_class(n: int) -> dict[str, str]:
    methods = "".join(f"    def test_{i:05d}(self):\n        self.assertEqual(self.base + {i}, {i + 1})\n\n"
                      for i in range(n))
    return {"test_huge_class.py": (
        "import unittest\n\n\n"
        "class TestHuge(unittest.TestCase):\n"
        "    @classmethod\n"
        "    def setUpClass(cls):\n"
        "        cls.base = 1\n\n" + methods)}


def huge_param(n: int) -> dict[str, str]:
    return {"test_huge_param.py": (
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        "def test_param(i):\n"
        "    assert i + 1 > i\n")}


def tiny_modules(n: int) -> dict[str, str]:
    return {f"tests/test_tiny_{i:04d}.py": f"def test_tiny_{i:04d}():\n    assert {i} >= 0\n"
            for i in range(n)}


def module_fixtures(n: int) -> dict[str, str]:
    tests = "".join(f"def test_{t}(shared):\n    assert shared['ready']\n\n\n" for t in range(10))
    module = ("import time\n\nimport pytest\n\n\n"
              "@pytest.fixture(scope='module')\n"
              "def shared():\n"
              "    time.sleep(0.1)\n"
              "    yield {'ready': True}\n\n\n" + tests)
    return {f"tests/test_fixture_{i:03d}.py": module for i in range(n)}


GENERATORS = {"huge-class": huge_class, "huge-param": huge_param, "tiny-modules": tiny_modules,
              "module-fixtures": module_fixtures}


def generate(shape: str, n: int, out: Path) -> dict:
    if out.exists() and any(out.iterdir()) and not (out / "shape.json").is_file():
        raise SystemExit(f"shapes: refusing to replace {out}: not empty and not made by shapes.py")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "pytest.ini").write_text("[pytest]\n")
    for relpath, text in GENERATORS[shape](n).items():
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    manifest = {"shape": shape, "n": n}
    (out / "shape.json").write_text(json.dumps(manifest) + "\n")
    return manifest


def ensure(shape: str, n: int, out: Path) -> Path:
    """The suite in `out`, generated unless it is already this shape and size."""
    stamp = out / "shape.json"
    if not stamp.is_file() or json.loads(stamp.read_text()) != {"shape": shape, "n": n}:
        generate(shape, n, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a suite of a hard shape.")
    parser.add_argument("shape", choices=SHAPES)
    parser.add_argument("n", type=int)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    print(json.dumps(generate(args.shape, args.n, args.out.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
