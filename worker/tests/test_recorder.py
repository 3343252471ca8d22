"""The recorder (Hello's RECORD flag): which first-party functions each test executes, sent as
Executed/Ambient frames by a real worker running real pytest on a temporary project."""

from __future__ import annotations

import builtins
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from dxpy_worker import protocol as P
from dxpy_worker import recorder

WORKER_DIR = Path(__file__).resolve().parent.parent

MOD = '''\
import functools


def deco(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)
    return wrapper


def only_a():
    """Doc of only_a."""
    def inner():
        def innermost():
            return 1
        return innermost()
    return inner()


def only_b():
    return 2


@deco
def decorated():
    return 3


class Outer:
    def method(self):
        return 4

    class Inner:
        def nested_method(self):
            return 5


def at_import():
    return 6


VALUE = at_import()


def for_session():
    return 7


def for_function():
    return 8


def fails(x):
    y = x + 1
    assert y == 0
    return y
'''

CONFTEST = '''\
import pytest

from pkg import mod


@pytest.fixture(scope="session")
def session_value():
    return mod.for_session()


@pytest.fixture
def function_value():
    return mod.for_function()
'''

TESTS = '''\
import builtins
import importlib
import subprocess
import sys

from pkg import mod


def test_a(session_value):
    assert mod.only_a() == 1


def test_b(function_value):
    assert mod.only_b() == 2


def test_decorated():
    assert mod.decorated() == 3


def test_methods():
    assert mod.Outer().method() == 4
    assert mod.Outer.Inner().nested_method() == 5


def test_doc():
    assert mod.only_a.__doc__ == "Doc of only_a."


def test_subprocess():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_other_program():
    # Not Python: it cannot run the project's code, so the recording stays complete.
    subprocess.run(["true"], check=True)


def test_shell_python():
    subprocess.run("exec python3 -c pass", shell=True, check=True)


def test_dynamic_import():
    assert importlib.import_module("pkg.late").late() == 9


def test_fails():
    mod.fails(1)


def test_nothing_installed():
    assert not hasattr(builtins, "__dxpy_hit__")
    assert not [f for f in sys.meta_path if type(f).__module__ == "dxpy_worker.recorder"]
'''

LATE = '''\
def late():
    return 9
'''


