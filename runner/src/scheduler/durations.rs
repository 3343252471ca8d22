//! Unit durations from previous runs, for longest-first ordering.
//!
//! One JSON file (conventionally `<cache dir>/durations.json`):
//! `{"version": 1, "units": {"<unit key>": <seconds>, ...}}`. Loading validates the whole
//! file (version, finite non-negative seconds, non-empty keys); anything else — unreadable,
//! truncated, wrong version — is dropped and the store starts empty ([`LoadStatus::Rebuilt`]
//! says why), because a bad order only costs time while a load error would cost the run.
//! Saving writes a temporary file in the same directory and renames it over the old one, so
//! readers never see a half-written file. Two runs saving at once need no lock: each writes
//! its own temp file and the last rename wins whole; the loser's timings only feed ordering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DurationsError {
    #[error("cannot write the durations store {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the durations store: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What [`DurationStore::load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadStatus {
    Loaded {
        units: usize,
    },
    /// No file yet (first run).
    Missing,
    /// The file was unusable and is ignored; the next save replaces it.
    Rebuilt {
        reason: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    units: BTreeMap<String, f64>,
}

/// Seconds per unit key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationStore {
    units: BTreeMap<String, f64>,
}

impl DurationStore {
    pub fn load(path: &Path) -> (DurationStore, LoadStatus) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return (DurationStore::default(), LoadStatus::Missing)
            }
            Err(err) => return rebuilt(format!("unreadable: {err}")),
        };
        let on_disk: OnDisk = match serde_json::from_slice(&bytes) {
            Ok(on_disk) => on_disk,
            Err(err) => return rebuilt(format!("not a valid durations file: {err}")),
        };
        if on_disk.version != FORMAT_VERSION {
            return rebuilt(format!(
                "format version {} (expected {FORMAT_VERSION})",
                on_disk.version
            ));
        }
        if let Some((key, seconds)) = on_disk
            .units
            .iter()
            .find(|(key, seconds)| key.is_empty() || !seconds.is_finite() || **seconds < 0.0)
        {
            return rebuilt(format!("invalid entry {key:?}: {seconds}"));
        }
        let units = on_disk.units.len();
        (
            DurationStore {
                units: on_disk.units,
            },
            LoadStatus::Loaded { units },
        )
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.units.get(key).copied()
    }

    /// Records the latest measurement; invalid values are ignored.
    pub fn record(&mut self, key: &str, seconds: f64) {
        if !key.is_empty() && seconds.is_finite() && seconds >= 0.0 {
            self.units.insert(key.to_owned(), seconds);
        }
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Writes atomically (temporary file + rename), creating the directory if needed.
    pub fn save(&self, path: &Path) -> Result<(), DurationsError> {
        let write_err = |source| DurationsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let on_disk = OnDisk {
            version: FORMAT_VERSION,
            units: self.units.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&on_disk)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        // The umask's mode, as always: the store sits in the (private) project cache directory.
        dxpy_fs::AtomicWrite::public()
            .write(path, &bytes)
            .map_err(write_err)
    }
}

fn rebuilt(reason: String) -> (DurationStore, LoadStatus) {
    (DurationStore::default(), LoadStatus::Rebuilt { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache/durations.json");
        let (store, status) = DurationStore::load(&path);
        assert_eq!(status, LoadStatus::Missing);
        assert!(store.is_empty());
        let mut store = DurationStore::default();
        store.record("a.py", 1.5);
        store.record("b.py::TestX", 0.25);
        store.record("bad", f64::NAN);
        store.save(&path).expect("save");
        let (loaded, status) = DurationStore::load(&path);
        assert_eq!(status, LoadStatus::Loaded { units: 2 });
        assert_eq!(loaded, store);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["durations.json"]);
    }

    #[test]
    fn corrupt_files_are_rebuilt_with_a_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("durations.json");
        let cases: [(&str, &[u8]); 5] = [
            ("truncated", b"{\"version\": 1, \"units\": {\"a.py\": 1."),
            ("binary", &[0xff, 0x00, 0x12]),
            ("version", b"{\"version\": 7, \"units\": {}}"),
            ("negative", b"{\"version\": 1, \"units\": {\"a.py\": -3}}"),
            ("empty key", b"{\"version\": 1, \"units\": {\"\": 3}}"),
        ];
        let mut reasons = Vec::new();
        for (name, bytes) in cases {
            std::fs::write(&path, bytes).expect("write");
            let (store, status) = DurationStore::load(&path);
            assert!(store.is_empty(), "{name}");
            let LoadStatus::Rebuilt { reason } = status else {
                panic!("{name}: expected Rebuilt, got {status:?}");
            };
            reasons.push(format!("{name}: {reason}"));
            // Saving over the corrupt file repairs it.
            let mut fresh = DurationStore::default();
            fresh.record("a.py", 2.0);
            fresh.save(&path).expect("save");
            assert_eq!(
                DurationStore::load(&path).1,
                LoadStatus::Loaded { units: 1 }
            );
        }
        insta::assert_snapshot!(reasons.join("\n"));
    }
}
