//! The per-project daemon: a `dx-py` process that serves `dx-py test` runs for one project
//! (rootdir) and interpreter, keeping a warm zygote between them, so a rerun never pays
//! interpreter start-up and pytest's import twice.
//!
//! Layout: [`wire`] is the framed protocol, [`server`] the daemon itself (one request at a
//! time, the client's cwd, environment and terminal made its own for the request), [`client`]
//! the side `dx-py test` and `dx-py daemon start|stop|status` use, [`preload`] what the
//! zygote imports besides pytest. [`Location`] names the
//! files of one daemon in the project's private cache directory: its socket, its lock (held
//! for the daemon's life: starting is race-free) and its log.

pub mod client;
pub mod preload;
pub mod server;
mod spare;
pub mod wire;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use dxpy_discover::config::{self, ConfigRequest};
use dxpy_discover::session;

/// The daemon stops after this long without a request, unless `[tool.dx-py] daemon-idle`
/// says otherwise.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(15 * 60);

/// Whether `dx-py test` should use the daemon: not with `--no-daemon` or `DXPY_NO_DAEMON=1`.
pub fn wanted(no_daemon: bool) -> bool {
    !no_daemon && std::env::var_os("DXPY_NO_DAEMON").is_none_or(|v| v != "1")
}

/// One daemon's identity and files: (project rootdir, interpreter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub rootdir: PathBuf,
    /// The interpreter as the runs would resolve it (`--python`, else `$VIRTUAL_ENV`'s, else
    /// `python3`).
    pub interpreter: PathBuf,
    /// The project's private cache directory (0700).
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub lock: PathBuf,
    pub log: PathBuf,
}

impl Location {
    /// The daemon for the project that `pytest_args` (pytest's syntax: paths, `-c`,
    /// `--rootdir`, ...) locate from the current directory, and interpreter `python`.
    pub fn find(pytest_args: Vec<String>, python: Option<&Path>) -> anyhow::Result<Location> {
        let request = ConfigRequest::from_process(pytest_args)
            .context("cannot determine the current directory")?;
        let config = config::load(&request).map_err(|err| anyhow::anyhow!("{err}"))?;
        let root = session::cache_root().context("no cache directory (HOME is not set)")?;
        let interpreter = interpreter(python)?;
        Ok(Location::at(&root, &config.rootdir, interpreter))
    }

    fn at(cache_root: &Path, rootdir: &Path, interpreter: PathBuf) -> Location {
        let dir = session::project_cache_dir(cache_root, rootdir);
        let key = blake3::hash(interpreter.as_os_str().as_encoded_bytes());
        let stem = format!("daemon-{}", &key.to_hex()[..12]);
        Location {
            rootdir: rootdir.to_path_buf(),
            interpreter,
            socket: dir.join(format!("{stem}.sock")),
            lock: dir.join(format!("{stem}.lock")),
            log: dir.join(format!("{stem}.log")),
            dir,
        }
    }
}

/// The interpreter as `dx-py test` resolves it (see `commands::test::pool_config`).
fn interpreter(python: Option<&Path>) -> anyhow::Result<PathBuf> {
    let python = match python {
        Some(p) if p.components().count() > 1 && p.is_relative() => Some(std::path::absolute(p)?),
        other => other.map(Path::to_path_buf),
    };
    Ok(dxpy_runner::pool::resolve_python(
        python.as_deref(),
        std::env::var_os("VIRTUAL_ENV"),
    ))
}

/// This binary: a daemon serves only clients of the very same build. `DXPY_DAEMON_IDENTITY`
/// is appended (tests use it to play a daemon of another build).
pub fn identity() -> wire::Identity {
    let mut binary = std::env::current_exe()
        .and_then(|exe| {
            let metadata = std::fs::metadata(&exe)?;
            let mtime = dxpy_fs::mtime_ns(&metadata)?;
            Ok(format!("{} {} {mtime}", exe.display(), metadata.len()))
        })
        .unwrap_or_else(|err| format!("unknown ({err})"));
    if let Some(extra) = std::env::var_os("DXPY_DAEMON_IDENTITY") {
        binary.push(' ');
        binary.push_str(&extra.to_string_lossy());
    }
    wire::Identity {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        binary,
    }
}

/// `[tool.dx-py] daemon-idle = "15m"`: `30s`, `15m`, `1h` (a bare number is seconds).
pub fn parse_idle(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// The project's idle timeout from its pyproject.toml.
pub fn idle_timeout(rootdir: &Path) -> anyhow::Result<Duration> {
    let pyproject = rootdir.join("pyproject.toml");
    match crate::config::string(&pyproject, "daemon-idle")? {
        None => Ok(DEFAULT_IDLE),
        Some(text) => parse_idle(&text).with_context(|| {
            format!(
                "{}: [tool.dx-py] daemon-idle must look like \"30s\", \"15m\" or \"1h\", not {text:?}",
                pyproject.display()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeouts_parse_seconds_minutes_and_hours() {
        assert_eq!(parse_idle("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_idle("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_idle("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_idle("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_idle("1d"), None);
        assert_eq!(parse_idle("m"), None);
        assert_eq!(parse_idle(""), None);
    }

    #[test]
    fn daemons_of_one_project_differ_by_interpreter() {
        let a = Location::at(Path::new("/c"), Path::new("/p"), "/v/bin/python".into());
        let b = Location::at(Path::new("/c"), Path::new("/p"), "python3".into());
        assert_eq!(a.dir, b.dir);
        assert_ne!(a.socket, b.socket);
        assert!(a.socket.starts_with(&a.dir) && a.lock.starts_with(&a.dir));
    }
}
