//! `--record counts` runs: the dead neurons, frequencies, MI with position and positional types
//! they give equal those of a shards run of the same corpus, over parts, shards and domains;
//! what counts cannot give (n-gram statistics, token budgets that cut a part, positions of runs
//! that are not full-length) is refused naming the mode.

mod common;

use std::path::{Path, PathBuf};

use census_extract::{ExtractOptions, extract};
use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::options::LayerScope;
use census_format::analysis::tables::{
    AnalysisTable, LayerRow, NeuronRow, PositionalDomainRow, PositionalRow,
};
use census_format::corpus::CorpusSource;
use census_format::run::Engine;
use census_format::run::RecordMode;
use census_format::run::SequenceOptions;
use census_format::run::Shard;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::opt_fixture;

/// The planted corpus as two domains (`a` and `b`), cut into full-length sequences of 12 tokens
/// (or any length up to 12), recorded in `mode` into `out`, shard `shard`.
fn extract_run(
    out: &Path,
    mode: RecordMode,
    full_length: bool,
    shard: Shard,
) -> census_extract::Result<()> {
    extract_with(out, mode, full_length, shard, Engine::Host)
}

/// [`extract_run`] on `engine`.
fn extract_with(
    out: &Path,
    mode: RecordMode,
    full_length: bool,
    shard: Shard,
    engine: Engine,
) -> census_extract::Result<()> {
    let corpus = |file: &str, domain: &str| CorpusSource {
        domain: Some(domain.to_string()),
        ..CorpusSource::new(opt_fixture(&format!("../corpus/{file}")))
    };
    extract::<census_model::CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions {
                full_length,
                ..SequenceOptions::with_max_seq_len(12)
            },
            part_tokens: 600,
            batch_tokens: 240,
            shard,
            record: mode,
            engine,
            ..ExtractOptions::new(
                opt_fixture("planted"),
                vec![corpus("planted.jsonl", "a"), corpus("sample.jsonl", "b")],
                out,
            )
        },
        &Default::default(),
        "cpu",
    )
    .map(|_| ())
}

/// Options without n-gram statistics, which counts runs cannot give.
fn no_ngrams() -> AnalysisOptions {
    AnalysisOptions {
        unigram_layers: LayerScope::None,
        ngram_layers: LayerScope::None,
        ..Default::default()
    }
}

fn analyse(runs: Vec<PathBuf>, out: &Path, options: AnalysisOptions) -> census_stats::Result<()> {
    analyze(&AnalyzeRequest {
        model: Some(opt_fixture("planted")),
        options,
        ..AnalyzeRequest::new(runs, out)
    })
    .map(|_| ())
}

/// The tables a counts run must reproduce.
fn tables(dir: &Path) -> (Vec<NeuronRow>, Vec<LayerRow>, Vec<PositionalRow>) {
    (
        NeuronRow::read(dir).unwrap(),
        LayerRow::read(dir).unwrap(),
        PositionalRow::read(dir).unwrap(),
    )
}

#[test]
fn a_counts_run_gives_the_statistics_of_a_shards_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| dir.path().join(name);
    extract_run(&run("shards"), RecordMode::Shards, true, Shard::default()).unwrap();
    extract_run(&run("counts"), RecordMode::Counts, true, Shard::default()).unwrap();
    for (i, name) in ["counts-0", "counts-1"].into_iter().enumerate() {
        let shard = Shard {
            index: i as u32,
            count: 2,
        };
        extract_run(&run(name), RecordMode::Counts, true, shard).unwrap();
    }
    assert!(run("counts/counts/layer=00/part-00001.parquet").is_file());
    assert!(!run("counts/activations").exists());

    let out = |name: &str| dir.path().join(format!("analysis-{name}"));
    analyse(vec![run("shards")], &out("shards"), no_ngrams()).unwrap();
    analyse(vec![run("counts")], &out("counts"), no_ngrams()).unwrap();
    analyse(
        vec![run("counts-0"), run("counts-1")],
        &out("sharded"),
        no_ngrams(),
    )
    .unwrap();
    let expected = tables(&out("shards"));
    assert!(expected.0.iter().any(|n| n.position_mi.unwrap() > 0.0));
    assert!(expected.0.iter().any(|n| n.dead) && expected.0.iter().any(|n| !n.dead));
    assert_eq!(tables(&out("counts")), expected, "one counts run");
    assert_eq!(tables(&out("sharded")), expected, "two counts shards");
    // Domain by domain too (a selection of whole domains).
    assert_eq!(
        PositionalDomainRow::read(&out("counts")).unwrap(),
        PositionalDomainRow::read(&out("shards")).unwrap()
    );
    let domain_b = |run_dir: &Path, name: &str| {
        let mut options = no_ngrams();
        options.domains = vec!["b".to_string()];
        analyse(vec![run_dir.to_path_buf()], &out(name), options).unwrap();
        tables(&out(name))
    };
    assert_eq!(
        domain_b(&run("counts"), "counts-b"),
        domain_b(&run("shards"), "shards-b")
    );

    // The n-gram statistics are refused, naming the mode and what to do.
    let e = analyse(vec![run("counts")], &out("refused"), Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--record counts")
            && e.contains("--ngram-layers none")
            && !out("refused").exists(),
        "{e}"
    );
    // So is a token budget that keeps part of a domain's sequences in a part.
    let mut budget = no_ngrams();
    budget.token_budget = Some(100);
    let e = analyse(vec![run("counts")], &out("budget"), budget)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--record counts") && e.contains("token budget"),
        "{e}"
    );
}

