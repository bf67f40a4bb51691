//! Hand-built runs whose answers are known by construction: a neuron that fires on exactly two
//! tokens, one that fires on a trigram, one that fires on the first half of positions, an
//! oscillating one, a dead one, one that fires on `</s>` only, and noise.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt16Type, UInt32Type, UInt64Type};
use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::options::LayerScope;
use census_format::run::Shard;
use census_stats::counts::LayerCounts;
use census_stats::inputs::RunSet;
use census_stats::{AnalyzeRequest, analyze};
use common::{SyntheticRun, config, edit_activations, edit_tokens, mix, read_table};

const LEN: usize = 64;
const SEQUENCES: usize = 80;
const FFN: usize = 16;

/// Token ids of the synthetic corpus: random filler in 30..180, the tokens 10 and 11, the
/// trigram 20 21 22, and 22 on its own.
fn corpus() -> Vec<Vec<u32>> {
    (0..SEQUENCES)
        .map(|s| {
            let mut tokens = vec![2u32];
            while tokens.len() < LEN {
                let r = mix((s * 1000 + tokens.len()) as u64);
                match r % 23 {
                    0 => tokens.push(10),
                    1 => tokens.push(11),
                    2 if tokens.len() + 3 <= LEN => tokens.extend([20, 21, 22]),
                    3 if tokens.last() != Some(&21) => tokens.push(22),
                    _ => tokens.push(30 + (r >> 8) as u32 % 150),
                }
            }
            tokens
        })
        .collect()
}

/// The planted firing rule.
fn fired(corpus: &[Vec<u32>], layer: usize, s: usize, p: usize) -> Vec<u16> {
    let t = &corpus[s];
    let noise = |salt: u64, per_ten: u64| {
        mix(salt * 1_000_003 + (layer * 100_000 + s * 1000 + p) as u64) % 10 < per_ten
    };
    let mut out = Vec::new();
    let mut fire = |n: u16, yes: bool| {
        if yes {
            out.push(n);
        }
    };
    if layer == 0 {
        fire(0, p > 0 && (t[p] == 10 || t[p] == 11));
        fire(1, (1..=32).contains(&p));
        // neuron 2: dead
        fire(3, p > 0 && (p / 8) % 2 == 1);
        fire(4, p == 0);
        fire(5, p >= 3 && t[p] == 22 && t[p - 1] == 21 && t[p - 2] == 20);
        fire(6, p > 0 && noise(6, 3));
        fire(7, p > 0 && t[p] == 10 && s.is_multiple_of(2));
    } else {
        fire(0, p > 0 && t[p] == 11);
        fire(1, p > 0 && noise(1, 5));
    }
    out
}

fn write_run(dir: &Path, sequences: std::ops::Range<usize>, shard: Shard, complete: bool) {
    let corpus = corpus();
    let rule = |layer: usize, s: usize, p: usize| fired(&corpus, layer, sequences.start + s, p);
    SyntheticRun {
        config: config(2, FFN, LEN),
        sequences: corpus[sequences.clone()].to_vec(),
        seq_ids: sequences.clone().map(|s| s as u64).collect(),
        fired: &rule,
        domain: &|_| "synthetic",
        part_sequences: 16,
        full_length: true,
        shard,
        complete,
    }
    .write(dir);
}

fn options() -> AnalysisOptions {
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        ..Default::default()
    };
    options.projection.enabled = false;
    options
}

fn request(runs: Vec<std::path::PathBuf>, out: &Path, options: AnalysisOptions) -> AnalyzeRequest {
    AnalyzeRequest {
        options,
        ..AnalyzeRequest::new(runs, out)
    }
}

fn u16s(batch: &RecordBatch, name: &str) -> Vec<u16> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<UInt16Type>()
        .values()
        .to_vec()
}

fn bools(batch: &RecordBatch, name: &str) -> Vec<bool> {
    let c = batch.column_by_name(name).unwrap().as_boolean();
    (0..c.len()).map(|i| c.value(i)).collect()
}

