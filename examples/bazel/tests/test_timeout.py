"""Sleeps past any timeout e2e.sh sets (tagged manual)."""

import time


def test_sleeps():
    time.sleep(3600)
