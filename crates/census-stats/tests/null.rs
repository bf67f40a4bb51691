//! The shuffled-token null checked by a second route: a copy of the planted run whose token
//! parts hold each sequence's text tokens shuffled (the fires left as they were) is analysed as
//! an ordinary run; its detectors must be exactly the number `--shuffled-null` found by chance
//! inside the one analysis.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use census_format::analysis::Summary;
use census_format::analysis::options::{AnalysisOptions, LayerScope};
use census_format::analysis::tables::{AnalysisTable, DetectorKind, DetectorNullRow, DetectorRow};
use census_format::run::Manifest;
use census_format::run::tables::{read_tokens, tokens_path};
use census_stats::seeded::shuffle_sequence;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::{copy_dir, opt_fixture};
use common::{extract_planted, rewrite_column};

const SEED: u64 = 5;

fn analysed(run: &Path, out: &Path, null: bool, rewritten: bool) -> Summary {
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        shuffled_null: null.then_some(SEED),
        ..Default::default()
    };
    options.positional.any_length = true;
    analyze(&AnalyzeRequest {
        model: Some(opt_fixture("planted")),
        options,
        rewritten_parts: rewritten,
        ..AnalyzeRequest::new(vec![run.to_path_buf()], out.to_path_buf())
    })
    .unwrap()
}

/// Rewrites every token part of `run` with each sequence's tokens after the `</s>` shuffled.
fn shuffle_token_parts(run: &Path) {
    let manifest = Manifest::load(run).unwrap().unwrap();
    for part in &manifest.parts {
        let path = tokens_path(run, part.index);
        let rows = read_tokens(&path, None).unwrap();
        let mut tokens = rows.token.clone();
        let mut by_sequence: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for i in 0..rows.seq.len() {
            if rows.pos[i] > 0 {
                by_sequence.entry(rows.seq[i]).or_default().push(i);
            }
        }
        for (seq, mut rows_of) in by_sequence {
            rows_of.sort_by_key(|&i| rows.pos[i]);
            let mut text: Vec<u32> = rows_of.iter().map(|&i| rows.token[i]).collect();
            shuffle_sequence(seq, SEED, &mut text);
            for (&i, t) in rows_of.iter().zip(text) {
                tokens[i] = t;
            }
        }
        assert_ne!(tokens, rows.token, "part {} is shuffled", part.index);
        rewrite_column(&path, "token", |i| f64::from(tokens[i]));
    }
}

/// Detectors of each (layer, kind) in an analysis.
fn counts(dir: &Path) -> BTreeMap<(u16, DetectorKind), u64> {
    let mut counts = BTreeMap::new();
    for d in DetectorRow::read(dir).unwrap() {
        *counts.entry((d.layer, d.kind)).or_default() += 1;
    }
    counts
}

#[test]
fn the_null_equals_the_analysis_of_a_run_with_its_tokens_shuffled() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let run = path("run");
    extract_planted(&run);
    let summary = analysed(&run, &path("with-null"), true, false);
    let rows = DetectorNullRow::read(&path("with-null")).unwrap();

    let copy = path("shuffled-run");
    copy_dir(&run, &copy);
    shuffle_token_parts(&copy);
    analysed(&copy, &path("on-shuffled"), false, true);

    let real = counts(&path("with-null"));
    let by_chance = counts(&path("on-shuffled"));
    let layers = Manifest::load(&run)
        .unwrap()
        .unwrap()
        .config
        .model
        .config
        .num_hidden_layers;
    assert_eq!(rows.len(), 2 * layers, "a row per layer and kind");
    for row in &rows {
        let key = (row.layer, row.kind);
        assert_eq!(
            row.detectors,
            real.get(&key).copied().unwrap_or(0),
            "{row:?}"
        );
        assert_eq!(
            row.shuffled,
            by_chance.get(&key).copied().unwrap_or(0),
            "{row:?}"
        );
    }
    for (kind, d) in [
        (DetectorKind::Token, summary.token_detectors.unwrap()),
        (DetectorKind::Trigram, summary.trigram_detectors.unwrap()),
    ] {
        let of_kind = rows.iter().filter(|r| r.kind == kind);
        assert_eq!(d.shuffled, Some(of_kind.map(|r| r.shuffled).sum()));
    }
    // The planted token detectors are structure, not chance: shuffling removes most of them.
    let token = |rows: &[DetectorNullRow], pick: fn(&DetectorNullRow) -> u64| -> u64 {
        rows.iter()
            .filter(|r| r.kind == DetectorKind::Token)
            .map(pick)
            .sum()
    };
    let (found, shuffled) = (token(&rows, |r| r.detectors), token(&rows, |r| r.shuffled));
    assert!(
        found > 2 * shuffled.max(1),
        "{found} detectors, {shuffled} by chance"
    );

    // The null changes nothing else: without it, the detectors are the same.
    analysed(&run, &path("without"), false, false);
    assert_eq!(counts(&path("without")), real);
    assert!(!path("without").join(DetectorNullRow::FILE).exists());
}
