//! Errors of the report stage; every variant names the directory, table or column at fault.

use std::path::PathBuf;

/// Everything that can go wrong while reading analyses or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An analysis directory cannot be used.
    #[error("analysis {path}: {reason}")]
    Analysis {
        /// The analysis directory (or table).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A figure could not be drawn.
    #[error(transparent)]
    Chart(#[from] census_charts::ChartError),
    /// An analysis or run file does not hold what the format specifies, or the output directory
    /// could not be staged or swapped in.
    #[error(transparent)]
    Format(#[from] census_format::FormatError),
    /// A flag's value is out of its range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// No analysis was named.
    #[error("invalid option: no analysis directory given (--analysis DIR)")]
    NoAnalysis,
    /// `--out` holds something a report may not replace.
    #[error("invalid option: --out {} {reason}", path.display())]
    OutputRefused {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        reason: census_format::Refusal,
    },
}

impl ReportError {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A problem with analysis `path`.
    pub fn analysis(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Analysis {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result of the report stage.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
