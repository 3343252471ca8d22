//! Standard-library classification of top-level module names, per Python minor version.
//!
//! The lists live in the generated `stdlib_data` module; `scripts/gen_stdlib.py` documents
//! exactly how they were derived: 3.11 is `sys.stdlib_module_names` of a real CPython 3.11;
//! 3.10 and 3.12–3.14 apply the version differences recorded by the `stdlib-list` 0.12.0
//! package (generated from `sys.stdlib_module_names` of those versions); 3.9 (which has no
//! `sys.stdlib_module_names`) is 3.10 plus the five modules 3.10 removed. Notable differences:
//! `tomllib` is new in 3.11; `distutils`, `imp`, `asynchat`, `asyncore`, `smtpd` are gone in
//! 3.12; the PEP 594 "dead batteries" (`cgi`, `telnetlib`, `uu`, ...) and `lib2to3` are gone
//! in 3.13; `annotationlib` and `compression` are new in 3.14. The lists include platform-
//! specific modules of every platform (`winreg`, `_scproxy`, ...), as
//! `sys.stdlib_module_names` does.

use crate::stdlib_data;

/// A supported Python minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PythonVersion {
    Py39,
    Py310,
    Py311,
    Py312,
    Py313,
    Py314,
}

impl PythonVersion {
    pub const ALL: [PythonVersion; 6] = [
        PythonVersion::Py39,
        PythonVersion::Py310,
        PythonVersion::Py311,
        PythonVersion::Py312,
        PythonVersion::Py313,
        PythonVersion::Py314,
    ];

    /// `(3, minor)` → the version, if supported.
    pub fn from_minor(major: u32, minor: u32) -> Option<PythonVersion> {
        PythonVersion::ALL
            .into_iter()
            .find(|version| version.minor() == (major, minor))
    }

    pub fn minor(self) -> (u32, u32) {
        match self {
            PythonVersion::Py39 => (3, 9),
            PythonVersion::Py310 => (3, 10),
            PythonVersion::Py311 => (3, 11),
            PythonVersion::Py312 => (3, 12),
            PythonVersion::Py313 => (3, 13),
            PythonVersion::Py314 => (3, 14),
        }
    }

    /// The sorted top-level standard-library module names of this version.
    pub fn stdlib_modules(self) -> impl Iterator<Item = &'static str> {
        let minor = self.minor().1;
        stdlib_data::STDLIB
            .iter()
            .filter(move |&&(_, first, last)| (u32::from(first)..=u32::from(last)).contains(&minor))
            .map(|&(name, _, _)| name)
    }

    /// Whether the top-level module `name` belongs to this version's standard library.
    pub fn is_stdlib(self, name: &str) -> bool {
        let minor = self.minor().1;
        stdlib_data::STDLIB
            .binary_search_by(|&(candidate, _, _)| candidate.cmp(name))
            .is_ok_and(|i| {
                let (_, first, last) = stdlib_data::STDLIB[i];
                (u32::from(first)..=u32::from(last)).contains(&minor)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::PythonVersion;

    #[test]
    fn lists_are_sorted_and_unique_so_binary_search_is_valid() {
        for version in PythonVersion::ALL {
            let list: Vec<&str> = version.stdlib_modules().collect();
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{version:?}");
        }
    }

    #[test]
    fn known_version_differences() {
        use PythonVersion::*;
        let present = |name: &str| -> Vec<PythonVersion> {
            PythonVersion::ALL
                .into_iter()
                .filter(|v| v.is_stdlib(name))
                .collect()
        };
        assert_eq!(present("os"), PythonVersion::ALL.to_vec());
        assert_eq!(present("tomllib"), vec![Py311, Py312, Py313, Py314]);
        assert_eq!(present("distutils"), vec![Py39, Py310, Py311]);
        assert_eq!(present("telnetlib"), vec![Py39, Py310, Py311, Py312]);
        assert_eq!(present("annotationlib"), vec![Py314]);
        assert_eq!(present("parser"), vec![Py39]);
        assert!(present("pytest").is_empty());
    }
}
