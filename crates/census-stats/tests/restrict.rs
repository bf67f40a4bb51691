//! An analysis restricted to some domains or to a token budget equals the analysis of a run that
//! held only that data: `--domains` against a run of the same documents filtered beforehand, and
//! `--token-budget` against a run of the first sequences only.

mod common;

use std::path::Path;

use census_extract::{ExtractOptions, extract};
use census_format::analysis::options::AnalysisOptions;
use census_format::corpus::CorpusSource;
use census_format::run::SequenceOptions;
use census_format::run::Shard;
use census_model::CpuBackend;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::opt_fixture;
use common::{SyntheticRun, config, mix, read_table};

const TABLES: [&str; 5] = [
    "neurons.parquet",
    "layers.parquet",
    "coverage.parquet",
    "detectors.parquet",
    "positional.parquet",
];

fn analyse(
    run: &Path,
    out: &Path,
    options: AnalysisOptions,
) -> census_format::analysis::summary::Summary {
    analyze(&AnalyzeRequest {
        options,
        ..AnalyzeRequest::new(vec![run.to_path_buf()], out.to_path_buf())
    })
    .unwrap()
}

fn assert_same_tables(a: &Path, b: &Path) {
    for table in TABLES {
        assert_eq!(
            read_table(&a.join(table)),
            read_table(&b.join(table)),
            "{table}"
        );
    }
}

fn extract_corpus(corpus: &Path, out: &Path) {
    extract::<CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(48),
            part_tokens: 256,
            ..ExtractOptions::new(opt_fixture("pre-ln"), vec![CorpusSource::new(corpus)], out)
        },
        &Default::default(),
        "cpu",
    )
    .unwrap();
}

#[test]
fn domains_analyse_as_a_run_of_those_domains_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sample = opt_fixture("../corpus/sample.jsonl");
    let text = std::fs::read_to_string(&sample).unwrap();
    let wanted = ["prose", "code"];
    let filtered: String = text
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            wanted.contains(&v["domain"].as_str().unwrap())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let subset = dir.path().join("sample.jsonl");
    std::fs::write(&subset, filtered).unwrap();
    let (all, some) = (dir.path().join("all"), dir.path().join("some"));
    extract_corpus(&sample, &all);
    extract_corpus(&subset, &some);

    let mut options = AnalysisOptions::default();
    options.projection.enabled = false;
    let restricted = AnalysisOptions {
        domains: wanted.iter().map(|d| d.to_string()).collect(),
        ..options.clone()
    };
    let a = analyse(&all, &dir.path().join("a"), restricted);
    let b = analyse(&some, &dir.path().join("b"), options.clone());
    assert!(a.tokens > 0 && a.tokens < analyse(&all, &dir.path().join("c"), options).tokens);
    assert_eq!(a.tokens, b.tokens);
    assert_same_tables(&dir.path().join("a"), &dir.path().join("b"));

    // A domain no run holds is named.
    let e = analyze(&AnalyzeRequest {
        options: AnalysisOptions {
            domains: vec!["poetry".to_string()],
            ..Default::default()
        },
        ..AnalyzeRequest::new(vec![all], dir.path().join("d"))
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("poetry") && e.contains("prose"), "{e}");
}

#[test]
fn a_token_budget_analyses_as_a_run_of_the_first_sequences() {
    const LEN: usize = 32;
    let sequences: Vec<Vec<u32>> = (0..40)
        .map(|s| {
            let mut t = vec![2u32];
            t.extend((1..LEN).map(|p| 10 + (mix((s * 100 + p) as u64) % 50) as u32));
            t
        })
        .collect();
    let rule = |layer: usize, s: usize, p: usize| -> Vec<u16> {
        let t = sequences[s][p];
        let mut on: Vec<u16> = (0..8u16)
            .filter(|&n| mix(u64::from(t) * 31 + u64::from(n) + layer as u64 * 7).is_multiple_of(3))
            .collect();
        if p > 0 && t.is_multiple_of(5) {
            on.push(9);
        }
        on.sort_unstable();
        on.dedup();
        on
    };
    let write = |dir: &Path, count: usize| {
        SyntheticRun {
            config: config(2, 12, LEN),
            sequences: sequences[..count].to_vec(),
            seq_ids: (0..count as u64).collect(),
            fired: &rule,
            domain: &|_| "synthetic",
            part_sequences: 7,
            full_length: true,
            shard: Shard::default(),
            complete: true,
        }
        .write(dir)
    };
    let dir = tempfile::tempdir().unwrap();
    let (whole, first) = (dir.path().join("whole"), dir.path().join("first"));
    write(&whole, 40);
    write(&first, 17);
    let mut options = AnalysisOptions::default();
    options.projection.enabled = false;
    // 17 whole sequences fit a budget of 17.5 sequences' tokens; the 18th does not.
    let budget = AnalysisOptions {
        token_budget: Some((17 * LEN + LEN / 2) as u64),
        ..options.clone()
    };
    let a = analyse(&whole, &dir.path().join("a"), budget);
    let b = analyse(&first, &dir.path().join("b"), options);
    assert_eq!(a.tokens, (17 * LEN) as u64);
    assert_eq!(a, b);
    assert_same_tables(&dir.path().join("a"), &dir.path().join("b"));
}
