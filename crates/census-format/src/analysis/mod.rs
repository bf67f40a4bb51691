//! An analysis directory as data: its manifest, the options it recorded, the data each section
//! rests on, its headline numbers, its tables as typed rows, and the vocabulary it named tokens with (see `docs/SCHEMA.md` and `docs/ANALYSIS.md`).

pub mod manifest;
pub mod options;
pub mod sections;
pub mod summary;
pub mod tables;
pub mod vocabulary;

pub use manifest::{AnalysisManifest, InputRun};
pub use options::AnalysisOptions;
pub use summary::Summary;
pub use tables::AnalysisTable;
pub use vocabulary::Vocabulary;

/// What an analysis directory holds at its top level, as [`crate::StagedDir::begin`] reads an
/// analysis written without a list of its files: its tables, summary and manifest.
pub const ANALYSIS_OWNED: &[&str] = &["*.parquet", "summary.json", "manifest.json"];
