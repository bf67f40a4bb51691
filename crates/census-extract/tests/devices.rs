//! A run spread over several devices (`--devices`; here CPU workers): the same parts as a
//! one-device run, committed in order, each naming the device that computed it; a worker that
//! fails is named with its part, and the run resumes to the same result.

mod common;

use std::path::Path;

use census_extract::{ExtractOptions, extract, extract_on};
use census_format::corpus::CorpusSource;
use census_format::run::manifest::Manifest;
use census_format::run::{Engine, RecordMode, SequenceOptions};
use census_model::{CpuBackend, Worker};
use census_testkit::opt_fixture;
use common::files;

/// The pre-LN fixture on the sample corpus, in parts of about 60 tokens (ten of them).
fn options(out: &Path) -> ExtractOptions {
    let corpus = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    ExtractOptions {
        model_source: "pre-ln".to_string(),
        sequences: SequenceOptions::with_max_seq_len(48),
        part_tokens: 60,
        batch_tokens: 96,
        ..ExtractOptions::new(opt_fixture("pre-ln"), vec![CorpusSource::new(corpus)], out)
    }
}

fn workers(n: usize) -> Vec<Worker<CpuBackend>> {
    (0..n)
        .map(|i| Worker {
            device: Default::default(),
            name: format!("cpu:{i}"),
        })
        .collect()
}

/// The manifest without what tells the devices apart.
fn without_devices(out: &Path) -> Manifest {
    let mut manifest = Manifest::load(out).unwrap().unwrap();
    manifest.device = String::new();
    for part in &mut manifest.parts {
        part.device = None;
    }
    manifest
}

#[test]
fn three_workers_write_the_run_one_device_writes() {
    let tmp = tempfile::tempdir().unwrap();
    for (engine, record) in [
        (Engine::Host, RecordMode::Shards),
        (Engine::Dense, RecordMode::Shards),
        (Engine::HostStreamed, RecordMode::Shards),
        (Engine::Host, RecordMode::Counts),
    ] {
        let label = format!("{} {record:?}", engine.name());
        let one_dir = tmp.path().join(format!("one-{label}"));
        let three_dir = tmp.path().join(format!("three-{label}"));
        let one = ExtractOptions {
            engine,
            record,
            ..options(&one_dir)
        };
        extract::<CpuBackend>(&one, &Default::default(), "cpu").unwrap();
        let three = ExtractOptions {
            out: three_dir.clone(),
            ..one.clone()
        };
        let summary = extract_on(&three, &workers(3), "cpu:0,cpu:1,cpu:2").unwrap();
        assert!(summary.manifest.complete, "{label}");
        assert!(
            summary.manifest.parts.len() >= 6,
            "{label}: too few parts to share"
        );
        assert_eq!(files(&three_dir), files(&one_dir), "{label}");
        assert_eq!(
            without_devices(&three_dir),
            without_devices(&one_dir),
            "{label}"
        );
        let manifest = Manifest::load(&three_dir).unwrap().unwrap();
        assert_eq!(manifest.device, "cpu:0,cpu:1,cpu:2");
        let names = ["cpu:0", "cpu:1", "cpu:2"];
        for part in &manifest.parts {
            let device = part.device.as_deref().unwrap_or_default();
            assert!(
                names.contains(&device),
                "{label}: part {} on '{device}'",
                part.index
            );
        }
        // A one-device run names its device once, for the whole run.
        let one = Manifest::load(&one_dir).unwrap().unwrap();
        assert!(one.parts.iter().all(|p| p.device.is_none()));
    }
}

#[test]
fn a_failing_worker_is_named_and_the_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let one_dir = tmp.path().join("one");
    extract::<CpuBackend>(&options(&one_dir), &Default::default(), "cpu").unwrap();

    // A run stopped after its first two parts (the rest taken out of it)...
    let two_dir = tmp.path().join("two");
    let two = options(&two_dir);
    extract_on(&two, &workers(2), "cpu:0,cpu:1").unwrap();
    let mut manifest = Manifest::load(&two_dir).unwrap().unwrap();
    for part in manifest.parts.drain(2..) {
        for file in part.files.keys() {
            std::fs::remove_file(two_dir.join(file)).unwrap();
        }
    }
    manifest.complete = false;
    manifest.store(&two_dir).unwrap();
    // ...resumed where part 3's token file cannot be written: a directory stands where it is
    // written first.
    let blocker = census_format::run::tables::tokens_path(&two_dir, 3);
    let blocker = blocker.with_file_name(format!(
        "{}{}",
        blocker.file_name().unwrap().to_string_lossy(),
        census_format::run::tables::TEMP_SUFFIX
    ));
    std::fs::create_dir_all(&blocker).unwrap();
    let err = extract_on(&two, &workers(2), "cpu:0,cpu:1")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("device cpu:") && err.contains("failed on part 3"),
        "{err}"
    );
    assert!(err.contains("the same command redoes the rest"), "{err}");
    let stopped = Manifest::load(&two_dir).unwrap().unwrap();
    assert!(!stopped.complete);
    // Committed in order: parts 0 to 2 (2 by the resume, if its worker was first), never one
    // after the part that failed.
    let committed: Vec<u32> = stopped.parts.iter().map(|p| p.index).collect();
    assert!(
        committed == [0, 1] || committed == [0, 1, 2],
        "{committed:?}"
    );

    std::fs::remove_dir(&blocker).unwrap();
    let resumed = extract_on(&two, &workers(2), "cpu:0,cpu:1").unwrap();
    assert!(resumed.manifest.complete);
    assert_eq!(files(&two_dir), files(&one_dir));
    assert_eq!(without_devices(&two_dir), without_devices(&one_dir));
}
