"""The real-suite corpus: where it is listed, fetched, unpacked and installed.

Library (imported by compare_discovery.py and bench/discover_bench.py) and CLI:

    python3 tests/corpus/corpus.py fetch   # download sdists, verify sha256, unpack
    python3 tests/corpus/corpus.py venv    # one venv with pytest + every suite + test deps
    python3 tests/corpus/corpus.py setup   # both
    python3 tests/corpus/corpus.py list    # name, version, unpacked root

Inputs: the suite list `dev-suites.tsv` (env DXPY_CORPUS_LIST, else `<repo>/../shared/corpus/`)
and `constraints.txt` beside it. `DXPY_CORPUS_SET=plugins` chooses the second set instead
(`dev-suites-plugins.tsv`, `constraints-plugins.txt`, its own venv `corpus/venv-plugins/`): suites
that need pytest plugins, which would be active in every suite sharing their venv.
Outputs live under the cache (env DXPY_CACHE, else `<repo>/.cache`):
`corpus/sdists/` (downloaded archives), `corpus/<name>-<version>/` (unpacked roots, each with a
stamp file once verified) and `corpus/venv/`. Every step is idempotent: a stamp records what was
done, so a second run does nothing and needs no network.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STAMP_NAME = ".dxpy-corpus-stamp"


class CorpusError(Exception):
    """Anything that makes the corpus unusable (bad list, wrong hash, failed install)."""


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    version: str
    sdist_sha256: str
    test_deps: tuple[str, ...]
    collected: int
    pytest_outcome: str
    collect_s: float
    collect_warm_s: float

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def root(self) -> Path:
        """Unpacked sdist root: where pytest and dx-py run."""
        return corpus_cache() / self.key


# Each corpus set: (suite list, constraints file, venv directory name).
CORPUS_SETS = {
    "dev": ("dev-suites.tsv", "constraints.txt", "venv"),
    "plugins": ("dev-suites-plugins.tsv", "constraints-plugins.txt", "venv-plugins"),
}


def corpus_set() -> tuple[str, str, str]:
    """The files and venv of the set DXPY_CORPUS_SET names (default `dev`)."""
    name = os.environ.get("DXPY_CORPUS_SET") or "dev"
    if name not in CORPUS_SETS:
        raise CorpusError(f"DXPY_CORPUS_SET={name!r}: known sets are {', '.join(CORPUS_SETS)}")
    return CORPUS_SETS[name]


def corpus_list_path() -> Path:
    """DXPY_CORPUS_LIST (the .tsv or its directory); else the set's list in `shared/corpus/`
    beside the repo (CI's layout) or beside any of its ancestors (a worktree nested deeper)."""
    list_name = corpus_set()[0]
    override = os.environ.get("DXPY_CORPUS_LIST")
    if override:
        path = Path(override).resolve()
        return path / list_name if path.is_dir() else path
    default = REPO_ROOT.parent / "shared" / "corpus" / list_name
    for ancestor in REPO_ROOT.parents:
        candidate = ancestor / "shared" / "corpus" / list_name
        if candidate.is_file():
            return candidate
    return default


def constraints_path() -> Path:
    return corpus_list_path().parent / corpus_set()[1]


def cache_root() -> Path:
    return Path(os.environ.get("DXPY_CACHE") or REPO_ROOT / ".cache").resolve()


def corpus_cache() -> Path:
    return cache_root() / "corpus"


def venv_dir() -> Path:
    return corpus_cache() / corpus_set()[2]


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def load_suites(path: Path | None = None) -> list[Suite]:
    """Parse dev-suites.tsv: '#' lines are comments; the last comment names the columns."""
    path = path or corpus_list_path()
    if not path.is_file():
        raise CorpusError(f"corpus list not found: {path} (set DXPY_CORPUS_LIST)")
    header: list[str] = []
    suites = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            header = line.lstrip("# ").split("\t")
            continue
        row = dict(zip(header, line.split("\t"), strict=False))
        try:
            deps = row["test_deps"].strip()
            suites.append(Suite(
                name=row["name"],
                version=row["version"],
                sdist_sha256=row["sdist_sha256"].lower(),
                test_deps=() if deps in ("", "-") else tuple(deps.split()),
                collected=int(row["collected"]),
                pytest_outcome=row["pytest_outcome"],
                collect_s=float(row["collect_s"]),
                collect_warm_s=float(row["collect_warm_s"]),
            ))
        except (KeyError, ValueError) as err:
            raise CorpusError(f"{path}:{lineno}: bad row ({err!r})") from err
    if not suites:
        raise CorpusError(f"{path}: no suites listed")
    return suites


def select(suites: list[Suite], names: list[str] | None) -> list[Suite]:
    if not names:
        return suites
    known = {s.name: s for s in suites}
    missing = [n for n in names if n not in known]
    if missing:
        raise CorpusError(f"unknown suite(s): {', '.join(missing)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def log(msg: str) -> None:
    print(f"[corpus] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise CorpusError(f"command failed (exit {result.returncode}): {' '.join(map(str, cmd))}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_sdist(directory: Path, suite: Suite) -> Path | None:
    """The archive pip saved for this suite (PEP 625 sdist names turn each run of '-', '_'
    and '.' into one '_')."""
    normalized = re.sub(r"[-_.]+", "_", suite.name).lower()
    stems = {f"{suite.name}-{suite.version}".lower(), f"{normalized}-{suite.version}"}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        for suffix in (".tar.gz", ".zip", ".tar.bz2"):
            if path.name.endswith(suffix) and path.name[: -len(suffix)].lower() in stems:
                return path
    return None


def download(suite: Suite) -> Path:
    """The verified sdist archive, downloaded only when absent or not matching the pin."""
    sdists = corpus_cache() / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    archive = find_sdist(sdists, suite)
    if archive is None or sha256_of(archive) != suite.sdist_sha256:
        # `--no-binary NAME` (as the corpus README did), not `:all:`: both save the same sdist, but
        # `:all:` also builds pip's metadata build backends from source (2+ minutes for hatchling).
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", suite.name,
             f"{suite.name}=={suite.version}", "-d", str(sdists)])
        archive = find_sdist(sdists, suite)
        if archive is None:
            raise CorpusError(f"{suite.key}: pip saved no sdist in {sdists}")
    actual = sha256_of(archive)
    if actual != suite.sdist_sha256:
        raise CorpusError(
            f"{suite.key}: SHA256 MISMATCH for {archive}\n  expected {suite.sdist_sha256}\n"
            f"  actual   {actual}\nRefusing to use it (delete the file to retry).")
    return archive


def unpack(archive: Path, dest: Path) -> None:
    """Like `tar xzf ARCHIVE --strip-components=1 -C DEST`, refusing paths that escape DEST."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp / "_top")
        tops = list((tmp / "_top").iterdir())
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp / "_top", filter="data")
        tops = list((tmp / "_top").iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise CorpusError(f"{archive}: expected one top-level directory, found {len(tops)}")
    tops[0].rename(tmp / "_root")
    (tmp / "_top").rmdir()
    shutil.rmtree(dest, ignore_errors=True)
    (tmp / "_root").rename(dest)
    tmp.rmdir()


def fetch(suite: Suite) -> Path:
    """Ensure `suite.root` holds the verified, unpacked sdist; return it."""
    stamp = suite.root / STAMP_NAME
    if stamp.is_file() and stamp.read_text().strip() == suite.sdist_sha256:
        return suite.root
    archive = download(suite)
    log(f"unpacking {archive.name} -> {suite.root}")
    unpack(archive, suite.root)
    stamp.write_text(suite.sdist_sha256 + "\n")
    return suite.root


def venv_fingerprint(suites: list[Suite]) -> str:
    """What the venv was built from: changes to the list or the pins rebuild it."""
    return json.dumps({
        "python": sys.version,
        "constraints": constraints_path().read_text(),
        "suites": [[s.key, s.sdist_sha256, list(s.test_deps)] for s in suites],
    }, sort_keys=True)


def ensure_venv(suites: list[Suite]) -> Path:
    """One venv with pytest, pytest-xdist, every suite (editable, no deps) and its test deps."""
    stamp = venv_dir() / STAMP_NAME
    fingerprint = venv_fingerprint(suites)
    if stamp.is_file() and stamp.read_text() == fingerprint and venv_python().exists():
        return venv_dir()
    for suite in suites:
        fetch(suite)
    shutil.rmtree(venv_dir(), ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv_dir())])
    pip = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    constraints = ["-c", str(constraints_path())]
    run(pip + constraints + ["pytest", "pytest-xdist"])
    for suite in suites:
        run(pip + ["--no-deps", "-e", str(suite.root)])
    deps = sorted({dep for suite in suites for dep in suite.test_deps})
    if deps:
        run(pip + constraints + deps)
    stamp.write_text(fingerprint)
    return venv_dir()


def clean_env(bytecode: bool = True) -> dict[str, str]:
    """Environment for running pytest/dx-py on a suite: the venv first on PATH, no stray
    pytest options; `bytecode=True` unsets PYTHONDONTWRITEBYTECODE (pytest's warm case)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = str(venv_dir())
    env["PATH"] = f"{venv_dir() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Each run in its own process, as measured and compared so far (bench/daemon_bench.py opts in).
    env["DXPY_NO_DAEMON"] = "1"
    return env


def residue_rows(path: Path, columns: list[str]):
    """(line number, fields) of a residue TSV: header checked, comments and blank lines skipped,
    every row with exactly len(columns) fields and a non-empty cause (the 4th column)."""
    # Plain tab splitting, not csv: node IDs contain quotes, and pytest escapes tabs in them.
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    if not rows or rows[0] != columns:
        raise CorpusError(f"{path}: first line must be the header {columns}")
    for lineno, row in enumerate(rows[1:], 2):
        if not row[0] or row[0].startswith("#"):
            continue
        if len(row) != len(columns) or not row[3].strip():
            raise CorpusError(f"{path}:{lineno}: need {len(columns)} tab-separated fields incl. a cause")
        yield lineno, row


def print_columns(rows: list[tuple]) -> None:
    """Rows of strings as left-aligned columns, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "venv", "setup", "list"])
    parser.add_argument("suites", nargs="*", help="suite names (default: all)")
    args = parser.parse_args(argv)
    try:
        suites = load_suites()
        chosen = select(suites, args.suites)
        start = time.monotonic()
        if args.command == "list":
            for suite in chosen:
                print(f"{suite.name}\t{suite.version}\t{suite.root}")
            return 0
        if args.command in ("fetch", "setup"):
            for suite in chosen:
                fetch(suite)
            log(f"fetch done in {time.monotonic() - start:.1f}s ({len(chosen)} suites)")
        if args.command in ("venv", "setup"):
            # The venv always holds every suite, so that it matches the yardstick's environment.
            ensure_venv(suites)
            log(f"venv ready at {venv_dir()} ({time.monotonic() - start:.1f}s total)")
    except CorpusError as err:
        print(f"corpus: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
