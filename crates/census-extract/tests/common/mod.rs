//! Helpers shared by the extraction tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file of a run directory with its bytes, the manifest excepted.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    census_testkit::files_except(dir, "manifest.json")
}
