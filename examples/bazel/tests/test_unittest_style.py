"""unittest.TestCase tests."""

import unittest

import greeter


class GreeterTest(unittest.TestCase):
    def setUp(self):
        self.name = "unit"

    def test_greet(self):
        self.assertEqual(greeter.greet(self.name), "hello, unit")

    def test_loud(self):
        self.assertEqual(greeter.greet(self.name, loud=True), "HELLO, UNIT!")
