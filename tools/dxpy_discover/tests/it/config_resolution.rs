//! Config resolution against fixture trees. The expected outputs were cross-checked with
//! pytest 9.2's own `_prepareconfig` on copies of the same trees (see the snapshots).

use crate::common;

use dxpy_discover::config::{self, ConfigRequest};

fn render(kind_name: &str, cwd: &str, args: &[&str], env_addopts: Option<&str>) -> String {
    let (_tmp, root) = common::copy_fixture("config", kind_name);
    let request = ConfigRequest {
        invocation_dir: root.join(cwd),
        args: args.iter().map(|s| s.to_string()).collect(),
        env_addopts: env_addopts.map(String::from),
    };
    let redact = |s: String| s.replace(&root.display().to_string(), "<T>");
    let c = match config::load(&request) {
        Ok(c) => c,
        Err(e) => return redact(format!("error: {e}\n")),
    };
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k}: {v}\n"));
    line("rootdir", c.rootdir.display().to_string());
    line(
        "inifile",
        c.inifile
            .as_ref()
            .map_or("None".into(), |p| p.display().to_string()),
    );
    line("initial_args", common::py_list(&c.initial_args));
    line("testpaths", common::py_list(&c.testpaths));
    line("python_files", common::py_list(&c.python_files));
    line("python_classes", common::py_list(&c.name_rules.classes));
    line("python_functions", common::py_list(&c.name_rules.functions));
    line("norecursedirs", common::py_list(&c.norecursedirs));
    line("markers", common::py_list(&c.markers));
    let py_bool = |b: bool| {
        if b {
            "True".to_string()
        } else {
            "False".to_string()
        }
    };
    line(
        "disable_test_id_escaping_and_forfeit_all_rights_to_community_support",
        py_bool(c.disable_id_escaping),
    );
    line(
        "empty_parameter_set_mark",
        c.empty_parameter_set_mark.as_str().to_string(),
    );
    line("collect_imported_tests", py_bool(c.collect_imported_tests));
    line(
        "consider_namespace_packages",
        py_bool(c.consider_namespace_packages),
    );
    line("strict", py_bool(c.strict));
    line(
        "keyword",
        format!(
            "{:?} markexpr: {:?}",
            c.args.keyword.clone().unwrap_or_default(),
            c.args.markexpr.clone().unwrap_or_default()
        ),
    );
    line(
        "ignore",
        format!(
            "{:?} deselect: {:?} plugins: {:?} doctest_modules: {}",
            c.args.ignore,
            c.args.deselect,
            c.args.plugins,
            py_bool(c.args.doctest_modules)
        ),
    );
    line("confcutdir", c.confcutdir.display().to_string());
    redact(out)
}

macro_rules! scenario {
    ($test:ident, $fixture:expr, $cwd:expr, [$($arg:expr),*]) => {
        scenario!($test, $fixture, $cwd, [$($arg),*], None);
    };
    ($test:ident, $fixture:expr, $cwd:expr, [$($arg:expr),*], $env:expr) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(render($fixture, $cwd, &[$($arg),*], $env));
        }
    };
}

scenario!(ini_basic, "ini_basic", ".", []);
scenario!(
    ini_basic_from_subdir_ignores_testpaths,
    "ini_basic",
    "tests",
    []
);
scenario!(pyproject_ini_options, "pyproject_ini_options", ".", []);
scenario!(pyproject_native_toml_table, "pyproject_native", ".", []);
scenario!(pytest_toml_wins_over_pytest_ini, "pytest_toml", ".", []);
scenario!(
    tox_without_section_falls_through_to_setup_cfg,
    "setup_cfg",
    ".",
    []
);
scenario!(
    pytest_ini_wins_over_pyproject_and_tox,
    "precedence",
    ".",
    []
);
scenario!(
    pyproject_without_pytest_table_is_rootdir,
    "pyproject_plain",
    "pkg/tests",
    []
);
scenario!(setup_py_marks_rootdir, "setup_py", "pkg/tests", []);
scenario!(nearest_config_upwards, "nested", "sub/deeper", []);
scenario!(nearest_config_from_arg, "nested", ".", ["sub/deeper"]);
scenario!(no_config_uses_invocation_dir, "no_config", "a", []);
scenario!(explicit_config_file, "custom_cfg", ".", ["-c", "ci.toml"]);
scenario!(
    rootdir_and_override,
    "ini_basic",
    ".",
    ["--rootdir=tests", "-o", "testpaths=x y", "-p", "xdist"]
);
scenario!(
    env_addopts_args_locate_config,
    "nested",
    ".",
    [],
    Some("sub/deeper -m fast")
);
scenario!(error_bad_ini, "bad_ini", ".", []);
scenario!(error_bad_toml, "bad_toml", ".", []);
scenario!(
    error_bad_custom_toml,
    "bad_toml_custom",
    ".",
    ["-c", "ci.toml"]
);
scenario!(error_bad_type, "bad_type", ".", []);
scenario!(error_bad_list_item, "bad_list_item", ".", []);
scenario!(error_bad_bool, "bad_bool", ".", []);
scenario!(error_bad_literal, "bad_literal", ".", []);
scenario!(error_both_tables, "both_tables", ".", []);
scenario!(
    error_setup_cfg_pytest_section,
    "setup_cfg_pytest_section",
    ".",
    []
);
scenario!(error_unbalanced_addopts, "unbalanced_addopts", ".", []);
scenario!(
    error_unbalanced_env_addopts,
    "no_config",
    ".",
    [],
    Some("-k 'open")
);
scenario!(error_top_level_pytest_toml, "toplevel_pytest_toml", ".", []);
scenario!(error_duplicate_key, "duplicate_key", ".", []);
scenario!(
    error_missing_config_file,
    "no_config",
    ".",
    ["-c", "nope.ini"]
);
scenario!(
    error_missing_rootdir,
    "no_config",
    ".",
    ["--rootdir", "nope"]
);
scenario!(error_bad_override, "no_config", ".", ["-o", "novalue"]);
scenario!(
    error_override_bad_bool,
    "no_config",
    ".",
    ["-o", "strict=perhaps"]
);
scenario!(error_option_missing_value, "no_config", ".", ["-k"]);
