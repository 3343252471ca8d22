//! `dxpy_results`: the result cache behind `dx-py test --affected`.
//!
//! Every test run with `--affected` leaves a [`TestRecord`]: its reports (to replay) and the
//! digests of everything it depended on: the run's context ([`ContextBuilder`]: config,
//! options, interpreter, installed distributions, environment), the non-Python files of its
//! directory, and the first-party files it reached — each cut into a skeleton and function
//! units ([`FileUnits`]) — with the units it executed. The next run replays a test only when
//! [`Checker::decide`] finds all of it unchanged: an edit inside a function body reruns only
//! the tests that executed that function, any other edit reruns every test that reaches
//! the file. Items conftest `pytest_collect_file` hooks make, which no static discovery lists,
//! are recorded per hook-items unit as a [`HookRecord`] (the items it collected, checked by
//! [`Checker::decide_hooks`] like a test's inputs), each item as a test.
//!
//! Layout: [`units`] (tree-sitter: skeleton and units of a file), [`snapshot`] (the files
//! now, digested lazily), [`context`], [`check`] (replay or run, and why), [`record`] (a run
//! into records), [`store`] (the validated, locked, atomically written file).
//!
//! ```
//! use dxpy_results::{Checker, ContextBuilder, Decision, Execution, Finished, RunRecorder,
//!     Snapshot, Store, StorePaths, TestInputs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let project = tempfile::tempdir()?;
//! std::fs::write(project.path().join("lib.py"), "def used():\n    return 1\n\ndef other():\n    return 2\n")?;
//! std::fs::write(project.path().join("test_lib.py"), "import lib\n\ndef test_used():\n    assert lib.used() == 1\n")?;
//! let inputs = TestInputs {
//!     test_file: "test_lib.py".into(),
//!     deps: vec!["lib.py".into()],
//!     data: [0; 32],
//! };
//! let context = ContextBuilder::new().text("options", "-q").finish();
//!
//! // A run records what `test_used` executed: `used` (its `def` is on line 1) in lib.py.
//! let mut now = Snapshot::new(project.path());
//! let ran = Execution { coarse: false, hits: vec![("lib.py".into(), vec![1])], imported: vec![] };
//! let instrumented = ["lib.py".to_string()].into();
//! let mut recorder = RunRecorder::new(context, instrumented, &Execution::default(), vec![], &mut now);
//! recorder.add(Finished { key: "test_lib.py::test_used", inputs: &inputs, execution: Some(&ran),
//!     reports_pin_lines: false, reports: vec![b"report".to_vec()] }, &mut now)?;
//! let paths = StorePaths::in_dir(&project.path().join(".cache"));
//! recorder.into_store().merge_save(&paths, &[])?;
//!
//! // Editing a function the test never ran keeps its record valid...
//! std::fs::write(project.path().join("lib.py"), "def used():\n    return 1\n\ndef other():\n    return 3\n")?;
//! let store = Store::load(&paths)?;
//! let mut checker = Checker::new(&store, context);
//! let mut now = Snapshot::new(project.path());
//! assert!(matches!(checker.decide("test_lib.py::test_used", &inputs, &mut now), Decision::Replay(_)));
//!
//! // ...editing the one it ran does not.
//! std::fs::write(project.path().join("lib.py"), "def used():\n    return 0\n\ndef other():\n    return 3\n")?;
//! let mut checker = Checker::new(&store, context);
//! let mut now = Snapshot::new(project.path());
//! assert!(matches!(checker.decide("test_lib.py::test_used", &inputs, &mut now), Decision::Run(_)));
//! # Ok(())
//! # }
//! ```

pub mod check;
pub mod context;
pub mod record;
pub mod snapshot;
pub mod store;
pub mod units;

pub use check::{Checker, Decision, HookDecision, RunReason, TestInputs};
pub use context::{distributions_fingerprint, ContextBuilder};
pub use record::{Execution, Finished, RunRecorder};
pub use snapshot::{FileState, Snapshot};
pub use store::{
    FileVersion, HookRecord, LoadError, RunRecord, SaveError, Store, StorePaths, TestRecord,
    UnitVersion,
};
pub use units::{Digest, FileUnits, Unit, UnitsError};
