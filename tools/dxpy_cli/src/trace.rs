//! `DXPY_TRACE=1`: one stderr line per step of a `dx-py test` run, with its time, for finding
//! where a run's time goes (the runner prints its workers' steps the same way).

use std::time::Instant;

/// Whether `DXPY_TRACE=1` is set.
pub(crate) fn enabled() -> bool {
    std::env::var_os("DXPY_TRACE").is_some_and(|v| v == "1")
}

/// Times the steps of one run: each [`Steps::done`] prints the time since the previous one.
pub(crate) struct Steps {
    on: bool,
    last: Instant,
}

impl Steps {
    pub(crate) fn start() -> Steps {
        Steps {
            on: enabled(),
            last: Instant::now(),
        }
    }

    pub(crate) fn done(&mut self, step: &str) {
        if self.on {
            eprintln!(
                "dx-py trace: {step} in {:.1} ms",
                self.last.elapsed().as_secs_f64() * 1e3
            );
        }
        self.last = Instant::now();
    }
}
