//! Helpers shared by the extraction tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `census-extract` command line the process tests run: the pre-LN fixture over a
/// pre-tokenized corpus, sequences of 48 and parts of 2000 tokens, quiet, stdout discarded.
pub fn extract_command(corpus: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_census-extract"));
    cmd.arg("--model")
        .arg(fixture("pre-ln"))
        .arg("--data")
        .arg(format!("{},format=pretokenized", corpus.display()))
        .arg("--out")
        .arg(out)
        .args(["--max-seq-len", "48", "--part-tokens", "2000", "--quiet"])
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null());
    cmd
}

/// A model fixture directory under `tests/fixtures/opt`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/opt")
        .join(name)
}

/// Every file of a run directory with its bytes, the manifest excepted.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("manifest.json") {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Writes a pre-tokenized JSONL corpus of `documents` documents of `length` random ids (4..504)
/// drawn from a seeded generator.
pub fn write_random_ids(path: &Path, documents: usize, length: usize, seed: u64) {
    let mut state = seed;
    let lines: Vec<String> = (0..documents)
        .map(|_| {
            let ids: Vec<u32> = (0..length)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    4 + (state >> 33) as u32 % 500
                })
                .collect();
            serde_json::json!({ "input_ids": ids }).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Waits until the run in `out`, written by `child`, has committed `parts` parts; panics if the
/// child ends first or two minutes pass.
pub fn wait_for_parts(child: &mut std::process::Child, out: &Path, parts: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let committed = census_extract::manifest::Manifest::load(out)
            .ok()
            .flatten()
            .map_or(0, |m| m.parts.len());
        if committed >= parts {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {parts} parts were committed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no part committed in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Resumes the interrupted run in `out` with `run`, makes an uninterrupted run in `whole`, and
/// checks that the resumed run is complete, kept the parts committed before (`committed`) and
/// holds exactly the files of the uninterrupted one. `run(dir)` runs the extraction into `dir`
/// and says whether it succeeded.
pub fn assert_resumes_to_whole(
    out: &Path,
    whole: &Path,
    committed: &[census_extract::manifest::CommittedPart],
    run: impl Fn(&Path) -> bool,
) {
    use census_extract::manifest::Manifest;
    assert!(run(out), "the resumed run succeeds");
    assert!(run(whole), "the uninterrupted run succeeds");
    let resumed = Manifest::load(out).unwrap().unwrap();
    let reference = Manifest::load(whole).unwrap().unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.parts, reference.parts);
    for part in committed {
        assert!(resumed.parts.contains(part), "committed parts are kept");
    }
    assert_eq!(files(out), files(whole));
}
