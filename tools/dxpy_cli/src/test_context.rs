//! What the body of `dx-py test` takes from the process that runs it: `dx-py test` itself,
//! `--watch` (many runs, one zygote) or the project's daemon (a client's request). Its own
//! module so that the daemon can be handed a way to run a test command without depending on
//! the commands.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use dxpy_discover::session::Discovery;
use dxpy_runner::pool::{PoolConfig, SpareSlot, WarmStart};

use crate::args::TestArgs;
use crate::exit::Code;

/// Where a run's warm interpreters come from when the caller keeps a zygote (the daemon):
/// given the run's pool and discovery, the warm start to use.
pub type ZygoteSource<'a> = &'a dyn Fn(&PoolConfig, &Discovery) -> WarmStart;

/// Work of a run that its exit code does not wait for (recording results and state).
pub type Deferred = Box<dyn FnOnce()>;

/// What the body of `dx-py test` takes from its caller besides the arguments: this process
/// (`dx-py test` itself) or the project's daemon serving a client's request. The daemon sets
/// the client's cwd and environment as its own and the client's terminal through
/// [`crate::render::set_client_terminal`] before calling `commands::test::run_with`.
pub struct TestContext<'a> {
    /// The run's stop flag, set by the caller (the daemon: the client's Ctrl-C); `None`
    /// installs this process's Ctrl-C and SIGTERM handling.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The caller's zygote; `None` starts one for this run.
    pub zygote: Option<ZygoteSource<'a>>,
    /// With `--affected`: replay what the result cache holds (false: run every selected test
    /// and record it afresh: `--watch`'s "run all").
    pub replay: bool,
    /// Where the caller's zygote may offer a spare worker (see `dxpy_runner::pool::spare`);
    /// used only with a zygote from `zygote`.
    pub spare: Option<Arc<SpareSlot>>,
    /// Takes the run's recording work to do after its caller answered (the daemon: after
    /// the client has its exit code, before the next request); `None`: done in the run.
    pub defer: Option<&'a dyn Fn(Deferred)>,
}

impl std::fmt::Debug for TestContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestContext")
            .field("interrupt", &self.interrupt)
            .field("zygote", &self.zygote.is_some())
            .field("replay", &self.replay)
            .field("spare", &self.spare.is_some())
            .field("defer", &self.defer.is_some())
            .finish()
    }
}

/// How the daemon runs one `dx-py test` command line (`commands::test::run_with`).
pub type RunTest = fn(TestArgs, &TestContext<'_>, &mut dyn Write, Instant) -> anyhow::Result<Code>;
