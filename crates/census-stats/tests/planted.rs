//! End to end on a random OPT with planted structure (`tests/fixtures/opt/planted`, written by
//! `make_fixtures.py planted`): extraction, then analysis, recovers exactly the planted dead
//! neurons and token detectors, and the detectors' vocabulary projections equal the ones numpy
//! computed from the same weights.

mod common;

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, UInt16Type, UInt32Type};
use census_format::analysis::summary::Summary;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::opt_fixture;
use common::{extract_planted, read_table};
use serde::Deserialize;

#[derive(Deserialize)]
struct PlantedDetector {
    layer: u16,
    neuron: u16,
    tokens: Vec<u32>,
    token_strings: Vec<String>,
    scores: Vec<f32>,
    bottom: Vec<u32>,
    top: Vec<u32>,
}

#[derive(Deserialize)]
struct Planted {
    detectors: Vec<PlantedDetector>,
    dead: Vec<Vec<u16>>,
}

/// The planted fixture extracted and analysed once, with the tables the checks read.
struct Recovered {
    planted: Planted,
    summary: Summary,
    neurons: RecordBatch,
    detectors: RecordBatch,
    projections: RecordBatch,
    /// The rows of `detectors` that hold token detectors.
    token_rows: Vec<usize>,
    /// The planted dead neurons, `(layer, neuron)`.
    planted_dead: BTreeSet<(u16, u16)>,
}

impl Recovered {
    fn analyse() -> Self {
        let planted: Planted = serde_json::from_str(
            &std::fs::read_to_string(opt_fixture("planted").join("planted.json")).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (run, out) = (dir.path().join("run"), dir.path().join("analysis"));
        extract_planted(&run);
        let summary = analyze(&AnalyzeRequest::new(vec![run], out.clone())).unwrap();
        let detectors = read_table(&out.join("detectors.parquet"));
        let kind = detectors.column_by_name("kind").unwrap().as_string::<i32>();
        let token_rows = (0..detectors.num_rows())
            .filter(|&i| kind.value(i) == "token")
            .collect();
        let planted_dead = planted
            .dead
            .iter()
            .enumerate()
            .flat_map(|(l, ns)| ns.iter().map(move |&n| (l as u16, n)))
            .collect();
        Self {
            summary,
            neurons: read_table(&out.join("neurons.parquet")),
            projections: read_table(&out.join("projections.parquet")),
            detectors,
            token_rows,
            planted_dead,
            planted,
        }
    }

    /// The `(layer, neuron)` of row `row` of `table`.
    fn neuron_at(table: &RecordBatch, row: usize) -> (u16, u16) {
        let column = |name: &str| {
            table
                .column_by_name(name)
                .unwrap()
                .as_primitive::<UInt16Type>()
                .value(row)
        };
        (column("layer"), column("neuron"))
    }

    /// The row of `table` that holds neuron `(layer, neuron)`.
    fn row_of(table: &RecordBatch, rows: impl IntoIterator<Item = usize>, at: (u16, u16)) -> usize {
        rows.into_iter()
            .find(|&i| Self::neuron_at(table, i) == at)
            .unwrap()
    }

    /// The trigger ids of detector row `row`, in the table's order.
    fn trigger_ids(&self, row: usize) -> Vec<u32> {
        let inner = self
            .detectors
            .column_by_name("trigger_ids")
            .unwrap()
            .as_list::<i32>()
            .value(row);
        let triggers = inner.as_list::<i32>();
        (0..triggers.len())
            .map(|i| triggers.value(i).as_primitive::<UInt32Type>().value(0))
            .collect()
    }
}

/// A list column's values at `row`, as `T`.
fn list_values<T: arrow::datatypes::ArrowPrimitiveType>(
    table: &RecordBatch,
    name: &str,
    row: usize,
) -> Vec<T::Native> {
    let list = table.column_by_name(name).unwrap().as_list::<i32>();
    list.value(row).as_primitive::<T>().values().to_vec()
}

#[test]
fn planted_dead_neurons_and_detectors_are_recovered_with_their_projections() {
    let recovered = Recovered::analyse();
    dead_neurons_are_the_planted_ones(&recovered);
    token_detectors_are_the_planted_ones_with_numpys_projections(&recovered);
    every_alive_neuron_is_projected(&recovered);
    suppression_and_its_null_baseline_match_a_recomputation(&recovered);
}

fn dead_neurons_are_the_planted_ones(r: &Recovered) {
    let dead = r.neurons.column_by_name("dead").unwrap().as_boolean();
    let found_dead: BTreeSet<(u16, u16)> = (0..r.neurons.num_rows())
        .filter(|&i| dead.value(i))
        .map(|i| Recovered::neuron_at(&r.neurons, i))
        .collect();
    assert_eq!(found_dead, r.planted_dead);
}

fn token_detectors_are_the_planted_ones_with_numpys_projections(r: &Recovered) {
    let detectors = &r.detectors;
    let found: BTreeSet<(u16, u16)> = r
        .token_rows
        .iter()
        .map(|&i| Recovered::neuron_at(detectors, i))
        .collect();
    let expected: BTreeSet<(u16, u16)> = r
        .planted
        .detectors
        .iter()
        .map(|d| (d.layer, d.neuron))
        .collect();
    assert_eq!(found, expected, "token detectors");
    let suppresses = detectors
        .column_by_name("suppresses_triggers")
        .unwrap()
        .as_boolean();
    let names = detectors
        .column_by_name("triggers")
        .unwrap()
        .as_list::<i32>();
    for p in &r.planted.detectors {
        let row = Recovered::row_of(detectors, r.token_rows.iter().copied(), (p.layer, p.neuron));
        let ordered = r.trigger_ids(row);
        let ids: BTreeSet<u32> = ordered.iter().copied().collect();
        assert_eq!(
            ids,
            p.tokens.iter().copied().collect(),
            "triggers of {}/{}",
            p.layer,
            p.neuron
        );
        let strings: BTreeSet<String> = {
            let inner = names.value(row);
            let s = inner.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_string()).collect()
        };
        assert_eq!(strings, p.token_strings.iter().cloned().collect());
        // Projections equal numpy's: the five most suppressed and promoted tokens in order
        // (scores are far apart there), and each trigger's score.
        let ids = |name: &str| list_values::<UInt32Type>(detectors, name, row);
        assert_eq!(ids("suppressed_ids")[..5], p.bottom[..5]);
        assert_eq!(ids("promoted_ids")[..5], p.top[..5]);
        let scores = list_values::<Float32Type>(detectors, "trigger_scores", row);
        for (t, score) in ordered.iter().zip(scores) {
            let k = p.tokens.iter().position(|x| x == t).unwrap();
            assert!(
                (score - p.scores[k]).abs() < 1e-5,
                "{score} vs {}",
                p.scores[k]
            );
        }
        let mean: f32 = p.scores.iter().sum::<f32>() / p.scores.len() as f32;
        assert_eq!(suppresses.value(row), mean < 0.0);
    }
}

