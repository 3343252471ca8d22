//! `dx-py test` on `unittest` subtests: pytest 9 reports every subtest and counts the passing
//! ones on its stats line as `N subtests passed` (not at default verbosity, where they are
//! quiet), failing ones among `failed`. The real binary and the real pytest run the same tree.

use crate::assert_same;

const MODULE: &str = r#"import unittest


class TestNumbers(unittest.TestCase):
    def test_even(self):
        for n in (0, 2, 4):
            with self.subTest(n=n):
                self.assertEqual(n % 2, 0)

    def test_mixed(self):
        for n in (1, 2, 3):
            with self.subTest(n=n):
                self.assertEqual(n % 2, 1)


def test_plain():
    pass
"#;

#[test]
fn subtests_are_counted_like_pytest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").expect("write ini");
    std::fs::write(root.join("test_sub.py"), MODULE).expect("write module");
    for args in [&["-q"][..], &[][..], &["-v"][..]] {
        assert_same(root, args, &[]);
    }
}
