//! `detector_null.parquet`: each layer's detectors beside those found with every sequence's
//! text tokens shuffled (seeded) and the fires kept in place, the number found by chance.

use arrow::array::{RecordBatch, StringArray, UInt16Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt64Type};

use super::columns::{batch, col, names};
use super::{AnalysisTable, DetectorKind, TableReader};
use crate::error::Result;

/// One layer's detectors of one kind, on the data and on its tokens shuffled.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorNullRow {
    /// Layer.
    pub layer: u16,
    /// Token or trigram detectors.
    pub kind: DetectorKind,
    /// Detectors of the layer on the data.
    pub detectors: u64,
    /// Detectors of the layer with each sequence's text tokens shuffled.
    pub shuffled: u64,
}

impl AnalysisTable for DetectorNullRow {
    const FILE: &'static str = "detector_null.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        batch(
            Self::FILE,
            vec![
                (
                    "layer".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
                ),
                (
                    "kind".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.kind.name()),
                    )),
                ),
                (
                    "detectors".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.detectors),
                    )),
                ),
                (
                    "shuffled".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.shuffled),
                    )),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let kind = names(t, "kind", DetectorKind::from_name)?;
        let detectors = t.integers::<UInt64Type>("detectors")?;
        let shuffled = t.integers::<UInt64Type>("shuffled")?;
        Ok((0..t.len())
            .map(|i| DetectorNullRow {
                layer: layer[i],
                kind: kind[i],
                detectors: detectors[i],
                shuffled: shuffled[i],
            })
            .collect())
    }
}
