//! Recording what tests execute (`PoolConfig::record_execution`): a real pytest worker,
//! spawned and forked, sends Executed before each item's finishing report and Ambient before
//! its batch's Done, and the run forwards both as events in that order.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::support::runs::*;
use dxpy_runner::protocol::{Ambient, Executed, ExecutedFile};
use dxpy_runner::run::RunEvent;
use dxpy_runner::scheduler::{plan, DurationStore, SplitPolicy};

modes!(executed_functions_arrive_per_test_and_ambient_per_batch);

const MODULE: &str = "\
def setup_value():
    return 1


def only_one():
    def inner():
        return 1
    return inner()


def only_two():
    return 2


VALUE = setup_value()
";

const TESTS: &str = "\
from pkg import mod


def test_one():
    assert mod.only_one() == 1


def test_two():
    assert mod.only_two() == 2
";

/// 1-based line of the first line of `source` starting with `prefix`.
fn line_of(source: &str, prefix: &str) -> u32 {
    let index = source.lines().position(|l| l.starts_with(prefix)).unwrap();
    u32::try_from(index + 1).unwrap()
}

fn write_project(root: &Path) {
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/mod.py"), MODULE).unwrap();
    std::fs::write(root.join("test_rec.py"), TESTS).unwrap();
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").unwrap();
}

fn recorded(events: &[RunEvent]) -> (Vec<&Executed>, Vec<&Ambient>) {
    let executed = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Executed { record, .. } => Some(record),
            _ => None,
        })
        .collect();
    let ambient = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Ambient { record, .. } => Some(record),
            _ => None,
        })
        .collect();
    (executed, ambient)
}

/// Position of the first event matching `pred`.
fn position(events: &[RunEvent], pred: impl Fn(&RunEvent) -> bool) -> usize {
    events.iter().position(pred).unwrap()
}

fn executed_functions_arrive_per_test_and_ambient_per_batch(mode: Mode) {
    let project = tempfile::tempdir().unwrap();
    let root = project.path().canonicalize().unwrap();
    write_project(&root);
    let cache = tempfile::tempdir().unwrap();
    let modules = collect(&root, &["test_rec.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut run_config = config(&root, 1, mode);
    run_config.pool.record_execution = true;
    run_config.pool.worker_cache_root = Some(cache.path().to_path_buf());
    let (events, summary) = execute(run_config, units.clone());
    assert_eq!((summary.passed, summary.failed), (2, 0), "{events:#?}");

    let (executed, ambient) = recorded(&events);
    let file = |lines: &[&str]| ExecutedFile {
        path: "pkg/mod.py".to_owned(),
        def_lines: lines.iter().map(|l| line_of(MODULE, l)).collect(),
    };
    let summary_of = |e: &Executed| {
        (
            e.node_id.clone(),
            e.coarse,
            e.files.clone(),
            e.imported.clone(),
        )
    };
    assert_eq!(
        executed.iter().map(|e| summary_of(e)).collect::<Vec<_>>(),
        vec![
            (
                "test_rec.py::test_one".to_owned(),
                false,
                vec![file(&["def only_one"])],
                vec![]
            ),
            (
                "test_rec.py::test_two".to_owned(),
                false,
                vec![file(&["def only_two"])],
                vec![]
            ),
        ]
    );
    assert_eq!(
        ambient,
        vec![&Ambient {
            coarse: false,
            instrumented: vec!["pkg/__init__.py".to_owned(), "pkg/mod.py".to_owned()],
            files: vec![file(&["def setup_value"])],
        }]
    );
    // In order: each Executed before its item's finishing report, Ambient before the batch's end.
    for record in &executed {
        let at = position(
            &events,
            |e| matches!(e, RunEvent::Executed { record: r, .. } if r == *record),
        );
        let finished = position(&events, |e| {
            matches!(e, RunEvent::Report { result, .. }
                if result.node_id == record.node_id && result.item_finished)
        });
        assert!(at < finished, "{events:#?}");
    }
    let ambient_at = position(&events, |e| matches!(e, RunEvent::Ambient { .. }));
    let unit_end = position(&events, |e| matches!(e, RunEvent::UnitFinished { .. }));
    assert!(ambient_at < unit_end, "{events:#?}");
    // The worker cached its instrumented code under the pool's cache root.
    let entries = std::fs::read_dir(cache.path().join("record-code"))
        .unwrap()
        .count();
    assert_eq!(entries, 2);

    // Not asked: nothing recorded.
    let (events, _) = execute(config(&root, 1, mode), units);
    let (executed, ambient) = recorded(&events);
    assert!(executed.is_empty() && ambient.is_empty(), "{events:#?}");
}
