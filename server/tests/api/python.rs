//! The Python tools of the test venv (`scripts/test` builds it; `REMIT_TEST_PYTHON` names it).

use std::path::PathBuf;

pub fn python() -> PathBuf {
    let path = std::env::var_os("REMIT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(path.exists(), "the test venv is missing ({}): run ./scripts/test, which creates it", path.display());
    path
}
