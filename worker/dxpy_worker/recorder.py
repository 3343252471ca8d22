"""Records which first-party functions each test executes (``dx-py test --affected``).

No tracer: first-party modules (``.py`` files under the rootdir, outside virtualenvs,
site-packages, ``__pycache__`` and the dx-py cache) are loaded by an import hook that
instruments every function (as slipcover does). At the start of each function body, after
its docstring, it inserts ``__dxpy_hit__(N)``: ``N`` is a constant naming the file and the
``def`` line of the function's OUTERMOST enclosing function (a closure reports the function
that holds it; a method is outermost unless it sits inside a function). Every inserted node
takes the location of the body's first statement, so line numbers, tracebacks, ``inspect``
and pytest's reports are those of the original source.

``__dxpy_hit__`` lives in ``builtins``; it is the bound ``add`` of the current sink's set,
so switching sinks is one rebinding. ``N`` is ``file_key << 24 | def_line``, ``file_key``
32 bits of a digest of the rootdir-relative path: the constant is fixed at compile time, so
instrumented code objects can be cached on disk (marshal, keyed by the source digest, the
paths, the Python version and ``INSTRUMENTER_VERSION``) and reused by every worker.

Modules another finder takes first (pytest's assertion rewriter: test modules, conftests,
plugins) are left to it: the finder sits right before ``PathFinder`` in ``sys.meta_path``,
after anything inserted at the front. The runner treats such files as whole-file inputs;
``Recorder.take_instrumented`` says which files were instrumented.

A sink also notes whether code ran outside what instrumentation sees (a subprocess, a fork,
an exec: audit events), which makes its record COARSE.

Nothing here runs unless the runner asks for recording (the Hello ``RECORD`` flag).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import tempfile
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Bumped whenever the instrumented code for a given source changes: part of the cache key.
INSTRUMENTER_VERSION = 1
HIT_NAME = "__dxpy_hit__"
LINE_BITS = 24
LINE_MASK = (1 << LINE_BITS) - 1
# Audit events meaning the test's code runs in another process (3.9-3.13 names; "os.spawn"
# and "os.startfile" are Windows-only, POSIX spawn* functions fork and raise "os.fork").
COARSE_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty",
    "os.spawn", "os.startfile",
})
_CACHE_MAGIC = b"DXPYREC1"
_DIGEST_SIZE = 16


def _flatten_strings(value: Any) -> list[str]:
    """Every string (or path) in an audit event's arguments, nested sequences included."""
    if isinstance(value, (str, bytes, os.PathLike)):
        text = os.fsdecode(value)
        return [text]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _flatten_strings(item)]
    return []


class Sink:
    """What one test (or the ambient phases) executed: hit constants and a coarse flag."""

    __slots__ = ("hits", "coarse")

    def __init__(self) -> None:
        self.hits: set[int] = set()
        self.coarse = False


def file_key(relpath: str) -> int:
    """32 stable bits naming a rootdir-relative path inside hit constants."""
    return int.from_bytes(hashlib.blake2b(relpath.encode("utf-8"), digest_size=4).digest(), "little")


class _Instrumenter(ast.NodeTransformer):
    """Inserts ``__dxpy_hit__(key << 24 | outermost def line)`` at each function body's start."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.outermost: int | None = None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        outer = self.outermost is None
        if outer:
            self.outermost = node.lineno
        try:
            self.generic_visit(node)
        finally:
            if outer:
                self.outermost = None
        line = node.lineno if outer else self.outermost
        assert line is not None
        node.body.insert(_after_docstring(node.body), self._hit(line, node.body))
        return node

    def _hit(self, line: int, body: list[ast.stmt]) -> ast.stmt:
        # Located at the body's first real statement (the docstring when there is none).
        anchor = body[min(_after_docstring(body), len(body) - 1)]
        call = ast.Expr(ast.Call(
            func=ast.Name(id=HIT_NAME, ctx=ast.Load()),
            args=[ast.Constant(self.key << LINE_BITS | (line & LINE_MASK))],
            keywords=[],
        ))
        for node in ast.walk(call):
            ast.copy_location(node, anchor)
        return call


def _after_docstring(body: list[ast.stmt]) -> int:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        return 1
    return 0


def instrument(source: bytes, filename: str, relpath: str) -> types.CodeType:
    """The module's code with every function instrumented (raises SyntaxError like import)."""
    tree = ast.parse(source, filename)
    tree = _Instrumenter(file_key(relpath)).visit(tree)
    code: types.CodeType = compile(tree, filename, "exec", dont_inherit=True)
    return code


