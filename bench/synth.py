"""Generate a large synthetic pytest suite, deterministically from a seed.

    python3 bench/synth.py [--files 2000] [--tests-per-file 25] [--helpers 200] [--seed 1]
                           [--out .cache/bench/synth]

Layout of the output:
    pytest.ini                 testpaths = tests, pythonpath = ., registered marks
    conftest.py                fixtures `synth_base` (function scope) and `synth_table` (session)
    helpers/__init__.py, helpers/hNNN.py
                               each helper defines CONST and DERIVED; helper i imports 0-2 helpers
                               with a lower number (acyclic), so DERIVED is known here
    tests/gNN/test_mNNNN.py    --tests-per-file test definitions each: module-level functions,
                               Test* classes with methods, a few literal @pytest.mark.parametrize
                               (ints, strings, bools, None, floats), some custom marks; every file
                               imports 1-3 helpers. Every test passes, with cheap bodies.
    synth.json                 the options plus the number of items pytest collects
The same options give byte-identical files. The output directory is replaced only when it is empty
or was made by this script (it holds synth.json).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FILES_PER_DIR = 100

PYTEST_INI = """[pytest]
testpaths = tests
pythonpath = .
markers =
    slow: a synthetic slow test
    network: a synthetic network test
    smoke: a synthetic smoke test
"""

CONFTEST = '''import pytest


@pytest.fixture
def synth_base():
    return 41


@pytest.fixture(scope="session")
def synth_table():
    return {"answer": 42, "items": [1, 2, 3]}
'''

# Literal parametrize cases: (argnames, values source text, number of cases).
PARAM_SHAPES = [
    ('"a, b, expected"', "[(1, 2, 3), (2, 3, 5), (10, -4, 6)]", 3),
    ('"word"', '["alpha", "beta", "gamma", "delta"]', 4),
    ('"flag"', "[True, False]", 2),
    ('"value, is_none"', "[(None, True), (0, False), (1.5, False)]", 3),
]
MARKS = ["slow", "network", "smoke"]


def helper_sources(count: int, rng: random.Random) -> tuple[dict[str, str], list[int]]:
    """Helper modules and each one's DERIVED value (CONST plus the CONSTs it imports)."""
    sources, derived = {}, []
    for i in range(count):
        deps = sorted(rng.sample(range(i), k=min(i, rng.choice([0, 0, 1, 2]))))
        lines = [f'"""Synthetic helper {i}."""', ""]
        lines += [f"from helpers import h{d:03d}" for d in deps]
        lines += ["", f"CONST = {i}",
                  "DERIVED = CONST" + "".join(f" + h{d:03d}.CONST" for d in deps), "", "",
                  "def add(a, b):", "    return a + b", "", "",
                  "def label(x):", f'    return "h{i:03d}-" + str(x)', ""]
        sources[f"h{i:03d}.py"] = "\n".join(lines)
        derived.append(i + sum(deps))
    return sources, derived


def test_body(rng: random.Random, helpers: list[int], derived: list[int]) -> tuple[str, str]:
    """(parameters, body lines) of one non-parametrized test."""
    h = rng.choice(helpers)
    choice = rng.randrange(5)
    if choice == 0:
        return "", f"    assert h{h:03d}.CONST == {h}"
    if choice == 1:
        return "", f"    assert h{h:03d}.DERIVED == {derived[h]}"
    if choice == 2:
        x = rng.randrange(100)
        return "", f'    assert h{h:03d}.label({x}) == "h{h:03d}-{x}"'
    if choice == 3:
        return "synth_base", f"    assert h{h:03d}.add(synth_base, 1) == 42"
    return "synth_table", '    assert synth_table["answer"] == sum(synth_table["items"]) * 7'


def param_test(shape: int) -> str:
    """Body checking the parametrized arguments of PARAM_SHAPES[shape]."""
    return ["    assert a + b == expected",
            "    assert word.isalpha()",
            "    assert flag in (True, False)",
            "    assert (value is None) == is_none"][shape]


def test_file(index: int, per_file: int, rng: random.Random, helper_count: int,
              derived: list[int]) -> tuple[str, int]:
    """Source of one test file and the number of items pytest collects from it."""
    helpers = sorted(rng.sample(range(helper_count), k=min(helper_count, rng.randint(1, 3))))
    out = [f'"""Synthetic test module {index}."""', "", "import pytest", ""]
    out += [f"from helpers import h{h:03d}" for h in helpers]
    items = 0
    in_class = 0  # methods left to write in the current class
    class_no = 0
    for t in range(per_file):
        if in_class == 0 and rng.random() < 0.08:
            in_class = min(per_file - t, rng.randint(3, 6))
            class_no += 1
            out += ["", "", f"class TestGroup{class_no}:"]
        indent = "    " if in_class else ""
        decorators = []
        if rng.random() < 0.1:
            decorators.append(f"@pytest.mark.{rng.choice(MARKS)}")
        shape = rng.randrange(len(PARAM_SHAPES)) if rng.random() < 0.06 else None
        if shape is not None:
            names, values, cases = PARAM_SHAPES[shape]
            decorators.append(f"@pytest.mark.parametrize({names}, {values})")
            params = names.strip('"').replace(" ", "")
            body = param_test(shape)
            items += cases
        else:
            params, body = test_body(rng, helpers, derived)
            items += 1
        if in_class:
            params = "self" + (", " + params if params else "")
        out += [""] if in_class else ["", ""]
        out += [indent + d for d in decorators]
        out += [f"{indent}def test_{index:04d}_{t:02d}({params}):", indent + body]
        if in_class:
            in_class -= 1
    return "\n".join(out) + "\n", items


def generate(out: Path, files: int, per_file: int, helper_count: int, seed: int) -> dict:
    if out.exists() and any(out.iterdir()) and not (out / "synth.json").is_file():
        raise SystemExit(f"synth: refusing to replace {out}: not empty and not made by synth.py")
    shutil.rmtree(out, ignore_errors=True)
    rng = random.Random(seed)
    (out / "helpers").mkdir(parents=True)
    (out / "pytest.ini").write_text(PYTEST_INI)
    (out / "conftest.py").write_text(CONFTEST)
    (out / "helpers" / "__init__.py").write_text('"""Synthetic helpers."""\n')
    sources, derived = helper_sources(helper_count, rng)
    for name, source in sources.items():
        (out / "helpers" / name).write_text(source)
    items = 0
    for i in range(files):
        directory = out / "tests" / f"g{i // FILES_PER_DIR:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        source, count = test_file(i, per_file, rng, helper_count, derived)
        (directory / f"test_m{i:04d}.py").write_text(source)
        items += count
    manifest = {"seed": seed, "files": files, "tests_per_file": per_file,
                "helpers": helper_count, "items": items}
    (out / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a synthetic pytest suite.")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--tests-per-file", type=int, default=25)
    parser.add_argument("--helpers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cache" / "bench" / "synth")
    args = parser.parse_args(argv)
    if args.files < 1 or args.tests_per_file < 1 or args.helpers < 1:
        parser.error("--files, --tests-per-file and --helpers must be at least 1")
    manifest = generate(args.out.resolve(), args.files, args.tests_per_file, args.helpers, args.seed)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
