//! dx-py's own configuration in pyproject.toml: bad values are usage errors naming the key.

use std::process::Command;

#[test]
fn invalid_preload_is_a_usage_error_naming_file_and_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(
        root.join("pyproject.toml"),
        "[tool.pytest.ini_options]\n\n[tool.dx-py]\npreload = \"numpy\"\n",
    )
    .expect("write");
    std::fs::write(root.join("test_x.py"), "def test_x():\n    pass\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .args(["test", "--no-cache"])
        .current_dir(root)
        .env("DXPY_CACHE_DIR", root.join("cache"))
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pyproject.toml") && stderr.contains("[tool.dx-py] preload"),
        "{stderr}"
    );
}
