#!/usr/bin/env bash
# Rust lints as CI runs them: formatting, and clippy with every warning an error (the lints
# themselves are declared in the workspace Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# dxpy_python's PyO3 module is behind its `python` feature (so the workspace never links
# libpython); lint it with the feature on too (checking needs no libpython).
cargo clippy -p dxpy_python --features python --all-targets --locked -- -D warnings
