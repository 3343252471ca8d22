"""Tests of the corpus harness itself (stdlib unittest):

    python3 -m unittest discover -s tests/corpus -p 'test_*.py'

Unit tests cover output parsing, the comparison and the residue file. The end-to-end tests build a
one-suite corpus in a temporary cache (a local test directory with a stamp, so nothing is
downloaded) and run compare_discovery.main() against a stand-in dx-py that replays pytest's own
collection, with env knobs to drop an ID or to claim a static ID wrongly. They need an interpreter
with pytest: DXPY_TEST_PYTHON, else the corpus venv.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))
import collect  # noqa: E402
import compare_discovery  # noqa: E402
import corpus  # noqa: E402
from compare_discovery import Difference, compare_items  # noqa: E402


class ParseTests(unittest.TestCase):
    def test_ids_stop_at_blank_line_and_summary_counts_selected(self):
        text = ("a.py::t[x]\nb.py::C::t\n\n===== warnings summary =====\n  a.py::t, bad\n\n"
                "2/5 tests collected (3 deselected) in 0.1s\n")
        self.assertEqual(collect.parse_quiet_output(text), (["a.py::t[x]", "b.py::C::t"], 2))

    def test_plugin_output_before_the_ids_is_skipped(self):
        text = "plugin.py:3: SomeWarning: configure me\n\n  warn()\na.py::t\nb.py::u\n\n2 tests collected in 0.1s\n"
        self.assertEqual(collect.parse_quiet_output(text), (["a.py::t", "b.py::u"], 2))

    def test_no_tests(self):
        self.assertEqual(collect.parse_quiet_output("\nno tests collected in 0.01s\n"), ([], 0))
        self.assertEqual(collect.parse_quiet_output("1 test collected in 0.01s"), ([], 1))

    def test_function_id_splits_at_first_bracket(self):
        self.assertEqual(collect.function_id("t.py::f[a::b-[1]]"), "t.py::f")
        self.assertEqual(collect.function_id("data.txt::"), "data.txt::")

    def test_json_items_validated(self):
        self.assertEqual(len(collect.parse_json_items('{"items": [{"node_id": "a::b", "params": "none"}]}')), 1)
        with self.assertRaises(corpus.CorpusError):
            collect.parse_json_items('[{"node_id": "a::b", "params": "maybe"}]')
        with self.assertRaises(corpus.CorpusError):
            collect.parse_json_items('[{"node_id": "a::b"}]')


class FetchTests(unittest.TestCase):
    """Hash verification, unpacking and the stamp that makes a second fetch a no-op."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.env = mock.patch.dict(os.environ, {"DXPY_CACHE": str(self.tmp)})
        self.env.start()
        self.addCleanup(self.env.stop)
        top = self.tmp / "src" / "demo-1.0"
        (top / "tests").mkdir(parents=True)
        (top / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
        sdists = corpus.corpus_cache() / "sdists"
        sdists.mkdir(parents=True)
        self.archive = sdists / "demo-1.0.tar.gz"
        with tarfile.open(self.archive, "w:gz") as tf:
            tf.add(top, arcname="demo-1.0")

    def suite(self, sha: str) -> corpus.Suite:
        return corpus.Suite("demo", "1.0", sha, (), 1, "1 passed", 0.0, 0.0)

    def test_verified_archive_is_unpacked_without_download_then_stamped(self):
        suite = self.suite(corpus.sha256_of(self.archive))
        with mock.patch.object(corpus, "run", side_effect=AssertionError("no download expected")):
            root = corpus.fetch(suite)
            self.assertTrue((root / "tests" / "test_a.py").is_file())
            self.assertEqual((root / corpus.STAMP_NAME).read_text().strip(), suite.sdist_sha256)
            self.archive.unlink()  # the stamp alone makes the second fetch a no-op
            self.assertEqual(corpus.fetch(suite), root)

    def test_hash_mismatch_fails_loudly(self):
        suite = self.suite("f" * 64)
        with mock.patch.object(corpus, "run") as fake_download:
            with self.assertRaisesRegex(corpus.CorpusError, "SHA256 MISMATCH"):
                corpus.fetch(suite)
        fake_download.assert_called_once()  # a mismatching file triggers a fresh download first
        self.assertFalse(suite.root.exists())


def item(node_id: str, params: str) -> dict:
    return {"node_id": node_id, "params": params}


class CompareTests(unittest.TestCase):
    PYTEST = ["t.py::f", "t.py::g[1]", "t.py::g[2]", "t.py::h[obj0]", "t.py::h[obj1]"]

    def test_identical_static_and_dynamic(self):
        dx = [item("t.py::f", "none"), item("t.py::g[1]", "static"), item("t.py::g[2]", "static"),
              item("t.py::h", "dynamic")]
        self.assertEqual(compare_items("s", self.PYTEST, dx), [])

    def test_missing_and_extra_functions(self):
        dx = [item("t.py::f", "none"), item("t.py::z", "none"), item("t.py::h", "dynamic")]
        self.assertEqual(compare_items("s", self.PYTEST, dx),
                         [Difference("s", "t.py::g", "missing-function"),
                          Difference("s", "t.py::z", "extra-function")])

    def test_wrong_static_id(self):
        dx = [item("t.py::f", "none"), item("t.py::g[1]", "static"), item("t.py::g[3]", "static"),
              item("t.py::h", "dynamic")]
        self.assertEqual(compare_items("s", self.PYTEST, dx),
                         [Difference("s", "t.py::g[2]", "missing-id"), Difference("s", "t.py::g[3]", "extra-id")])

    def test_dynamic_function_unknown_to_pytest(self):
        dx = [item("t.py::f", "none"), item("t.py::g[1]", "static"), item("t.py::g[2]", "static"),
              item("t.py::h", "dynamic"), item("t.py::q", "dynamic")]
        self.assertEqual(compare_items("s", self.PYTEST, dx), [Difference("s", "t.py::q", "extra-function")])


class ResidueTests(unittest.TestCase):
    def write(self, text: str) -> Path:
        path = Path(tempfile.mkdtemp()) / "r.tsv"
        path.write_text(text)
        return path

    def test_reads_ids_with_quotes(self):
        path = self.write('suite\tnode_id\tkind\tcause\nm\tt.py::f[&"x]\tmissing-id\twhy\n')
        self.assertEqual(compare_discovery.load_residue(path),
                         {Difference("m", 't.py::f[&"x]', "missing-id"): "why"})

    def test_rejects_bad_header_and_causeless_rows(self):
        with self.assertRaises(corpus.CorpusError):
            compare_discovery.load_residue(self.write("a\tb\n"))
        with self.assertRaises(corpus.CorpusError):
            compare_discovery.load_residue(self.write("suite\tnode_id\tkind\tcause\nm\tx\tmissing-id\t\n"))

    def test_shipped_residue_file_is_valid(self):
        compare_discovery.load_residue()


class DynamicBoundTests(unittest.TestCase):
    HEADER = "suite\tmax_dynamic\treason\n"

    def write(self, text: str) -> Path:
        handle = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)
        handle.write(text)
        handle.close()
        self.addCleanup(os.unlink, handle.name)
        return Path(handle.name)

    def test_reads_bounds_and_skips_comments(self):
        path = self.write(self.HEADER + "# why\na\t3\tcomputed params\nb\t0\tnone\n")
        self.assertEqual(compare_discovery.load_dynamic_bounds(path), {"a": 3, "b": 0})

    def test_rejects_bad_rows(self):
        for text in ("suite\tbound\treason\n", self.HEADER + "a\t-1\tx\n", self.HEADER + "a\t1\t\n",
                     self.HEADER + "a\t1\n", self.HEADER + "a\t1\tx\na\t2\ty\n"):
            with self.subTest(text=text), self.assertRaises(corpus.CorpusError):
                compare_discovery.load_dynamic_bounds(self.write(text))

    def test_shipped_bounds_file_is_valid(self):
        self.assertTrue(compare_discovery.load_dynamic_bounds())

    def test_count_and_verdict(self):
        items = [{"node_id": "t.py::a", "params": "dynamic"}, {"node_id": "t.py::b[1]", "params": "static"},
                 {"node_id": "t.py::c", "params": "dynamic"}]
        self.assertEqual(compare_discovery.dynamic_count(items), 2)

        def report(name, dynamic):
            suite = corpus.Suite(name, "1", "0" * 64, (), 0, "-", 0.0, 0.0)
            return compare_discovery.SuiteReport(suite, collect.Collection([], 0, 0, 0.0, "", ""),
                                                 dynamic=dynamic)

        reports = [report("equal", 2), report("grew", 3), report("shrank", 1), report("unbounded", 0),
                   report("not-run", None)]
        problems = compare_discovery.dynamic_verdict(reports, {"equal": 2, "grew": 2, "shrank": 2})
        self.assertEqual([p.split(":")[0] for p in problems],
                         ["DYNAMIC grew", "DYNAMIC shrank", "DYNAMIC unbounded"])


