//! `contexts.parquet`: for every neuron, the first places it fires (outside the `</s>` prefix)
//! with the tokens around them, so the report shows example contexts without the runs.

use arrow::array::{RecordBatch, UInt16Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{batch, col, u32_lists};
use super::{AnalysisTable, TableReader};
use crate::error::Result;

/// One place a neuron fires, with the tokens around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Sequence id of the place.
    pub seq: u64,
    /// Position of the token it fires on.
    pub pos: u16,
    /// Token ids of the window: up to 10 before the token, the token, up to 10 after, within
    /// the sequence.
    pub tokens: Vec<u32>,
    /// Index of the token it fires on within `tokens`.
    pub at: u16,
}

impl AnalysisTable for ContextRow {
    const FILE: &'static str = "contexts.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let u16s = |f: fn(&Self) -> u16| col(UInt16Array::from_iter_values(rows.iter().map(f)));
        batch(
            Self::FILE,
            vec![
                ("layer".into(), u16s(|r| r.layer)),
                ("neuron".into(), u16s(|r| r.neuron)),
                (
                    "seq".into(),
                    col(UInt64Array::from_iter_values(rows.iter().map(|r| r.seq))),
                ),
                ("pos".into(), u16s(|r| r.pos)),
                (
                    "tokens".into(),
                    u32_lists(rows.iter().map(|r| Some(r.tokens.clone()))),
                ),
                ("at".into(), u16s(|r| r.at)),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let seq = t.integers::<UInt64Type>("seq")?;
        let pos = t.integers::<UInt16Type>("pos")?;
        let tokens = t.integer_lists::<UInt32Type>("tokens")?;
        let at = t.integers::<UInt16Type>("at")?;
        (0..t.len())
            .map(|i| {
                let tokens = tokens[i]
                    .clone()
                    .ok_or_else(|| t.column_error("tokens", format!("row {i}: null")))?;
                if usize::from(at[i]) >= tokens.len() || usize::from(at[i]) > usize::from(pos[i]) {
                    return Err(t.column_error(
                        "at",
                        format!(
                            "row {i}: index {} in a window of {} tokens at position {}",
                            at[i],
                            tokens.len(),
                            pos[i]
                        ),
                    ));
                }
                Ok(ContextRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    seq: seq[i],
                    pos: pos[i],
                    tokens,
                    at: at[i],
                })
            })
            .collect()
    }
}
