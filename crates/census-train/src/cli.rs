//! `cargo xtask train`: trains a tokenizer and an OPT-architecture model on a corpus and saves
//! both in the Hugging Face layout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::DType;
use burn::tensor::backend::{AutodiffBackend, Backend};
use census_format::corpus::CorpusSource;
use census_format::model::FloatType;
use census_format::model::ModelConfig;
use census_format::{OutputKind, OutputLock, Ownership, StagedDir, bounded, check_replaceable};
use census_model::{BackendJob, CpuBackend, Device, load_pretrained, save_pretrained};
use clap::Args;
use serde::Serialize;

use crate::bpe::{check_vocab_size, tokenizer_side_files, train_tokenizer};
use crate::checkpoints::{Schedule, TrainerState, write_checkpoint, write_trainer_state};
use crate::data::{pack_blocks, read_texts};
use crate::error::{Result, TrainError};
use crate::eval_data::EvalData;
use crate::loss_curve::{loss_csv, loss_svg};
use crate::trainer::{Checkpoints, LogRow, TrainOptions, TrainingData, next_token_loss, train};

/// The revision of what a trained model's directory holds: raise it when training starts
/// writing something new, so pipelines train their models again.
pub const TRAINED_MODEL_REVISION: u32 = 1;

/// What a trained model's directory holds at its top level, as [`StagedDir::begin`] reads a
/// model written without a list of its files: weights, configuration, tokenizer, the training
/// record and the checkpoints (a README or notes of the user's are kept).
const MODEL_OWNED: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "trainer_state.json",
    "training.json",
    "loss.csv",
    "loss.svg",
    "checkpoint-*",
];

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