class CodeCache:
    """Instrumented code objects on disk: one file per key in a private (0700) directory,
    written atomically (0600); anything unreadable or corrupt is a miss and is rewritten."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(source: bytes, filename: str, relpath: str) -> str:
        digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
        for part in (importlib.util.MAGIC_NUMBER, str(INSTRUMENTER_VERSION).encode(),
                     str(sys.flags.optimize).encode(), filename.encode("utf-8", "surrogateescape"),
                     relpath.encode("utf-8", "surrogateescape")):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
        digest.update(source)
        return digest.hexdigest()

    def load(self, key: str) -> types.CodeType | None:
        if self.directory is None:
            return None
        try:
            with open(os.path.join(self.directory, key), "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        head = len(_CACHE_MAGIC) + _DIGEST_SIZE
        body = data[head:]
        if data[:len(_CACHE_MAGIC)] != _CACHE_MAGIC or \
                hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() != data[len(_CACHE_MAGIC):head]:
            return None
        try:
            code = marshal.loads(body)
        except (EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, types.CodeType) else None

    def store(self, key: str, code: types.CodeType) -> None:
        if self.directory is None:
            return
        body = marshal.dumps(code)
        data = _CACHE_MAGIC + hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() + body
        try:
            _ensure_private_dir(self.directory)
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")  # 0600
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, os.path.join(self.directory, key))
            except BaseException:
                os.unlink(temp)
                raise
        except OSError:
            pass  # a cache that cannot be written costs time, never correctness

    def get(self, source: bytes, filename: str, relpath: str) -> types.CodeType:
        key = self.key(source, filename, relpath)
        code = self.load(key)
        if code is not None:
            self.hits += 1
            return code
        self.misses += 1
        code = instrument(source, filename, relpath)
        self.store(key, code)
        return code


def _ensure_private_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)


class _InstrumentingLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code is instrumented (never written to ``__pycache__``)."""

    def __init__(self, fullname: str, path: str, recorder: Recorder, relpath: str) -> None:
        super().__init__(fullname, path)
        self.recorder = recorder
        self.relpath = relpath

    def get_code(self, fullname: str) -> types.CodeType:
        source = self.get_data(self.path)
        code = self.recorder.cache.get(source, self.path, self.relpath)
        self.recorder.loaded_instrumented(self.relpath)
        return code


