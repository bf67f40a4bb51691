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
    /// The settings contradict each other or the corpus.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The device named has no backend in this build.
    #[error(transparent)]
    Device(#[from] census_model::UnavailableDevice),
    /// `--out` holds something a model may not replace.
    #[error(
        "--out {} {reason} (a model trained by neuron-census carries a neuron_census block in its \
         config.json), with or without --force: choose another --out",
        path.display()
    )]
    OutputRefused {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        reason: census_format::Refusal,
    },
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

/// Training settings that contradict each other or the corpus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A vocabulary with no room for merges.
    #[error(
        "--vocab-size {vocab} leaves no room for merges: it must exceed {minimum} (4 special \
         tokens and 256 bytes)"
    )]
    VocabSize {
        /// The vocabulary asked for.
        vocab: usize,
        /// The special tokens and bytes.
        minimum: usize,
    },
    /// Blocks longer than the positions asked for.
    #[error("--seq-len {len} exceeds --max-positions {positions}")]
    SeqLen {
        /// The block length.
        len: usize,
        /// The positions asked for.
        positions: usize,
    },
    /// Blocks longer than the model's positions.
    #[error("--seq-len {len} exceeds the model's {positions} positions")]
    BlocksTooLong {
        /// The block length.
        len: usize,
        /// The model's positions.
        positions: usize,
    },
    /// Too little text for one step.
    #[error(
        "the corpus gives {blocks} blocks of {seq_len} tokens; a step needs {batch} blocks of at \
         least 2 tokens (lower --batch-size or --seq-len, or add text)"
    )]
    TooFewBlocks {
        /// Blocks the corpus gives.
        blocks: usize,
        /// Their length.
        seq_len: usize,
        /// Blocks per step.
        batch: usize,
    },
    /// A corpus without a document.
    #[error(
        "the training corpus holds no document: {} (no non-empty text in it)",
        sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoDocument {
        /// Its sources.
        sources: Vec<PathBuf>,
    },
    /// `--save-every 0`.
    #[error("--save-every must be at least 1")]
    SaveEvery,
    /// A checkpoint step outside the run.
    #[error(
        "--save-steps: step {step} is not within 1..{steps} (the last step is the model itself)"
    )]
    SaveStep {
        /// The step.
        step: usize,
        /// The run's steps.
        steps: usize,
    },
}

/// Result of training operations.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
