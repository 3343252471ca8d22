from app.core import run
from helpers import json


def test_run():
    assert run()