FAKE_DXPY = '''\
#!/usr/bin/env python3
"""Stand-in dx-py: replays pytest's collection; FAKE_DROP drops an ID, FAKE_STATIC_WRONG renames one."""
import json, os, subprocess, sys
args = sys.argv[1:]
assert args[0] == "discover", args
out = subprocess.run([os.environ["VIRTUAL_ENV"] + "/bin/python", "-m", "pytest", "--collect-only", "-q",
                      "-p", "no:cacheprovider"], capture_output=True, text=True)
ids = [l for l in out.stdout.split("\\n\\n")[0].splitlines() if "::" in l]
ids = [i for i in ids if i != os.environ.get("FAKE_DROP")]
ids = [i + "x" if i == os.environ.get("FAKE_STATIC_WRONG") else i for i in ids]
items, seen = [], set()
for i in ids:
    fn = i.split("[")[0]
    if "dyn" in fn:
        if fn not in seen:
            items.append({"node_id": fn, "params": "dynamic"})
        seen.add(fn)
    else:
        items.append({"node_id": i, "params": "static" if "[" in i else "none"})
if "--json" in args:
    print(json.dumps(items))
else:
    print("\\n".join(x["node_id"] for x in items) + f"\\n\\n{len(items)} tests collected in 0.01s")
sys.exit(out.returncode)
'''

