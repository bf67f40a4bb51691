//! How the checkpoints of a training run are named: model directories `checkpoint-<step>` (as
//! Hugging Face `Trainer` and `neuron-census train` save them) or `step-<step>`, and hub
//! revisions whose name carries the step (`step-100`, `step1000`).

use std::path::Path;

use serde::Deserialize;

/// File in which a model directory records its training state (`global_step`, …), as Hugging
/// Face `Trainer` and `neuron-census train` write it.
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";

/// What is read of a `trainer_state.json` (ours, or Hugging Face `Trainer`'s).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
pub struct TrainingState {
    /// Optimizer steps done.
    pub global_step: Option<u64>,
    /// Tokens trained on.
    pub tokens: Option<u64>,
    /// Held-out loss (nats per token).
    pub held_out_loss: Option<f64>,
}

impl TrainingState {
    /// The training state model directory `dir` records: `Ok(None)` without one, an error
    /// naming the file when it cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<Option<Self>, String> {
        let path = dir.join(TRAINER_STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// The step a checkpoint directory's name gives: `checkpoint-<step>` or `step-<step>`.
pub fn checkpoint_step(name: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")
        .or_else(|| name.strip_prefix("step-"))
        .and_then(|step| step.parse().ok())
}

/// The step a hub revision's name gives: the number after its last `step` (`step-100`: 100,
/// `step1000`: 1000, OLMo's `stage1-step1000-tokens4B`: 1000), else its last run of digits
/// (`v2-300`: 300); none when it has no digit (`main`).
pub fn revision_step(revision: &str) -> Option<u64> {
    let lower = revision.to_ascii_lowercase();
    if let Some(at) = lower.rfind("step") {
        let digits: String = lower[at + 4..]
            .trim_start_matches(['-', '_'])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(step) = digits.parse() {
            return Some(step);
        }
    }
    let end = revision.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = revision[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    revision[start..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_from_directory_and_revision_names() {
        assert_eq!(checkpoint_step("checkpoint-350"), Some(350));
        assert_eq!(checkpoint_step("step-7"), Some(7));
        assert_eq!(checkpoint_step("final"), None);
        assert_eq!(revision_step("step-100"), Some(100));
        assert_eq!(revision_step("step1000"), Some(1000));
        assert_eq!(revision_step("v2-step300"), Some(300));
        assert_eq!(revision_step("stage1-step1000-tokens4B"), Some(1000));
        assert_eq!(
            revision_step("stage2-ingredient1-step23852-tokens100B"),
            Some(23852)
        );
        assert_eq!(revision_step("v2-300"), Some(300));
        assert_eq!(revision_step("main"), None);
    }
}
