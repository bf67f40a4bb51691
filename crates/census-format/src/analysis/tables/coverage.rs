//! `coverage.parquet`: alive neurons per n-gram coverage bin, per layer and order.

use arrow::array::{RecordBatch, StringArray, UInt16Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt64Type};

use super::columns::{batch, col, names};
use super::{AnalysisTable, Order, TableReader};
use crate::error::Result;

/// One bin of one layer's coverage histogram for one n-gram order.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRow {
    /// Layer.
    pub layer: u16,
    /// N-gram order.
    pub order: Order,
    /// Bin index.
    pub bin: u16,
    /// Bin label (`1`, `2-4`, `≥100`, …).
    pub label: String,
    /// Alive neurons in the bin.
    pub neurons: u64,
}

impl AnalysisTable for CoverageRow {
    const FILE: &'static str = "coverage.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        batch(
            Self::FILE,
            vec![
                (
                    "layer".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
                ),
                (
                    "order".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.order.name()),
                    )),
                ),
                (
                    "bin".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.bin))),
                ),
                (
                    "label".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.label.as_str()),
                    )),
                ),
                (
                    "neurons".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.neurons),
                    )),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let order = names(t, "order", Order::from_name)?;
        let bin = t.integers::<UInt16Type>("bin")?;
        let label = t.strings("label")?;
        let neurons = t.integers::<UInt64Type>("neurons")?;
        Ok((0..t.len())
            .map(|i| CoverageRow {
                layer: layer[i],
                order: order[i],
                bin: bin[i],
                label: label[i].clone(),
                neurons: neurons[i],
            })
            .collect())
    }
}