/// (layer, neuron) of the rows where boolean column `name` holds.
fn flagged(batch: &RecordBatch, name: &str) -> BTreeSet<(u16, u16)> {
    let (layer, neuron, flag) = (
        u16s(batch, "layer"),
        u16s(batch, "neuron"),
        bools(batch, name),
    );
    (0..layer.len())
        .filter(|&i| flag[i])
        .map(|i| (layer[i], neuron[i]))
        .collect()
}

#[test]
fn planted_neurons_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("analysis"));
    write_run(&run, 0..SEQUENCES, Shard::default(), true);
    let summary = analyze(&request(vec![run], &out, options())).unwrap();
    let neurons = read_table(&out.join("neurons.parquet"));
    assert_eq!(neurons.num_rows(), 2 * FFN);

    // Dead (never fires at any position): layer 0 neurons 2 and 8..16 (4 fires on </s> only);
    // layer 1 all but 0 and 1.
    let mut dead: BTreeSet<(u16, u16)> = [(0, 2)].into_iter().collect();
    dead.extend((8..16).map(|n| (0, n)));
    dead.extend((2..16).map(|n| (1, n)));
    assert_eq!(flagged(&neurons, "dead"), dead);
    assert_eq!(summary.dead.total, dead.len() as u64);

    // Fire counts and frequencies equal the rule's, counted here directly.
    let corpus = corpus();
    let fires = neurons
        .column_by_name("fires")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let fires_bos = neurons
        .column_by_name("fires_bos")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let frequency = neurons
        .column_by_name("frequency")
        .unwrap()
        .as_primitive::<Float64Type>();
    for row in 0..neurons.num_rows() {
        let (layer, neuron) = (u16s(&neurons, "layer")[row], u16s(&neurons, "neuron")[row]);
        let count = |positions: std::ops::Range<usize>| {
            (0..SEQUENCES)
                .flat_map(|s| positions.clone().map(move |p| (s, p)))
                .filter(|&(s, p)| fired(&corpus, layer.into(), s, p).contains(&neuron))
                .count() as u64
        };
        assert_eq!(fires.value(row), count(0..LEN), "fires of {layer}/{neuron}");
        assert_eq!(fires_bos.value(row), count(0..1));
        let expected = count(0..LEN) as f64 / (SEQUENCES * LEN) as f64;
        assert!((frequency.value(row) - expected).abs() < 1e-12);
    }

    // Detected tokens new to all lower layers, layer by layer: layer 1 detects only 11, which
    // layer 0 already detects.
    assert_eq!(
        summary.token_detectors.as_ref().unwrap().new_share_by_layer,
        vec![(1, 0.0)]
    );

    // Detectors: neuron 0/0 on {10, 11}, 1/0 on {11}; trigram detector 0/5 on (20, 21, 22).
    assert_eq!(
        flagged(&neurons, "token_detector"),
        [(0, 0), (1, 0)].into_iter().collect()
    );
    assert_eq!(
        flagged(&neurons, "trigram_detector"),
        [(0, 5)].into_iter().collect()
    );
    let detectors = read_table(&out.join("detectors.parquet"));
    let triggers = detectors
        .column_by_name("trigger_ids")
        .unwrap()
        .as_list::<i32>();
    let kinds = detectors.column_by_name("kind").unwrap().as_string::<i32>();
    let mut found = BTreeSet::new();
    for row in 0..detectors.num_rows() {
        let ids: BTreeSet<Vec<u32>> = (0..triggers.value(row).len())
            .map(|i| {
                let inner = triggers.value(row);
                let inner = inner.as_list::<i32>().value(i);
                inner.as_primitive::<UInt32Type>().values().to_vec()
            })
            .collect();
        found.insert((
            u16s(&detectors, "layer")[row],
            u16s(&detectors, "neuron")[row],
            kinds.value(row).to_string(),
            ids,
        ));
    }
    let expected: BTreeSet<_> = [
        (
            0,
            0,
            "token".to_string(),
            [vec![10], vec![11]].into_iter().collect(),
        ),
        (1, 0, "token".to_string(), [vec![11]].into_iter().collect()),
        (
            0,
            5,
            "trigram".to_string(),
            [vec![20, 21, 22]].into_iter().collect(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected);
    // Unigram coverage: 2 tokens for 0/0, 1 for 0/7 (it fires on half the "10"s: no detector).
    let coverage = neurons
        .column_by_name("unigram_coverage")
        .unwrap()
        .as_primitive::<UInt32Type>();
    assert_eq!(coverage.value(0), 2);
    assert_eq!(coverage.value(7), 1);
    assert!(coverage.is_null(2), "a dead neuron has no coverage");

    // Detected tokens: {10, 11} in layer 0, {11} in layer 1 (nothing new).
    let layers = read_table(&out.join("layers.parquet"));
    let col = |name: &str| -> Vec<u64> {
        layers
            .column_by_name(name)
            .unwrap()
            .as_primitive::<UInt64Type>()
            .values()
            .to_vec()
    };
    assert_eq!(col("tokens_detected"), vec![2, 1]);
    assert_eq!(col("tokens_detected_cumulative"), vec![2, 2]);
    assert_eq!(col("tokens_new_overall"), vec![2, 0]);
    assert_eq!(col("tokens_new_vs_previous"), vec![2, 0]);

    // Positional: 0/1 (first half) both extremes, 0/3 oscillatory, both strong; 0/4 (</s> only)
    // reaches 1 at one position only: one extreme. Nothing else.
    let positional = read_table(&out.join("positional.parquet"));
    let types = positional
        .column_by_name("type")
        .unwrap()
        .as_string::<i32>();
    let strong = bools(&positional, "strong");
    let got: BTreeSet<(u16, u16, String, bool)> = (0..positional.num_rows())
        .map(|i| {
            (
                u16s(&positional, "layer")[i],
                u16s(&positional, "neuron")[i],
                types.value(i).to_string(),
                strong[i],
            )
        })
        .collect();
    let expected: BTreeSet<(u16, u16, String, bool)> = [
        (0, 1, "both-extremes".to_string(), true),
        (0, 3, "oscillatory".to_string(), true),
        (0, 4, "one-extreme".to_string(), true),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expected);
    // The first-half neuron's range is positions 1..33.
    let row = (0..positional.num_rows())
        .find(|&i| u16s(&positional, "neuron")[i] == 1)
        .unwrap();
    let starts = positional
        .column_by_name("range_starts")
        .unwrap()
        .as_list::<i32>()
        .value(row);
    let ends = positional
        .column_by_name("range_ends")
        .unwrap()
        .as_list::<i32>()
        .value(row);
    assert_eq!(
        starts.as_primitive::<UInt16Type>().values().to_vec(),
        vec![1]
    );
    assert_eq!(
        ends.as_primitive::<UInt16Type>().values().to_vec(),
        vec![33]
    );
    // Its MI: fires on 32 of 64 equally frequent positions, I = ln 2.
    let mi = positional
        .column_by_name("mi")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(row);
    assert!((mi - std::f64::consts::LN_2).abs() < 1e-9, "{mi}");
    assert_eq!(summary.positional.as_ref().unwrap().total, 3);
}

#[test]
fn dead_means_never_fires_at_any_position_and_the_other_reading_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run, 0..SEQUENCES, Shard::default(), true);
    // By default every position counts: neuron 4 of layer 0 fires only on </s> and is alive.
    let out = dir.path().join("default");
    let summary = analyze(&request(vec![run.clone()], &out, options())).unwrap();
    let neurons = read_table(&out.join("neurons.parquet"));
    assert!(!flagged(&neurons, "dead").contains(&(0, 4)));
    assert!(flagged(&neurons, "dead").contains(&(0, 2)));
    let layers = read_table(&out.join("layers.parquet"));
    let column = |name: &str| -> Vec<u32> {
        layers
            .column_by_name(name)
            .unwrap()
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec()
    };
    let dead = column("dead");
    assert_eq!(dead, column("dead_with_bos"));
    // Outside the prefix, neuron 4 is dead too.
    assert_eq!(column("dead_without_bos")[0], dead[0] + 1);
    assert!(summary.dead.counts_bos);
    let other = summary.dead.other_reading.as_ref().unwrap();
    assert_eq!(other.total, summary.dead.total + 1);

    // --exclude-bos: the paper's §4 rule applied to dead neurons too.
    let mut excluding = options();
    excluding.count_bos = false;
    let out = dir.path().join("excluding");
    let summary = analyze(&request(vec![run], &out, excluding)).unwrap();
    let neurons = read_table(&out.join("neurons.parquet"));
    assert!(flagged(&neurons, "dead").contains(&(0, 4)));
    assert!(!summary.dead.counts_bos);
    assert_eq!(
        summary.dead.other_reading.unwrap().total,
        summary.dead.total - 1
    );
}

