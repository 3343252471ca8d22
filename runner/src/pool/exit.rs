//! How a worker process ended, in words for reports.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Code(i32),
    Signal(i32),
    /// The process had to be killed by the pool (timeout, or it did not exit after its
    /// stream ended).
    KilledByPool,
    Unknown,
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitReason::Code(code) => write!(f, "exit code {code}"),
            ExitReason::Signal(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "signal {name} ({signal})"),
                None => write!(f, "signal {signal}"),
            },
            ExitReason::KilledByPool => f.write_str("killed by the pool"),
            ExitReason::Unknown => f.write_str("unknown exit status"),
        }
    }
}

impl ExitReason {
    pub(crate) fn from_status(status: ExitStatus) -> ExitReason {
        if let Some(code) = status.code() {
            ExitReason::Code(code)
        } else if let Some(signal) = status.signal() {
            ExitReason::Signal(signal)
        } else {
            ExitReason::Unknown
        }
    }
}

/// Linux signal names for the signals a test process plausibly dies of.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return None,
    })
}