class _Finder:
    """Placed right before ``PathFinder``: returns PathFinder's answer, with an instrumenting
    loader for first-party source files."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.origin is None or not spec.has_location:
            return spec
        if type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        relpath = self.recorder.first_party(spec.origin)
        if relpath is None or not self.recorder.register(relpath):
            return spec
        spec.loader = _InstrumentingLoader(fullname, spec.origin, self.recorder, relpath)
        return spec

    def invalidate_caches(self) -> None:
        pass


class Recorder:
    """The import hook, the sinks and the audit hook of one worker."""

    def __init__(self, rootdir: str, cache_dir: str | None) -> None:
        self.rootdir = os.path.realpath(rootdir)
        self.cache = CodeCache(cache_dir)
        self.excluded = [os.path.realpath(p) for p in (
            sys.prefix, sys.base_prefix, sys.exec_prefix, cache_dir) if p]
        self.keys: dict[int, str] = {}  # file key -> rootdir-relative path
        self.venv_dirs: dict[str, bool] = {}
        self.instrumented: list[str] = []  # loaded instrumented, not yet reported
        self.loaded_during_item: list[str] = []
        self.ambient = Sink()
        self.ambient_reported: set[int] = set()
        self.current = self.ambient
        # The names in sys.modules as last seen, their count, and the instrumented loads
        # before the running item: what an item imported is the difference at its end.
        self.known_modules: set[str] = set()
        self.known_count = -1
        self.instrumented_before = 0
        self.finder = _Finder(self)

    # --- installation ---------------------------------------------------------------
    def install(self) -> None:
        """Binds ``__dxpy_hit__`` to the ambient sink, inserts the finder before PathFinder
        and adds the audit hook (audit hooks cannot be removed: it checks a flag)."""
        self.switch(self.ambient)
        meta_path = sys.meta_path
        position = next((i for i, f in enumerate(meta_path)
                         if f is importlib.machinery.PathFinder), len(meta_path))
        meta_path.insert(position, self.finder)
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event in COARSE_EVENTS and self._may_run_project_code(event, args):
            self.current.coarse = True

    def _may_run_project_code(self, event: str, args: tuple[Any, ...]) -> bool:
        """Whether a new process may execute project code out of the recorder's sight: a fork
        always may; a program may when it is Python (an interpreter, a script or console
        script of this environment, anything under the rootdir) or a shell command naming
        one. ``ldconfig`` (ctypes.util asking from a library's import), ``git`` or ``uname``
        run none of it."""
        if event in ("os.fork", "os.forkpty"):
            return True
        words = " ".join(_flatten_strings(args)).lower()
        markers = ["python", ".py", self.rootdir.lower(), os.path.realpath(sys.prefix).lower(),
                   os.path.dirname(os.path.realpath(sys.executable)).lower()]
        return any(marker in words for marker in markers)

    # --- which files ----------------------------------------------------------------
    def first_party(self, filename: str) -> str | None:
        """``filename``'s rootdir-relative path (with ``/``) when it is first-party source."""
        if not filename.endswith(".py"):
            return None
        path = os.path.realpath(filename)
        root = self.rootdir
        if not path.startswith(root + os.sep):
            return None
        if any(path == e or path.startswith(e + os.sep) for e in self.excluded
               if e != root and not root.startswith(e + os.sep)):
            return None
        relpath = path[len(root) + 1:]
        parts = relpath.split(os.sep)
        if any(p in ("__pycache__", "site-packages", "dist-packages") for p in parts[:-1]):
            return None
        directory = root
        for part in parts[:-1]:
            directory = os.path.join(directory, part)
            if self._is_venv(directory):
                return None
        return "/".join(parts)

    def _is_venv(self, directory: str) -> bool:
        known = self.venv_dirs.get(directory)
        if known is None:
            known = os.path.exists(os.path.join(directory, "pyvenv.cfg"))
            self.venv_dirs[directory] = known
        return known

    def register(self, relpath: str) -> bool:
        """Reserves ``relpath``'s file key; False on a collision with another path (that
        file then loads uninstrumented: a whole-file input)."""
        key = file_key(relpath)
        owner = self.keys.setdefault(key, relpath)
        return owner == relpath

    def loaded_instrumented(self, relpath: str) -> None:
        self.instrumented.append(relpath)

    # --- sinks ----------------------------------------------------------------------
    def switch(self, sink: Sink) -> Sink:
        """Makes ``sink`` current; returns the previous one."""
        previous = self.current
        self.current = sink
        builtins.__dict__[HIT_NAME] = sink.hits.add
        return previous

    def begin_item(self) -> Sink:
        sink = Sink()
        self.switch(sink)
        if len(sys.modules) != self.known_count:  # (imports between items: rarely)
            self.known_modules = set(sys.modules)
            self.known_count = len(self.known_modules)
        self.instrumented_before = len(self.instrumented)
        return sink

    def end_item(self) -> tuple[Sink, list[str]]:
        """Back to ambient; returns the item's sink and the first-party files first loaded
        while it ran (instrumented or not)."""
        sink = self.switch(self.ambient)
        return sink, self._new_modules()

    def _new_modules(self) -> list[str]:
        """First-party files of the modules that appeared in ``sys.modules`` during the item.
        (A test that removes as many modules as it imports, all through pytest's rewriter,
        goes unnoticed: the size check keeps the common case free of a set difference.)"""
        seen_load = len(self.instrumented) != self.instrumented_before
        if not seen_load and len(sys.modules) == self.known_count:
            return []
        now = set(sys.modules)
        new, self.known_modules, self.known_count = now - self.known_modules, now, len(now)
        found = []
        for name in new:
            module = sys.modules.get(name)
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                relpath = self.first_party(filename)
                if relpath is not None:
                    found.append(relpath)
        return sorted(set(found))

    def hits_by_file(self, hits: Iterable[int]) -> tuple[list[str], list[list[int]]]:
        """Hit constants grouped as (paths, sorted def lines per path), paths sorted."""
        grouped: dict[str, set[int]] = {}
        keys = self.keys
        for hit in hits:
            path = keys.get(hit >> LINE_BITS)
            if path is not None:
                grouped.setdefault(path, set()).add(hit & LINE_MASK)
        paths = sorted(grouped)
        return paths, [sorted(grouped[p]) for p in paths]

    def take_ambient(self) -> tuple[bool, list[str], list[int]]:
        """(coarse, files loaded instrumented, new ambient hits) since the last call."""
        hits = self.ambient.hits
        new = hits - self.ambient_reported
        self.ambient_reported |= new
        hits.clear()  # (in place: it may be the bound ``__dxpy_hit__``)
        coarse, self.ambient.coarse = self.ambient.coarse, False
        instrumented, self.instrumented = self.instrumented, []
        self.instrumented_before = 0
        return coarse, sorted(set(instrumented)), sorted(new)


def cache_dir_from_env() -> str | None:
    """The instrumented-code cache under the worker cache root the pool passes."""
    root = os.environ.get("DXPY_WORKER_CACHE_ROOT")
    return os.path.join(root, "record-code") if root else None