#[test]
fn partial_counts_merge_into_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run, 0..SEQUENCES, Shard::default(), true);
    let set = RunSet::open(&[run], false).unwrap();
    let options = options();
    let parts = set.parts();
    assert!(parts.len() >= 4);
    let hidden = census_format::progress::Progress::hidden();
    for layer in 0..2 {
        let scope = census_stats::analyze::counting::count_scope(&set, &options, layer);
        let mut whole = census_stats::analyze::counting::count_layer_uncapped(
            &set,
            &parts,
            layer,
            scope,
            Default::default(),
            &hidden,
        )
        .unwrap();
        // After the first part, each doubling of the rows, and the last part.
        let points: Vec<u64> = whole.saturation.iter().map(|p| p.rows).collect();
        assert_eq!(points.first(), Some(&parts[0].rows));
        assert_eq!(points.last(), Some(&whole.rows));
        assert!(points.windows(2).all(|w| w[1] > w[0]));
        assert!(
            points[..points.len() - 1]
                .windows(2)
                .all(|w| w[1] >= 2 * w[0])
        );
        whole.saturation.clear();
        let mut merged: Option<LayerCounts> = None;
        for chunk in parts.chunks(3) {
            let partial = census_stats::analyze::counting::count_layer_uncapped(
                &set,
                chunk,
                layer,
                scope,
                Default::default(),
                &hidden,
            )
            .unwrap();
            match &mut merged {
                Some(m) => m.merge(partial),
                None => merged = Some(partial),
            }
        }
        assert_eq!(merged.unwrap(), whole);
    }
    let whole = census_stats::analyze::counting::tally_corpus(&set, &parts, true).unwrap();
    let mut merged =
        census_stats::analyze::counting::tally_corpus(&set, &parts[..2], true).unwrap();
    merged.merge(census_stats::analyze::counting::tally_corpus(&set, &parts[2..], true).unwrap());
    assert_eq!(merged, whole);
}

