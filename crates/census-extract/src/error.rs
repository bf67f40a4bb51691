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
    /// The corpus yields no tokens at all.
    #[error("the corpus is empty: {0}")]
    EmptyCorpus(String),
    /// Options that contradict each other, the model or the machine.
    #[error("invalid option: {0}")]
    Options(#[from] OptionsError),
    /// The device named has no backend in this build.
    #[error(transparent)]
    Device(#[from] census_model::UnavailableDevice),
    /// One worker of a run spread over devices failed; the others stopped after their part.
    #[error(
        "device {device} failed{}: {source}; the parts committed are kept, and the same command \
         redoes the rest",
        part.map(|p| format!(" on part {p}")).unwrap_or_default()
    )]
    Worker {
        /// The worker's device (`cuda:3`).
        device: String,
        /// The part it was computing or writing (none: it failed to load the model).
        part: Option<u32>,
        /// What failed.
        source: Box<ExtractError>,
    },
    /// A document holds ids no sequence may hold.
    #[error("invalid option: {0}")]
    Document(#[from] DocumentError),
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
    /// I/O errors and an empty corpus keep their own variants, so callers can tell an empty
    /// corpus from a damaged file whichever crate found it; the rest stay format errors.
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
            FormatError::EmptyCorpus(what) => Self::EmptyCorpus(what),
            other => Self::Format(other),
        }
    }
}

/// Extraction options that contradict each other, the model or the machine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// `--offload-hidden` without streaming.
    #[error("--offload-hidden needs --stream-layers")]
    OffloadNeedsStreaming,
    /// `--offload-hidden` on the host engine.
    #[error(
        "--offload-hidden keeps the dense path's hidden states in host memory; the host engine \
         (--ffn sparse) holds them there already"
    )]
    OffloadOnHost,
    /// Sequences longer than the model's positions.
    #[error("--max-seq-len {len} exceeds the model's {positions} positions")]
    MaxSeqLen {
        /// The longest sequence asked for.
        len: usize,
        /// The model's positions.
        positions: usize,
    },
    /// Layers outside the model.
    #[error(
        "--layers {scope} ({}..{}) is not a non-empty range within the model's {layers} layers",
        range.start,
        range.end
    )]
    Layers {
        /// The scope asked for.
        scope: census_format::analysis::options::LayerScope,
        /// What it resolves to.
        range: std::ops::Range<usize>,
        /// The model's layers.
        layers: usize,
    },
    /// A threshold the engine cannot apply.
    #[error(
        "--fire-threshold {0}: a finite threshold, on the dense path (--ffn dense); the host \
         engine sums fc2 over the neurons whose ReLU output is positive"
    )]
    FireThreshold(f32),
    /// A dtype the host engine does not compute in.
    #[error("--ffn sparse runs the layers on the host CPU in f32; --dtype {} needs --ffn dense", .0.name())]
    HostDtype(census_format::model::FloatType),
    /// Empty parts or batches.
    #[error("--part-tokens and --batch-tokens must be positive")]
    ZeroTokens,
    /// Parts too large for 32-bit counters.
    #[error("--part-tokens {0} exceeds {max} (a part's counters are 32-bit)", max = i32::MAX)]
    PartTokens(u64),
    /// Counters by position that do not fit the host's memory.
    #[error(
        "counting by position (--record counts on a full-length run) holds {needed_mb} MB of \
         counters on the host ({layers} layers × {positions} positions × {neurons} neurons × \
         {bytes} bytes, for each domain of a part), more than the {available_mb} MB available: \
         record fewer layers per run (--layers), shorten the sequences (--max-seq-len), or count \
         without positions (no --full-length)"
    )]
    CounterMemory {
        /// Megabytes the counters need.
        needed_mb: u64,
        /// Recorded layers.
        layers: u64,
        /// Positions.
        positions: u64,
        /// Neurons per layer.
        neurons: u64,
        /// Bytes per counter.
        bytes: u64,
        /// Megabytes available.
        available_mb: u64,
    },
    /// One corpus text read twice.
    #[error(
        "--data reads {} twice ({} {}): its documents would count twice; give each corpus text once",
        path.display(),
        if *same_file { "also as" } else { "the same bytes as" },
        first.display()
    )]
    DataTwice {
        /// The file read the second time.
        path: PathBuf,
        /// The file read first.
        first: PathBuf,
        /// Whether they are one file (else two files of the same bytes).
        same_file: bool,
    },
}

/// A document whose token ids no sequence may hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The pad id inside pre-tokenized ids.
    #[error(
        "{}: a pre-tokenized document holds the pad id {pad} at token {at}; padding is never \
         recorded as a token, so remove it from the ids",
        path.display()
    )]
    PadToken {
        /// The source.
        path: PathBuf,
        /// The pad id.
        pad: u32,
        /// Its index in the document.
        at: usize,
    },
    /// An id past the vocabulary.
    #[error(
        "document {doc} of {} holds token id {id}, outside the model's vocabulary of {vocab}",
        path.display()
    )]
    TokenOutOfVocabulary {
        /// The document's index.
        doc: u64,
        /// The source.
        path: PathBuf,
        /// The id.
        id: u32,
        /// The vocabulary's size.
        vocab: usize,
    },
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
