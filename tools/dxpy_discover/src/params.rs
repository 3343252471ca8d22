//! `@pytest.mark.parametrize` expansion into pytest's exact parameter IDs.
