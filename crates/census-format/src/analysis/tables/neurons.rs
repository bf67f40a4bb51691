//! `neurons.parquet`: one row per (layer, neuron).

use arrow::array::{
    BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{batch, col, optional_names};
use super::{AnalysisTable, Classification, PositionalType, TableReader};
use crate::error::Result;

/// One neuron's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronRow {
    /// Layer (0-based).
    pub layer: u16,
    /// Neuron within the layer.
    pub neuron: u16,
    /// Tokens it fired on.
    pub fires: u64,
    /// Of those, `</s>` prefix tokens.
    pub fires_bos: u64,
    /// Fires over counted tokens.
    pub frequency: f64,
    /// Never fired on a counted token.
    pub dead: bool,
    /// Unigrams, bigrams and trigrams covering its activations (none where that order was not
    /// counted in this layer).
    pub coverage: [Option<u32>; 3],
    /// A token detector.
    pub token_detector: bool,
    /// A trigram detector.
    pub trigram_detector: bool,
    /// Mutual information with position, in nats (none where not computed).
    pub position_mi: Option<f64>,
    /// Its positional type and strength, if positional.
    pub positional: Option<Classification>,
}

const COVERAGE_COLUMNS: [&str; 3] = ["unigram_coverage", "bigram_coverage", "trigram_coverage"];

impl AnalysisTable for NeuronRow {
    const FILE: &'static str = "neurons.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let mut columns = vec![
            (
                "layer".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|n| n.layer))),
            ),
            (
                "neuron".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|n| n.neuron))),
            ),
            (
                "fires".into(),
                col(UInt64Array::from_iter_values(rows.iter().map(|n| n.fires))),
            ),
            (
                "fires_bos".into(),
                col(UInt64Array::from_iter_values(
                    rows.iter().map(|n| n.fires_bos),
                )),
            ),
            (
                "frequency".into(),
                col(Float64Array::from_iter_values(
                    rows.iter().map(|n| n.frequency),
                )),
            ),
            (
                "dead".into(),
                col(BooleanArray::from_iter(rows.iter().map(|n| Some(n.dead)))),
            ),
        ];
        for (i, name) in COVERAGE_COLUMNS.into_iter().enumerate() {
            columns.push((
                name.into(),
                col(UInt32Array::from_iter(rows.iter().map(|n| n.coverage[i]))),
            ));
        }
        columns.extend([
            (
                "token_detector".into(),
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.token_detector)),
                )),
            ),
            (
                "trigram_detector".into(),
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.trigram_detector)),
                )),
            ),
            (
                "position_mi".into(),
                col(Float64Array::from_iter(rows.iter().map(|n| n.position_mi))),
            ),
            (
                "positional".into(),
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.positional.is_some())),
                )),
            ),
            (
                "positional_type".into(),
                col(StringArray::from_iter(
                    rows.iter().map(|n| n.positional.map(|c| c.kind.name())),
                )),
            ),
            (
                "positional_strong".into(),
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| n.positional.map(|c| c.strong)),
                )),
            ),
        ]);
        batch(Self::FILE, columns)
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let fires = t.integers::<UInt64Type>("fires")?;
        let fires_bos = t.integers::<UInt64Type>("fires_bos")?;
        let frequency = t.numbers("frequency", 0.0, 1.0)?;
        let dead = t.bools("dead")?;
        let mut coverage = Vec::new();
        for name in COVERAGE_COLUMNS {
            coverage.push(t.optional_integers::<UInt32Type>(name)?);
        }
        let token_detector = t.bools("token_detector")?;
        let trigram_detector = t.bools("trigram_detector")?;
        let position_mi = t.optional_numbers("position_mi", 0.0, f64::MAX)?;
        let kind = optional_names(t, "positional_type", PositionalType::from_name)?;
        let strong = t.optional_bools("positional_strong")?;
        Ok((0..t.len())
            .map(|i| NeuronRow {
                layer: layer[i],
                neuron: neuron[i],
                fires: fires[i],
                fires_bos: fires_bos[i],
                frequency: frequency[i],
                dead: dead[i],
                coverage: [coverage[0][i], coverage[1][i], coverage[2][i]],
                token_detector: token_detector[i],
                trigram_detector: trigram_detector[i],
                position_mi: position_mi[i],
                positional: kind[i].map(|kind| Classification {
                    kind,
                    strong: strong[i].unwrap_or(false),
                }),
            })
            .collect())
    }
}
