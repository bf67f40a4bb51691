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
    /// A corpus source cannot be read as one.
    #[error("invalid option: {0}")]
    Source(#[from] SourceError),
    /// Sequencing settings that leave no sequence, or a malformed shard.
    #[error("invalid option: {0}")]
    Sequencing(#[from] SequencingError),
    /// Work stopped on request ([`crate::interrupt`]).
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    /// An output place holds something this project may not replace.
    #[error("{} {reason}", path.display())]
    Refused {
        /// The place.
        path: PathBuf,
        /// Why.
        #[source]
        reason: Refusal,
    },
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
    /// An output is being written by another command, which holds its lock.
    #[error("{}: {reason}", path.display())]
    Busy {
        /// The output.
        path: PathBuf,
        /// Who holds it.
        reason: String,
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

/// A corpus source spec or file that cannot be read as a corpus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A spec without a path.
    #[error("--data '{0}' names no path")]
    NoPath(String),
    /// A spec field that is not `key=value`.
    #[error("--data '{spec}': '{field}' is not key=value")]
    NotKeyValue {
        /// The spec.
        spec: String,
        /// The field.
        field: String,
    },
    /// A format no reader has.
    #[error("--data '{spec}': unknown format '{format}'")]
    UnknownFormat {
        /// The spec.
        spec: String,
        /// The format named.
        format: String,
    },
    /// A `max_tokens` that is not a number.
    #[error("--data '{spec}': max_tokens '{value}' is not a number")]
    MaxTokens {
        /// The spec.
        spec: String,
        /// The value.
        value: String,
    },
    /// A spec key no source has.
    #[error("--data '{spec}': unknown key '{key}'")]
    UnknownKey {
        /// The spec.
        spec: String,
        /// The key.
        key: String,
    },
    /// `--eval-data` given as nothing.
    #[error("--eval-data: give a corpus source, or `none`")]
    NoEvalData,
    /// A path that is neither a file nor a directory.
    #[error(
        "--data {}: neither a file nor a directory (a pipe or a device, such as /dev/stdin?); a \
         corpus is read twice (hashed for the run's record, then cut into sequences), so write it \
         to a file first",
        .0.display()
    )]
    NotAFile(PathBuf),
    /// Token ids where text is needed.
    #[error("{} is pre-tokenized: {needs}", path.display())]
    PreTokenized {
        /// The source.
        path: PathBuf,
        /// What needs text.
        needs: &'static str,
    },
    /// Text where no tokenizer is at hand.
    #[error("{} holds text but no tokenizer was given", .0.display())]
    NoTokenizer(PathBuf),
}

/// Sequencing settings that leave no sequence, or a malformed shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequencingError {
    /// A shard that is not `i/n` with `i < n`.
    #[error("--shard '{0}': expected i/n with 0 <= i < n")]
    Shard(String),
    /// Sequences with no room after the prefix.
    #[error("--max-seq-len {0} leaves no room after the </s> prefix")]
    MaxSeqLen(usize),
    /// A token budget with no room for a sequence.
    #[error("--max-tokens {0} leaves no room for a sequence (</s> and one token)")]
    MaxTokens(u64),
}

/// Why an output place is refused ([`crate::check_replaceable`]).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A file where a directory goes.
    #[error("is a file, not {0}")]
    IsAFile(&'static str),
    /// An output of another kind.
    #[error("holds {other}, not {directory}; refusing to replace it")]
    OtherKind {
        /// What it holds.
        other: String,
        /// The kind of directory wanted.
        directory: &'static str,
    },
    /// A directory of someone else's.
    #[error("is not empty and holds no {0}; refusing to replace it")]
    NotOurs(&'static str),
    /// A directory that cannot be listed.
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
}
