//! pytest's `-k` and `-m` expression language.
