"""What pytest collects in each corpus suite that a static discoverer must reproduce.

    python3 tests/corpus/survey.py [SUITE...]

Runs `pytest --collect-only -q -p no:cacheprovider -p survey_plugin` from each suite root (see
survey_plugin.py), scans its config and conftest files for collection hooks, and prints per-suite
facts with example node IDs. FINDINGS.md was written from this output.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import collect
import corpus

CONFTEST_HOOKS = ["collect_ignore", "collect_ignore_glob", "pytest_generate_tests", "pytest_collect_file",
                  "pytest_pycollect_makeitem", "pytest_collection_modifyitems", "pytest_ignore_collect",
                  "pytest_configure", "pytest_plugins", "doctest", "__test__"]
ODD_ID = {"non-ascii escape": re.compile(r"\\(x|u|U)[0-9a-f]{2}"), "space": re.compile(r" "),
          "'::' in params": re.compile(r"\[.*::.*\]$"), "'/' in params": re.compile(r"\[.*/.*\]$"),
          "nested brackets": re.compile(r"\[.*[\[\]].*\]$"), "newline escape": re.compile(r"\\n"),
          "empty name": re.compile(r"::$")}


def survey(suite: corpus.Suite) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "items.json"
        env = corpus.clean_env(True)
        env["PYTHONPATH"] = str(Path(__file__).parent)
        env["DXPY_SURVEY_OUT"] = str(out)
        cmd = [str(corpus.venv_python()), "-m", "pytest", *collect.PYTEST_ARGS, "-p", "survey_plugin"]
        subprocess.run(cmd, cwd=suite.root, env=env, capture_output=True, check=False)
        records = json.loads(out.read_text())
        deselected = Path(str(out) + ".deselected")
        if deselected.exists():
            records.append({"deselected": deselected.read_text().splitlines()})
        return records


def config_facts(root: Path) -> list[str]:
    facts = []
    for name in ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
        text = (root / name).read_text() if (root / name).is_file() else ""
        match = re.search(r"^\[(pytest|tool:pytest|tool\.pytest\.ini_options)\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
        if match:
            keys = re.findall(r"^(\w+)\s*=\s*(.*)$", match.group(2), re.M)
            facts.append(f"config {name} [{match.group(1)}]: " + "; ".join(f"{k}={v[:50]}" for k, v in keys))
    for conftest in sorted(root.rglob("conftest.py")):
        text = conftest.read_text(errors="replace")
        hooks = [h for h in CONFTEST_HOOKS if re.search(rf"\b{re.escape(h)}\b", text)]
        facts.append(f"{conftest.relative_to(root)}: {', '.join(hooks) or 'fixtures only'}")
    return facts


def summarize(suite: corpus.Suite, records: list[dict]) -> list[str]:
    lines = [f"## {suite.name} {suite.version}"] + [f"- {f}" for f in config_facts(suite.root)]
    deselected = [r for r in records if "deselected" in r]
    items = [r for r in records if "nodeid" in r]
    lines.append(f"- items: {len(items)}; types: {dict(collections.Counter(r['type'] for r in items))}")
    if deselected:
        lines.append(f"- deselected by config: {len(deselected[0]['deselected'])}, e.g. "
                     f"`{deselected[0]['deselected'][0]}`")
    sources = collections.Counter()
    examples: dict[str, str] = {}
    for r in items:
        for src in set(r.get("param_sources", {}).values()):
            sources[src] += 1
            examples.setdefault(src, r["nodeid"])
    for src, count in sources.most_common():
        lines.append(f"- params from {src}: {count} items, e.g. `{examples[src]}`")
    decorated = {r["nodeid"].split("[")[0]: r for r in items if r.get("decorators") or r.get("class_decorators")}
    dynamic = [r for r in decorated.values()
               if not all(d["literal"] for d in r.get("decorators", []) + r.get("class_decorators", []))]
    if decorated:

        def first_dynamic(r):
            return next(d["src"] for d in r.get("decorators", []) + r.get("class_decorators", [])
                        if not d["literal"])

        lines.append(f"- parametrize-decorated functions: {len(decorated)}; with non-literal values/ids: "
                     f"{len(dynamic)}" + "".join(
                         f"\n  - `{r['nodeid'].split('[')[0]}`: `{first_dynamic(r)}`"
                         for r in dynamic[:3]))
    knowable = [r for r in items if r["type"] in ("Function", "TestCaseFunction") and (
        not r.get("param_sources") or (
            set(r["param_sources"].values()) <= {"function-mark", "class-or-module-mark"}
            and all(d["literal"] for d in r.get("decorators", []) + r.get("class_decorators", []))))]
    lines.append(f"- items whose full ID is knowable from literals alone: {len(knowable)} of {len(items)}")
    for label, predicate in [
        ("inherited test methods", lambda r: r.get("inherited")),
        ("  ...from a base in another module",
         lambda r: r.get("inherited") and r["defined_in"].rsplit(".", 2)[0] not in r["nodeid"].replace("/", ".")),
        ("tests defined in another module (imported)", lambda r: r.get("foreign") and not r.get("inherited")),
        ("async test functions", lambda r: r.get("async")),
        ("nested classes", lambda r: r.get("parents", []).count("Class") > 1),
        ("unittest items", lambda r: r["type"] == "TestCaseFunction"),
        ("doctest items", lambda r: r["type"] == "DoctestItem"),
        ("non-Python items", lambda r: r["type"] not in ("Function", "TestCaseFunction", "DoctestItem")),
    ] + [(f"ids with {k}", lambda r, rx=rx: rx.search(r["nodeid"])) for k, rx in ODD_ID.items()]:
        hits = [r for r in items if predicate(r)]
        if hits:
            extra = f" (bases {hits[0]['bases']})" if hits[0].get("bases") and "inherit" in label else ""
            lines.append(f"- {label}: {len(hits)}, e.g. `{hits[0]['nodeid']}`{extra}")
    return lines


def main(argv: list[str]) -> int:
    suites = corpus.select(corpus.load_suites(), argv)
    corpus.ensure_venv(corpus.load_suites())
    for suite in suites:
        print("\n".join(summarize(suite, survey(suite))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
