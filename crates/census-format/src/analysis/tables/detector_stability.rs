//! `detector_stability.parquet`: each layer's detectors of the whole data found again on each
//! half of it (split by sequence, seeded), and how much their triggers overlap there.

use arrow::array::{Float64Array, RecordBatch, StringArray, UInt8Array, UInt16Array, UInt64Array};
use arrow::datatypes::{UInt8Type, UInt16Type, UInt64Type};

use super::columns::{batch, col, names};
use super::{AnalysisTable, DetectorKind, TableReader};
use crate::error::Result;

/// One layer's detectors of one kind against one half of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorStabilityRow {
    /// Layer.
    pub layer: u16,
    /// Token or trigram detectors.
    pub kind: DetectorKind,
    /// The half (0 or 1).
    pub half: u8,
    /// Detectors of the layer on the whole data.
    pub detectors: u64,
    /// Of those, the ones that are detectors of the same kind on the half too.
    pub on_half: u64,
    /// The mean Jaccard index of their triggers on the whole data and on the half (none when
    /// no detector is found again).
    pub trigger_overlap: Option<f64>,
}

impl AnalysisTable for DetectorStabilityRow {
    const FILE: &'static str = "detector_stability.parquet";

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
                    "half".into(),
                    col(UInt8Array::from_iter_values(rows.iter().map(|r| r.half))),
                ),
                (
                    "detectors".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.detectors),
                    )),
                ),
                (
                    "on_half".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.on_half),
                    )),
                ),
                (
                    "trigger_overlap".into(),
                    col(Float64Array::from_iter(
                        rows.iter().map(|r| r.trigger_overlap),
                    )),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let kind = names(t, "kind", DetectorKind::from_name)?;
        let half = t.integers::<UInt8Type>("half")?;
        let detectors = t.integers::<UInt64Type>("detectors")?;
        let on_half = t.integers::<UInt64Type>("on_half")?;
        let overlap = t.optional_numbers("trigger_overlap", 0.0, 1.0)?;
        Ok((0..t.len())
            .map(|i| DetectorStabilityRow {
                layer: layer[i],
                kind: kind[i],
                half: half[i],
                detectors: detectors[i],
                on_half: on_half[i],
                trigger_overlap: overlap[i],
            })
            .collect())
    }
}
