//! The Slurm scripts, run as the tasks of two-task job arrays: an extraction split by shard
//! (`pipelines/slurm-extract.sh`) and its analysis split by layer (`pipelines/slurm-analyze.sh`),
//! merged with `merge-analyses`, give the tables one analysis of the shards writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `script` as task `index` of a `count`-task array with `args`.
fn array_task(script: &str, index: usize, count: usize, args: &[String], extra: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .arg(root.join("pipelines").join(script))
        .args(args)
        .env("SLURM_ARRAY_TASK_ID", index.to_string())
        .env("SLURM_ARRAY_TASK_COUNT", count.to_string())
        .env("NEURON_CENSUS", env!("CARGO_BIN_EXE_neuron-census"))
        .env("EXTRA_FLAGS", extra)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success(), "{script} task {index}/{count} failed");
}

/// Runs `neuron-census` with `args`; returns what it logged.
fn neuron_census(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_neuron-census"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "neuron-census {args:?} failed: {log}"
    );
    log
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn slurm_arrays_of_extraction_and_analysis_merge_to_one_analysis() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| tmp.path().join(name);
    let corpus = path("ids.jsonl");
    common::write_random_ids(&corpus, 40, 30, 7);
    let model = census_testkit::opt_fixture("pre-ln");
    let runs = path("runs");
    for index in 0..2 {
        array_task(
            "slurm-extract.sh",
            index,
            2,
            &[
                text(&model),
                text(&runs),
                format!("{},format=pretokenized", corpus.display()),
            ],
            "--max-seq-len 32",
        );
    }
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| runs.join(format!("shard-{i}-of-2")))
        .collect();
    let mut analysis_args = vec!["2".to_string(), text(&path("parts"))];
    analysis_args.extend(shards.iter().map(|s| text(s)));
    for index in 0..2 {
        array_task("slurm-analyze.sh", index, 2, &analysis_args, "");
    }
    let parts: Vec<String> = (0..2)
        .map(|i| text(&path("parts").join(format!("part-{i}-of-2"))))
        .collect();
    let merged = text(&path("merged"));
    let mut merge = vec!["merge-analyses", "--out", &merged];
    merge.extend(parts.iter().map(String::as_str));
    neuron_census(&merge);

    let whole = text(&path("whole"));
    let mut analyze = vec!["analyze", "--out", &whole, "--quiet"];
    let shard_texts: Vec<String> = shards.iter().map(|s| text(s)).collect();
    for shard in &shard_texts {
        analyze.extend(["--run", shard]);
    }
    let log = neuron_census(&analyze);
    // Both shards of the run are given: nothing is missing.
    assert!(!log.contains("not among the inputs"), "{log}");

    let listed = census_format::analysis::manifest::AnalysisManifest::load(&path("whole"))
        .unwrap()
        .tables;
    assert!(listed.iter().any(|t| t == "detectors.parquet"));
    for file in listed.iter().map(String::as_str).chain(["summary.json"]) {
        assert!(
            std::fs::read(path("whole").join(file)).unwrap()
                == std::fs::read(path("merged").join(file)).unwrap(),
            "{file} differs"
        );
    }
}
