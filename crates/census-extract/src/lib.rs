//! Extraction, the first pipeline stage: a corpus through an OPT model into a run directory of
//! Parquet shards recording, for every token and layer, which FFN neurons fired. The layout is
//! specified in `docs/SCHEMA.md`.
//!
//! - [`corpus`]: JSONL, text and pre-tokenized sources (census-format's, re-exported).
//! - [`sequences`]: documents → `</s>`-prefixed sequences, shards, parts and batches.
//! - [`shards`]: the Parquet files and their readers (census-format's `run::tables`,
//!   re-exported).
//! - [`manifest`]: the run's configuration and commit log.
//! - [`extract`]: the run itself, resumable part by part.

pub mod cli;
pub mod counter_memory;
mod device_counts;
mod engine;
mod error;
mod run;
pub mod sequences;

pub use census_format::corpus;
pub use census_format::run::manifest;
pub use census_format::run::tables as shards;

pub use corpus::{CorpusSource, SourceFormat};
pub use engine::{Engine, FfnFlag};
pub use error::{ExtractError, Result};
pub use manifest::Manifest;
pub use run::options::{
    ASSUMED_DENSITY, DEFAULT_BATCH_TOKENS, DEFAULT_PART_TOKENS, ExtractOptions,
};
pub use run::{ExtractSummary, extract};
pub use sequences::{DEFAULT_MAX_SEQ_LEN, SequenceOptions, Shard};
