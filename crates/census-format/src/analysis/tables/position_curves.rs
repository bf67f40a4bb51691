//! `position_curves.parquet`: every alive neuron's activation frequency by position, in bins of
//! consecutive positions, for the report's browser (positional neurons keep their full curve in
//! `positional.parquet`).

use arrow::array::{RecordBatch, UInt16Array};
use arrow::datatypes::UInt16Type;

use super::columns::{batch, col, f32_lists};
use super::{AnalysisTable, TableReader};
use crate::error::Result;

/// One alive neuron's binned frequency-by-position curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionCurveRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Position of the first bin's first position.
    pub first_position: u16,
    /// Positions per bin (the last bin may hold fewer).
    pub bin_width: u16,
    /// Activation frequency in each bin: fires over tokens at the bin's positions.
    pub frequency: Vec<f32>,
}

impl AnalysisTable for PositionCurveRow {
    const FILE: &'static str = "position_curves.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let u16s = |f: fn(&Self) -> u16| col(UInt16Array::from_iter_values(rows.iter().map(f)));
        batch(
            Self::FILE,
            vec![
                ("layer".into(), u16s(|r| r.layer)),
                ("neuron".into(), u16s(|r| r.neuron)),
                ("first_position".into(), u16s(|r| r.first_position)),
                ("bin_width".into(), u16s(|r| r.bin_width)),
                (
                    "frequency".into(),
                    f32_lists(rows.iter().map(|r| Some(r.frequency.clone()))),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let first = t.integers::<UInt16Type>("first_position")?;
        let width = t.integers::<UInt16Type>("bin_width")?;
        let mut frequency = t.f32_lists("frequency", 0.0, 1.0)?;
        (0..t.len())
            .map(|i| {
                if width[i] == 0 {
                    return Err(t.column_error("bin_width", format!("row {i}: 0")));
                }
                Ok(PositionCurveRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    first_position: first[i],
                    bin_width: width[i],
                    frequency: frequency[i].take().ok_or_else(|| {
                        t.column_error("frequency", format!("row {i}: unexpected null"))
                    })?,
                })
            })
            .collect()
    }
}
