//! Test support for the crates of neuron-census (a dev-dependency only): where the committed
//! fixtures are, one seeded generator, snapshots of output directories, and the probe for the
//! Python `duckdb` the independent checks run in; [`planted`] writes run directories whose
//! answers are known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod chromium;
pub mod golden;
pub mod hub_server;
pub mod planted;

/// The repository's `tests/fixtures` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A random OPT fixture under `tests/fixtures/opt` (`pre-ln`, `post-ln`, `odd`, …).
pub fn opt_fixture(name: &str) -> PathBuf {
    fixtures_dir().join("opt").join(name)
}

/// A random fixture of another family under `tests/fixtures/families` (`gpt2`, `llama`, …).
pub fn family_fixture(name: &str) -> PathBuf {
    fixtures_dir().join("families").join(name)
}

/// SplitMix64's output for state `x`: a well-mixed hash of `x`, used as the generator below and
/// directly wherever a test needs reproducible values of an index.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The tests' one seeded generator (SplitMix64): the same numbers on every machine, so a case
/// is replayed from its seed.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let out = mix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Writes a pre-tokenized JSONL corpus of `documents` documents of `length` random ids (4..504)
/// drawn from a [`SeededRng`] started at `seed`.
pub fn write_random_ids(path: &Path, documents: usize, length: usize, seed: u64) {
    let mut rng = SeededRng::new(seed);
    let lines: Vec<String> = (0..documents)
        .map(|_| {
            let ids: Vec<u32> = (0..length).map(|_| 4 + rng.below(500) as u32).collect();
            serde_json::json!({ "input_ids": ids }).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Every regular file under `dir` with its bytes, by path relative to `dir` (nothing when
/// `dir` does not exist): two snapshots of one directory show what a command changed, and
/// snapshots of two directories whether they hold the same files.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// [`snapshot`] leaving out files named `skip` (such as `manifest.json`, which records times).
pub fn files_except(dir: &Path, skip: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = snapshot(dir);
    files.retain(|path, _| !path.ends_with(skip));
    files
}

/// Copies directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The Python that can `import duckdb` (`NEURON_CENSUS_PYTHON`, default `python3`), or `None`
/// with a note on stderr, so the caller skips its check. With `NEURON_CENSUS_REQUIRE_DUCKDB=1`
/// (CI sets it) a missing `duckdb` is a failure instead.
pub fn python_with_duckdb() -> Option<String> {
    let python = std::env::var("NEURON_CENSUS_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("NEURON_CENSUS_REQUIRE_DUCKDB").is_ok_and(|v| v == "1");
    let probe = Command::new(&python).args(["-c", "import duckdb"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(!required, "{python} cannot import duckdb");
        eprintln!("SKIPPED: {python} cannot import duckdb");
        return None;
    }
    Some(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_reproducible_and_in_range() {
        let draw = |seed| {
            let mut rng = SeededRng::new(seed);
            (0..100).map(|_| rng.below(7)).collect::<Vec<usize>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        assert!(draw(3).iter().all(|&x| x < 7));
        assert!((0..7).all(|v| draw(3).contains(&v)), "every value is drawn");
    }
}
