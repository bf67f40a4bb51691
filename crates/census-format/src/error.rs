//! Errors of the format crate; each names the file or directory concerned.

use std::path::PathBuf;

/// Result of this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot write", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A column of a table is missing, of another type, or holds values that do not fit.
    #[error("{}: column '{column}': {reason}", path.display())]
    Column {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A Parquet file cannot be decoded, or its footer is damaged.
    #[error("{}: {reason}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Arrow could not build or combine a table's columns.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What Arrow reported.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A Parquet file could not be written.
    #[error("{}: {source}", path.display())]
    ParquetWrite {
        /// The file.
        path: PathBuf,
        /// What the Parquet writer reported.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A corpus record could not be used.
    #[error("{}:{line}: {reason}", path.display())]
    Corpus {
        /// The corpus file.
        path: PathBuf,
        /// 1-based line (or row) number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The corpus yields no documents at all.
    #[error("the corpus is empty: {0}")]
    EmptyCorpus(String),
    /// A setting is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A manifest is unreadable or inconsistent with the files.
    #[error("bad manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON file does not hold what the format specifies.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the JSON reader found.
        #[source]
        source: serde_json::Error,
    },
    /// A directory is in the way and is not one this project wrote.
    #[error("{}: {reason}", path.display())]
    Foreign {
        /// The directory.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
}

impl FormatError {
    /// A Parquet file at `path` that cannot be read, and why.
    pub fn parquet(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Parquet {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
