//! `dead_saturation.parquet`: each layer's dead neurons after each doubling of the tokens read,
//! so that "dead" can be told from "too rare for this much data".

use arrow::array::{RecordBatch, UInt16Array, UInt32Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{batch, col};
use super::{AnalysisTable, TableReader};
use crate::error::Result;

/// A layer's dead neurons once `tokens` tokens were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadSaturationRow {
    /// Layer.
    pub layer: u16,
    /// Tokens read so far, the `</s>` prefixes included, in the order of the run's parts.
    pub tokens: u64,
    /// Neurons that have not fired on them (under the analysis's reading of the prefix).
    pub dead: u32,
}

impl AnalysisTable for DeadSaturationRow {
    const FILE: &'static str = "dead_saturation.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        batch(
            Self::FILE,
            vec![
                (
                    "layer".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
                ),
                (
                    "tokens".into(),
                    col(UInt64Array::from_iter_values(rows.iter().map(|r| r.tokens))),
                ),
                (
                    "dead".into(),
                    col(UInt32Array::from_iter_values(rows.iter().map(|r| r.dead))),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let tokens = t.integers::<UInt64Type>("tokens")?;
        let dead = t.integers::<UInt32Type>("dead")?;
        Ok((0..t.len())
            .map(|i| DeadSaturationRow {
                layer: layer[i],
                tokens: tokens[i],
                dead: dead[i],
            })
            .collect())
    }
}
