//! `dx-py test -k/-m` where the selection can only be decided at run time: parameters that
//! discovery cannot list (a generator, a computed list) are matched by pytest itself in the
//! worker. The real binary and the real pytest run the same tree; JUnit cases, the summary
//! line (deselected and warning counts included) and the exit code must agree.

use crate::assert_same;

/// `test_gen` is parametrized over a generator (used up by a module's first collection, and
/// warned about by pytest), `test_computed` over a list built at import time: discovery can
/// decide `-k` for neither by name.
const MODULE: &str = r#"import pytest


def names():
    yield "alpha"
    yield "beta"


@pytest.mark.parametrize("name", names())
def test_gen(name):
    assert name


COMPUTED = [word.upper() for word in ("gamma", "delta", "alphabet")]


@pytest.mark.parametrize("word", COMPUTED)
def test_computed(word):
    assert word


def test_plain_alpha():
    pass


class TestKept:
    def test_beta_method(self):
        pass
"#;

fn fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("pytest.ini"), "[pytest]\n").expect("write ini");
    std::fs::write(tmp.path().join("test_runtime.py"), MODULE).expect("write module");
    tmp
}

#[test]
fn keyword_over_run_time_parameters_matches_pytest() {
    let tmp = fixture();
    // Every item of `test_computed` but one is dropped at run time, and `test_gen` must not be
    // collected twice (its generator would be used up: no item at all).
    assert_same(tmp.path(), &["-k", "alpha"], &[]);
    assert_same(tmp.path(), &["-k", "alpha"], &["-n", "1"]);
    // All of `test_computed` dropped at run time, nothing of `test_gen` requested by name.
    assert_same(tmp.path(), &["-k", "beta"], &[]);
    assert_same(tmp.path(), &["-k", "not GAMMA and not DELTA"], &[]);
}

#[test]
fn keyword_matching_nothing_at_run_time_exits_five_like_pytest() {
    let tmp = fixture();
    assert_same(tmp.path(), &["-k", "ALPHABET and gen"], &[]);
    assert_same(tmp.path(), &["-k", "ALPHABET and gen"], &["-n", "1"]);
}
