//! An analysis split by layer (`analyze --layers`, one job per range) and merged
//! (`merge-analyses`) equals one analysis of every layer: the same tables byte for byte and the
//! same summary. Parts that do not belong together are refused.

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};

use census_format::analysis::manifest::AnalysisManifest;
use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::options::{LayerScope, ProjectAll};
use census_format::analysis::tables::{AnalysisTable, LayerRow};
use census_format::run::Shard;
use census_stats::{AnalyzeRequest, analyze, merge_analyses};
use common::{SyntheticRun, config, extract_planted, mix};

const LEN: usize = 32;
const LAYERS: usize = 4;
const FFN: usize = 12;
/// The token neuron 0 detects in every layer.
const DETECTED: u32 = 13;

fn sequences(count: usize) -> Vec<Vec<u32>> {
    (0..count)
        .map(|s| {
            let mut t = vec![2u32];
            t.extend((1..LEN).map(|p| 10 + (mix((s * 100 + p) as u64) % 40) as u32));
            t
        })
        .collect()
}

/// A run of two domains: neuron 0 detects a token in every layer, neuron 1 fires early, neuron
/// 2 early in one domain and late in the other, neuron 3 detects another token in layers 1 and
/// up, the rest at random.
fn write_run(dir: &Path) {
    let seqs = sequences(24);
    let fired = |layer: usize, s: usize, p: usize| {
        let t = seqs[s][p];
        let mut on: Vec<u16> = (5..FFN as u16)
            .filter(|&n| {
                mix(u64::from(t) * 31 + u64::from(n) + layer as u64 * 7 + s as u64)
                    .is_multiple_of(3)
            })
            .collect();
        if p > 0 && t == DETECTED {
            on.push(0);
        }
        if p > 0 && layer >= 1 && t == DETECTED + 1 {
            on.push(3);
        }
        if p < 8 {
            on.push(1);
        }
        let code = s.is_multiple_of(2);
        if (code && p >= 20) || (!code && p < 10) {
            on.push(2);
        }
        on.sort_unstable();
        on.dedup();
        on
    };
    SyntheticRun {
        config: config(LAYERS, FFN, LEN),
        sequences: seqs.clone(),
        seq_ids: (0..seqs.len() as u64).collect(),
        fired: &fired,
        domain: &|s| if s.is_multiple_of(2) { "code" } else { "wiki" },
        part_sequences: 6,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(dir)
}

fn request(
    run: &Path,
    out: &Path,
    options: &AnalysisOptions,
    layers: LayerScope,
) -> AnalyzeRequest {
    AnalyzeRequest {
        options: options.clone(),
        layers,
        ..AnalyzeRequest::new(vec![run.to_path_buf()], out)
    }
}

fn range(layers: &Range<usize>) -> LayerScope {
    LayerScope::Range {
        start: layers.start,
        end: layers.end,
    }
}

/// Analyses `run` in the layer ranges `split` and merges the parts (named in reverse order)
/// into `out`.
fn split_and_merge(
    run: &Path,
    work: &Path,
    options: &AnalysisOptions,
    split: &[Range<usize>],
    out: &Path,
) -> Vec<PathBuf> {
    let parts: Vec<PathBuf> = split
        .iter()
        .map(|layers| {
            let part = work.join(format!("part-{}-{}", layers.start, layers.end));
            analyze(&request(run, &part, options, range(layers))).unwrap();
            part
        })
        .collect();
    let reversed: Vec<PathBuf> = parts.iter().rev().cloned().collect();
    merge_analyses(&reversed, out).unwrap();
    parts
}

/// Every table, the summary and the manifest's layers and table list are the same.
fn assert_same_analysis(whole: &Path, merged: &Path) {
    let (a, b) = (
        AnalysisManifest::load(whole).unwrap(),
        AnalysisManifest::load(merged).unwrap(),
    );
    assert_eq!(a.tables, b.tables);
    assert_eq!(a.layers, b.layers);
    assert_eq!(a.sections, b.sections);
    for file in a.tables.iter().map(String::as_str).chain(["summary.json"]) {
        assert!(
            std::fs::read(whole.join(file)).unwrap() == std::fs::read(merged.join(file)).unwrap(),
            "{file} differs"
        );
    }
}

#[test]
fn merged_layer_ranges_equal_one_analysis_of_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    write_run(&path("run"));
    let mut options = AnalysisOptions::default();
    options.projection.enabled = false;
    analyze(&request(
        &path("run"),
        &path("whole"),
        &options,
        LayerScope::All,
    ))
    .unwrap();
    let whole = AnalysisManifest::load(&path("whole")).unwrap();
    for table in [
        "positional_domains.parquet",
        "position_curves.parquet",
        "token_neurons.parquet",
    ] {
        assert!(whole.tables.iter().any(|t| t == table), "{table}");
    }
    let summary = census_format::analysis::summary::Summary::load(&path("whole")).unwrap();
    assert!(summary.token_detectors.as_ref().unwrap().detectors >= 3);
    assert!(summary.positional.as_ref().unwrap().total > 0);
    assert!(summary.positional_domains.as_ref().unwrap().pooled > 0);

    for (i, split) in [vec![0..1, 1..4], vec![0..2, 2..3, 3..4]]
        .iter()
        .enumerate()
    {
        let work = path(&format!("split-{i}"));
        let merged = work.join("merged");
        let parts = split_and_merge(&path("run"), &work, &options, split, &merged);
        assert_same_analysis(&path("whole"), &merged);
        // A part alone counts the tokens its first layer detects as new; the merge counts them
        // against the layers below, as the whole analysis does.
        let later = LayerRow::read(&parts[1]).unwrap();
        let merged_rows = LayerRow::read(&merged).unwrap();
        let first_later = usize::from(later[0].layer);
        assert_ne!(
            later[0].tokens_detected, merged_rows[first_later].tokens_detected,
            "layer {first_later}"
        );
    }
}

