//! The run directory read by the real DuckDB (Python `duckdb`): row counts, Hive partitions,
//! fired-neuron lists and per-neuron fire counts agree with this crate's reader.
//!
//! Needs a Python with `duckdb` (`NEURON_CENSUS_PYTHON`, default `python3`). Without it the test
//! says so and passes, unless `NEURON_CENSUS_REQUIRE_DUCKDB=1` (CI sets it) makes that a failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use census_extract::{ExtractOptions, extract};
use census_format::corpus::CorpusSource;
use census_format::run::SequenceOptions;
use census_format::run::manifest::Manifest;
use census_format::run::tables::{activations_path, read_activations};
use census_model::CpuBackend;

#[test]
fn duckdb_reads_what_we_wrote() {
    let Some(python) = census_testkit::python_with_duckdb() else {
        return;
    };

    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("docs.jsonl");
    let docs: Vec<String> = (0..40)
        .map(|i| {
            serde_json::json!({
                "text": format!("Document {i}: the quick brown fox jumps over {} lazy dogs.", i * 7),
                "domain": if i % 2 == 0 { "even" } else { "odd" },
            })
            .to_string()
        })
        .collect();
    std::fs::write(&corpus, docs.join("\n")).unwrap();
    let out = tmp.path().join("run");
    let options = ExtractOptions {
        model_source: "odd".into(),
        sequences: SequenceOptions::with_max_seq_len(16),
        part_tokens: 200,
        batch_tokens: 128,
        ..ExtractOptions::new(
            manifest_dir.join("../../tests/fixtures/opt/odd"),
            vec![CorpusSource::new(&corpus)],
            &out,
        )
    };
    // The odd fixture has no tokenizer files of its own: give it the shared fixture tokenizer.
    let model_dir = tmp.path().join("model");
    std::fs::create_dir(&model_dir).unwrap();
    for dir in [
        options.model_dir.clone(),
        manifest_dir.join("../../tests/fixtures/tokenizer"),
    ] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, model_dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let options = ExtractOptions {
        model_dir,
        ..options
    };
    extract::<CpuBackend>(&options, &Default::default(), "cpu").unwrap();

    let output = Command::new(&python)
        .arg(manifest_dir.join("tests/duckdb_read.py"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let duck: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let manifest = Manifest::load(&out).unwrap().unwrap();
    assert_eq!(
        duck["tokens"].as_u64().unwrap(),
        manifest.counts.shard_tokens
    );
    let [start, end] = manifest.config.layers;
    let mut fires: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut samples = Vec::new();
    for layer in start..end {
        let mut rows = Vec::new();
        for part in &manifest.parts {
            let r = read_activations(&activations_path(&out, layer, part.index), None).unwrap();
            for i in 0..r.len() {
                rows.push((r.seq[i], r.pos[i], r.neurons_of(i).to_vec()));
                for &n in r.neurons_of(i) {
                    *fires.entry((layer as u64, u64::from(n))).or_default() += 1;
                }
            }
        }
        assert_eq!(
            duck["layers"][layer.to_string()].as_u64().unwrap(),
            rows.len() as u64
        );
        rows.sort();
        samples.extend(
            rows.into_iter()
                .take(5)
                .map(|(s, p, n)| serde_json::json!([layer, s, p, n])),
        );
    }
    assert_eq!(duck["samples"], serde_json::Value::Array(samples));
    let duck_fires: BTreeMap<(u64, u64), u64> = duck["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                (v[0].as_u64().unwrap(), v[1].as_u64().unwrap()),
                v[2].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!fires.is_empty());
    assert_eq!(duck_fires, fires);
}
