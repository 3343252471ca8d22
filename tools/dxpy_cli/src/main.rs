use std::process::ExitCode;

fn main() -> ExitCode {
    dxpy_cli::main()
}
