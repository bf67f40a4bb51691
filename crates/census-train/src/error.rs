//! Errors of training.

use std::path::PathBuf;

/// What can go wrong while training a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model crate failed (building, running or saving the model, the tokenizer).
    #[error(transparent)]
    Model(#[from] census_model::ModelError),
    /// The trained tokenizer does not have OPT's special tokens where OPT has them.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The tokenizers library failed to build, train or save the tokenizer.
    #[error("tokenizer: {action}: {source}")]
    TokenizerLibrary {
        /// What was being done ("training", "saving <path>", …).
        action: String,
        /// What the library reported.
        #[source]
        source: tokenizers::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The options contradict each other or the corpus.
    #[error("{0}")]
    InvalidOptions(String),
    /// The training loss stopped being finite; nothing is saved.
    #[error(
        "training diverged: the loss at step {step} is {loss}; no model was saved (lower --lr, \
         now {learning_rate})"
    )]
    Diverged {
        /// The step (1-based) whose loss was not finite.
        step: usize,
        /// That loss.
        loss: f64,
        /// The peak learning rate.
        learning_rate: f64,
    },
    /// The output directory already holds something, and overwriting was not asked for.
    #[error(
        "{0} holds a model trained by neuron-census: it would be replaced (choose another --out, or pass --force to replace it)"
    )]
    OutputExists(PathBuf),
    /// Reading the corpus failed (missing file, malformed JSONL, invalid UTF-8), or the output
    /// directory could not be staged or swapped in.
    #[error(transparent)]
    Format(#[from] census_format::FormatError),
    /// The loss curve could not be drawn.
    #[error("loss.svg: {0}")]
    Chart(#[from] census_charts::ChartError),
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result of training operations.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
