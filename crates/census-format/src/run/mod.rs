//! A run directory as data: its manifest, the settings that cut the corpus into sequences, and
//! its token, activation and count tables (see `docs/SCHEMA.md`).

pub mod checked;
pub mod counts;
mod engine;
mod ffn_path;
pub mod manifest;
pub mod sequence_table;
pub mod sequencing;
pub mod tables;

pub use checked::PartLimits;
pub use counts::RecordMode;
pub use engine::Engine;
pub use ffn_path::FfnPath;
pub use manifest::{
    CommittedPart, FileFingerprint, MANIFEST_FILE, Manifest, ModelDescription, RunConfig,
    SCHEMA_VERSION,
};
pub use sequencing::{CorpusCounts, DEFAULT_MAX_SEQ_LEN, SequenceOptions, SequenceStart, Shard};

/// What a run directory holds at its top level, as [`crate::StagedDir::begin`] reads it (runs
/// keep no list of their files): the manifest, the sequence table and the parts' directories.
pub const RUN_OWNED: &[&str] = &[
    manifest::MANIFEST_FILE,
    sequence_table::SEQUENCES_FILE,
    tables::TOKENS_DIR,
    tables::ACTIVATIONS_DIR,
    counts::COUNTS_DIR,
];
