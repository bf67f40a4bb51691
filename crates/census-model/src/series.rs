//! A model's checkpoint series: the `checkpoint-<step>/` (Hugging Face `Trainer`, and this
//! project's `train`) or `step-<step>/` directories of a training run, each a model directory
//! of its own, in step order.

use std::path::{Path, PathBuf};

use census_format::series::TRAINER_STATE_FILE;
use census_format::series::{TrainingState, checkpoint_step};

use crate::error::{ModelError, Result, SeriesError};

/// One checkpoint of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesCheckpoint {
    /// Optimizer steps done when it was saved.
    pub step: u64,
    /// Its model directory.
    pub dir: PathBuf,
    /// Tokens trained on, when its training state records them.
    pub tokens: Option<u64>,
    /// Held-out loss, when its training state records it.
    pub held_out_loss: Option<f64>,
}

/// The checkpoints under `dir`, in step order (empty when it holds none). A checkpoint's
/// `trainer_state.json`, where present, must agree with its directory's step.
pub fn checkpoint_series(dir: &Path) -> Result<Vec<SeriesCheckpoint>> {
    let entries = std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut series = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ModelError::io(dir, e))?;
        let path = entry.path();
        let Some(step) = entry.file_name().to_str().and_then(checkpoint_step) else {
            continue;
        };
        if !path.join("config.json").is_file() {
            continue;
        }
        let state = TrainingState::read(&path).map_err(SeriesError::TrainerState)?;
        if let Some(recorded) = state.as_ref().and_then(|s| s.global_step)
            && recorded != step
        {
            return Err(SeriesError::StepMismatch {
                path: path.join(TRAINER_STATE_FILE),
                recorded,
                step,
            }
            .into());
        }
        series.push(SeriesCheckpoint {
            step,
            dir: path,
            tokens: state.as_ref().and_then(|s| s.tokens),
            held_out_loss: state.as_ref().and_then(|s| s.held_out_loss),
        });
    }
    series.sort_by_key(|c| c.step);
    if let Some(pair) = series.windows(2).find(|w| w[0].step == w[1].step) {
        return Err(SeriesError::DuplicateStep {
            first: pair[0].dir.clone(),
            second: pair[1].dir.clone(),
            step: pair[0].step,
        }
        .into());
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(dir: &Path, name: &str, state: Option<&str>) {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("config.json"), "{}").unwrap();
        if let Some(state) = state {
            std::fs::write(path.join(TRAINER_STATE_FILE), state).unwrap();
        }
    }

    #[test]
    fn checkpoints_are_found_in_step_order_with_their_state() {
        let dir = tempfile::tempdir().unwrap();
        checkpoint(
            dir.path(),
            "checkpoint-40",
            Some(r#"{"global_step": 40, "tokens": 4096, "held_out_loss": 5.5}"#),
        );
        // Hugging Face Trainer's state: no tokens, other fields ignored.
        checkpoint(
            dir.path(),
            "checkpoint-5",
            Some(r#"{"global_step": 5, "log_history": [], "epoch": 0.1}"#),
        );
        checkpoint(dir.path(), "step-300", None);
        std::fs::create_dir_all(dir.path().join("checkpoint-9")).unwrap(); // no config.json
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let series = checkpoint_series(dir.path()).unwrap();
        let steps: Vec<u64> = series.iter().map(|c| c.step).collect();
        assert_eq!(steps, [5, 40, 300]);
        assert_eq!(series[1].tokens, Some(4096));
        assert_eq!(series[1].held_out_loss, Some(5.5));
        assert_eq!(series[0].tokens, None);
        assert!(series[2].dir.ends_with("step-300"));
    }

    #[test]
    fn contradictions_are_named() {
        let dir = tempfile::tempdir().unwrap();
        checkpoint(dir.path(), "checkpoint-7", Some(r#"{"global_step": 8}"#));
        let err = checkpoint_series(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("checkpoint-7") && err.contains("step 8"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        checkpoint(dir.path(), "checkpoint-7", None);
        checkpoint(dir.path(), "step-7", None);
        let err = checkpoint_series(dir.path()).unwrap_err().to_string();
        assert!(err.contains("both step 7"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        checkpoint(dir.path(), "checkpoint-7", Some("{ not json"));
        let err = checkpoint_series(dir.path()).unwrap_err().to_string();
        assert!(err.contains(TRAINER_STATE_FILE), "{err}");
    }
}
