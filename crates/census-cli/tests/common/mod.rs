//! Helpers of the command-line process tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

pub use census_testkit::write_random_ids;

/// The `neuron-census extract` command line the process tests run: the pre-LN fixture over a
/// pre-tokenized corpus, sequences of 48 and parts of 2000 tokens, quiet, stdout discarded.
pub fn extract_command(corpus: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neuron-census"));
    cmd.arg("extract")
        .arg("--model")
        .arg(census_testkit::opt_fixture("pre-ln"))
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

/// Every file of a run directory with its bytes, the manifest excepted.
pub fn files(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    census_testkit::files_except(dir, "manifest.json")
}

/// Waits until the run in `out`, written by `child`, has committed `parts` parts; panics if the
/// child ends first or two minutes pass.
pub fn wait_for_parts(child: &mut std::process::Child, out: &Path, parts: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let committed = census_format::run::manifest::Manifest::load(out)
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
    committed: &[census_format::run::manifest::CommittedPart],
    run: impl Fn(&Path) -> bool,
) {
    use census_format::run::manifest::Manifest;
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
