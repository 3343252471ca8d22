use std::process::ExitCode;

// glibc malloc spent about a third of a warm `dx-py discover` in allocation and free of the
// many small strings an index decode produces; mimalloc's thread-local free lists are cheaper.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    dxpy_cli::main()
}