MINI_SUITE = '''\
import pytest

VALUES = [object(), object()]


def test_plain():
    pass


@pytest.mark.parametrize("x", [1, "a b"])
def test_static(x):
    pass


@pytest.mark.parametrize("v", VALUES)
def test_dyn(v):
    pass
'''


def python_with_pytest() -> str | None:
    for candidate in (os.environ.get("DXPY_TEST_PYTHON"), str(corpus.venv_python())):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@unittest.skipUnless(python_with_pytest(), "needs DXPY_TEST_PYTHON or the corpus venv (corpus.py venv)")
class EndToEndTests(unittest.TestCase):
    def setUp(self):
        python = python_with_pytest()
        self.tmp = Path(tempfile.mkdtemp())
        cache = self.tmp / "cache"
        listing = self.tmp / "corpus" / "dev-suites.tsv"
        listing.parent.mkdir()
        (listing.parent / "constraints.txt").write_text("pytest\n")
        header = "# name\tversion\tsdist_sha256\ttest_deps\tcollected\tpytest_outcome\tcollect_s\tcollect_warm_s\n"
        self.row = "mini\t1.0\t" + "0" * 64 + "\t-\t{n}\t-\t0\t0\n"
        listing.write_text(header + self.row.format(n=5))
        self.env = mock.patch.dict(os.environ, {"DXPY_CACHE": str(cache), "DXPY_CORPUS_LIST": str(listing),
                                                "DXPY_BIN": str(self.tmp / "dx-py")})
        self.env.start()
        suite = corpus.load_suites()[0]
        (suite.root / "tests").mkdir(parents=True)
        (suite.root / "tests" / "test_mini.py").write_text(MINI_SUITE)
        (suite.root / corpus.STAMP_NAME).write_text(suite.sdist_sha256 + "\n")
        (corpus.venv_dir() / "bin").mkdir(parents=True)
        # A wrapper, not a symlink: a symlinked venv interpreter would look for pyvenv.cfg here.
        (corpus.venv_dir() / "bin" / "python").write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
        (corpus.venv_dir() / "bin" / "python").chmod(0o755)
        (corpus.venv_dir() / corpus.STAMP_NAME).write_text(corpus.venv_fingerprint([suite]))
        (self.tmp / "dx-py").write_text(FAKE_DXPY)
        (self.tmp / "dx-py").chmod(0o755)
        self.residue = self.tmp / "residue.tsv"
        self.residue.write_text("suite\tnode_id\tkind\tcause\n")
        # The stand-in reports test_dyn as one dynamic item.
        self.bounds = self.tmp / "bounds.tsv"
        self.bounds.write_text("suite\tmax_dynamic\treason\nmini\t1\ttest_dyn's values are objects\n")

    def tearDown(self):
        self.env.stop()

    def run_compare(self, **env) -> tuple[int, str]:
        out = io.StringIO()
        with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            code = compare_discovery.main(["--residue", str(self.residue),
                                           "--dynamic-bounds", str(self.bounds)])
        return code, out.getvalue()

    def test_identical_passes(self):
        code, out = self.run_compare()
        self.assertEqual(code, 0, out)
        self.assertIn("OK", out)

    def test_unlisted_difference_fails_and_listing_it_passes(self):
        dropped = "tests/test_mini.py::test_static[a b]"
        code, out = self.run_compare(FAKE_DROP=dropped)
        self.assertEqual(code, 1, out)
        self.assertIn(f"NEW   mini missing-id: {dropped}", out)
        self.residue.write_text(f"suite\tnode_id\tkind\tcause\nmini\t{dropped}\tmissing-id\ttest\n")
        code, out = self.run_compare(FAKE_DROP=dropped)
        self.assertEqual(code, 0, out)

    def test_stale_residue_fails(self):
        self.residue.write_text("suite\tnode_id\tkind\tcause\nmini\ttests/test_mini.py::gone\tmissing-function\told\n")
        code, out = self.run_compare()
        self.assertEqual(code, 1, out)
        self.assertIn("STALE", out)

    def test_wrong_static_id_fails(self):
        code, out = self.run_compare(FAKE_STATIC_WRONG="tests/test_mini.py::test_static[1]")
        self.assertEqual(code, 1, out)
        self.assertIn("extra-id: tests/test_mini.py::test_static[1]x", out)

    def test_dynamic_count_off_its_bound_fails(self):
        for bound, message in (("0", "DYNAMIC mini: 1 items reported dynamic, more than the bound 0"),
                               ("2", "DYNAMIC mini: 1 items reported dynamic, fewer than the bound 2")):
            self.bounds.write_text(f"suite\tmax_dynamic\treason\nmini\t{bound}\ttest\n")
            with self.subTest(bound=bound):
                code, out = self.run_compare()
                self.assertEqual(code, 1, out)
                self.assertIn(message, out)

    def test_suite_without_a_bound_fails(self):
        self.bounds.write_text("suite\tmax_dynamic\treason\n")
        code, out = self.run_compare()
        self.assertEqual(code, 1, out)
        self.assertIn("DYNAMIC mini: 1 items reported dynamic and no bound", out)

    def test_yardstick_disagreement_fails(self):
        listing = Path(os.environ["DXPY_CORPUS_LIST"])
        listing.write_text(listing.read_text().replace("\t5\t", "\t6\t"))
        code, out = self.run_compare()
        self.assertEqual(code, 1, out)
        self.assertIn("ENVIRONMENT: mini: pytest collected 5, yardstick says 6", out)


if __name__ == "__main__":
    unittest.main()
