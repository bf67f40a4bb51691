//! Extraction, the first pipeline stage: a corpus through an OPT model into a run directory of
//! Parquet shards recording, for every token and layer, which FFN neurons fired. The layout is
//! specified in `docs/SCHEMA.md`.
//!
//! - [`sequences`]: documents → `</s>`-prefixed sequences, shards, parts and batches.
//! - [`extract`]: the run itself, resumable part by part.
//!
//! What it reads and writes is census-format's: the corpus sources (`census_format::corpus`),
//! the run's manifest (`census_format::run::manifest`) and its Parquet tables
//! (`census_format::run::tables`).

pub mod cli;
pub mod counter_memory;
mod device_counts;
mod engine;
mod error;
mod run;
pub mod sequences;

pub use engine::{FfnFlag, engine_from_flags};
pub use error::{ExtractError, Result};
pub use run::options::{
    ASSUMED_DENSITY, DEFAULT_BATCH_TOKENS, DEFAULT_PART_TOKENS, ExtractOptions,
};
pub use run::{ExtractSummary, extract, extract_on};
