//! The on-disk side of neuron-census, with no model and no engine.
//!
//! - [`analysis`]: an analysis directory: its manifest, options, section bases and summary.
//! - [`atomic`]: files written whole or not at all (temporary file, fsync, rename).
//! - [`checksum`]: the size and CRC-32 of a file, computed as it is written and checked as it
//!   is read.
//! - [`corpus`]: corpus sources (JSONL, text, pre-tokenized, Parquet) and their documents.
//! - [`model`]: the model a run used: its family and hyper-parameters ([`model::ModelConfig`]).
//! - [`run`]: a run directory: its manifest, sequencing settings, token and activation tables.
//! - [`columns`]: columns read as the types the formats specify, from files other tools
//!   rewrote too (any integer width whose values fit).
//! - [`parquet_file`]: Parquet files opened with their footer checked, so damage is an error
//!   naming the file, never a panic.
//! - [`staged`]: output directories built beside their final place and swapped in only when
//!   complete, so a failed command leaves the previous output as it was.

pub mod analysis;
pub mod atomic;
pub mod bounded;
pub mod checksum;
pub mod columns;
pub mod corpus;
mod error;
pub mod hub_ref;
pub mod interrupt;
pub mod json_file;
pub mod lock;
pub mod model;
pub mod parquet_file;
pub mod paths;
pub mod progress;
pub mod run;
pub mod series;
pub mod staged;

pub use atomic::write_atomic;
pub use checksum::{DigestWriter, FileDigest};
pub use error::{FormatError, Refusal, Result, SequencingError, SourceError};
pub use lock::OutputLock;
pub use staged::{OutputKind, Ownership, StagedDir, check_replaceable};