#[test]
fn shards_analysed_together_equal_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    write_run(&whole, 0..SEQUENCES, Shard::default(), true);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write_run(&a, 0..48, Shard { index: 0, count: 2 }, true);
    write_run(&b, 48..SEQUENCES, Shard { index: 1, count: 2 }, true);
    let (out_whole, out_shards) = (dir.path().join("out-whole"), dir.path().join("out-shards"));
    let s1 = analyze(&request(vec![whole], &out_whole, options())).unwrap();
    let s2 = analyze(&request(vec![a, b], &out_shards, options())).unwrap();
    assert_eq!(s1, s2);
    for table in ["neurons", "layers", "coverage", "detectors", "positional"] {
        let file = format!("{table}.parquet");
        assert_eq!(
            read_table(&out_whole.join(&file)),
            read_table(&out_shards.join(&file)),
            "{file}"
        );
    }
}

#[test]
fn bad_inputs_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run, 0..32, Shard::default(), true);
    let out = dir.path().join("analysis");
    let error = |runs: Vec<std::path::PathBuf>, out: &Path| {
        analyze(&request(runs, out, options()))
            .unwrap_err()
            .to_string()
    };

    // Not a run.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = error(vec![empty.clone()], &out);
    assert!(e.contains("no manifest.json") && e.contains("empty"), "{e}");

    // The same run twice.
    let e = error(vec![run.clone(), run.clone()], &out);
    assert!(e.contains("same run and shard"), "{e}");

    // An incomplete run.
    let partial = dir.path().join("partial");
    write_run(&partial, 0..32, Shard::default(), false);
    let e = error(vec![partial.clone()], &out);
    assert!(
        e.contains("incomplete") && e.contains("--allow-incomplete"),
        "{e}"
    );
    let mut allowed = request(vec![partial], &out, options());
    allowed.allow_incomplete = true;
    analyze(&allowed).unwrap();

    // Another model.
    let other = dir.path().join("other");
    let corpus = corpus();
    let rule = |_: usize, _: usize, _: usize| vec![0u16];
    SyntheticRun {
        config: config(2, 32, LEN),
        sequences: corpus[..4].to_vec(),
        seq_ids: (100..104).collect(),
        fired: &rule,
        domain: &|_| "synthetic",
        part_sequences: 4,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(&other);
    let e = error(vec![run.clone(), other], &dir.path().join("o2"));
    assert!(e.contains("in the model configuration"), "{e}");

    // Writing over an extraction run, or into an unrelated directory.
    let e = error(vec![run.clone()], &run);
    assert!(
        e.contains("analysis output") && e.contains("not an analysis"),
        "{e}"
    );
    let e = error(vec![run.clone()], &empty.join(".."));
    assert!(
        e.contains("analysis output") && e.contains("refusing"),
        "{e}"
    );

    // A missing part file names the file, and the analysis already in --out stays as it was.
    let listing = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    std::fs::remove_file(run.join("activations/layer=01/part-00001.parquet")).unwrap();
    let e = error(vec![run.clone()], &out);
    assert!(e.contains("layer=01/part-00001.parquet"), "{e}");
    let after = listing();
    assert!(before == after, "a failed analysis changed the earlier one");
    assert!(!dir.path().join("analysis.partial").exists());

    // A corrupt part file names the file.
    std::fs::write(run.join("tokens/part-00000.parquet"), b"not parquet").unwrap();
    let e = error(vec![run], &dir.path().join("o4"));
    assert!(e.contains("tokens/part-00000.parquet"), "{e}");

    // Options out of range.
    let mut bad = options();
    bad.detectors.coverage_share = 1.5;
    let e = analyze(&request(vec![], &out, bad))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--coverage-share"), "{e}");
}

