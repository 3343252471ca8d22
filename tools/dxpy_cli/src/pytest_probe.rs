//! The interpreter's pytest, asked before a run with pass-through options: does it accept the
//! command line (else its usage error, once, with its exit code), and how do the options
//! nobody else knows (plugins', conftests') take values. Also the sessions dx-py leaves to
//! pytest itself (`--fixtures`, `--pdb`, ...).

use std::collections::HashMap;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use dxpy_discover::config::args::Arity;

use crate::args::TestArgs;
use crate::exit::Code;
use crate::pytest_cli::ProbedArities;

/// Run as `python -c`: see the script's docstring.
const PROBE: &str = include_str!("pytest_probe.py");
const MARKER: &str = "DXPY_PYTEST_OPTIONS ";

/// What pytest said about a command line.
#[derive(Debug)]
pub enum Verdict {
    /// Accepted; the arities of every option it knows, and with `--pyargs` the collection
    /// arguments with module names resolved to paths.
    Accepted {
        arities: ProbedArities,
        pyargs: Option<Vec<String>>,
    },
    /// Refused (or could not start): its stderr and exit code, to be passed on as they are.
    Refused { code: i32, stderr: Vec<u8> },
}

/// The probe's report on an accepted command line (see `pytest_probe.py`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Report {
    /// Option name → `flag`, `value` or `optional`.
    options: HashMap<String, String>,
    /// Files whose stamps must be unchanged for the verdict to hold.
    watched: Vec<String>,
    /// The interpreter's `sys.path` directories (their installed distributions).
    site_dirs: Vec<String>,
    /// With `--pyargs`: the collection arguments, module names resolved to paths.
    #[serde(default)]
    pyargs: Option<Vec<String>>,
}

impl Report {
    fn arities(&self) -> ProbedArities {
        self.options
            .iter()
            .map(|(name, kind)| {
                let arity = match kind.as_str() {
                    "flag" => Arity::Flag,
                    "optional" => Arity::OptionalValue,
                    _ => Arity::Value,
                };
                (name.clone(), arity)
            })
            .collect()
    }
}

/// An accepted verdict as kept on disk, with what it depends on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Kept {
    report: Report,
    /// `stamp_text` of each watched file, in the report's order.
    stamps: Vec<String>,
    distributions: String,
}

impl Kept {
    fn of(report: Report) -> Kept {
        let (stamps, distributions) = dependencies(&report);
        Kept {
            report,
            stamps,
            distributions,
        }
    }

    fn still_holds(&self) -> bool {
        dependencies(&self.report) == (self.stamps.clone(), self.distributions.clone())
    }
}

fn dependencies(report: &Report) -> (Vec<String>, String) {
    let stamps = report
        .watched
        .iter()
        .map(|p| stamp_text(Path::new(p)))
        .collect();
    let site_dirs: Vec<&Path> = report.site_dirs.iter().map(Path::new).collect();
    (stamps, dxpy_results::distributions_fingerprint(&site_dirs))
}

pub(crate) fn stamp_text(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some(format!("{} {}", dxpy_fs::mtime_ns(&m).ok()?, m.len())))
        .unwrap_or_default()
}

/// The interpreter the workers would use.
pub fn interpreter(args: &TestArgs) -> PathBuf {
    dxpy_runner::pool::resolve_python(args.python.as_deref(), std::env::var_os("VIRTUAL_ENV"))
}

