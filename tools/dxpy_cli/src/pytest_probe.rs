//! The interpreter's pytest, asked before a run with pass-through options: does it accept the
//! command line (else its usage error, once, with its exit code), and how do the options
//! nobody else knows (plugins', conftests') take values. Also the sessions dx-py leaves to
//! pytest itself (`--fixtures`, `--pdb`, ...).

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
    /// Accepted; the arities of every option it knows.
    Accepted(ProbedArities),
    /// Refused (or could not start): its stderr and exit code, to be passed on as they are.
    Refused { code: i32, stderr: Vec<u8> },
}

/// The interpreter the workers would use.
pub fn interpreter(args: &TestArgs) -> PathBuf {
    dxpy_runner::pool::resolve_python(args.python.as_deref(), std::env::var_os("VIRTUAL_ENV"))
}

/// pytest's verdict on `args` (pytest's view of the command line), in the current directory.
pub fn probe(python: &Path, args: &[String]) -> anyhow::Result<Verdict> {
    let output = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let code = output.status.code().unwrap_or(1);
    if code != 0 {
        return Ok(Verdict::Refused {
            code,
            stderr: output.stderr,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let table = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(MARKER))
        .and_then(|json| {
            serde_json::from_str::<std::collections::HashMap<String, String>>(json).ok()
        })
        .unwrap_or_default();
    Ok(Verdict::Accepted(
        table
            .into_iter()
            .map(|(name, kind)| {
                let arity = match kind.as_str() {
                    "flag" => Arity::Flag,
                    "optional" => Arity::OptionalValue,
                    _ => Arity::Value,
                };
                (name, arity)
            })
            .collect(),
    ))
}

/// What to do with a `dx-py test` command line once pytest has seen it.
#[derive(Debug)]
pub enum Prepared {
    /// Run it (re-split with pytest's arities when some were guessed).
    Run(Box<TestArgs>),
    /// Nothing to run: pytest refused the command line (its message is on stderr).
    Done(Code),
}

/// Validate the pass-through options (and `PYTEST_ADDOPTS`, which pytest reads as part of
/// its command line) with the interpreter's pytest before anything runs. A command line
/// without any is dx-py's alone: nothing to ask.
pub fn validate(args: TestArgs) -> anyhow::Result<Prepared> {
    let env_addopts = std::env::var_os("PYTEST_ADDOPTS").is_some_and(|v| !v.is_empty());
    if args.pytest.passthrough.is_empty() && !env_addopts {
        return Ok(Prepared::Run(Box::new(args)));
    }
    match probe(&interpreter(&args), &args.pytest.for_pytest)? {
        Verdict::Refused { code, stderr } => {
            std::io::stderr().write_all(&stderr)?;
            Ok(Prepared::Done(Code::from_pytest(code)))
        }
        Verdict::Accepted(arities) if args.pytest.guessed => {
            let resplit = crate::args::parse_test_args(&args.pytest.argv, &arities)
                .context("re-reading the command line with pytest's option table")?;
            Ok(Prepared::Run(Box::new(resplit)))
        }
        Verdict::Accepted(_) => Ok(Prepared::Run(Box::new(args))),
    }
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
                    out.write_all(&buffer[..n])?;
                    out.flush()?;
                }
            }
            child.wait()
        }
    }
    .with_context(|| format!("running {} -m pytest", python.display()))?;
    Ok(Code::from_pytest(status.code().unwrap_or(1)))
}