#[test]
fn a_counts_run_of_any_length_gives_frequencies_but_no_positions() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| dir.path().join(name);
    extract_run(&run("shards"), RecordMode::Shards, false, Shard::default()).unwrap();
    extract_run(&run("counts"), RecordMode::Counts, false, Shard::default()).unwrap();
    let out = |name: &str| dir.path().join(format!("analysis-{name}"));
    analyse(vec![run("shards")], &out("shards"), no_ngrams()).unwrap();
    analyse(vec![run("counts")], &out("counts"), no_ngrams()).unwrap();
    let (shards, counts) = (tables(&out("shards")), tables(&out("counts")));
    assert_eq!(counts.0, shards.0);
    assert_eq!(counts.1, shards.1);
    assert!(counts.0.iter().all(|n| n.position_mi.is_none()));
    // Positions asked of it anyway: refused, naming the file and the flag it lacked.
    let mut options = no_ngrams();
    options.positional.any_length = true;
    let e = analyse(vec![run("counts")], &out("positions"), options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("part-00000.parquet") && e.contains("--full-length"),
        "{e}"
    );
}

#[test]
fn a_counts_run_is_named_in_its_manifest_and_shards_runs_keep_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let counts = dir.path().join("counts");
    extract_run(&counts, RecordMode::Counts, false, Shard::default()).unwrap();
    let manifest = std::fs::read_to_string(counts.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"record\": \"counts\""), "{manifest}");
    let shards = dir.path().join("shards");
    extract_run(&shards, RecordMode::Shards, false, Shard::default()).unwrap();
    let manifest = std::fs::read_to_string(shards.join("manifest.json")).unwrap();
    assert!(!manifest.contains("\"record\""), "{manifest}");
    // The same command in the other mode is another configuration: refused, not mixed.
    let e = extract_run(&counts, RecordMode::Shards, false, Shard::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("record"), "{e}");
}

/// The counts of the device path, summed on the device, whole and streamed layer by layer,
/// equal its shards', by position on full-length runs and without positions on the others.
#[test]
fn counts_on_the_dense_path_equal_its_shards() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::default();
    for full_length in [true, false] {
        let run = |name: &str| dir.path().join(format!("{name}-{full_length}"));
        extract_with(
            &run("shards"),
            RecordMode::Shards,
            full_length,
            shard,
            Engine::Dense,
        )
        .unwrap();
        extract_with(
            &run("counts"),
            RecordMode::Counts,
            full_length,
            shard,
            Engine::Dense,
        )
        .unwrap();
        let streamed = Engine::DenseStreamedOffload;
        extract_with(
            &run("streamed"),
            RecordMode::Counts,
            full_length,
            shard,
            streamed,
        )
        .unwrap();
        let out = |name: &str| dir.path().join(format!("analysis-{name}-{full_length}"));
        for name in ["shards", "counts", "streamed"] {
            analyse(vec![run(name)], &out(name), no_ngrams()).unwrap();
        }
        let expected = tables(&out("shards"));
        assert!(expected.0.iter().any(|n| n.fires > 0));
        assert_eq!(
            expected.2.is_empty(),
            !full_length || expected.1.iter().all(|l| l.positional.is_none())
        );
        assert_eq!(
            tables(&out("counts")),
            expected,
            "full length {full_length}"
        );
        assert_eq!(
            tables(&out("streamed")),
            expected,
            "full length {full_length}"
        );
    }
}
