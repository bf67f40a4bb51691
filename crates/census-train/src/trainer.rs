//! The training loop: next-token cross-entropy on packed blocks, AdamW with linear warm-up and
//! cosine decay, gradient clipping, periodic held-out loss.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use census_format::model::ModelConfig;
use census_format::progress::Progress;
use census_model::{DecoderModel, TokenBatch};
use serde::{Deserialize, Serialize};

use crate::checkpoints::TrainerState;
use crate::data::BatchOrder;
use crate::error::{Result, SettingsError, TrainError};
use crate::init::OptInitializer;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Sequences (blocks) per step.
    pub batch_size: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Steps of linear warm-up to the peak.
    pub warmup_steps: usize,
    /// The rate at the last step, as a fraction of the peak (cosine decay in between).
    pub final_lr_fraction: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Largest global gradient norm (clipped above).
    pub grad_clip: f64,
    /// Seeds the initialisation and the block order.
    pub seed: u64,
    /// Learned positional embeddings; `false` trains with none (the table stays zero).
    pub positions: bool,
    /// Held-out loss every this many steps (and at the end); 0 only at the end.
    pub eval_every: usize,
    /// Held-out blocks the loss is averaged over.
    pub eval_blocks: usize,
    /// Draw a progress bar of the steps (how it is shown, not what is trained: not recorded).
    #[serde(skip)]
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            batch_size: 16,
            steps: 700,
            learning_rate: 5e-3,
            warmup_steps: 50,
            final_lr_fraction: 0.1,
            weight_decay: 0.1,
            grad_clip: 1.0,
            seed: 0,
            positions: true,
            eval_every: 100,
            eval_blocks: 64,
            progress: false,
        }
    }
}

impl TrainOptions {
    /// The learning rate at `step` (0-based).
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.learning_rate * (self.final_lr_fraction + (1.0 - self.final_lr_fraction) * cosine)
    }
}

/// One row of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Steps done.
    pub step: usize,
    /// Tokens trained on so far.
    pub tokens: u64,
    /// Learning rate of the last step.
    pub learning_rate: f64,
    /// Mean training loss (nats per token) since the previous row.
    pub train_loss: f64,
    /// Held-out loss (nats per token), where measured.
    pub eval_loss: Option<f64>,
    /// Seconds since training started.
    pub seconds: f64,
}

/// A trained model and its log.
#[derive(Debug)]
pub struct Trained<B: Backend> {
    /// The model, detached from autodiff.
    pub model: DecoderModel<B>,
    /// One row per logging interval.
    pub log: Vec<LogRow>,
}

/// Steps between training-log rows.
const LOG_EVERY: usize = 20;

/// What the training loop hands over at each checkpoint step: the model as it is, and the state
/// of the training.
pub type CheckpointSink<'a, B> = dyn FnMut(&DecoderModel<B>, TrainerState) -> Result<()> + 'a;

/// The token blocks a model trains on and is measured on, each of equal length.
#[derive(Debug, Clone, Copy)]
pub struct TrainingData<'a> {
    /// The training blocks.
    pub blocks: &'a [Vec<u32>],
    /// The held-out blocks (none: no held-out loss).
    pub eval_blocks: &'a [Vec<u32>],
}

/// The steps after which the model is saved, and what saves it.
pub struct Checkpoints<'a, 's, B: Backend> {
    /// Steps, ascending.
    pub steps: &'a [usize],
    /// Given the model and the training state after each of them.
    pub save: &'a mut CheckpointSink<'s, B>,
}