def temp_dir(case: unittest.TestCase | type[unittest.TestCase], prefix: str) -> Path:
    """A temporary directory removed after the test (or the class)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if isinstance(case, unittest.TestCase):
        case.addCleanup(shutil.rmtree, path, True)
    else:
        case.addClassCleanup(shutil.rmtree, path, True)
    return path


def write_project(root: Path) -> Path:
    for name, text in {"pkg/__init__.py": "", "pkg/mod.py": MOD, "pkg/late.py": LATE,
                       "conftest.py": CONFTEST, "test_rec.py": TESTS,
                       "pytest.ini": "[pytest]\n"}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def def_line(source: str, needle: str) -> int:
    """1-based line of the first line of ``source`` containing ``needle``."""
    for number, line in enumerate(source.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in source")


def run_worker(root: Path, node_ids: list[str], record: bool, cache_root: Path | None = None,
               batches: int = 1, engine: P.Engine = P.Engine.PYTEST) -> list[P.ResultMessage]:
    requests = [P.RequestFrame(1, P.Hello(str(root), [], engine,
                                          ["-p", "no:cacheprovider"], 1 << 20, record=record))]
    for number in range(batches):
        requests.append(P.RequestFrame(2 + number, P.RunItems(0, batches > 1, node_ids)))
    requests.append(P.RequestFrame(2 + batches, P.Shutdown()))
    env = dict(os.environ, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1")
    env.pop("DXPY_WORKER_CACHE_ROOT", None)
    if cache_root is not None:
        env["DXPY_WORKER_CACHE_ROOT"] = str(cache_root)
    proc = subprocess.run([sys.executable, "-m", "dxpy_worker"],
                          input=b"".join(P.encode_request(r) for r in requests),
                          capture_output=True, env=env, cwd=str(root), timeout=120)
    messages, pos = [], 0
    while pos < len(proc.stdout):
        frame, used = P.decode_result(proc.stdout[pos:])
        messages.append(frame.message)
        pos += used
    if proc.returncode != 0:
        raise AssertionError(f"worker failed ({proc.returncode}): {proc.stderr.decode()[-3000:]}")
    return messages


def executed(messages: list[P.ResultMessage]) -> dict[str, P.Executed]:
    return {m.node_id: m for m in messages if isinstance(m, P.Executed)}


def lines_in(record: P.Executed | P.Ambient, path: str) -> list[int]:
    return record.def_lines[record.paths.index(path)] if path in record.paths else []


class RecordingWorker(unittest.TestCase):
    root: Path
    cache_root: Path
    messages: list[P.ResultMessage]

    @classmethod
    def setUpClass(cls) -> None:
        cls.root = write_project(temp_dir(cls, "dxpy-recorder-"))
        cls.cache_root = temp_dir(cls, "dxpy-recorder-cache-")
        tests = [f"test_rec.py::{name}" for name in (
            "test_a", "test_b", "test_decorated", "test_methods", "test_doc", "test_subprocess",
            "test_other_program", "test_shell_python", "test_dynamic_import", "test_fails")]
        cls.node_ids = tests
        cls.messages = run_worker(cls.root, tests, record=True, cache_root=cls.cache_root)
        cls.by_test = executed(cls.messages)

    def line(self, needle: str) -> int:
        return def_line(MOD, needle)

    def test_every_item_has_one_executed_frame_before_its_finishing_report(self) -> None:
        for node_id in self.node_ids:
            frames = [m for m in self.messages
                      if getattr(m, "node_id", None) == node_id
                      and isinstance(m, (P.Executed, P.ItemResult))]
            kinds = [(type(m).__name__, getattr(m, "item_finished", None)) for m in frames]
            self.assertEqual(kinds[-2:], [("Executed", None), ("ItemResult", True)], node_id)
            self.assertEqual(sum(isinstance(m, P.Executed) for m in frames), 1, node_id)
        indexes = [m.test_index for m in self.messages if isinstance(m, P.Executed)]
        self.assertEqual(indexes, list(range(len(self.node_ids))))

    def test_a_function_is_reported_for_the_test_that_calls_it_only(self) -> None:
        a = self.by_test["test_rec.py::test_a"]
        b = self.by_test["test_rec.py::test_b"]
        self.assertIn(self.line("def only_a"), lines_in(a, "pkg/mod.py"))
        self.assertNotIn(self.line("def only_b"), lines_in(a, "pkg/mod.py"))
        self.assertIn(self.line("def only_b"), lines_in(b, "pkg/mod.py"))
        self.assertNotIn(self.line("def only_a"), lines_in(b, "pkg/mod.py"))
        self.assertFalse(a.coarse or b.coarse)

    def test_nested_closures_report_their_outermost_def_line(self) -> None:
        self.assertEqual(lines_in(self.by_test["test_rec.py::test_a"], "pkg/mod.py"),
                         [self.line("def only_a")])

    def test_decorated_functions_report_the_def_line(self) -> None:
        lines = lines_in(self.by_test["test_rec.py::test_decorated"], "pkg/mod.py")
        # The decorator's wrapper is a closure of ``deco``: it reports ``deco``.
        self.assertEqual(lines, [self.line("def deco"), self.line("def decorated")])
        self.assertNotIn(self.line("@deco"), lines)

    def test_methods_and_nested_classes_are_outermost_functions(self) -> None:
        self.assertEqual(lines_in(self.by_test["test_rec.py::test_methods"], "pkg/mod.py"),
                         [self.line("def method"), self.line("def nested_method")])

    def test_docstrings_stay_docstrings(self) -> None:
        results = [m for m in self.messages if isinstance(m, P.ItemResult)
                   and m.node_id == "test_rec.py::test_doc"]
        self.assertTrue(results)
        self.assertTrue(all(r.outcome == P.Outcome.PASSED for r in results))
        # Reading __doc__ runs nothing.
        self.assertEqual(self.by_test["test_rec.py::test_doc"].paths, [])

    def test_function_scoped_fixtures_belong_to_the_test(self) -> None:
        self.assertIn(self.line("def for_function"),
                      lines_in(self.by_test["test_rec.py::test_b"], "pkg/mod.py"))

    def test_wider_fixtures_and_import_time_calls_go_to_ambient(self) -> None:
        ambient = [m for m in self.messages if isinstance(m, P.Ambient)]
        self.assertEqual(len(ambient), 1)
        lines = lines_in(ambient[0], "pkg/mod.py")
        self.assertIn(self.line("def for_session"), lines)
        self.assertIn(self.line("def at_import"), lines)
        # Import time: ``deco`` decorated ``decorated``.
        self.assertIn(self.line("def deco"), lines)
        self.assertNotIn(self.line("def for_session"),
                         lines_in(self.by_test["test_rec.py::test_a"], "pkg/mod.py"))
        self.assertFalse(ambient[0].coarse)
        # Ambient comes right before the batch's Done.
        position = self.messages.index(ambient[0])
        self.assertIsInstance(self.messages[position + 1], P.Done)

    def test_only_modules_outside_pytests_rewriter_are_instrumented(self) -> None:
        ambient = next(m for m in self.messages if isinstance(m, P.Ambient))
        # test_rec.py and conftest.py go through pytest's assertion rewriter: whole-file inputs.
        self.assertEqual(ambient.instrumented, ["pkg/__init__.py", "pkg/late.py", "pkg/mod.py"])
        for record in self.by_test.values():
            self.assertTrue(set(record.paths) <= {"pkg/mod.py", "pkg/late.py"}, record)

    def test_a_python_subprocess_makes_the_test_coarse(self) -> None:
        coarse = {"test_rec.py::test_subprocess", "test_rec.py::test_shell_python"}
        for name in coarse:
            self.assertTrue(self.by_test[name].coarse, name)
        others = [r for n, r in self.by_test.items() if n not in coarse]
        self.assertFalse(any(r.coarse for r in others))
        self.assertIn("test_rec.py::test_other_program", self.by_test)

    def test_dynamic_imports_are_reported_with_their_test(self) -> None:
        record = self.by_test["test_rec.py::test_dynamic_import"]
        self.assertEqual(record.imported, ["pkg/late.py"])
        self.assertEqual(lines_in(record, "pkg/late.py"), [def_line(LATE, "def late")])
        self.assertFalse(any(r.imported for n, r in self.by_test.items() if r is not record))

    def test_tracebacks_are_those_of_an_uninstrumented_run(self) -> None:
        plain = run_worker(self.root, ["test_rec.py::test_fails"], record=False)
        failure = [m.longrepr for m in plain if isinstance(m, P.ItemResult)
                   and m.outcome == P.Outcome.FAILED]
        recorded = [m.longrepr for m in self.messages if isinstance(m, P.ItemResult)
                    and m.node_id == "test_rec.py::test_fails" and m.outcome == P.Outcome.FAILED]
        self.assertEqual(len(failure), 1)
        self.assertIn(f"pkg/mod.py:{self.line('assert y == 0')}: AssertionError", failure[0])
        self.assertEqual(recorded, failure)

    def test_instrumented_code_is_cached_privately_and_reused(self) -> None:
        directory = self.cache_root / "record-code"
        self.assertEqual(stat.S_IMODE(directory.stat().st_mode), 0o700)
        entries = sorted(directory.iterdir())
        self.assertEqual(len(entries), 3)  # pkg/__init__.py, pkg/mod.py, pkg/late.py
        for entry in entries:
            self.assertEqual(stat.S_IMODE(entry.stat().st_mode), 0o600)
        before = {e.name: e.stat().st_mtime_ns for e in entries}
        again = run_worker(self.root, ["test_rec.py::test_a"], record=True, cache_root=self.cache_root)
        self.assertEqual({e.name: e.stat().st_mtime_ns for e in directory.iterdir()}, before)
        self.assertIn(self.line("def only_a"),
                      lines_in(executed(again)["test_rec.py::test_a"], "pkg/mod.py"))

    def test_recording_off_sends_nothing_and_installs_nothing(self) -> None:
        plain = run_worker(self.root, ["test_rec.py::test_nothing_installed", "test_rec.py::test_a"],
                           record=False, cache_root=self.cache_root)
        self.assertFalse([m for m in plain if isinstance(m, (P.Executed, P.Ambient))])
        outcomes = [(m.node_id, m.outcome) for m in plain
                    if isinstance(m, P.ItemResult) and m.phase == P.Phase.CALL]
        self.assertEqual(outcomes, [("test_rec.py::test_nothing_installed", P.Outcome.PASSED),
                                    ("test_rec.py::test_a", P.Outcome.PASSED)])


class KeptSession(unittest.TestCase):
    def test_ambient_reports_only_what_is_new_since_the_last_one(self) -> None:
        root = write_project(temp_dir(self, "dxpy-recorder-"))
        messages = run_worker(root, ["test_rec.py::test_a"], record=True, batches=2)
        ambient = [m for m in messages if isinstance(m, P.Ambient)]
        self.assertEqual(len(ambient), 2)
        self.assertIn(def_line(MOD, "def for_session"), lines_in(ambient[0], "pkg/mod.py"))
        self.assertEqual(ambient[1], P.Ambient())  # the session fixture was kept: nothing new
        self.assertEqual(len(executed(messages)), 1)  # (one node ID: both batches share it)


class NativeEngine(unittest.TestCase):
    def test_the_native_engine_records_too(self) -> None:
        root = write_project(temp_dir(self, "dxpy-recorder-"))
        (root / "test_native.py").write_text(textwrap.dedent('''\
            from pkg import mod


            def setup_module():
                mod.for_session()


            def test_one():
                assert mod.only_a() == 1


            def test_two():
                assert mod.only_b() == 2
            '''))
        messages = run_worker(root, ["test_native.py::test_one", "test_native.py::test_two"],
                              record=True, engine=P.Engine.NATIVE)
        by_test = executed(messages)
        self.assertEqual(lines_in(by_test["test_native.py::test_one"], "pkg/mod.py"),
                         [def_line(MOD, "def only_a")])
        self.assertEqual(lines_in(by_test["test_native.py::test_two"], "pkg/mod.py"),
                         [def_line(MOD, "def only_b")])
        [ambient] = [m for m in messages if isinstance(m, P.Ambient)]
        self.assertEqual(lines_in(ambient, "pkg/mod.py"),
                         [def_line(MOD, "def deco"), def_line(MOD, "def at_import"),
                          def_line(MOD, "def for_session")])
        # Without pytest's rewriter the test module itself is instrumented.
        self.assertIn("test_native.py", ambient.instrumented)
        finished = [i for i, m in enumerate(messages)
                    if isinstance(m, P.ItemResult) and m.item_finished]
        self.assertTrue(all(isinstance(messages[i - 1], P.Executed) for i in finished))


class CodeCacheUnit(unittest.TestCase):
    def test_a_corrupt_entry_is_recompiled_and_rewritten(self) -> None:
        directory = temp_dir(self, "dxpy-code-cache-")
        cache = recorder.CodeCache(str(directory / "record-code"))
        source = b"def f():\n    return 1\n"
        first = cache.get(source, "/p/m.py", "m.py")
        self.assertEqual((cache.hits, cache.misses), (0, 1))
        second = cache.get(source, "/p/m.py", "m.py")
        self.assertEqual((cache.hits, cache.misses), (1, 1))
        self.assertEqual(first, second)
        [entry] = Path(cache.directory or "").iterdir()
        good = entry.read_bytes()
        flipped = good[:30] + bytes([good[30] ^ 0xFF]) + good[31:]
        for damage in (b"", good[:-3], b"garbage" * 10, flipped):
            entry.write_bytes(damage)
            hits = cache.hits
            self.assertEqual(cache.get(source, "/p/m.py", "m.py"), first)
            self.assertEqual(cache.hits, hits)  # a miss, recompiled
            self.assertIsNotNone(cache.load(cache.key(source, "/p/m.py", "m.py")))  # rewritten

    def test_the_key_covers_source_and_paths(self) -> None:
        key = recorder.CodeCache.key
        base = key(b"x = 1\n", "/p/m.py", "m.py")
        self.assertNotEqual(base, key(b"x = 2\n", "/p/m.py", "m.py"))
        self.assertNotEqual(base, key(b"x = 1\n", "/q/m.py", "m.py"))
        self.assertNotEqual(base, key(b"x = 1\n", "/p/m.py", "p/m.py"))

    def test_instrumentation_keeps_line_numbers_and_docstrings(self) -> None:
        source = textwrap.dedent('''\
            def f():
                """Doc."""
                x = 1
                return x
            ''').encode()
        namespace: dict[str, object] = {}
        hits: set[int] = set()
        namespace["__builtins__"] = {**vars(builtins), "__dxpy_hit__": hits.add}
        exec(recorder.instrument(source, "/p/m.py", "m.py"), namespace)
        f = namespace["f"]
        self.assertEqual(f.__doc__, "Doc.")  # type: ignore[attr-defined]
        self.assertEqual(f(), 1)  # type: ignore[operator]
        self.assertEqual(hits, {recorder.file_key("m.py") << recorder.LINE_BITS | 1})
        plain = compile(source, "/p/m.py", "exec")
        code = recorder.instrument(source, "/p/m.py", "m.py")
        f_plain = next(c for c in plain.co_consts if hasattr(c, "co_lines"))
        f_code = next(c for c in code.co_consts if hasattr(c, "co_lines"))
        self.assertEqual(f_code.co_firstlineno, f_plain.co_firstlineno)
        self.assertEqual({line for *_, line in f_code.co_lines() if line},
                         {line for *_, line in f_plain.co_lines() if line})


if __name__ == "__main__":
    unittest.main()