/// Every alive neuron is projected too (the fixture is small enough for --project-all auto),
/// the planted ones exactly as numpy does.
fn every_alive_neuron_is_projected(r: &Recovered) {
    let projections = &r.projections;
    assert_eq!(
        projections.num_rows(),
        r.neurons.num_rows() - r.planted_dead.len()
    );
    for p in &r.planted.detectors {
        let row = Recovered::row_of(projections, 0..projections.num_rows(), (p.layer, p.neuron));
        let ids = |name: &str| list_values::<UInt32Type>(projections, name, row);
        assert_eq!(ids("suppressed_ids")[..5], p.bottom[..5]);
        assert_eq!(ids("promoted_ids")[..5], p.top[..5]);
    }
    for &dead in &r.planted_dead {
        assert!(!(0..projections.num_rows()).any(|i| Recovered::neuron_at(projections, i) == dead));
    }
}

/// The first planted detector's update is minus its token's embedding: it suppresses it, and
/// its token is the most suppressed of all. The null baseline is recomputed from the table:
/// each token detector's chance, their mean, and the tail probability by enumerating every
/// outcome of the detectors.
fn suppression_and_its_null_baseline_match_a_recomputation(r: &Recovered) {
    let suppression = r.summary.suppression.clone().unwrap();
    assert_eq!(suppression.detectors, 3);
    assert_eq!(suppression.suppressing, 1);
    let first = &r.planted.detectors[0];
    assert_eq!(first.bottom[0], first.tokens[0]);

    let float = |name: &str| {
        let column = r
            .detectors
            .column_by_name(name)
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        r.token_rows
            .iter()
            .map(|&i| column.value(i))
            .collect::<Vec<f64>>()
    };
    let chances = float("null_probability");
    let negative = float("negative_share");
    let ranks = float("trigger_rank_share");
    for ((&row, &chance), &neg) in r.token_rows.iter().zip(&chances).zip(&negative) {
        assert!(chance > 0.0 && chance < 1.0);
        if r.trigger_ids(row).len() == 1 {
            assert!((chance - neg).abs() < 1e-12, "{chance} vs {neg}");
        }
    }
    let first_row = r
        .token_rows
        .iter()
        .position(|&i| Recovered::neuron_at(&r.detectors, i) == (first.layer, first.neuron))
        .unwrap();
    assert_eq!(
        ranks[first_row], 0.0,
        "the first detector's token is the most suppressed"
    );
    let mean = chances.iter().sum::<f64>() / chances.len() as f64;
    assert!((suppression.null_share.unwrap() - mean).abs() < 1e-12);
    let mut tail = 0.0;
    for outcome in 0u32..1 << chances.len() {
        if outcome.count_ones() as u64 >= suppression.suppressing {
            tail += chances
                .iter()
                .enumerate()
                .map(|(k, &c)| if outcome >> k & 1 == 1 { c } else { 1.0 - c })
                .product::<f64>();
        }
    }
    assert!(
        (suppression.p_value.unwrap() - tail).abs() < 1e-12,
        "{tail}"
    );
    let mut sorted = ranks.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted.len(), 3);
    assert_eq!(suppression.median_trigger_rank.unwrap(), sorted[1]);
}
