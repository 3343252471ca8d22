//! One module per subcommand; `bazel_run` is the runfiles-tree run that `bazel_worker` and
//! `bazel_test` share.

mod affected;
mod bazel_run;
mod bazel_test;
mod bazel_worker;
mod bench;
mod cache;
mod daemon;
pub(crate) mod discover;
pub mod gazelle;
pub(crate) mod test;
mod watch;

use crate::args::{Cli, Command};
use crate::exit::Code;

pub fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Command::Discover(args) => discover::run(args),
        Command::Test(args) if args.watch => watch::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Affected(args) => affected::run(args),
        Command::Gazelle(args) => gazelle::run(args),
        Command::Cache { action } => cache::run(action),
        Command::Daemon { action } => daemon::run(action),
        Command::BazelWorker(args) => bazel_worker::run(args),
        Command::BazelTest(args) => bazel_test::run(args),
    }
}