/// What a training run produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// The model directory.
    pub out: PathBuf,
    /// Parameters of the model (the tied LM head counted once).
    pub parameters: u64,
    /// Tokens trained on.
    pub tokens: u64,
    /// Training loss of the last logging interval.
    pub final_train_loss: f64,
    /// Held-out loss of the trained model in memory (f32).
    pub held_out_loss: Option<f64>,
    /// Held-out loss of the saved model, reloaded from disk as extraction loads it.
    pub held_out_loss_saved: Option<f64>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
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
            .map_err(|e| TrainError::InvalidOptions(e.to_string()))?
    }

    fn run_on<B: AutodiffBackend>(&self, device: &B::Device) -> Result<TrainSummary> {
        let started = Instant::now();
        let save_dtype = census_model::burn_dtype(self.settings.save_dtype);
        census_model::family::check_config(&self.config(), "the training flags")?;
        check_vocab_size(self.settings.vocab_size)?;
        if self.settings.seq_len > self.settings.max_positions {
            return Err(TrainError::InvalidOptions(format!(
                "--seq-len {} exceeds --max-positions {}",
                self.settings.seq_len, self.settings.max_positions
            )));
        }
        self.schedule().check(self.settings.steps)?;
        let _lock = OutputLock::acquire(&self.out, "train")?;
        refuse_to_overwrite(&self.out, self.force)?;
        // The model is built beside --out and replaces it only when every file is written.
        let staged = StagedDir::begin(&self.out, MODEL_OWNED)?;
        let summary = self.train_into::<B>(staged.path(), device, save_dtype, started)?;
        staged.commit()?;
        Ok(summary)
    }

    /// Trains the tokenizer and the model and writes every file of the model directory into
    /// `staging`.
    fn train_into<B: AutodiffBackend>(
        &self,
        staging: &Path,
        device: &B::Device,
        save_dtype: DType,
        started: Instant,
    ) -> Result<TrainSummary> {
        let config = self.config();

        let texts = read_texts(&self.data)?;
        tracing::info!(
            documents = texts.iter().map(|s| s.texts.len()).sum::<usize>(),
            vocab = self.settings.vocab_size,
            "training the tokenizer"
        );
        let documents = texts.iter().flat_map(|s| s.texts.iter());
        let tokenizer = train_tokenizer(
            documents,
            self.settings.vocab_size,
            &staging.join("tokenizer.json"),
        )?;
        let blocks = pack_blocks(&tokenizer, &texts, self.settings.seq_len)?;
        let eval_blocks = match self.eval_data.source() {
            None => Vec::new(),
            Some(source) => {
                let eval = read_texts(std::slice::from_ref(source))?;
                pack_blocks(&tokenizer, &eval, self.settings.seq_len)?
            }
        };
        tracing::info!(
            blocks = blocks.len(),
            seq_len = self.settings.seq_len,
            held_out_blocks = eval_blocks.len().min(self.settings.eval_blocks),
            steps = self.settings.steps,
            epochs = (self.settings.steps * self.settings.batch_size) as f64 / blocks.len() as f64,
            "training the model"
        );
        let options = self.options();
        let extra = self.config_block(None);
        let mut tokenizer_files = vec![(
            "tokenizer.json",
            std::fs::read_to_string(staging.join("tokenizer.json"))
                .map_err(|e| TrainError::io(staging.join("tokenizer.json"), e))?,
        )];
        tokenizer_files.extend(
            tokenizer_side_files()
                .into_iter()
                .map(|(name, value)| (name, pretty(&value))),
        );
        let checkpoints = self.schedule().steps(self.settings.steps);
        let mut save_checkpoint = |model: &census_model::DecoderModel<B::InnerBackend>,
                                   state: TrainerState| {
            let extra = self.config_block(Some(state.global_step));
            write_checkpoint(staging, model, &state, save_dtype, &extra, &tokenizer_files)
                .map(|_| ())
        };
        let trained = train::<B>(
            &config,
            TrainingData {
                blocks: &blocks,
                eval_blocks: &eval_blocks,
            },
            &TrainOptions {
                progress: true,
                ..options
            },
            device,
            Checkpoints {
                steps: &checkpoints,
                save: &mut save_checkpoint,
            },
        )?;
        let held_out = trained.log.last().and_then(|r| r.eval_loss);
        save_pretrained(&trained.model, staging, save_dtype, &extra)?;
        // The trained model records its step too, so it joins its checkpoints as the last of
        // the series.
        let last = trained.log.last();
        write_trainer_state(
            staging,
            &TrainerState {
                global_step: self.settings.steps,
                max_steps: self.settings.steps,
                tokens: last.map_or(0, |r| r.tokens),
                train_loss: last.map_or(f64::NAN, |r| r.train_loss),
                held_out_loss: held_out,
                learning_rate: last.map_or(0.0, |r| r.learning_rate),
            },
        )?;
        let held_out_saved = if eval_blocks.is_empty() {
            None
        } else {
            Some(saved_loss(staging, &eval_blocks, &options)?)
        };
        let parameters = parameter_count(&config);
        let summary = TrainSummary {
            out: self.out.clone(),
            parameters,
            tokens: trained.log.last().map(|r| r.tokens).unwrap_or(0),
            final_train_loss: trained.log.last().map(|r| r.train_loss).unwrap_or(f64::NAN),
            held_out_loss: held_out,
            held_out_loss_saved: held_out_saved,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.write_side_files(staging, &trained.log, &summary, blocks.len())?;
        Ok(summary)
    }

    /// The `neuron_census` block of a saved `config.json` (with the step, for a checkpoint).
    fn config_block(&self, step: Option<usize>) -> serde_json::Map<String, serde_json::Value> {
        let mut block = serde_json::json!({
            "trained_by": "cargo xtask train",
            "positions": !self.settings.no_positions,
        });
        if let Some(step) = step {
            block["step"] = step.into();
        }
        let mut extra = serde_json::Map::new();
        extra.insert("neuron_census".to_string(), block);
        extra.insert("_name_or_path".to_string(), self.model_name().into());
        extra
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

    fn write_side_files(
        &self,
        dir: &Path,
        log: &[LogRow],
        summary: &TrainSummary,
        blocks: usize,
    ) -> Result<()> {
        for (name, value) in tokenizer_side_files() {
            write(dir, name, &pretty(&value))?;
        }
        let command = command_line();
        let record = serde_json::json!({
            "command": command,
            "data": self.data.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "eval_data": self.eval_data.to_string(),
            "config": self.config(),
            "options": self.options(),
            "seq_len": self.settings.seq_len,
            "training_blocks": blocks,
            "save_dtype": self.settings.save_dtype.name(),
            "checkpoints": self.schedule().steps(self.settings.steps),
            "device": self.settings.device.name(),
            "producer": format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
            "summary": summary,
        });
        write(dir, "training.json", &pretty(&record))?;
        write(dir, "loss.csv", &loss_csv(log))?;
        let title = format!(
            "{} layers × {} neurons, {} positions: loss",
            self.settings.layers,
            self.settings.ffn_dim,
            if self.settings.no_positions {
                "no"
            } else {
                "learned"
            }
        );
        write(dir, "loss.svg", &loss_svg(log, &title)?)
    }
}

/// The command that ran, with the `xtask` binary shown as `cargo xtask`.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program = match Path::new(&program).file_stem().and_then(|s| s.to_str()) {
        Some("xtask") => "cargo xtask".to_string(),
        _ => program,
    };
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parameters of an OPT model of this shape, the tied LM head counted once.
pub fn parameter_count(config: &ModelConfig) -> u64 {
    let (d, f, v) = (
        config.hidden_size as u64,
        config.ffn_dim as u64,
        config.vocab_size as u64,
    );
    let positions = (config.max_position_embeddings as u64 + 2) * d;
    let layer = 4 * (d * d + d) + 2 * d * f + f + d + 4 * d;
    v * d + positions + config.num_hidden_layers as u64 * layer + 2 * d
}

