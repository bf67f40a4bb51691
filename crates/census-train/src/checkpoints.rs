//! Checkpoints along a training run: which steps are saved, and each saved as a model directory
//! of its own in the Hugging Face layout (`checkpoint-<step>/`, as Hugging Face's `Trainer`
//! names them), with its step, the tokens trained on and the losses in `trainer_state.json`.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use census_model::{DecoderModel, save_pretrained};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SettingsError, TrainError};

/// Checkpoints saved by default: this many, log-spaced below the last step.
pub const DEFAULT_CHECKPOINTS: u32 = 5;

use census_format::series::TRAINER_STATE_FILE;

/// Which steps are saved as checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// None.
    None,
    /// Every this many steps (the last step is the model itself, not a checkpoint).
    Every(usize),
    /// These steps.
    Steps(Vec<usize>),
    /// This many, log-spaced: the last step halved again and again (the phenomena of interest
    /// appear early and change fast, then slowly).
    LogSpaced(u32),
}

impl Default for Schedule {
    fn default() -> Self {
        Self::LogSpaced(DEFAULT_CHECKPOINTS)
    }
}

impl Schedule {
    /// The steps saved in a run of `steps` steps, ascending, each in `1..steps`.
    pub fn steps(&self, steps: usize) -> Vec<usize> {
        let mut saved: Vec<usize> = match self {
            Self::None => Vec::new(),
            Self::Every(every) => (1..steps).filter(|s| s % (*every).max(1) == 0).collect(),
            Self::Steps(list) => list.clone(),
            Self::LogSpaced(count) => (1..=*count)
                .map(|k| (steps as f64 / 2f64.powi(k as i32)).round() as usize)
                .collect(),
        };
        saved.retain(|&s| s >= 1 && s < steps);
        saved.sort_unstable();
        saved.dedup();
        saved
    }

    /// Checks a list of steps against a run of `steps` steps.
    pub fn check(&self, steps: usize) -> Result<()> {
        match self {
            Self::Every(0) => Err(SettingsError::SaveEvery.into()),
            Self::Steps(list) => match list.iter().find(|&&s| s == 0 || s >= steps) {
                Some(&step) => Err(SettingsError::SaveStep { step, steps }.into()),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// What a checkpoint records about the training so far (`trainer_state.json`, with Hugging
/// Face `Trainer`'s `global_step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub global_step: usize,
    /// Steps of the whole run.
    pub max_steps: usize,
    /// Tokens trained on so far.
    pub tokens: u64,
    /// Mean training loss (nats per token) since the previous checkpoint.
    pub train_loss: f64,
    /// Held-out loss (nats per token) of the model at this step, when held-out data was given.
    pub held_out_loss: Option<f64>,
    /// Learning rate of the last step.
    pub learning_rate: f64,
}

/// Writes `state` as `trainer_state.json` of model directory `dir`.
pub fn write_trainer_state(dir: &Path, state: &TrainerState) -> Result<()> {
    let json = serde_json::to_string_pretty(state).expect("states serialize") + "\n";
    let path = dir.join(TRAINER_STATE_FILE);
    std::fs::write(&path, json).map_err(|e| TrainError::io(&path, e))
}

/// `checkpoint-<step>` in `dir`.
pub fn checkpoint_dir(dir: &Path, step: usize) -> PathBuf {
    dir.join(format!("checkpoint-{step}"))
}

/// Writes `model` at `state.global_step` into `checkpoint-<step>/` of `dir`: weights and
/// `config.json` (with `extra`) in `dtype`, the tokenizer files copied from `dir`'s
/// `tokenizer_files`, and `trainer_state.json`.
pub fn write_checkpoint<B: Backend>(
    dir: &Path,
    model: &DecoderModel<B>,
    state: &TrainerState,
    dtype: DType,
    extra: &serde_json::Map<String, serde_json::Value>,
    tokenizer_files: &[(&str, String)],
) -> Result<PathBuf> {
    let out = checkpoint_dir(dir, state.global_step);
    save_pretrained(model, &out, dtype, extra)?;
    for (name, text) in tokenizer_files {
        std::fs::write(out.join(name), text).map_err(|e| TrainError::io(out.join(name), e))?;
    }
    write_trainer_state(&out, state)?;
    tracing::info!(
        step = state.global_step,
        train_loss = state.train_loss,
        held_out_loss = state.held_out_loss,
        dir = %out.display(),
        "checkpoint saved"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_give_steps_inside_the_run() {
        assert_eq!(Schedule::default().steps(700), vec![22, 44, 88, 175, 350]);
        assert_eq!(Schedule::default().steps(60), vec![2, 4, 8, 15, 30]);
        assert_eq!(Schedule::LogSpaced(8).steps(4), vec![1, 2]);
        assert_eq!(Schedule::Every(25).steps(100), vec![25, 50, 75]);
        assert_eq!(Schedule::Steps(vec![9, 3, 3]).steps(10), vec![3, 9]);
        assert!(Schedule::None.steps(10).is_empty());
        assert!(Schedule::Steps(vec![10]).check(10).is_err());
        assert!(Schedule::Steps(vec![0]).check(10).is_err());
        assert!(Schedule::Every(0).check(10).is_err());
        assert!(Schedule::Steps(vec![9]).check(10).is_ok());
    }
}
