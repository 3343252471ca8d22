//! The `dx-py` binary run like pytest. Its path is the caller's: `CARGO_BIN_EXE_dx-py` only
//! exists while compiling the CLI crate's own tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::command::{run, Run};
use crate::pytest::{junit, pytest, summary};
use crate::python::python;

/// `dx-py test --python <python()> ARGS` [`clean`](crate::clean)ly in `dir`.
pub fn dx_py(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg("test").args(["--python", &python()]).args(args);
    run(cmd, dir)
}

/// Runs pytest and dx-py in `root` with `args` (dx-py also with `dx_only`, e.g. a worker
/// count: pytest's `-n` would be pytest-xdist's, whose summary differs) and asserts equal
/// JUnit cases, summary lines (counts of every kind) and exit codes. Returns dx-py's run and
/// its cases.
pub fn assert_same(
    bin: &Path,
    root: &Path,
    args: &[&str],
    dx_only: &[&str],
) -> (Run, BTreeMap<String, String>) {
    let py_xml = root.join("py.xml");
    let dx_xml = root.join("dx.xml");
    let py = pytest(
        root,
        &[args, &[&format!("--junit-xml={}", py_xml.display())]].concat(),
    );
    let dx = dx_py(
        bin,
        root,
        &[args, dx_only, &["--junit-xml", &dx_xml.to_string_lossy()]].concat(),
    );
    let dx_cases = junit(&dx_xml);
    assert_eq!(
        dx_cases,
        junit(&py_xml),
        "{args:?}: cases differ\n--- dx-py\n{}\n--- pytest\n{}",
        dx.output,
        py.output
    );
    assert_eq!(
        summary(&dx.output),
        summary(&py.output),
        "{args:?}: summary lines differ\n--- dx-py\n{}",
        dx.output
    );
    assert_eq!(
        dx.code, py.code,
        "{args:?}: exit codes differ\n{}",
        dx.output
    );
    (dx, dx_cases)
}
