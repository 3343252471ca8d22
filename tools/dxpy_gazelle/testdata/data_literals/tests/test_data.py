import json
import os
from pathlib import Path

from app.render import template

HERE = Path(__file__).parent


def test_json():
    assert json.loads((HERE / "data" / "x.json").read_text()) == {"a": 1}


def test_fixture_dir():
    # A directory relative to the module, joined: every file below it.
    assert len(os.listdir(os.path.join(os.path.dirname(__file__), "fixtures", "sub"))) == 2


def test_rootdir_relative():
    # Relative to the rootdir (pytest's working directory), a file.
    assert open("tests/fixtures/top.csv").read() == "top\n"
    assert os.path.exists("setup.cfg")


def test_not_data():
    # Missing files, Python sources and words are not data.
    assert "missing.json" and "tests/test_data.py" and "fixtures"


def test_template():
    assert template() == "hello\n"
