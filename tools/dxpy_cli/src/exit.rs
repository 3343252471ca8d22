//! pytest's exit codes (`pytest.ExitCode`), which CI systems and wrappers rely on.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    TestsFailed = 1,
    Interrupted = 2,
    InternalError = 3,
    UsageError = 4,
    NoTestsCollected = 5,
}

impl Code {
    /// The code for a number pytest (or a recorded result) gave; unknown numbers are treated
    /// as "no tests collected", the last of pytest's codes, as `pytest.exit(returncode=N)`
    /// sessions rarely use others.
    pub fn from_pytest(code: i32) -> Code {
        match code {
            0 => Code::Ok,
            1 => Code::TestsFailed,
            2 => Code::Interrupted,
            3 => Code::InternalError,
            4 => Code::UsageError,
            _ => Code::NoTestsCollected,
        }
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code as u8)
    }
}
