//! Detector stability checked by a second route: each half of the planted run's sequences is
//! written out as a corpus of its own, extracted, and analysed as a whole; its detectors must be
//! exactly those `--detector-stability` found on that half inside the one analysis.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use census_extract::{ExtractOptions, extract};
use census_format::analysis::options::{AnalysisOptions, LayerScope};
use census_format::analysis::tables::{
    AnalysisTable, DetectorKind, DetectorRow, DetectorStabilityRow,
};
use census_format::corpus::CorpusSource;
use census_format::run::Manifest;
use census_format::run::sequencing::SequenceOptions;
use census_format::run::tables::{read_tokens, tokens_path};
use census_stats::seeded::half_of;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::opt_fixture;
use common::extract_planted;

const SEED: u64 = 11;

fn options(stability: bool) -> AnalysisOptions {
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        detector_stability: stability.then_some(SEED),
        ..Default::default()
    };
    options.positional.any_length = true;
    options
}

fn analysed(run: &Path, out: &Path, stability: bool) {
    analyze(&AnalyzeRequest {
        model: Some(opt_fixture("planted")),
        options: options(stability),
        ..AnalyzeRequest::new(vec![run.to_path_buf()], out.to_path_buf())
    })
    .unwrap();
}

/// Each sequence of `run` (its tokens after the `</s>` prefix) by half, as a pretokenized
/// corpus line.
fn halves(run: &Path) -> [Vec<String>; 2] {
    let manifest = Manifest::load(run).unwrap().unwrap();
    let mut sequences: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for part in &manifest.parts {
        let rows = read_tokens(&tokens_path(run, part.index), None).unwrap();
        for i in 0..rows.seq.len() {
            if rows.pos[i] > 0 {
                sequences
                    .entry(rows.seq[i])
                    .or_default()
                    .push(rows.token[i]);
            }
        }
    }
    let mut halves: [Vec<String>; 2] = Default::default();
    for (seq, ids) in sequences {
        halves[half_of(seq, SEED)].push(format!("{{\"input_ids\": {ids:?}}}"));
    }
    halves
}

/// The detectors of kind `kind` in an analysis, with their triggers, by (layer, neuron).
fn detectors(dir: &Path, kind: DetectorKind) -> BTreeMap<(u16, u16), BTreeSet<Vec<u32>>> {
    DetectorRow::read(dir)
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == kind)
        .map(|d| ((d.layer, d.neuron), d.trigger_ids.into_iter().collect()))
        .collect()
}

#[test]
fn each_halfs_detectors_equal_the_analysis_of_that_half_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let run = path("run");
    extract_planted(&run);
    analysed(&run, &path("whole"), true);
    let rows = DetectorStabilityRow::read(&path("whole")).unwrap();

    let mut found_again = 0;
    for (half, lines) in halves(&run).into_iter().enumerate() {
        assert!(
            lines.len() > 10,
            "half {half} holds {} sequences",
            lines.len()
        );
        let corpus = path(&format!("half-{half}.jsonl"));
        std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
        let half_run: PathBuf = path(&format!("run-{half}"));
        extract::<census_model::CpuBackend>(
            &ExtractOptions {
                sequences: SequenceOptions::with_max_seq_len(48),
                part_tokens: 1024,
                batch_tokens: 512,
                ..ExtractOptions::new(
                    opt_fixture("planted"),
                    vec![
                        CorpusSource::parse(&format!("{},format=pretokenized", corpus.display()))
                            .unwrap(),
                    ],
                    &half_run,
                )
            },
            &Default::default(),
            "cpu",
        )
        .unwrap();
        let alone = path(&format!("alone-{half}"));
        analysed(&half_run, &alone, false);
        for kind in [DetectorKind::Token, DetectorKind::Trigram] {
            let whole = detectors(&path("whole"), kind);
            let there = detectors(&alone, kind);
            let mut layers: BTreeSet<u16> = whole.keys().map(|(l, _)| *l).collect();
            layers.extend(rows.iter().map(|r| r.layer));
            for layer in layers {
                let row = rows
                    .iter()
                    .find(|r| r.layer == layer && r.kind == kind && usize::from(r.half) == half)
                    .unwrap_or_else(|| panic!("no row for layer {layer} {kind:?} half {half}"));
                let of_layer = whole.iter().filter(|((l, _), _)| *l == layer);
                let overlaps: Vec<f64> = of_layer
                    .clone()
                    .filter_map(|(key, triggers)| {
                        let again = there.get(key)?;
                        let shared = triggers.intersection(again).count() as f64;
                        Some(shared / triggers.union(again).count() as f64)
                    })
                    .collect();
                assert_eq!(row.detectors, of_layer.count() as u64, "{row:?}");
                assert_eq!(row.on_half, overlaps.len() as u64, "{row:?}");
                let mean = (!overlaps.is_empty())
                    .then(|| overlaps.iter().sum::<f64>() / overlaps.len() as f64);
                match (row.trigger_overlap, mean) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{row:?}: {b}"),
                    (a, b) => assert_eq!(a, b, "{row:?}"),
                }
                found_again += row.on_half;
            }
        }
    }
    assert!(
        found_again > 0,
        "no detector was found again on either half"
    );
}
