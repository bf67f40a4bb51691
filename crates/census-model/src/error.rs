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
    Batch(#[from] BatchError),
    /// A layer past the model's last.
    #[error("invalid input: layer {layer} requested but the model has {layers} layers (0-based)")]
    LayerOutOfRange {
        /// The layer asked for.
        layer: usize,
        /// The model's layers.
        layers: usize,
    },
    /// The layers are streamed, so the model cannot run them itself.
    #[error(
        "invalid input: this model holds no decoder layers (they are streamed): run them one by one"
    )]
    LayersStreamed,
    /// Logits were asked of a pass that stops before the last layer.
    #[error("invalid input: logits need every layer, but the pass stops after layer {last}")]
    LogitsNeedEveryLayer {
        /// The last layer the pass runs.
        last: usize,
    },
    /// A compute or storage dtype that is not f32, f16 or bf16.
    #[error("invalid input: {0:?} is not a floating-point type of a model (f32, f16 or bf16)")]
    NotAFloatType(burn::tensor::DType),
    /// A model spec names nothing this program can load.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A training run's checkpoints do not agree on their steps.
    #[error(transparent)]
    Series(#[from] SeriesError),
    /// A model could not be saved.
    #[error(transparent)]
    Save(#[from] SaveError),
}

/// A batch of token ids that does not fit the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The ids and the mask differ in shape.
    #[error("input_ids have shape {ids:?} but attention_mask has shape {mask:?}")]
    Shape {
        /// Shape of the ids.
        ids: [usize; 2],
        /// Shape of the mask.
        mask: [usize; 2],
    },
    /// No sequence, or only empty ones.
    #[error("a batch needs at least one non-empty sequence")]
    Empty,
    /// A token id past the vocabulary.
    #[error("sequence {row} holds token id {id}, outside the model's vocabulary of {vocab}")]
    TokenOutOfVocabulary {
        /// The sequence.
        row: usize,
        /// The id.
        id: u32,
        /// The vocabulary's size.
        vocab: usize,
    },
    /// A sequence longer than the model's positions.
    #[error("sequence length {len} exceeds the model's {max} positions")]
    TooLong {
        /// The sequence's length.
        len: usize,
        /// The model's positions.
        max: usize,
    },
    /// Padding after a token (the host engine pads on the left only).
    #[error(
        "row {row} of the attention mask is not left-padded (the host engine needs padding before the tokens)"
    )]
    NotLeftPadded {
        /// The sequence.
        row: usize,
    },
}

/// A `--model` spec that names nothing loadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// It names a file.
    #[error(
        "model '{0}' is a file; a model is a directory in the Hugging Face layout (config.json, \
         weights, tokenizer files), a preset or a hub id (org/name)"
    )]
    IsAFile(String),
    /// It is a path, but no directory is there.
    #[error("model '{0}': no such directory (moved or deleted?)")]
    NoSuchDirectory(String),
    /// Its revision is malformed.
    #[error("model {0}")]
    Revision(String),
    /// It is neither a directory, a preset nor a hub id.
    #[error(
        "model '{0}' is not a directory, a preset ({known}) or a hub id (org/name), each \
         optionally @revision",
        known = crate::presets::preset_names().join(", ")
    )]
    Unknown(String),
}

/// A training run whose checkpoints disagree on their steps.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// A checkpoint's `trainer_state.json` cannot be read.
    #[error("{0}")]
    TrainerState(String),
    /// A checkpoint records another step than its directory's name.
    #[error("{}: records step {recorded}, but its directory says step {step}", path.display())]
    StepMismatch {
        /// Its `trainer_state.json`.
        path: PathBuf,
        /// The step it records.
        recorded: u64,
        /// The step its directory names.
        step: u64,
    },
    /// Two checkpoints of one step.
    #[error("{} and {} are both step {step}", first.display(), second.display())]
    DuplicateStep {
        /// One checkpoint.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// Their step.
        step: u64,
    },
}

/// A model that cannot be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Only OPT models are saved.
    #[error("only OPT models are saved (they are the ones trained here); this one is {0}")]
    Family(census_format::model::Family),
    /// A parameter the OPT table does not name.
    #[error("parameter {0} has no name in the OPT table")]
    UnnamedParameter(String),
    /// A parameter's data could not be read back from the device.
    #[error("reading parameter {name}: {reason}")]
    ParameterData {
        /// The tensor's name.
        name: String,
        /// What burn reported.
        reason: String,
    },
    /// A parameter holds NaN or infinity.
    #[error("parameter {name} {reason}; refusing to save it to {}", path.display())]
    NonFinite {
        /// The tensor's name.
        name: String,
        /// Where and what.
        reason: String,
        /// The file it would go to.
        path: PathBuf,
    },
    /// The configuration could not be written as JSON.
    #[error("writing the configuration in {}: {source}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// A file of the model could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: census_format::FormatError,
    },
    /// The weights could not be serialized.
    #[error("serializing {}: {source}", path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// What safetensors reported.
        #[source]
        source: safetensors::SafeTensorError,
    },
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
