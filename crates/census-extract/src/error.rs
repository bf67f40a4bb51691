//! Errors of the extraction stage; every variant names the file, line or setting at fault.

use std::path::PathBuf;

/// Everything that can go wrong while reading a corpus or writing a run.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
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
    /// A corpus line could not be used.
    #[error("{path}:{line}: {reason}")]
    Corpus {
        /// The corpus file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The corpus yields no tokens at all.
    #[error("the corpus is empty: {0}")]
    EmptyCorpus(String),
    /// A command-line or API option is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The model, checkpoint or tokenizer failed.
    #[error(transparent)]
    Model(#[from] census_model::ModelError),
    /// A Parquet file could not be written or read.
    #[error("parquet error in {path}: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The writer's or reader's message.
        reason: String,
    },
    /// The run directory holds a run with a different configuration.
    #[error(
        "{dir} already holds a run with a different configuration ({difference}); use another --out directory or delete the old run"
    )]
    ConfigurationChanged {
        /// The run directory.
        dir: PathBuf,
        /// The first differing setting.
        difference: String,
    },
    /// The manifest is unreadable or inconsistent with the files.
    #[error("bad manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The disk cannot hold the run.
    #[error(
        "not enough disk space in {dir}: the run needs about {needed_mb} MB more, {available_mb} MB are free"
    )]
    DiskSpace {
        /// The output directory.
        dir: PathBuf,
        /// Estimated megabytes still to write.
        needed_mb: u64,
        /// Megabytes available.
        available_mb: u64,
    },
    /// A run's file does not hold what the format specifies, or an output could not be
    /// staged.
    #[error(transparent)]
    Format(census_format::FormatError),
}

impl From<census_format::FormatError> for ExtractError {
    /// Corpus and option errors keep their own variants, so callers can tell an empty corpus or
    /// a bad flag from a damaged file whichever crate found them.
    fn from(error: census_format::FormatError) -> Self {
        use census_format::FormatError;
        match error {
            FormatError::Io {
                action,
                path,
                source,
            } => Self::Io {
                action,
                path,
                source,
            },
            FormatError::Corpus { path, line, reason } => Self::Corpus { path, line, reason },
            FormatError::EmptyCorpus(what) => Self::EmptyCorpus(what),
            FormatError::InvalidOption(what) => Self::InvalidOption(what),
            FormatError::Manifest { path, reason } => Self::Manifest { path, reason },
            other => Self::Format(other),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ExtractError> = std::result::Result<T, E>;

impl ExtractError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
