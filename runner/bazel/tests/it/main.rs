//! The contract's three spellings agree: the flags `rules/private/test.bzl` writes, the
//! parser's [`Flag`]s and the table in the crate docs (`src/lib.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use dxpy_bazel::args::Flag;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The `--name` of every `"--name=...` string literal in Starlark source.
fn written_flags(starlark: &str) -> BTreeSet<String> {
    starlark
        .match_indices("\"--")
        .filter_map(|(at, _)| {
            let rest = &starlark[at + 3..];
            let name = rest.split('=').next()?;
            let is_name = !name.is_empty()
                && rest.len() > name.len()
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            is_name.then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn the_rule_writes_exactly_the_flags_the_parser_knows() {
    let written = written_flags(&read("../../rules/private/test.bzl"));
    let unknown: Vec<&String> = written
        .iter()
        .filter(|name| Flag::parse(name).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "test.bzl writes unknown flags {unknown:?}"
    );
    // `--worker-package` is for development runs only: dx-py's own copy serves the rules.
    let unwritten: Vec<Flag> = Flag::ALL
        .into_iter()
        .filter(|flag| *flag != Flag::WorkerPackage && !written.contains(flag.name()))
        .collect();
    assert!(unwritten.is_empty(), "test.bzl never writes {unwritten:?}");
}

#[test]
fn the_crate_docs_list_every_flag() {
    let docs: String = read("src/lib.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<Flag> = Flag::ALL
        .into_iter()
        .filter(|flag| !docs.contains(&format!("`{flag}`")))
        .collect();
    assert!(missing.is_empty(), "the crate docs do not list {missing:?}");
}

#[test]
fn the_flag_scan_sees_what_the_rule_writes() {
    let sample = r#"lines = ["--target=%s" % ctx.label]
args.add(python.file, format = "--python=%s")
lines.append("--exclusive=yes")
echo "--not a flag" "#;
    let expected: BTreeSet<String> = ["exclusive", "python", "target"].map(String::from).into();
    assert_eq!(written_flags(sample), expected);
}
