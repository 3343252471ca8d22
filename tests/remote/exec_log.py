"""Check where a Bazel run's spawns executed, from its --execution_log_json_file (used by
tests/remote/e2e.sh).

usage: exec_log.py LOG --executed RUNNER [--except [MNEMONIC@]LABEL=RUNNER]... [--mnemonic M]...
       exec_log.py LOG --cached [--except [MNEMONIC@]LABEL=RUNNER]...

--executed RUNNER: every spawn of the given mnemonics (default DxPyTest and TestRunner)
ran on RUNNER (e.g. `remote`), not from a cache. --cached: every spawn in the log was a
cache hit (remote or disk cache): nothing executed. In both modes the spawns --except names
(of one target, or of one mnemonic of it) ran on the runner given there instead, and the log
must hold spawns of each of the mnemonics. Prints the counts; exits 1 on a mismatch.
"""

import argparse
import collections
import json
import sys
from collections.abc import Iterator


def spawns(text: str) -> Iterator[dict]:
    """The log's SpawnExec objects (Bazel writes them one after another, not as an array)."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        spawn, position = decoder.raw_decode(text, position)
        yield spawn


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--executed")
    mode.add_argument("--cached", action="store_true")
    parser.add_argument("--except", dest="exceptions", action="append", default=[])
    parser.add_argument("--mnemonic", action="append", default=[])
    options = parser.parse_args()
    mnemonics = set(options.mnemonic or ["DxPyTest", "TestRunner"])
    exceptions = dict(item.split("=", 1) for item in options.exceptions)
    with open(options.log, encoding="utf-8") as file:
        found = list(spawns(file.read()))
    counts: collections.Counter = collections.Counter()
    problems = []
    for spawn in found:
        mnemonic, label = spawn.get("mnemonic", "?"), spawn.get("targetLabel", "?")
        hit = bool(spawn.get("cacheHit"))
        runner = spawn.get("runner", "?")
        actual = "cache hit" if hit else runner
        counts[(mnemonic, actual)] += 1
        if not options.cached and mnemonic not in mnemonics:
            continue
        want = exceptions.get(f"{mnemonic}@{label}", exceptions.get(label))
        want = want or ("cache hit" if options.cached else options.executed)
        if actual != want:
            problems.append(f"{mnemonic} {label}: {actual}, expected {want}")
    summary = ", ".join(f"{m} {r}: {n}" for (m, r), n in sorted(counts.items()))
    print(f"exec_log: {len(found)} spawns ({summary or 'none'})")
    missing = mnemonics - {m for m, _ in counts}
    if missing:
        problems.append(f"no spawn of {sorted(missing)} in the log")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
