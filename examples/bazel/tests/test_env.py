"""The `env` attribute and --test_env reach the tests; undeclared outputs are kept."""

import os
from pathlib import Path


def test_env_attribute():
    assert os.environ["EXAMPLE_GREETING"] == "hello"


def test_env_location_expansion():
    assert os.environ["EXAMPLE_DATA"] == "src/words/greetings.txt"


def test_no_poisoned_test_env():
    # e2e.sh passes --test_env=DXPY_E2E_POISON=1 and expects exactly this failure.
    assert "DXPY_E2E_POISON" not in os.environ, "DXPY_E2E_POISON reached the test"


def test_writes_undeclared_output():
    out = Path(os.environ["TEST_UNDECLARED_OUTPUTS_DIR"])
    (out / "greeting.txt").write_text(os.environ["EXAMPLE_GREETING"] + "\n")
