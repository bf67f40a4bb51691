//! `cargo xtask train` flags: the text, the output and the model's shape and training, read
//! into a [`TrainArgs`] that [`TrainArgs::run`] trains on the device it names (the run itself
//! is in [`crate::training_run`], the model directory it writes in [`crate::model_dir`]).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use census_format::bounded;
use census_format::corpus::CorpusSource;
use census_format::model::FloatType;
use census_format::model::ModelConfig;
use census_model::{BackendJob, Device};
use clap::Args;
use serde::Serialize;

use crate::checkpoints::Schedule;
use crate::error::{Result, TrainError};
use crate::eval_data::EvalData;
use crate::trainer::TrainOptions;
use crate::training_run::TrainSummary;

/// `train` flags: the text, the output and whether to replace it (set by a pipeline's
/// `[train.*]` table and the pipeline itself), and the [`TrainSettings`] that give the model's
/// shape and its training. The defaults train the embedded default model.
#[derive(Debug, Clone, Args, Serialize)]
pub struct TrainArgs {
    /// Training text: `PATH[,format=...][,max_tokens=N]`, as for extraction; repeat for several
    /// sources. `max_tokens` caps the tokens of a source the model trains on; the tokenizer
    /// learns from all of it.
    #[arg(long = "data", default_value = "data/corpus/train.jsonl", value_parser = CorpusSource::parse)]
    pub data: Vec<CorpusSource>,
    /// Held-out text whose loss is measured during training; `none` for no held-out loss.
    #[arg(long, default_value = "data/corpus/census.jsonl")]
    pub eval_data: EvalData,
    /// Output model directory (Hugging Face layout).
    #[arg(long, default_value = "data/model")]
    pub out: PathBuf,
    /// Replace a model already in --out.
    #[arg(long)]
    pub force: bool,
    /// The model's shape, its training and its checkpoints.
    #[command(flatten)]
    pub settings: TrainSettings,
}

/// The `train` flags that give the model's shape, its training and its checkpoints (a
/// pipeline's `[train.*]` keys, the text aside).
#[derive(Debug, Clone, Args, Serialize)]
pub struct TrainSettings {
    /// The model's name, recorded in its `config.json` (`_name_or_path`, as Hugging Face
    /// writes it) and shown by the report [default: neuron-census-default for data/model,
    /// neuron-census-<directory name> elsewhere].
    #[arg(long)]
    pub name: Option<String>,
    /// Tokenizer vocabulary, special tokens and the 256 bytes included.
    #[arg(long, default_value_t = 4096)]
    pub vocab_size: usize,
    /// Width of the residual stream.
    #[arg(long, default_value_t = 192)]
    pub hidden_size: usize,
    /// Decoder layers.
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// FFN neurons per layer.
    #[arg(long, default_value_t = 768)]
    pub ffn_dim: usize,
    /// Positions of the learned position table (the longest sequence the model takes).
    #[arg(long, default_value_t = 256)]
    pub max_positions: usize,
    /// Tokens per training block (at most --max-positions).
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    /// Blocks per step.
    #[arg(long, default_value_t = 16, value_parser = bounded::at_least_one)]
    pub batch_size: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 700, value_parser = bounded::at_least_one)]
    pub steps: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 5e-3, value_parser = bounded::positive)]
    pub lr: f64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup_steps: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.1, value_parser = bounded::non_negative)]
    pub weight_decay: f64,
    /// Seed of the initialisation and the block order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train without positional embeddings (the table is zero and frozen), for the paper's §5.4
    /// comparison.
    #[arg(long)]
    pub no_positions: bool,
    /// Held-out loss every this many steps.
    #[arg(long, default_value_t = 100)]
    pub eval_every: usize,
    /// Held-out blocks averaged.
    #[arg(long, default_value_t = 64)]
    pub eval_blocks: usize,
    /// Save a checkpoint every this many steps (`checkpoint-<step>/` in --out, each a model
    /// directory in the Hugging Face layout) [default: 5 log-spaced checkpoints, at the last
    /// step halved again and again].
    #[arg(long, conflicts_with_all = ["save_steps", "no_checkpoints"])]
    pub save_every: Option<usize>,
    /// Save checkpoints at these steps (comma-separated, each below --steps).
    #[arg(long, value_delimiter = ',', conflicts_with = "no_checkpoints")]
    pub save_steps: Vec<usize>,
    /// Save no checkpoints, only the final model.
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Storage dtype of the saved weights.
    #[arg(long, value_enum, default_value = "f16")]
    pub save_dtype: FloatType,
    /// Where to train (`cuda`: GPU 0, with a build with `--features cuda`).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
}

/// A training, run on the backend [`Device::run`] picks (with autodiff).
struct TrainJob<'a>(&'a TrainArgs);

impl BackendJob for TrainJob<'_> {
    type Output = Result<TrainSummary>;

    fn run<B: Backend>(self, device: &B::Device, _label: &'static str) -> Self::Output {
        self.0.run_on::<burn::backend::Autodiff<B>>(device)
    }
}

impl TrainArgs {
    /// The model shape these flags describe.
    pub fn config(&self) -> ModelConfig {
        ModelConfig {
            vocab_size: self.settings.vocab_size,
            hidden_size: self.settings.hidden_size,
            num_hidden_layers: self.settings.layers,
            ffn_dim: self.settings.ffn_dim,
            num_attention_heads: self.settings.heads,
            max_position_embeddings: self.settings.max_positions,
            word_embed_proj_dim: Some(self.settings.hidden_size),
            ..ModelConfig::default()
        }
    }

    /// The training options these flags describe.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            batch_size: self.settings.batch_size,
            steps: self.settings.steps,
            learning_rate: self.settings.lr,
            warmup_steps: self.settings.warmup_steps,
            weight_decay: self.settings.weight_decay,
            seed: self.settings.seed,
            positions: !self.settings.no_positions,
            eval_every: self.settings.eval_every,
            eval_blocks: self.settings.eval_blocks,
            ..TrainOptions::default()
        }
    }

    /// The steps saved as checkpoints.
    pub fn schedule(&self) -> Schedule {
        if self.settings.no_checkpoints {
            Schedule::None
        } else if let Some(every) = self.settings.save_every {
            Schedule::Every(every)
        } else if !self.settings.save_steps.is_empty() {
            Schedule::Steps(self.settings.save_steps.clone())
        } else {
            Schedule::default()
        }
    }

    /// Trains on the device the flags name and writes the model directory.
    pub fn run(&self) -> Result<TrainSummary> {
        self.settings
            .device
            .run(TrainJob(self))
            .map_err(TrainError::Device)?
    }

    /// The name the model goes by: `--name`, or one made from `--out`.
    pub fn model_name(&self) -> String {
        if let Some(name) = &self.settings.name {
            return name.clone();
        }
        if self.out == Path::new("data/model") {
            return "neuron-census-default".to_string();
        }
        let dir = self
            .out
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy());
        format!("neuron-census-{dir}")
    }
}
