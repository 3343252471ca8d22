//! The wheel ships the `dx-py` command too (as ruff and uv ship theirs), so for a Python
//! user `pip install` is the only step. maturin packs one kind of artefact per wheel (this
//! extension), so the binary is built here, when maturin builds the extension for a wheel
//! (feature `python`, release profile), by a nested cargo in a target directory of its own
//! (the outer build holds the usual one), and left in `wheel-data/scripts/`, which
//! `[tool.maturin] data` packs: pip installs it beside the interpreter. `cargo test`,
//! clippy and `maturin develop` (debug) never take this path. `DXPY_WHEEL_CLI=0` skips it;
//! `DXPY_WHEEL_CLI=/path/to/dx-py` packs that binary instead of building one (CI, which has
//! just built it).

#![allow(clippy::print_stdout)] // cargo reads a build script's directives from its stdout

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DXPY_WHEEL_CLI");
    let choice = env::var_os("DXPY_WHEEL_CLI").filter(|v| !v.is_empty());
    let for_wheel = env::var_os("CARGO_FEATURE_PYTHON").is_some()
        && env::var("PROFILE").as_deref() == Ok("release")
        && choice.as_deref() != Some("0".as_ref());
    if !for_wheel {
        return;
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let scripts = manifest_dir.join("wheel-data/scripts");
    if let Some(prebuilt) = choice {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        copy_binary(Path::new(&prebuilt), &scripts);
        return;
    }
    let workspace = manifest_dir.join("../..");
    // What the binary is built from: rebuilt when any of it changes.
    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "tools",
        "runner",
        "worker/dxpy_worker",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out (with a <triple>/ when maturin
    // names the target): a stable directory beside them keeps the nested build incremental.
    let target = out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap_or(&out_dir))
        .join("wheel-cli");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "dxpy_cli",
            "--target-dir",
        ])
        .arg(&target);
    // dx-py links this crate (without `python`): its build script, run again inside, must
    // not build dx-py in turn (the outer feature variables reach it through the environment).
    command.env("DXPY_WHEEL_CLI", "0");
    // The outer build's settings for this crate are not the binary's.
    for name in [
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
    ] {
        command.env_remove(name);
    }
    for (name, _) in env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_FEATURE_") {
            command.env_remove(name);
        }
    }
    let status = command
        .status()
        .expect("running cargo for the dx-py binary");
    assert!(
        status.success(),
        "building the dx-py binary for the wheel failed"
    );
    copy_binary(&target.join("release").join("dx-py"), &scripts);
}

fn copy_binary(binary: &Path, scripts: &Path) {
    std::fs::create_dir_all(scripts).expect("creating wheel-data/scripts");
    let dest = scripts.join("dx-py");
    let partial = scripts.join(".dx-py.partial");
    std::fs::copy(binary, &partial).expect("copying the dx-py binary");
    std::fs::rename(&partial, &dest).expect("placing the dx-py binary");
}
