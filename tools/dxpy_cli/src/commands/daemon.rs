//! `dx-py daemon start|stop|status|serve`: the project's daemon (see [`crate::daemon`]).

use std::ffi::OsString;

use crate::args::{DaemonAction, DaemonArgs};
use crate::daemon::{client, server, Location};
use crate::exit::Code;

pub fn run(action: DaemonAction) -> anyhow::Result<Code> {
    match action {
        DaemonAction::Start(args) => start(&args),
        DaemonAction::Stop(args) => stop(&args),
        DaemonAction::Status(args) => status(&args),
        DaemonAction::Serve(args) => server::serve(locate(&args)?, |args, context, out, start| {
            crate::commands::test::run_with(args, context, out, start)
        }),
    }
}

/// The daemon these arguments name, found as `dx-py test` finds its project.
fn locate(args: &DaemonArgs) -> anyhow::Result<Location> {
    let mut pytest_args = Vec::new();
    if let Some(file) = &args.inifile {
        pytest_args.extend(["-c".to_owned(), file.to_string_lossy().into_owned()]);
    }
    if let Some(dir) = &args.rootdir {
        pytest_args.extend(["--rootdir".to_owned(), dir.to_string_lossy().into_owned()]);
    }
    pytest_args.extend(args.paths.iter().cloned());
    Location::find(pytest_args, args.python.as_deref())
}

fn start(args: &DaemonArgs) -> anyhow::Result<Code> {
    let location = locate(args)?;
    let mut serve_args: Vec<OsString> = vec!["--rootdir".into(), location.rootdir.clone().into()];
    if let Some(python) = &args.python {
        serve_args.push("--python".into());
        serve_args.push(std::path::absolute(python)?.into());
    }
    drop(client::connect_or_start(&location, &serve_args)?);
    print_status(&location)
}

fn stop(args: &DaemonArgs) -> anyhow::Result<Code> {
    let location = locate(args)?;
    if client::stop(&location)? {
        println!("dx-py daemon stopped ({})", location.rootdir.display());
    } else {
        println!("no dx-py daemon runs for {}", location.rootdir.display());
    }
    Ok(Code::Ok)
}

fn status(args: &DaemonArgs) -> anyhow::Result<Code> {
    print_status(&locate(args)?)
}

/// The status lines; exit 0 when a daemon runs, 1 when none does.
fn print_status(location: &Location) -> anyhow::Result<Code> {
    let Some(status) = client::status(location)? else {
        println!(
            "no dx-py daemon runs for {} with {}",
            location.rootdir.display(),
            location.interpreter.display()
        );
        return Ok(Code::TestsFailed);
    };
    println!("pid: {}", status.pid);
    println!("uptime: {}s", status.uptime_secs);
    println!("rootdir: {}", status.rootdir);
    println!("interpreter: {}", status.interpreter);
    println!("requests: {}", status.requests);
    match status.zygote_pid {
        Some(pid) => println!("zygote: {pid}"),
        None => println!("zygote: none"),
    }
    println!("preload: {}", status.preload.join(" "));
    match status.spare_pid {
        Some(pid) => println!("spare: {pid}"),
        None => println!("spare: none"),
    }
    println!("spares used: {}", status.spares_used);
    let parked: Vec<String> = status.parked_pids.iter().map(u32::to_string).collect();
    println!(
        "parked: {}",
        if parked.is_empty() {
            "none".to_owned()
        } else {
            parked.join(" ")
        }
    );
    println!("parked resumed: {}", status.parked_resumed);
    println!("busy: {}", if status.busy { "yes" } else { "no" });
    println!("socket: {}", location.socket.display());
    Ok(Code::Ok)
}