/// pytest's verdict on `args` (pytest's view of the command line), in the current directory:
/// the one kept under `cache_root` while nothing it depends on changed, else asked anew
/// (and kept when accepted; a refusal is asked again each time, as it is pytest's message).
pub fn probe(python: &Path, args: &[String], cache_root: Option<&Path>) -> anyhow::Result<Verdict> {
    let kept_path = cache_root
        .map(|root| -> anyhow::Result<PathBuf> {
            Ok(root
                .join("pytest-probe")
                .join(format!("{}.json", cache_key(python, args)?)))
        })
        .transpose()?;
    if let Some(kept) = kept_path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok())
        .filter(Kept::still_holds)
    {
        return Ok(Verdict::Accepted {
            arities: kept.report.arities(),
            pyargs: None,
        });
    }
    match ask(python, args)? {
        Answer::Accepted(Some(report)) => {
            let arities = report.arities();
            let pyargs = report.pyargs.clone();
            // Where a module name resolves depends on more than the watched files.
            if let Some(path) = kept_path.as_ref().filter(|_| pyargs.is_none()) {
                keep(path, &Kept::of(report));
            }
            Ok(Verdict::Accepted { arities, pyargs })
        }
        Answer::Accepted(None) => Ok(Verdict::Accepted {
            arities: ProbedArities::new(),
            pyargs: None,
        }),
        Answer::Refused(code, stderr) => Ok(Verdict::Refused { code, stderr }),
    }
}

/// What an answer of the interpreter's pytest depends on besides its question and the files
/// it watches: the interpreter (path and stamp), the script that asks, the directory it runs
/// in, pytest's environment variables. Also the collect probe's (`crate::collect_probe`).
pub(crate) fn interpreter_context(python: &Path, script: &str) -> anyhow::Result<Vec<String>> {
    let executable = std::fs::canonicalize(python).unwrap_or_else(|_| python.to_path_buf());
    let mut parts = vec![
        executable.to_string_lossy().into_owned(),
        stamp_text(&executable),
        script.to_owned(),
        std::env::current_dir()?.to_string_lossy().into_owned(),
    ];
    for name in [
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTHONPATH",
    ] {
        parts.push(format!("{name}={:?}", std::env::var_os(name)));
    }
    Ok(parts)
}

