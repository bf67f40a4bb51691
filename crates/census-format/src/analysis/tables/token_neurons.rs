//! `token_neurons.parquet`: for each token, the neurons that fire most often on it and the
//! neurons that give it the largest share of their fires, over every layer whose unigram tables
//! were counted.

use arrow::array::{RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{batch, col};
use super::{AnalysisTable, TableReader};
use crate::error::Result;

/// A neuron among a token's top neurons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenNeuronRow {
    /// Token id.
    pub token_id: u32,
    /// The token's string in the vocabulary.
    pub token: String,
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// The neuron's fires on the token (outside the `</s>` prefix, on the n-gram data).
    pub fires: u64,
    /// The token's occurrences (outside the prefix, on the n-gram data).
    pub occurrences: u64,
    /// The neuron's fires on every token (outside the prefix, on the n-gram data).
    pub neuron_fires: u64,
}

impl AnalysisTable for TokenNeuronRow {
    const FILE: &'static str = "token_neurons.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let u16s = |f: fn(&Self) -> u16| col(UInt16Array::from_iter_values(rows.iter().map(f)));
        let u64s = |f: fn(&Self) -> u64| col(UInt64Array::from_iter_values(rows.iter().map(f)));
        batch(
            Self::FILE,
            vec![
                (
                    "token_id".into(),
                    col(UInt32Array::from_iter_values(
                        rows.iter().map(|r| r.token_id),
                    )),
                ),
                (
                    "token".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.token.as_str()),
                    )),
                ),
                ("layer".into(), u16s(|r| r.layer)),
                ("neuron".into(), u16s(|r| r.neuron)),
                ("fires".into(), u64s(|r| r.fires)),
                ("occurrences".into(), u64s(|r| r.occurrences)),
                ("neuron_fires".into(), u64s(|r| r.neuron_fires)),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let token_id = t.integers::<UInt32Type>("token_id")?;
        let token = t.strings("token")?;
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let fires = t.integers::<UInt64Type>("fires")?;
        let occurrences = t.integers::<UInt64Type>("occurrences")?;
        let neuron_fires = t.integers::<UInt64Type>("neuron_fires")?;
        (0..t.len())
            .map(|i| {
                if fires[i] == 0 || fires[i] > occurrences[i] || fires[i] > neuron_fires[i] {
                    return Err(t.column_error(
                        "fires",
                        format!(
                            "row {i}: {} fires on a token of {} occurrences by a neuron of {} fires",
                            fires[i], occurrences[i], neuron_fires[i]
                        ),
                    ));
                }
                Ok(TokenNeuronRow {
                    token_id: token_id[i],
                    token: token[i].clone(),
                    layer: layer[i],
                    neuron: neuron[i],
                    fires: fires[i],
                    occurrences: occurrences[i],
                    neuron_fires: neuron_fires[i],
                })
            })
            .collect()
    }
}
