//! The Parquet tables of an analysis directory as typed rows (see `docs/SCHEMA.md`). The
//! analysis writes them and the report reads them through these types, so each column is
//! declared once, here.
//!
//! Every table implements [`AnalysisTable`]: its file name, how its rows become a record batch,
//! and how they are read back through a [`TableReader`], which accepts any integer width whose
//! values fit and names the file and column of anything else.

mod columns;
mod contexts;
mod coverage;
mod dead_saturation;
mod detector_null;
mod detector_sensitivity;
mod detector_stability;
mod detectors;
mod kinds;
mod layers;
mod neurons;
mod position_curves;
mod positional;
mod projections;
pub mod reader;
mod token_neurons;

use std::path::Path;

use arrow::array::RecordBatch;

pub use contexts::ContextRow;
pub use coverage::CoverageRow;
pub use dead_saturation::DeadSaturationRow;
pub use detector_null::DetectorNullRow;
pub use detector_sensitivity::{DetectorSensitivityRow, SENSITIVITY_MIN_OCCURRENCES};
pub use detector_stability::DetectorStabilityRow;
pub use detectors::{DetectorProjection, DetectorRow};
pub use kinds::{Classification, DetectorKind, Order, PositionalType};
pub use layers::{DetectedCoverage, LayerRow};
pub use neurons::NeuronRow;
pub use position_curves::PositionCurveRow;
pub use positional::{PositionalDomainRow, PositionalRow};
pub use projections::{ProjectionIds, ProjectionRow, RankedToken};
pub use reader::TableReader;
pub use token_neurons::TokenNeuronRow;

use crate::error::{FormatError, Result};

/// A table of an analysis directory, one row type per file.
pub trait AnalysisTable: Sized {
    /// The file name inside the analysis directory.
    const FILE: &'static str;

    /// The rows as one record batch, columns in the order `docs/SCHEMA.md` lists them.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch>;

    /// The rows of a table read whole.
    fn from_table(table: &TableReader) -> Result<Vec<Self>>;

    /// Reads the table of analysis directory `dir`.
    fn read(dir: &Path) -> Result<Vec<Self>> {
        Self::from_table(&TableReader::read(&dir.join(Self::FILE))?)
    }

    /// The rows of neuron `neuron` of layer `layer` in the table of analysis directory `dir`
    /// (a table with `layer` and `neuron` columns), read without the rest of the table.
    fn read_neuron(dir: &Path, layer: usize, neuron: usize) -> Result<Vec<Self>> {
        Self::from_table(&TableReader::read_neuron(
            &dir.join(Self::FILE),
            layer,
            neuron,
        )?)
    }

    /// Writes `rows` as this table of analysis directory `dir` (zstd, footer `metadata`),
    /// through a temporary file renamed into place.
    fn write(dir: &Path, rows: &[Self], metadata: &[(String, String)]) -> Result<()> {
        write_table(&dir.join(Self::FILE), &Self::to_batch(rows)?, metadata)
    }
}

/// Writes `batch` (zstd, footer `metadata`) to `path` through a temporary file, flushed to disk
/// and renamed into place.
pub fn write_table(path: &Path, batch: &RecordBatch, metadata: &[(String, String)]) -> Result<()> {
    let (temp, _) = crate::run::tables::write_temp_parquet(path, batch, metadata)?;
    std::fs::rename(&temp, path).map_err(|e| FormatError::io("cannot write", path, e))
}