/// What the verdict depends on besides the files it watches: [`interpreter_context`] and
/// the arguments.
fn cache_key(python: &Path, args: &[String]) -> anyhow::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut text = |part: &str| {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    };
    for part in interpreter_context(python, PROBE)? {
        text(&part);
    }
    text(&args.len().to_string());
    for arg in args {
        text(arg);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Keeping is best effort: without it the next run asks again.
fn keep(path: &Path, kept: &Kept) {
    let Some(dir) = path.parent() else { return };
    if dxpy_fs::ensure_private_dir(dir).is_err() {
        return;
    }
    if let Ok(bytes) = serde_json::to_vec(kept) {
        let _ = dxpy_fs::write_private_atomic(path, &bytes);
    }
}

/// What one run of the probe said.
enum Answer {
    /// Accepted, with the option table (`None`: another plugin ended the session first).
    Accepted(Option<Report>),
    /// pytest's exit code and stderr.
    Refused(i32, Vec<u8>),
}

/// Run the probe.
fn ask(python: &Path, args: &[String]) -> anyhow::Result<Answer> {
    let output = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let code = output.status.code().unwrap_or(1);
    if code != 0 {
        return Ok(Answer::Refused(code, output.stderr));
    }
    // Without a report (another plugin ended the session first) the command line was
    // still accepted; only the arities are unknown.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(MARKER))
        .and_then(|json| serde_json::from_str::<Report>(json).ok());
    Ok(Answer::Accepted(report))
}

/// What to do with a `dx-py test` command line once pytest has seen it.
#[derive(Debug)]
pub enum Prepared {
    /// Run it (re-split with pytest's arities when some were guessed).
    Run(Box<TestArgs>),
    /// Nothing more to run: pytest refused the command line (its message is on stderr), or
    /// ran the session itself.
    Done(Code),
}

/// Before a run: a session only pytest runs is handed to it (its output to `out`); else the
/// command line is validated ([`validate`]).
pub fn prepare(args: TestArgs, out: &mut dyn Write) -> anyhow::Result<Prepared> {
    if args.pytest.delegated().is_some() {
        let python = interpreter(&args);
        return Ok(Prepared::Done(delegate(
            &python,
            &args.pytest.for_pytest,
            Some(out),
        )?));
    }
    validate(args)
}

/// Validate the pass-through options (and `PYTEST_ADDOPTS`, which pytest reads as part of
/// its command line) with the interpreter's pytest before anything runs. A command line
/// without any is dx-py's alone: nothing to ask.
pub fn validate(args: TestArgs) -> anyhow::Result<Prepared> {
    let env_addopts = std::env::var_os("PYTEST_ADDOPTS").is_some_and(|v| !v.is_empty());
    if args.pytest.passthrough.is_empty() && !env_addopts {
        return Ok(Prepared::Run(Box::new(args)));
    }
    let cache_root = dxpy_discover::session::cache_root().filter(|_| !args.select.no_cache);
    match probe(
        &interpreter(&args),
        &args.pytest.for_pytest,
        cache_root.as_deref(),
    )? {
        Verdict::Refused { code, stderr } => {
            std::io::stderr().write_all(&stderr)?;
            Ok(Prepared::Done(Code::from_pytest(code)))
        }
        Verdict::Accepted { arities, pyargs } => {
            let mut args = if args.pytest.guessed {
                crate::args::parse_test_args(&args.pytest.argv, &arities)
                    .context("re-reading the command line with pytest's option table")?
            } else {
                args
            };
            if let Some(paths) = pyargs {
                resolve_pyargs(&mut args, paths);
            }
            Ok(Prepared::Run(Box::new(args)))
        }
    }
}

/// Options in the configuration's `addopts` that pytest itself does not define (a plugin's,
/// or a typo) when [`validate`] did not ask pytest already: pytest validates them now, so a
/// bad one is its usage error, once, with exit 4, rather than every worker failing to start.
/// Returns the exit code when pytest refuses; its verdict is cached like [`validate`]'s.
pub fn validate_config_options(
    args: &TestArgs,
    unknown: &[String],
) -> anyhow::Result<Option<Code>> {
    let env_addopts = std::env::var_os("PYTEST_ADDOPTS").is_some_and(|v| !v.is_empty());
    if unknown.is_empty() || !args.pytest.passthrough.is_empty() || env_addopts {
        return Ok(None);
    }
    let cache_root = dxpy_discover::session::cache_root().filter(|_| !args.select.no_cache);
    match probe(
        &interpreter(args),
        &args.pytest.for_pytest,
        cache_root.as_deref(),
    )? {
        Verdict::Refused { code, stderr } => {
            std::io::stderr().write_all(&stderr)?;
            Ok(Some(Code::from_pytest(code)))
        }
        Verdict::Accepted { .. } => Ok(None),
    }
}

/// `--pyargs`: discovery and the workers get the paths pytest resolved the module names to
/// (the node IDs are those of the paths, as under pytest), and no `--pyargs`.
fn resolve_pyargs(args: &mut TestArgs, paths: Vec<String>) {
    args.select.paths = paths;
    args.pytest.passthrough.retain(|t| t != "--pyargs");
}

/// Run pytest itself with `args` (pytest's view of the command line) in the current
/// directory, stdin and stderr attached; stdout goes to `out` when given (a daemon's or
/// `--watch`'s stream), else to this process's stdout (the terminal `--pdb` needs).
pub fn delegate(
    python: &Path,
    args: &[String],
    out: Option<&mut dyn Write>,
) -> anyhow::Result<Code> {
    let mut command = Command::new(python);
    command.args(["-m", "pytest"]).args(args);
    let status = match out {
        None => command.status(),
        Some(out) => {
            let mut child = command.stdout(Stdio::piped()).spawn()?;
            if let Some(mut stdout) = child.stdout.take() {
                let mut buffer = [0u8; 8192];
                loop {
                    let n = stdout.read(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    // A closed reader (`| head`) ends the copy; pytest then meets the
                    // closed pipe itself, as it would writing to it directly.
                    if out
                        .write_all(&buffer[..n])
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            }
            child.wait()
        }
    }
    .with_context(|| format!("running {} -m pytest", python.display()))?;
    Ok(Code::from_pytest(status.code().unwrap_or(1)))
}
