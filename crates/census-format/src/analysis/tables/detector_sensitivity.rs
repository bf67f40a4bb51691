//! `detector_sensitivity.parquet`: how many detectors each layer has under several minimum
//! occurrences of a trigger (`--min-occurrences`), the rest of the rules unchanged.

use arrow::array::{RecordBatch, StringArray, UInt16Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt64Type};

use super::columns::{batch, col, names};
use super::{AnalysisTable, DetectorKind, TableReader};
use crate::error::Result;

/// The minimum occurrences the sensitivity table counts detectors under, beside the analysis's
/// own `--min-occurrences`.
pub const SENSITIVITY_MIN_OCCURRENCES: [u64; 3] = [1, 5, 20];

/// The detectors of one kind in one layer under one minimum of occurrences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorSensitivityRow {
    /// Layer.
    pub layer: u16,
    /// Token or trigram detectors.
    pub kind: DetectorKind,
    /// Occurrences an n-gram needs before it can be a trigger.
    pub min_occurrences: u64,
    /// Detectors under that minimum.
    pub detectors: u64,
}

impl AnalysisTable for DetectorSensitivityRow {
    const FILE: &'static str = "detector_sensitivity.parquet";

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
                    "min_occurrences".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.min_occurrences),
                    )),
                ),
                (
                    "detectors".into(),
                    col(UInt64Array::from_iter_values(
                        rows.iter().map(|r| r.detectors),
                    )),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let kind = names(t, "kind", DetectorKind::from_name)?;
        let min_occurrences = t.integers::<UInt64Type>("min_occurrences")?;
        let detectors = t.integers::<UInt64Type>("detectors")?;
        Ok((0..t.len())
            .map(|i| DetectorSensitivityRow {
                layer: layer[i],
                kind: kind[i],
                min_occurrences: min_occurrences[i],
                detectors: detectors[i],
            })
            .collect())
    }
}
