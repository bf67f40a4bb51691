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
        /// Why it is refused.
        #[source]
        reason: census_format::Refusal,
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
    /// The request asks for something the options or the runs cannot give.
    #[error("invalid option: {0}")]
    Request(#[from] RequestError),
    /// The model files for the projections are not those the runs were made with.
    #[error(transparent)]
    ModelFiles(#[from] ModelFilesError),
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

/// A request the options or the runs cannot honour.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// No run was named.
    #[error("no run directory given (--run DIR)")]
    NoRuns,
    /// No analysis was named to merge.
    #[error("name at least one analysis to merge")]
    NothingToMerge,
    /// `--layers none`.
    #[error("--layers none leaves nothing to analyse")]
    NothingToAnalyse,
    /// A domain no run holds.
    #[error("{flags}: no run holds domain '{domain}' (they hold: {})", known.join(", "))]
    UnknownDomain {
        /// The flags that name it.
        flags: String,
        /// The domain.
        domain: String,
        /// The domains the runs hold.
        known: Vec<String>,
    },
    /// A selection that keeps no sequence.
    #[error("{flags} leave no sequence to analyse")]
    EmptySelection {
        /// The flags of the selection.
        flags: String,
    },
    /// A value outside its flag's range.
    #[error("{flag}: {reason}")]
    OutOfRange {
        /// The flag.
        flag: &'static str,
        /// The range it must lie in.
        reason: String,
    },
    /// Coverage bins that are not increasing.
    #[error("--coverage-bins must be increasing upper edges, e.g. 5,10,20")]
    CoverageBins,
    /// `--top-k 0`.
    #[error("--top-k must be at least 1")]
    TopK,
    /// BOS options on runs whose sequences have no BOS.
    #[error(
        "--exclude-bos and --positional-skip-bos leave out a BOS, but these runs' sequences \
         start with text (the {0} tokenizer adds no BOS)"
    )]
    NoBos(census_format::model::Family),
    /// More neurons per layer than 16-bit indices hold.
    #[error("{0} neurons per layer do not fit 16-bit indices")]
    TooManyNeurons(usize),
    /// `--layers` outside the recorded layers.
    #[error(
        "--layers {scope}: the runs recorded no layer there (they recorded layers {}..{})",
        recorded.start,
        recorded.end
    )]
    LayersNotRecorded {
        /// The scope asked for.
        scope: census_format::analysis::options::LayerScope,
        /// The recorded layers.
        recorded: std::ops::Range<usize>,
    },
    /// The model the runs recorded has no readable training step.
    #[error("{0}")]
    TrainingPoint(String),
}

/// Model files for the projections or the tokens that are not those the runs were made with.
#[derive(Debug, thiserror::Error)]
pub enum ModelFilesError {
    /// The recorded model is neither here nor on the hub.
    #[error(
        "the runs recorded the model as '{recorded}', which is no directory here, so it was \
         looked for as a hub model: {source}. If it was a local directory (moved since, or given \
         relative to another directory), pass --model DIR; or pass --no-projection"
    )]
    NotFound {
        /// The model as the runs recorded it.
        recorded: String,
        /// Why the hub could not give it.
        #[source]
        source: Box<census_model::ModelError>,
    },
    /// The weights are not in a directory.
    #[error(
        "the vocabulary projection needs the model weights, but '{}' is not a directory; pass \
         --model DIR (the checkpoint the runs were made with) or --no-projection",
        .0.display()
    )]
    NotADirectory(PathBuf),
    /// Other weights than the runs'.
    #[error(
        "the weights in {} are not those the runs were made with (their fingerprints differ \
         from those in {})",
        dir.display(),
        manifest.display()
    )]
    WeightsDiffer {
        /// The model directory.
        dir: PathBuf,
        /// The run manifest.
        manifest: PathBuf,
    },
    /// Another configuration than the runs'.
    #[error("the model configuration in {} differs from {}/config.json", manifest.display(), dir.display())]
    ConfigDiffers {
        /// The model directory.
        dir: PathBuf,
        /// The run manifest.
        manifest: PathBuf,
    },
    /// Another tokenizer than the runs'.
    #[error(
        "the tokenizer in {} is not the one the runs were made with (its files' fingerprints \
         differ from those in {})",
        dir.display(),
        manifest.display()
    )]
    TokenizerDiffers {
        /// The tokenizer's directory.
        dir: PathBuf,
        /// The run manifest.
        manifest: PathBuf,
    },
    /// The vocabulary scores could not be read back from the device.
    #[error("vocabulary scores: {0}")]
    Scores(String),
}
