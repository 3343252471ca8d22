#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dxpy_python::name::{check_inside, file_name, module_dir, NameError};

#[test]
fn module_dir_is_snapshots_then_the_module_stem_beside_the_test_file() {
    assert_eq!(
        module_dir(Path::new("/p/tests/test_api.py")).unwrap(),
        PathBuf::from("/p/tests/__snapshots__/test_api")
    );
    assert!(matches!(
        module_dir(Path::new("/")),
        Err(NameError::NoModule(_))
    ));
}

#[test]
fn plain_and_parametrized_names_keep_their_spelling() {
    assert_eq!(file_name("test_a").unwrap(), "test_a.txt");
    assert_eq!(file_name("TestK.test_m.1").unwrap(), "TestK.test_m.1.txt");
    assert_eq!(file_name("test_p[1-a]").unwrap(), "test_p[1-a].txt");
}

#[test]
fn unsafe_characters_are_replaced_and_a_digest_keeps_names_apart() {
    let slash = file_name("test_p[a/b]").unwrap();
    let colon = file_name("test_p[a:b]").unwrap();
    assert!(slash.starts_with("test_p[a_b]-"), "{slash}");
    assert!(colon.starts_with("test_p[a_b]-"), "{colon}");
    assert_ne!(slash, colon, "sanitising must not merge two names");
    for name in ["../../etc/passwd", "a\0b", "..", ".hidden", "x\ny", "é"] {
        let file = file_name(name).unwrap();
        assert!(!file.contains('/') && !file.contains('\0') && !file.contains('\n'));
        assert!(!file.starts_with('.'), "{file}");
        assert!(file.is_ascii(), "{file}");
    }
    assert_eq!(file_name(""), Err(NameError::Empty));
}

#[test]
fn long_names_are_cut_below_the_file_system_limit_and_stay_distinct() {
    let a = format!("test_{}", "a".repeat(300));
    let b = format!("test_{}b", "a".repeat(300));
    let (fa, fb) = (file_name(&a).unwrap(), file_name(&b).unwrap());
    assert!(fa.len() < 255 && fb.len() < 255);
    assert_ne!(fa, fb);
}

#[test]
fn writes_must_stay_directly_inside_a_module_dir_under_snapshots() {
    let dir = Path::new("/p/__snapshots__/test_a");
    assert!(check_inside(dir, &dir.join("test_x.txt")).is_ok());
    for bad in [
        dir.join("../escape.txt"),
        dir.join("sub/x.txt"),
        PathBuf::from("/p/other.txt"),
        dir.to_path_buf(),
    ] {
        assert!(
            matches!(check_inside(dir, &bad), Err(NameError::Outside { .. })),
            "{bad:?}"
        );
    }
    let not_snapshots = Path::new("/p/elsewhere/test_a");
    assert!(check_inside(not_snapshots, &not_snapshots.join("x.txt")).is_err());
    let dotted = Path::new("/p/__snapshots__/../__snapshots__/test_a");
    assert!(check_inside(dotted, &dotted.join("x.txt")).is_err());
}