#[test]
fn the_ngram_memory_cap_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run, 0..SEQUENCES, Shard::default(), true);
    let mut options = options();
    options.ngram_memory_mib = 0;
    let e = analyze(&request(vec![run], &dir.path().join("out"), options))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--ngram-memory-mib") && e.contains("layer"),
        "{e}"
    );
}

/// Parts that do not belong to the run, or that hold values no run can hold, are refused with
/// the file named; they are never counted.
#[test]
fn parts_that_do_not_belong_to_the_run_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run, 0..32, Shard::default(), true);
    let analyse = |rewritten_parts: bool| {
        let mut r = request(vec![run.clone()], &dir.path().join("a"), options());
        r.rewritten_parts = rewritten_parts;
        analyze(&r).map_err(|e| e.to_string())
    };
    let reference = analyse(false).unwrap();
    let layer0 = run.join("activations/layer=00/part-00001.parquet");
    let layer1 = run.join("activations/layer=01/part-00001.parquet");
    let tokens = run.join("tokens/part-00001.parquet");
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = [&layer1, &tokens]
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let restore = || {
        for (path, bytes) in &saved {
            std::fs::write(path, bytes).unwrap();
        }
    };

    // A layer-0 part copied into layer=01: its size or checksum differs from the manifest's.
    std::fs::copy(&layer0, &layer1).unwrap();
    let e = analyse(false).unwrap_err();
    assert!(
        e.contains("layer=01/part-00001.parquet") && e.contains("manifest"),
        "{e}"
    );
    // In a run written before checksums were recorded, the footer still tells.
    let manifest_path = run.join("manifest.json");
    let manifest_text = std::fs::read_to_string(&manifest_path).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&manifest_text).unwrap();
    for part in manifest["parts"].as_array_mut().unwrap() {
        part.as_object_mut().unwrap().remove("files");
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let e = analyse(false).unwrap_err();
    assert!(
        e.contains("layer=01/part-00001.parquet") && e.contains("records layer 0, not layer 1"),
        "{e}"
    );
    // A part of another run (another shard, so another run id) put in place.
    let other = dir.path().join("other");
    write_run(&other, 0..32, Shard { index: 1, count: 2 }, true);
    let other_id: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(other.join("manifest.json")).unwrap())
            .unwrap();
    let other_id = other_id["run_id"].as_str().unwrap().to_string();
    assert_ne!(manifest["run_id"], other_id.as_str());
    std::fs::copy(
        other.join("activations/layer=01/part-00001.parquet"),
        &layer1,
    )
    .unwrap();
    let e = analyse(false).unwrap_err();
    assert!(
        e.contains("layer=01/part-00001.parquet")
            && e.contains(&format!("belongs to run {other_id}")),
        "{e}"
    );
    std::fs::write(&manifest_path, &manifest_text).unwrap();
    restore();
    assert_eq!(analyse(false).unwrap(), reference);

    // Values no run holds, in parts another tool rewrote (so only the values can tell).
    type Breakage<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Breakage<'_>> = vec![
        (
            "strictly ascending",
            Box::new(|| {
                edit_activations(&layer1, |lists| {
                    let row = lists.iter().position(|l| !l.is_empty()).unwrap();
                    let first = lists[row][0];
                    lists[row].insert(0, first);
                })
            }),
        ),
        (
            "below the FFN width",
            Box::new(|| edit_activations(&layer1, |lists| lists[3].push(FFN as u16))),
        ),
        (
            "not below the model's vocabulary",
            Box::new(|| edit_tokens(&tokens, |rows| rows.token[5] = 600)),
        ),
        (
            "not below the run's sequence length",
            Box::new(|| {
                edit_tokens(&tokens, |rows| {
                    let last = rows.pos.len() - 1;
                    rows.pos[last] = LEN as u16 + 5;
                })
            }),
        ),
    ];
    for (expected, break_it) in cases {
        break_it();
        let e = analyse(true).unwrap_err();
        assert!(
            e.contains("part-00001.parquet") && e.contains(expected),
            "{e}"
        );
        let e = analyse(false).unwrap_err();
        assert!(e.contains("manifest"), "{e}");
        restore();
    }
    assert_eq!(analyse(true).unwrap(), reference);
}

