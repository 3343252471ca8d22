//! Times `module::analyze` on a generated 25-test module (run with `--release`).
#![allow(clippy::print_stdout)]

use std::fmt::Write;
use std::time::Instant;

use dxpy_discover::module::{analyze, ModuleContext, NameRules};

fn main() {
    let mut source =
        String::from("import pytest\nimport unittest\n\npytestmark = pytest.mark.unit\n\n");
    for i in 0..10 {
        let _ = write!(
            source,
            "@pytest.mark.slow\ndef test_plain_{i}():\n    assert {i} + 1 > {i}\n\n"
        );
    }
    for i in 0..5 {
        let _ = write!(
            source,
            "@pytest.mark.parametrize('a, b', [(1, 'x'), (2.5, 'y\\xe9'), pytest.param(3, None, id='three')])\ndef test_param_{i}(a, b):\n    assert a\n\n"
        );
    }
    source.push_str("class TestGroup:\n    pytestmark = [pytest.mark.group]\n");
    for i in 0..5 {
        let _ = write!(source, "    def test_method_{i}(self):\n        x = [j for j in range(10)]\n        assert x\n\n");
    }
    source.push_str("class Cases(unittest.TestCase):\n");
    for i in 0..5 {
        let _ = write!(
            source,
            "    def test_case_{i}(self):\n        self.assertTrue(True)\n\n"
        );
    }
    let rules = NameRules::default();
    let ctx = ModuleContext::new("tests/test_bench.py", &rules);
    let items = analyze(source.as_bytes(), &ctx).items.len();
    let rounds = 2000;
    let cpu_start = cpu_time_ns();
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(analyze(std::hint::black_box(source.as_bytes()), &ctx));
    }
    let per_file = start.elapsed() / rounds;
    let cpu_per_file = cpu_time_ns()
        .zip(cpu_start)
        .map(|(end, begin)| (end - begin) / u64::from(rounds));
    let parse_cpu_start = cpu_time_ns();
    let parse_wall = parse_only(&source);
    let parse_cpu = cpu_time_ns()
        .zip(parse_cpu_start)
        .map(|(end, begin)| (end - begin) / 2000);
    println!("{} bytes, {items} items (25 test functions)", source.len());
    println!(
        "analyze: wall {per_file:?}, on-CPU {:?} ns per file",
        cpu_per_file
    );
    println!(
        "tree-sitter parse alone: wall {parse_wall:?}, on-CPU {:?} ns",
        parse_cpu
    );
}

/// Time this thread spent on a CPU (Linux `schedstat`): stable on a loaded machine.
fn cpu_time_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn parse_only(source: &str) -> std::time::Duration {
    let mut parser = tree_sitter::Parser::new();
    let _ = parser.set_language(&tree_sitter_python::LANGUAGE.into());
    let start = Instant::now();
    for _ in 0..2000 {
        std::hint::black_box(parser.parse(source, None));
    }
    start.elapsed() / 2000
}