/// Trains a freshly initialised model shaped by `config` on `data`, measuring the held-out
/// loss on its held-out blocks; after each step of `checkpoints` the model and the training
/// state go to its sink.
pub fn train<B: AutodiffBackend>(
    config: &ModelConfig,
    data: TrainingData<'_>,
    options: &TrainOptions,
    device: &B::Device,
    checkpoints: Checkpoints<'_, '_, B::InnerBackend>,
) -> Result<Trained<B::InnerBackend>> {
    let TrainingData {
        blocks,
        eval_blocks,
    } = data;
    let Checkpoints {
        steps: checkpoints,
        save: on_checkpoint,
    } = checkpoints;
    let seq_len = blocks.first().map(Vec::len).unwrap_or(0);
    if blocks.len() < options.batch_size || seq_len < 2 {
        return Err(SettingsError::TooFewBlocks {
            blocks: blocks.len(),
            seq_len,
            batch: options.batch_size,
        }
        .into());
    }
    if seq_len > config.max_position_embeddings {
        return Err(SettingsError::BlocksTooLong {
            len: seq_len,
            positions: config.max_position_embeddings,
        }
        .into());
    }
    B::seed(device, options.seed);
    let mut model = DecoderModel::<B>::new(config, device).map(&mut OptInitializer::new(0.02));
    if !options.positions {
        model = model.without_positions();
    }
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(options.weight_decay as f32)
        .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(
            options.grad_clip as f32,
        )))
        .init::<B, DecoderModel<B>>();
    let mut order = BatchOrder::new(blocks.len(), options.seed);
    let bar = progress_bar(options.steps, options.progress);
    let shown = bar.span().enter();
    let started = Instant::now();
    let (mut log, mut loss_sum, mut loss_steps) = (Vec::new(), 0.0, 0usize);
    // The training loss since the previous checkpoint, apart from the log's.
    let (mut checkpoint_sum, mut checkpoint_steps) = (0.0, 0usize);
    for step in 0..options.steps {
        census_format::interrupt::check(
            "training stopped between steps; nothing of it was kept, and an earlier model in \
             --out is kept",
        )
        .map_err(census_format::FormatError::from)?;
        let indices = order.next_batch(options.batch_size);
        let batch: Vec<&Vec<u32>> = indices.iter().map(|&i| &blocks[i]).collect();
        let loss = next_token_loss(&model, &batch, device)?;
        let value = loss.clone().into_scalar().elem::<f64>();
        if !value.is_finite() {
            return Err(TrainError::Diverged {
                step: step + 1,
                loss: value,
                learning_rate: options.learning_rate,
            });
        }
        loss_sum += value;
        loss_steps += 1;
        checkpoint_sum += value;
        checkpoint_steps += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = options.learning_rate_at(step);
        model = optimizer.step(lr, model, grads);
        let done = step + 1;
        if checkpoints.contains(&done) {
            let valid = model.valid();
            let held_out_loss = if eval_blocks.is_empty() {
                None
            } else {
                Some(held_out_loss(&valid, eval_blocks, options, device)?)
            };
            let state = TrainerState {
                global_step: done,
                max_steps: options.steps,
                tokens: (done * options.batch_size * seq_len) as u64,
                train_loss: checkpoint_sum / checkpoint_steps as f64,
                held_out_loss,
                learning_rate: lr,
            };
            (checkpoint_sum, checkpoint_steps) = (0.0, 0);
            on_checkpoint(&valid, state)?;
        }
        if done % LOG_EVERY == 0 || done == options.steps {
            let eval_due =
                done == options.steps || (options.eval_every > 0 && done % options.eval_every == 0);
            let eval_loss = if eval_due && !eval_blocks.is_empty() {
                Some(held_out_loss(&model.valid(), eval_blocks, options, device)?)
            } else {
                None
            };
            let row = LogRow {
                step: done,
                tokens: (done * options.batch_size * seq_len) as u64,
                learning_rate: lr,
                train_loss: loss_sum / loss_steps as f64,
                eval_loss,
                seconds: started.elapsed().as_secs_f64(),
            };
            bar.set_message(&format!(
                "loss {:.3}{} · {:.0} tokens/s",
                row.train_loss,
                row.eval_loss
                    .map(|l| format!(" (held out {l:.3})"))
                    .unwrap_or_default(),
                row.tokens as f64 / row.seconds.max(1e-9)
            ));
            tracing::debug!(step = done, loss = row.train_loss, eval = ?row.eval_loss, "training");
            log.push(row);
            (loss_sum, loss_steps) = (0.0, 0);
        }
        bar.inc(1);
    }
    drop(shown);
    Ok(Trained {
        model: model.valid(),
        log,
    })
}

/// Mean next-token cross-entropy of the blocks (every position predicts the next token).
///
/// # Shapes
/// - returns `[1]`
pub fn next_token_loss<B: Backend>(
    model: &DecoderModel<B>,
    blocks: &[&Vec<u32>],
    device: &B::Device,
) -> Result<Tensor<B, 1>> {
    let seq_len = blocks[0].len();
    let ids: Vec<i64> = blocks
        .iter()
        .flat_map(|b| b.iter().map(|&t| t as i64))
        .collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [blocks.len(), seq_len]), device);
    let batch = TokenBatch::new(ids.clone(), ids.ones_like())?;
    let logits = model.forward_logits(&batch)?;
    let [rows, _, vocab] = logits.dims();
    let predicted = logits
        .narrow(1, 0, seq_len - 1)
        .reshape([rows * (seq_len - 1), vocab]);
    let targets = ids
        .narrow(1, 1, seq_len - 1)
        .reshape([rows * (seq_len - 1)]);
    Ok(CrossEntropyLossConfig::new()
        .init(device)
        .forward(predicted, targets))
}

/// Mean loss over up to `options.eval_blocks` held-out blocks, without gradients.
fn held_out_loss<B: Backend>(
    model: &DecoderModel<B>,
    blocks: &[Vec<u32>],
    options: &TrainOptions,
    device: &B::Device,
) -> Result<f64> {
    let blocks = &blocks[..blocks.len().min(options.eval_blocks)];
    let mut total = 0.0;
    for chunk in blocks.chunks(options.batch_size) {
        let refs: Vec<&Vec<u32>> = chunk.iter().collect();
        let loss = next_token_loss(model, &refs, device)?;
        total += loss.into_scalar().elem::<f64>() * chunk.len() as f64;
    }
    Ok(total / blocks.len() as f64)
}

/// The progress of the training, `steps` steps; without `visible`, none.
fn progress_bar(steps: usize, visible: bool) -> Progress {
    if !visible {
        return Progress::hidden();
    }
    let span = tracing::info_span!("train", indicatif.pb_show = tracing::field::Empty);
    Progress::new(span, "training", "steps", steps as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays_to_the_floor() {
        let options = TrainOptions {
            steps: 110,
            warmup_steps: 10,
            learning_rate: 1.0,
            final_lr_fraction: 0.1,
            ..Default::default()
        };
        assert!((options.learning_rate_at(0) - 0.1).abs() < 1e-12);
        assert!((options.learning_rate_at(9) - 1.0).abs() < 1e-12);
        assert!((options.learning_rate_at(10) - 1.0).abs() < 1e-12);
        assert!((options.learning_rate_at(60) - 0.55).abs() < 1e-12);
        assert!((options.learning_rate_at(110) - 0.1).abs() < 1e-12);
        assert!(options.learning_rate_at(200) >= 0.1 - 1e-12);
    }
}
