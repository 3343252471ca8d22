//! Snapshot tests of import extraction over the fixture files in `fixtures/extract/`.

use std::path::Path;

use dxpy_graph::{extract_imports, ExtractError};

fn render(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/extract")
        .join(name);
    let source = std::fs::read(&path).expect("fixture is readable");
    let extracted = extract_imports(&source);
    let mut out = String::new();
    for import in &extracted.imports {
        out.push_str(&import.to_string());
        out.push('\n');
    }
    match &extracted.error {
        Some(error) => out.push_str(&format!("error: {error}\n")),
        None => out.push_str("no error\n"),
    }
    out
}

#[test]
fn every_import_form() {
    insta::assert_snapshot!(render("all_forms.py"));
}

#[test]
fn bare_import_module_without_importlib_import_is_ignored() {
    insta::assert_snapshot!(render("bare_import_module.py"));
}

#[test]
fn syntax_error_keeps_recovered_imports() {
    insta::assert_snapshot!(render("syntax_error.py"));
}

#[test]
fn non_utf8_is_reported_with_imports() {
    insta::assert_snapshot!(render("not_utf8.py"));
}

#[test]
fn error_values_are_typed() {
    let extracted = extract_imports(b"import a\ndef f(:\n");
    assert!(matches!(
        extracted.error,
        Some(ExtractError::Syntax { line: 2, .. })
    ));
    let extracted = extract_imports(b"import a\n\xff\n");
    assert_eq!(extracted.error, Some(ExtractError::NotUtf8 { offset: 9 }));
    assert_eq!(extracted.imports.len(), 1);
}

proptest::proptest! {
    /// Arbitrary bytes never panic, and a clean parse reports no error.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let extracted = extract_imports(&bytes);
        if std::str::from_utf8(&bytes).is_err() {
            let is_utf8_error = matches!(extracted.error, Some(ExtractError::NotUtf8 { .. }));
            proptest::prop_assert!(is_utf8_error);
        }
    }

    /// Deeply nested input does not overflow the stack (the walk is iterative).
    #[test]
    fn deep_nesting(depth in 1usize..3000) {
        let source = format!("x = {}1{}\nimport deep\n", "(".repeat(depth), ")".repeat(depth));
        let extracted = extract_imports(source.as_bytes());
        proptest::prop_assert!(extracted.imports.iter().any(|i| i.module == "deep"));
    }
}

#[test]
fn computed_names_are_dynamic_imports_with_their_literal_package() {
    insta::assert_snapshot!(render("dynamic_forms.py"));
}
