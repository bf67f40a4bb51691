//! The options of an extraction run, and their check against the model.

use std::ops::Range;
use std::path::PathBuf;

use census_format::analysis::options::LayerScope;
use census_format::model::{FloatType, ModelConfig};
use census_model::{CheckpointPlan, ModelTokenizer};

use crate::counter_memory::{PositionCounters, available_memory};
use crate::error::{OptionsError, Result};
use census_format::corpus::{CorpusSource, SourceFormat};
use census_format::run::Engine;
use census_format::run::SequenceOptions;
use census_format::run::Shard;
use census_format::run::manifest::RunConfig;
use census_format::run::{RecordMode, SequenceStart};

use super::resume::describe_model;

/// Share of FFN neurons assumed to fire when estimating disk use before the first part is
/// measured. Trained OPT models fire far less in their sparse layers; random models fire more,
/// and the estimate is replaced by the measured size as soon as one part is written.
pub const ASSUMED_DENSITY: f64 = 0.05;

/// Tokens per part by default (the unit of commit and resume).
pub const DEFAULT_PART_TOKENS: u64 = 65_536;

/// Largest padded batch by default, in tokens.
pub const DEFAULT_BATCH_TOKENS: usize = 4096;

/// Options of an extraction run (the same as `cargo xtask extract`'s flags).
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Local model directory (Hugging Face layout).
    pub model_dir: PathBuf,
    /// How the model was named (hub id or path), recorded in the manifest.
    pub model_source: String,
    /// Corpus sources, read in order.
    pub sources: Vec<CorpusSource>,
    /// Sequence construction.
    pub sequences: SequenceOptions,
    /// Layers to record.
    pub layers: LayerScope,
    /// This machine's share.
    pub shard: Shard,
    /// Tokens per part.
    pub part_tokens: u64,
    /// Largest padded batch, in tokens.
    pub batch_tokens: usize,
    /// Compute dtype.
    pub dtype: FloatType,
    /// What computes the activations (the host engine or the device, whole or streamed layer
    /// by layer); every engine records the same fires for a given dtype.
    pub engine: Engine,
    /// What is recorded: every token's fired neurons, or per-neuron counts.
    pub record: RecordMode,
    /// A neuron fires when its activation input exceeds this (0: the paper's rule).
    pub fire_threshold: f32,
    /// Run directory.
    pub out: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
}

impl ExtractOptions {
    /// The command line's defaults for a run of the model in `model_dir` over `sources` into
    /// `out`: every layer, sequences of up to 2048 tokens, the host engine in f32, no progress
    /// bar. Change fields to taste.
    pub fn new(
        model_dir: impl Into<PathBuf>,
        sources: Vec<CorpusSource>,
        out: impl Into<PathBuf>,
    ) -> Self {
        let model_dir = model_dir.into();
        Self {
            model_source: model_dir.display().to_string(),
            model_dir,
            sources,
            sequences: SequenceOptions::default(),
            layers: LayerScope::All,
            shard: Shard::default(),
            part_tokens: DEFAULT_PART_TOKENS,
            batch_tokens: DEFAULT_BATCH_TOKENS,
            dtype: FloatType::F32,
            engine: Engine::Host,
            record: RecordMode::Shards,
            fire_threshold: 0.0,
            out: out.into(),
            progress: false,
        }
    }

    /// Checks the options against the model's configuration, and that every corpus source is
    /// there, before anything is read or written; returns the layers to record.
    pub fn validate(&self, config: &ModelConfig) -> Result<Range<usize>> {
        self.sequences.check()?;
        for source in &self.sources {
            source.check_exists()?;
        }
        if self.sequences.max_seq_len > config.max_position_embeddings {
            return Err(OptionsError::MaxSeqLen {
                len: self.sequences.max_seq_len,
                positions: config.max_position_embeddings,
            }
            .into());
        }
        let layers = self.layers.resolve(config.num_hidden_layers);
        if layers.is_empty() || layers.end > config.num_hidden_layers {
            return Err(OptionsError::Layers {
                scope: self.layers,
                range: layers,
                layers: config.num_hidden_layers,
            }
            .into());
        }
        if self.fire_threshold != 0.0 && (self.engine.on_host() || !self.fire_threshold.is_finite())
        {
            return Err(OptionsError::FireThreshold(self.fire_threshold).into());
        }
        if self.engine.on_host() && self.dtype != FloatType::F32 {
            return Err(OptionsError::HostDtype(self.dtype).into());
        }
        if self.part_tokens == 0 || self.batch_tokens == 0 {
            return Err(OptionsError::ZeroTokens.into());
        }
        // A part's counters are 32-bit integers on the device and the host.
        if self.part_tokens > i32::MAX as u64 {
            return Err(OptionsError::PartTokens(self.part_tokens).into());
        }
        Ok(layers)
    }
}

/// The options checked against the model: its configuration, the layers to record, the
/// tokenizer (when there is one), and the run's configuration as the manifest records it.
pub(super) struct CheckedOptions {
    pub(super) config: ModelConfig,
    pub(super) layers: Range<usize>,
    pub(super) tokenizer: Option<ModelTokenizer>,
    /// The token every sequence starts with, if any.
    pub(super) bos: Option<u32>,
    pub(super) run_config: RunConfig,
}

/// Reads the model's configuration and checks the options against it.
pub(super) fn check_options(options: &ExtractOptions) -> Result<CheckedOptions> {
    let model_dir = &options.model_dir;
    let config = census_model::family::read_config(model_dir.join("config.json"))?;
    let layers = options.validate(&config)?;
    if options.record == RecordMode::Counts && options.sequences.full_length {
        let counters = PositionCounters {
            layers: layers.len() as u64,
            positions: options.sequences.max_seq_len as u64,
            ffn: config.ffn_dim as u64,
        };
        tracing::info!(
            mb = counters.host_bytes() >> 20,
            "counters by position: host memory per domain of a part"
        );
        if let Some(available) = available_memory() {
            counters.check(available)?;
        }
    }
    // Every tensor's name and shape against the configuration (headers only), before the corpus
    // is read against the configuration's vocabulary.
    CheckpointPlan::open(model_dir, &config)?;
    let needs_tokenizer = options
        .sources
        .iter()
        .any(|s| !matches!(s.format, SourceFormat::PreTokenized | SourceFormat::Parquet));
    // Parquet sources may hold text or ids; text without a tokenizer fails when it is read.
    let family = config.model_type;
    let tokenizer = if needs_tokenizer {
        Some(ModelTokenizer::from_dir(model_dir, family)?)
    } else {
        ModelTokenizer::from_dir(model_dir, family).ok()
    };
    // The token every sequence starts with: the tokenizer's, or, for pre-tokenized input read
    // without one, the family's (see `Family::adds_bos`).
    let bos = match &tokenizer {
        Some(tokenizer) => tokenizer.prefix(),
        None => family.adds_bos().then_some(config.bos_token_id),
    };
    let run_config = RunConfig {
        model: describe_model(options, &config)?,
        dtype: options.dtype,
        ffn: options.engine.ffn_path(),
        corpus: options.sources.clone(),
        sequences: options.sequences.clone(),
        layers: [layers.start, layers.end],
        shard: options.shard,
        part_tokens: options.part_tokens,
        record: options.record,
        sequence_start: if bos.is_some() {
            SequenceStart::Bos
        } else {
            SequenceStart::Text
        },
        fire_threshold: options.fire_threshold,
    };
    Ok(CheckedOptions {
        config,
        layers,
        tokenizer,
        bos,
        run_config,
    })
}
