//! Errors of the statistics stage; every variant names the run, file, layer or flag at fault.

use std::path::PathBuf;

/// Everything that can go wrong while reading runs or writing an analysis.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot create", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run directory cannot be analysed (or not together with the others).
    #[error("run {path}: {reason}")]
    Run {
        /// The run directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The analysis directory (`--out`) cannot be written or replaced.
    #[error("analysis output {path}: {reason}")]
    Output {
        /// The analysis directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Parquet file could not be read or written, or does not hold what it should.
    #[error("parquet error in {path}: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A part holds values that do not fit its run, found while counting it.
    #[error("{path}: {source}")]
    Count {
        /// The part's file.
        path: PathBuf,
        /// What does not fit.
        source: crate::counts::CountError,
    },
    /// A part of a split analysis does not belong with the others.
    #[error("{}: cannot merge this part: {reason}", path.display())]
    MergePart {
        /// The part's analysis directory.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// An option is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The n-gram count tables of a layer outgrew the memory cap.
    #[error(
        "layer {layer}: the n-gram count tables hold {entries} entries (about {mib} MiB) after \
         {tokens} tokens, above the cap of {cap_mib} MiB; narrow --unigram-layers or \
         --ngram-layers, or raise --ngram-memory-mib"
    )]
    NgramMemory {
        /// The layer.
        layer: usize,
        /// Table entries.
        entries: usize,
        /// Estimated size.
        mib: usize,
        /// Tokens counted so far.
        tokens: u64,
        /// The cap for one layer.
        cap_mib: usize,
    },
    /// The model weights or tokenizer failed to load.
    #[error(transparent)]
    Model(#[from] census_model::ModelError),
    /// A run's files failed to read, or the output directory could not be staged or swapped
    /// in.
    #[error(transparent)]
    Format(#[from] census_format::FormatError),
}

impl StatsError {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A problem with the analysis directory `path`.
    pub fn output(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Output {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A problem with run directory `path`.
    pub fn run(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Run {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result of the statistics stage.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;
