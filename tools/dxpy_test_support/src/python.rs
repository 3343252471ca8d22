//! The interpreter under test: `DXPY_TEST_PYTHON`, else `python3`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Seconds after which [`bounded`] kills a stuck interpreter instead of hanging the suite.
pub const DEADLINE_SECS: &str = "180";

/// The interpreter under test. Fails loudly, never skips, when it cannot import pytest:
/// every suite compares with real pytest. Probed once per test binary.
pub fn python() -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(probe).clone()
}

fn probe() -> String {
    let python = std::env::var("DXPY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python).args(["-c", "import pytest"]).output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "DXPY_TEST_PYTHON={python} cannot import pytest ({}); point DXPY_TEST_PYTHON at an \
             interpreter with pytest installed",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!(
            "cannot run DXPY_TEST_PYTHON={python} ({err}); point DXPY_TEST_PYTHON at an \
             interpreter with pytest installed"
        ),
    }
}

/// The interpreter's absolute path (`sys.executable`), for contracts that want one.
pub fn python_executable() -> PathBuf {
    let python = python();
    let out = Command::new(&python)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run {python}: {err}"));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `program` under coreutils' `timeout`, killed after [`DEADLINE_SECS`].
pub fn bounded(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", DEADLINE_SECS]).arg(program);
    command
}

/// The `purelib` (site-packages) directory of `python`.
pub fn purelib(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .expect("purelib");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A venv in `dir/venv` that sees the test interpreter's packages (pytest, and what it
/// imports, some installed editable) through a .pth file that adds their site directory:
/// its python and its own site-packages, where a test can install a distribution.
pub fn venv_with_test_packages(dir: &Path) -> (PathBuf, PathBuf) {
    let venv = dir.join("venv");
    let made = Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("venv");
    assert!(made.success(), "python -m venv failed");
    let venv_python = venv.join("bin/python");
    let site = purelib(&venv_python);
    let base_site = purelib(Path::new(&python()));
    crate::write(
        &site,
        "test_python.pth",
        format!(
            "import site; site.addsitedir({:?})\n",
            base_site.to_string_lossy()
        ),
    );
    (venv_python, site)
}

/// Installs the wheel of `distribution` (pinned in `tests/plugin-wheels.txt`, downloaded by
/// the setup stage of `tests/run.sh` into `$DXPY_CACHE/wheels`) into `site`, without its
/// dependencies and without the network. Fails loudly, never skips, when the wheel is not
/// there.
pub fn install_wheel(site: &Path, distribution: &str) {
    let wheels = std::env::var_os("DXPY_CACHE")
        .map_or_else(|| crate::repo_root().join(".cache"), PathBuf::from)
        .join("wheels");
    let out = Command::new(python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-index", "--no-deps", "--find-links"])
        .arg(&wheels)
        .arg("--target")
        .arg(site)
        .arg(distribution)
        .output()
        .expect("pip");
    assert!(
        out.status.success(),
        "installing {distribution} from {} failed (run the setup stage of tests/run.sh, \
         which downloads the wheels of tests/plugin-wheels.txt):\n{}",
        wheels.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
