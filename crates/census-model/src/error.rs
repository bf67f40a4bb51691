//! Errors of the model crate: every variant names the file or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model could not be fetched from (or found in the cache of) the Hugging Face hub.
    #[error("hub model {id}: {reason}")]
    Hub {
        /// The repository id.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// A JSON file (config, shard index, vocabulary) is malformed.
    #[error("malformed JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The configuration is internally inconsistent or describes something unsupported.
    #[error("invalid model config ({origin}): {reason}")]
    InvalidConfig {
        /// Where the config came from (a file or a preset name).
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// An unknown preset name.
    #[error("unknown preset '{0}' (known: {known})", known = crate::presets::preset_names().join(", "))]
    UnknownPreset(String),
    /// No checkpoint file was found in a model directory.
    #[error(
        "no checkpoint in {dir}: expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json"
    )]
    NoCheckpoint {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A checkpoint file could not be parsed (truncated, corrupt, wrong format).
    #[error("corrupt or unreadable checkpoint {path}: {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        reason: String,
    },
    /// A tensor the model needs is absent from every checkpoint file.
    #[error("tensor '{tensor}' is missing from the checkpoint {location}")]
    MissingTensor {
        /// The Hugging Face name of the tensor.
        tensor: String,
        /// The checkpoint file or directory searched.
        location: PathBuf,
    },
    /// A checkpoint file holds a tensor the model does not have.
    #[error("unexpected tensor '{tensor}' in {path}: the config describes no such parameter")]
    UnexpectedTensor {
        /// The tensor's name in the file.
        tensor: String,
        /// The file.
        path: PathBuf,
    },
    /// A tensor's shape in the file contradicts the config.
    #[error(
        "tensor '{tensor}' in {path} has shape {found:?} but the config implies {expected:?}: the config does not match the weights"
    )]
    ShapeMismatch {
        /// The tensor's Hugging Face name.
        tensor: String,
        /// The file.
        path: PathBuf,
        /// The shape the config implies (Hugging Face layout).
        expected: Vec<usize>,
        /// The shape stored in the file (Hugging Face layout).
        found: Vec<usize>,
    },
    /// A tensor's data could not be read (truncated file, unsupported dtype).
    #[error("cannot read tensor '{tensor}' from {path}: {reason}")]
    TensorData {
        /// The tensor's Hugging Face name.
        tensor: String,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The tokenizer files load but cannot serve OPT (no `</s>` token).
    #[error("cannot build the tokenizer from {path}: {reason}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The tokenizer files could not be parsed or built.
    #[error("cannot build the tokenizer from {}: {source}", path.display())]
    TokenizerFile {
        /// The file.
        path: PathBuf,
        /// What the tokenizers library reported.
        #[source]
        source: tokenizers::Error,
    },
    /// Text could not be encoded, or ids decoded.
    #[error("tokenization failed: {0}")]
    Encode(#[source] tokenizers::Error),
    /// The input batch does not fit the model.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