/// Tables over the memory cap are counted again neuron range by neuron range, to the same result
/// as one pass; a cap no range fits is refused with the flag to change.
#[test]
fn ngram_tables_over_the_cap_are_counted_by_neuron_range_to_the_same_result() {
    use census_stats::analyze::counting::{
        LayerPass, count_and_analyze_layer, count_layer, count_layer_uncapped, count_scope,
        tally_corpus,
    };
    use census_stats::layer_analysis::analyze_layer;

    const WIDE: usize = 256;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let sequences = corpus();
    // A quarter of the neurons fire at random on each token; neuron 0 detects token 10.
    let fired = |layer: usize, s: usize, p: usize| {
        let t = sequences[s][p];
        let mut on: Vec<u16> = (1..WIDE as u16)
            .filter(|&n| {
                mix((s * LEN + p) as u64 * 7919 + u64::from(n) * 31 + layer as u64)
                    .is_multiple_of(4)
            })
            .collect();
        if p > 0 && t == 10 {
            on.insert(0, 0);
        }
        on
    };
    SyntheticRun {
        config: config(2, WIDE, LEN),
        sequences: sequences.clone(),
        seq_ids: (0..sequences.len() as u64).collect(),
        fired: &fired,
        domain: &|_| "test",
        part_sequences: 8,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(&run);
    let set = RunSet::open(&[run], false).unwrap();
    let options = options();
    let parts = set.parts();
    let hidden = census_format::progress::Progress::hidden();
    let tally = tally_corpus(&set, &parts, true).unwrap();
    for layer in 0..2 {
        // The example contexts' places too: the ranges gather them in the frequencies' pass.
        let scope = census_stats::counts::CountScope {
            contexts: 5,
            ..count_scope(&set, &options, layer)
        };
        assert!(scope.bigrams_trigrams && scope.unigrams);
        let whole =
            count_layer_uncapped(&set, &parts, layer, scope, tally.table_codes(), &hidden).unwrap();
        let bytes = whole.table_bytes();
        let one_pass = analyze_layer(whole, &tally, &options);
        assert!(
            !one_pass.detectors.is_empty(),
            "layer {layer} has detectors"
        );
        // A cap of a quarter of the tables: one pass overflows, ranges of neurons fit.
        let cap = bytes / 4;
        let counts = LayerCounts::new(layer, WIDE, scope, tally.table_codes());
        assert!(matches!(
            count_layer(&set, &parts, counts, cap, &hidden).unwrap(),
            LayerPass::Overflow { .. }
        ));
        let by_range =
            count_and_analyze_layer(&set, &parts, layer, scope, cap, &tally, &options, &hidden)
                .unwrap();
        assert!(one_pass.places.is_some(), "places gathered");
        assert_eq!(by_range, one_pass, "layer {layer}");
        let e = count_and_analyze_layer(&set, &parts, layer, scope, 64, &tally, &options, &hidden)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ngram-memory-mib"), "{e}");
    }
}

/// The example contexts gathered while the layers are counted are those read from the runs
/// again, part by part (gathered in the pass of the frequencies when the n-gram tables are counted
/// by neuron range: `ngram_tables_over_the_cap_are_counted_by_neuron_range_to_the_same_result`).
#[test]
fn contexts_gathered_while_counting_equal_those_read_again() {
    use census_stats::analyze::counting::{count_and_analyze_layer, count_scope, tally_corpus};
    use census_stats::counts::CountScope;
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    write_run(&first, 0..48, Shard { index: 0, count: 2 }, true);
    write_run(&second, 48..SEQUENCES, Shard { index: 1, count: 2 }, true);
    let set = RunSet::open(&[first, second], false).unwrap();
    let options = options();
    let parts = set.parts();
    assert!(parts.len() > 3, "several parts in each run");
    let hidden = census_format::progress::Progress::hidden();
    let tally = tally_corpus(&set, &parts, true).unwrap();
    // Enough places that the rarer neurons take them from several parts and both runs.
    let per_neuron = 100;
    let (mut gathered, mut alive) = (BTreeMap::new(), BTreeMap::new());
    for layer in 0..2 {
        let scope = CountScope {
            contexts: per_neuron,
            ..count_scope(&set, &options, layer)
        };
        let result = count_and_analyze_layer(
            &set,
            &parts,
            layer,
            scope,
            usize::MAX,
            &tally,
            &options,
            &hidden,
        )
        .unwrap();
        alive.insert(layer, result.neurons.iter().filter(|n| !n.dead).count());
        gathered.insert(layer, result.places.expect("places gathered"));
    }
    let runs: Vec<_> = set.runs.iter().collect();
    let collect = |gathered| {
        census_stats::contexts::collect(&runs, true, 0..2, FFN, 200, per_neuron, &alive, gathered)
            .unwrap()
    };
    let read_again = collect(None);
    // Every neuron that fires outside the prefix: not the dead one, nor the one firing on `</s>`
    // alone.
    let neurons: BTreeSet<(u16, u16)> = read_again.iter().map(|r| (r.layer, r.neuron)).collect();
    let firing = [
        (0, 0),
        (0, 1),
        (0, 3),
        (0, 5),
        (0, 6),
        (0, 7),
        (1, 0),
        (1, 1),
    ];
    assert_eq!(neurons, BTreeSet::from(firing));
    assert!(
        read_again.iter().any(|r| r.seq >= 48),
        "the second run supplies some"
    );
    assert_eq!(collect(Some(gathered)), read_again);
}
