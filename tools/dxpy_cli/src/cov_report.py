"""dx-py's coverage combiner (``dx-py test --cov``): started with the run, it imports
coverage.py and pytest-cov, then waits for its request, sent once the workers exited.

Reads a JSON request on stdin: ``plan`` (the options pytest-cov resolved in a worker, see
``worker/dxpy_worker/cov_worker.py``), ``data_files`` (every worker's data) and ``failed``
(whether any test failed). Combines the data into the project's data file as pytest-cov's
controller does and produces pytest-cov's report with pytest-cov's own code
(``CovController.summary``), then writes a JSON answer on stdout: ``early`` (what pytest-cov
writes right after the tests: the fail-under error), ``report`` (the coverage section's
text), ``fail_line`` and ``fail_line_failed`` (the "Required test coverage" line and its
colour) and ``tests_failed`` (a fail-under failure: exit code 1). The same logic as pytest-cov's
``pytest_runtestloop`` and ``pytest_terminal_summary`` (pytest_cov/plugin.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from typing import Any


def main() -> int:
    # Started with the run: the imports are paid while the tests run, then the request
    # (written when every worker has exited) is waited for. An empty one: nothing to do.
    import coverage
    from coverage.exceptions import CoverageException
    from coverage.results import display_covered, should_fail_under
    from coverage.sqldata import filename_suffix
    from pytest_cov import engine

    text = sys.stdin.read()
    if not text:
        return 0
    request = json.loads(text)
    plan: dict[str, Any] = request["plan"]
    reports: dict[str, str | None] = plan["cov_report"]
    options = argparse.Namespace(
        cov_source=plan["cov_source"],
        cov_report=reports,
        cov_config=plan["cov_config"],
        cov_append=plan["cov_append"],
        cov_branch=plan["cov_branch"],
        cov_precision=plan["cov_precision"],
    )
    controller = engine.CovController(options, None, None)
    combined = combine(coverage, filename_suffix, options, request["data_files"])
    controller.cov = combined
    controller.node_descs.add(controller.get_node_desc(sys.platform, sys.version_info))

    fail_under = plan["cov_fail_under"]
    precision = plan["cov_precision"]
    answer: dict[str, Any] = {
        "early": "", "report": "", "fail_line": "", "fail_line_failed": False, "tests_failed": False,
    }
    if not (reports or fail_under) or (request["failed"] and plan["no_cov_on_fail"]):
        print(json.dumps(answer))
        return 0
    stream = io.StringIO()
    try:
        total = controller.summary(stream)
    except CoverageException as exc:
        answer["early"] += f"\nWARNING: Failed to generate report: {exc}\n\n"
        total = 0
    if fail_under is not None and not plan["collect_only"] and should_fail_under(total, fail_under, precision):
        message = "Coverage failure: total of {total} is less than fail-under={fail_under:.{p}f}".format(
            total=display_covered(total, precision), fail_under=fail_under, p=precision,
        )
        answer["early"] += f"\nERROR: {message}\n"
        answer["tests_failed"] = True
    answer["report"] = stream.getvalue()
    if fail_under is not None and fail_under > 0:
        failed = total < fail_under
        answer["fail_line"] = "{fail}Required test coverage of {required}% {reached}. Total coverage: {actual:.2f}%\n".format(
            required=fail_under, actual=total,
            fail="FAIL " if failed else "", reached="not reached" if failed else "reached",
        )
        answer["fail_line_failed"] = failed
    print(json.dumps(answer))
    return 0


def combine(coverage: Any, filename_suffix: Any, options: argparse.Namespace, data_files: list[str]) -> Any:
    """pytest-cov's controller start and finish without measuring here: erase the project's
    data (unless ``--cov-append``), then combine every worker's data into it."""
    cov = coverage.Coverage(
        source=options.cov_source, branch=options.cov_branch, data_suffix=True,
        config_file=options.cov_config,
    )
    if not options.cov_append:
        cov.erase()
    combining = coverage.Coverage(
        source=options.cov_source, branch=options.cov_branch,
        data_suffix=f"{filename_suffix(True)}.combine",
        data_file=os.path.abspath(cov.config.data_file), config_file=options.cov_config,
    )
    combining.load()
    if data_files:
        combining.combine(data_paths=data_files)
    combining.save()
    return combining


if __name__ == "__main__":
    sys.exit(main())