#[test]
fn the_planted_model_split_in_two_merges_with_its_projections_and_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    extract_planted(&path("run"));
    let mut options = AnalysisOptions::default();
    options.projection.all = ProjectAll::On;
    options.positional.any_length = true;
    // Few neurons per token, so the merge's selection from the parts' leaves some out.
    options.token_neurons = 2;
    analyze(&request(
        &path("run"),
        &path("whole"),
        &options,
        LayerScope::All,
    ))
    .unwrap();
    let whole = AnalysisManifest::load(&path("whole")).unwrap();
    for table in [
        "projections.parquet",
        "vocabulary.parquet",
        "detectors.parquet",
        "position_curves.parquet",
        "token_neurons.parquet",
    ] {
        assert!(whole.tables.iter().any(|t| t == table), "{table}");
    }
    split_and_merge(
        &path("run"),
        dir.path(),
        &options,
        &[0..1, 1..2],
        &path("merged"),
    );
    assert_same_analysis(&path("whole"), &path("merged"));
}

#[test]
fn parts_that_do_not_belong_together_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    write_run(&path("run"));
    let mut options = AnalysisOptions::default();
    options.projection.enabled = false;
    let part = |name: &str, layers: Range<usize>, options: &AnalysisOptions| {
        analyze(&request(&path("run"), &path(name), options, range(&layers))).unwrap();
        path(name)
    };
    let low = part("0-2", 0..2, &options);
    let overlapping = part("1-4", 1..4, &options);
    let above_gap = part("3-4", 3..4, &options);
    let mut other = options.clone();
    other.positional.mi_threshold = 0.1;
    let other_options = part("2-4-other", 2..4, &other);

    let refused =
        |parts: Vec<PathBuf>, out: &Path| merge_analyses(&parts, out).unwrap_err().to_string();
    let out = path("merged");
    let e = refused(vec![low.clone(), overlapping], &out);
    assert!(e.contains("overlap") && e.contains("1-4"), "{e}");
    let e = refused(vec![above_gap, low.clone()], &out);
    assert!(e.contains("a gap") && e.contains("3-4"), "{e}");
    let e = refused(vec![low.clone(), other_options], &out);
    assert!(e.contains("options") && e.contains("2-4-other"), "{e}");
    assert!(!out.exists(), "a refused merge wrote {}", out.display());

    // An output directory that is not an analysis, or that is one of the parts, is left alone.
    let e = refused(vec![low.clone()], &path("run"));
    assert!(e.contains("refusing to replace"), "{e}");
    assert!(path("run").join("manifest.json").exists());
    let before = std::fs::read(low.join("neurons.parquet")).unwrap();
    let e = refused(vec![low.clone()], &low);
    assert!(e.contains("output directory"), "{e}");
    assert_eq!(std::fs::read(low.join("neurons.parquet")).unwrap(), before);

    // A layer range the runs did not record names what they did record.
    let e = analyze(&request(
        &path("run"),
        &path("none"),
        &options,
        LayerScope::Range { start: 6, end: 8 },
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("6..8") && e.contains("0..4"), "{e}");
}
