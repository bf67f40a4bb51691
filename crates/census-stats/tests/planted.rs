//! End to end on a random OPT with planted structure (`tests/fixtures/opt/planted`, written by
//! `make_fixtures.py planted`): extraction, then analysis, recovers exactly the planted dead
//! neurons and token detectors, and the detectors' vocabulary projections equal the ones numpy
//! computed from the same weights.

mod common;

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, UInt16Type, UInt32Type};
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

#[test]
fn planted_dead_neurons_and_detectors_are_recovered_with_their_projections() {
    let planted: Planted = serde_json::from_str(
        &std::fs::read_to_string(opt_fixture("planted").join("planted.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("analysis"));
    extract_planted(&run);
    let summary = analyze(&AnalyzeRequest::new(vec![run], out.clone())).unwrap();

    let neurons = read_table(&out.join("neurons.parquet"));
    let layer = neurons
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let neuron = neurons
        .column_by_name("neuron")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let dead = neurons.column_by_name("dead").unwrap().as_boolean();
    let found_dead: BTreeSet<(u16, u16)> = (0..neurons.num_rows())
        .filter(|&i| dead.value(i))
        .map(|i| (layer.value(i), neuron.value(i)))
        .collect();
    let planted_dead: BTreeSet<(u16, u16)> = planted
        .dead
        .iter()
        .enumerate()
        .flat_map(|(l, ns)| ns.iter().map(move |&n| (l as u16, n)))
        .collect();
    assert_eq!(found_dead, planted_dead);

    let detectors = read_table(&out.join("detectors.parquet"));
    let kind = detectors.column_by_name("kind").unwrap().as_string::<i32>();
    let d_layer = detectors
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let d_neuron = detectors
        .column_by_name("neuron")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let token_rows: Vec<usize> = (0..detectors.num_rows())
        .filter(|&i| kind.value(i) == "token")
        .collect();
    let found: BTreeSet<(u16, u16)> = token_rows
        .iter()
        .map(|&i| (d_layer.value(i), d_neuron.value(i)))
        .collect();
    let expected: BTreeSet<(u16, u16)> = planted
        .detectors
        .iter()
        .map(|d| (d.layer, d.neuron))
        .collect();
    assert_eq!(found, expected, "token detectors");

    let list_u32 = |name: &str, row: usize| -> Vec<u32> {
        let list = detectors.column_by_name(name).unwrap().as_list::<i32>();
        list.value(row)
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec()
    };
    let list_f32 = |name: &str, row: usize| -> Vec<f32> {
        let list = detectors.column_by_name(name).unwrap().as_list::<i32>();
        list.value(row)
            .as_primitive::<Float32Type>()
            .values()
            .to_vec()
    };
    let suppresses = detectors
        .column_by_name("suppresses_triggers")
        .unwrap()
        .as_boolean();
    let triggers = detectors
        .column_by_name("trigger_ids")
        .unwrap()
        .as_list::<i32>();
    let names = detectors
        .column_by_name("triggers")
        .unwrap()
        .as_list::<i32>();
    for p in &planted.detectors {
        let row = *token_rows
            .iter()
            .find(|&&i| (d_layer.value(i), d_neuron.value(i)) == (p.layer, p.neuron))
            .unwrap();
        let ids: BTreeSet<u32> = (0..triggers.value(row).len())
            .map(|i| {
                let inner = triggers.value(row);
                inner
                    .as_list::<i32>()
                    .value(i)
                    .as_primitive::<UInt32Type>()
                    .value(0)
            })
            .collect();
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
        assert_eq!(list_u32("suppressed_ids", row)[..5], p.bottom[..5]);
        assert_eq!(list_u32("promoted_ids", row)[..5], p.top[..5]);
        let ordered: Vec<u32> = (0..triggers.value(row).len())
            .map(|i| {
                let inner = triggers.value(row);
                inner
                    .as_list::<i32>()
                    .value(i)
                    .as_primitive::<UInt32Type>()
                    .value(0)
            })
            .collect();
        for (t, score) in ordered.iter().zip(list_f32("trigger_scores", row)) {
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
    // Every alive neuron is projected too (the fixture is small enough for --project-all auto),
    // the planted ones exactly as numpy does.
    let projections = read_table(&out.join("projections.parquet"));
    assert_eq!(
        projections.num_rows(),
        neurons.num_rows() - planted_dead.len()
    );
    let p_layer = projections
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let p_neuron = projections
        .column_by_name("neuron")
        .unwrap()
        .as_primitive::<UInt16Type>();
    for p in &planted.detectors {
        let row = (0..projections.num_rows())
            .find(|&i| (p_layer.value(i), p_neuron.value(i)) == (p.layer, p.neuron))
            .unwrap();
        let ids = |name: &str| -> Vec<u32> {
            let list = projections.column_by_name(name).unwrap().as_list::<i32>();
            list.value(row)
                .as_primitive::<UInt32Type>()
                .values()
                .to_vec()
        };
        assert_eq!(ids("suppressed_ids")[..5], p.bottom[..5]);
        assert_eq!(ids("promoted_ids")[..5], p.top[..5]);
    }
    for &(l, n) in &planted_dead {
        assert!(
            !(0..projections.num_rows()).any(|i| (p_layer.value(i), p_neuron.value(i)) == (l, n))
        );
    }

    // The first planted detector's update is minus its token's embedding: it suppresses it, and
    // its token is the most suppressed of all.
    let suppression = summary.suppression.unwrap();
    assert_eq!(suppression.detectors, 3);
    assert_eq!(suppression.suppressing, 1);
    let first = &planted.detectors[0];
    assert_eq!(first.bottom[0], first.tokens[0]);

    // The null baseline, recomputed from the table: each token detector's chance, their mean,
    // and the tail probability by enumerating every outcome of the detectors.
    let float = |name: &str| {
        let column = detectors
            .column_by_name(name)
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        token_rows
            .iter()
            .map(|&i| column.value(i))
            .collect::<Vec<f64>>()
    };
    let chances = float("null_probability");
    let negative = float("negative_share");
    let ranks = float("trigger_rank_share");
    for ((row, &chance), &neg) in token_rows.iter().zip(&chances).zip(&negative) {
        let triggers = detectors
            .column_by_name("trigger_ids")
            .unwrap()
            .as_list::<i32>()
            .value(*row)
            .len();
        assert!(chance > 0.0 && chance < 1.0);
        if triggers == 1 {
            assert!((chance - neg).abs() < 1e-12, "{chance} vs {neg}");
        }
    }
    let first_row = token_rows
        .iter()
        .position(|&i| (d_layer.value(i), d_neuron.value(i)) == (first.layer, first.neuron))
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
