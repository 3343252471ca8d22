//! One module per subcommand.

mod affected;
mod cache;
mod discover;
pub mod gazelle;
mod test;

use crate::args::{Cli, Command};
use crate::exit::Code;

pub fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Command::Discover(args) => discover::run(args),
        Command::Test(args) => test::run(args),
        Command::Affected(args) => affected::run(args),
        Command::Gazelle(args) => gazelle::run(args),
        Command::Cache { action } => cache::run(action),
    }
}
