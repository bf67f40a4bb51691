//! An independent check of the analysis: `duckdb_check.py` recomputes fire counts, dead neurons,
//! n-gram coverage counts, token and trigram detectors and the MI with position in DuckDB SQL
//! straight from the run's shards, and must agree with the analysis tables.
//!
//! Needs a Python with `duckdb` (`NEURON_CENSUS_PYTHON`, default `python3`). Without it the test
//! says so and passes, unless `NEURON_CENSUS_REQUIRE_DUCKDB=1` (CI sets it) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use census_stats::options::LayerScope;
use census_stats::{AnalysisOptions, AnalyzeRequest, analyze};
use common::{extract_planted, fixture};

fn python() -> Option<String> {
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

fn check(python: &str, run: &Path, analysis: &Path) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb_check.py");
    let output = Command::new(python)
        .arg(script)
        .arg(run)
        .arg(analysis)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "DuckDB disagrees with the analysis"
    );
    for checked in [
        "fire counts",
        "dead neurons",
        "trigram coverage",
        "token detectors",
    ] {
        assert!(
            stdout.contains(&format!("ok  {checked}")),
            "{checked} not checked"
        );
    }
}

#[test]
fn duckdb_recomputes_the_analysis() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("analysis"));
    extract_planted(&run);
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        ..Default::default()
    };
    options.positional.any_length = true;
    analyze(&AnalyzeRequest {
        runs: vec![run.clone()],
        out: out.clone(),
        model: Some(fixture("planted")),
        allow_incomplete: false,
        options,
        progress: false,
    })
    .unwrap();
    check(&python, &run, &out);
}
