//! Running a command the same way for dx-py and pytest: in the project directory, with a
//! private dx-py cache and without the user's pytest environment.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What one finished command reported.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// stdout, then stderr.
    pub output: String,
    pub elapsed: Duration,
}

/// Runs in `dir` with a private dx-py cache and without the user's pytest environment.
pub fn clean(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir)
        .env("DXPY_CACHE_DIR", dir.join(".dxpy-cache"))
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("PYTEST_PLUGINS")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Every run in this process, deterministically: daemon tests opt in themselves.
        .env("DXPY_NO_DAEMON", "1");
}

/// Runs `cmd` [`clean`]ly in `dir` to its end.
pub fn run(cmd: Command, dir: &Path) -> Run {
    run_with_env(cmd, dir, &[])
}

/// [`run`] with `env` set after cleaning (e.g. a `PYTEST_ADDOPTS` that [`clean`] removes).
pub fn run_with_env(mut cmd: Command, dir: &Path, env: &[(&str, &str)]) -> Run {
    clean(&mut cmd, dir);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let out = cmd.output().expect("spawn");
    Run {
        code: out.status.code().unwrap_or(-1),
        output: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        elapsed: start.elapsed(),
    }
}
