import unittest


class TestA(unittest.TestCase):
    def setUp(self):
        # A test module importing another test module, inside a function.
        from . import test_b

        self.b = test_b

    def test_a(self):
        self.assertEqual(self.b.VALUE, 1)
