//! A training run, phase by phase: the settings checked, the text made into a tokenizer and
//! blocks ([`Material`]), the model trained with its checkpoints, and the trained model saved
//! with the files beside it, all into a directory that replaces `--out` only when complete.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::DType;
use burn::tensor::backend::{AutodiffBackend, Backend};
use census_format::model::ModelConfig;
use census_format::{OutputLock, StagedDir};
use census_model::{CpuBackend, load_pretrained, save_pretrained};
use serde::Serialize;

use crate::bpe::{check_vocab_size, tokenizer_side_files, train_tokenizer};
use crate::checkpoints::{TrainerState, write_checkpoint, write_trainer_state};
use crate::cli::TrainArgs;
use crate::data::{pack_blocks, read_texts};
use crate::error::{Result, SettingsError, TrainError};
use crate::model_dir::{MODEL_OWNED, pretty, refuse_to_overwrite};
use crate::trainer::{Checkpoints, TrainOptions, Trained, TrainingData, next_token_loss, train};

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

/// What the model trains on: the training text's blocks and the held-out text's.
struct Material {
    /// Training blocks of `--seq-len` tokens.
    blocks: Vec<Vec<u32>>,
    /// Held-out blocks (none without `--eval-data`).
    eval_blocks: Vec<Vec<u32>>,
}

impl TrainArgs {
    /// Checks the settings, then trains into a directory beside `--out` that replaces it
    /// when every file is written.
    pub(crate) fn run_on<B: AutodiffBackend>(&self, device: &B::Device) -> Result<TrainSummary> {
        let started = Instant::now();
        let save_dtype = census_model::burn_dtype(self.settings.save_dtype);
        census_model::family::check_config(&self.config(), "the training flags")?;
        check_vocab_size(self.settings.vocab_size)?;
        if self.settings.seq_len > self.settings.max_positions {
            return Err(SettingsError::SeqLen {
                len: self.settings.seq_len,
                positions: self.settings.max_positions,
            }
            .into());
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
        let material = self.material(staging)?;
        let trained = self.train_model::<B>(staging, &material, device, save_dtype)?;
        self.finish(staging, &material, &trained, save_dtype, started)
    }

    /// The text read, the tokenizer trained on it (written into `staging`) and both texts cut
    /// into blocks.
    fn material(&self, staging: &Path) -> Result<Material> {
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
        Ok(Material {
            blocks,
            eval_blocks,
        })
    }

    /// The model trained on `material`, its checkpoints written into `staging` as the run
    /// reaches them.
    fn train_model<B: AutodiffBackend>(
        &self,
        staging: &Path,
        material: &Material,
        device: &B::Device,
        save_dtype: DType,
    ) -> Result<Trained<B::InnerBackend>> {
        let settings = &self.settings;
        tracing::info!(
            blocks = material.blocks.len(),
            seq_len = settings.seq_len,
            held_out_blocks = material.eval_blocks.len().min(settings.eval_blocks),
            steps = settings.steps,
            epochs = (settings.steps * settings.batch_size) as f64 / material.blocks.len() as f64,
            "training the model"
        );
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
        let checkpoints = self.schedule().steps(settings.steps);
        let mut save_checkpoint = |model: &census_model::DecoderModel<B::InnerBackend>,
                                   state: TrainerState| {
            let extra = self.config_block(Some(state.global_step));
            write_checkpoint(staging, model, &state, save_dtype, &extra, &tokenizer_files)
                .map(|_| ())
        };
        train::<B>(
            &self.config(),
            TrainingData {
                blocks: &material.blocks,
                eval_blocks: &material.eval_blocks,
            },
            &TrainOptions {
                progress: true,
                ..self.options()
            },
            device,
            Checkpoints {
                steps: &checkpoints,
                save: &mut save_checkpoint,
            },
        )
    }

    /// The trained model saved into `staging` with its step, its held-out loss measured again
    /// from disk, and the files beside it.
    fn finish<B: Backend>(
        &self,
        staging: &Path,
        material: &Material,
        trained: &Trained<B>,
        save_dtype: DType,
        started: Instant,
    ) -> Result<TrainSummary> {
        let held_out = trained.log.last().and_then(|r| r.eval_loss);
        save_pretrained(
            &trained.model,
            staging,
            save_dtype,
            &self.config_block(None),
        )?;
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
        let held_out_saved = if material.eval_blocks.is_empty() {
            None
        } else {
            Some(saved_loss(staging, &material.eval_blocks, &self.options())?)
        };
        let summary = TrainSummary {
            out: self.out.clone(),
            parameters: parameter_count(&self.config()),
            tokens: last.map_or(0, |r| r.tokens),
            final_train_loss: last.map_or(f64::NAN, |r| r.train_loss),
            held_out_loss: held_out,
            held_out_loss_saved: held_out_saved,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.write_side_files(staging, &trained.log, &summary, material.blocks.len())?;
        Ok(summary)
    }
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