/// The held-out loss of the model saved in `dir`, loaded as extraction loads it (f32 compute):
/// the mean over the first `options.eval_blocks` of `blocks`, as training measures it.
pub fn saved_loss(dir: &Path, blocks: &[Vec<u32>], options: &TrainOptions) -> Result<f64> {
    let device = Default::default();
    let model = load_pretrained::<CpuBackend>(dir, &device, DType::F32)?;
    let blocks = &blocks[..blocks.len().min(options.eval_blocks)];
    let mut total = 0.0;
    for chunk in blocks.chunks(options.batch_size) {
        let refs: Vec<&Vec<u32>> = chunk.iter().collect();
        let loss = next_token_loss(&model, &refs, &device)?;
        total += loss.into_scalar() as f64 * chunk.len() as f64;
    }
    Ok(total / blocks.len() as f64)
}

/// Refuses a non-empty `out` that is not a model this project trained, whatever the flags, and
/// one that is unless `force`.
fn refuse_to_overwrite(out: &Path, force: bool) -> Result<()> {
    check_model_output(out)?;
    if is_trained_model(out) && !force {
        return Err(TrainError::OutputExists(out.to_path_buf()));
    }
    Ok(())
}

/// Refuses an `out` a model cannot be trained into, `--force` or not: a file, or a non-empty
/// directory that holds no model this project trained.
pub fn check_model_output(out: &Path) -> Result<()> {
    const KIND: OutputKind = OutputKind {
        directory: "a model directory",
        ours: "model trained by neuron-census",
    };
    check_replaceable(out, KIND, |dir| {
        if is_trained_model(dir) {
            Ownership::Ours
        } else {
            Ownership::NotOurs
        }
    })
    .map_err(|reason| {
        TrainError::InvalidOptions(format!(
            "--out {} {reason} (a model trained by neuron-census carries a neuron_census block \
             in its config.json), with or without --force: choose another --out",
            out.display()
        ))
    })
}

/// Whether `dir` holds a model written by this project's trainer: its `config.json` carries the
/// `neuron_census` block.
pub fn is_trained_model(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|config| config.get("neuron_census").is_some_and(|b| b.is_object()))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize") + "\n"
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| TrainError::io(&path, e))
}
