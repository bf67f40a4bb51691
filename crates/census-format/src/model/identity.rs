//! The name a model goes by and where it stands in a training run, read from its source (a
//! model directory or a hub id) once, when it is analysed, and recorded in the analysis, so that
//! the report needs nothing but analyses.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hub_ref::HubRef;
use crate::series::{TrainingState, checkpoint_step, revision_step};

/// The training run a model belongs to: a directory holding its checkpoints, or a hub
/// repository whose revisions are its checkpoints. Recorded as text: the directory, or
/// `hub:org/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum TrainingRun {
    /// A run directory.
    Dir(PathBuf),
    /// A hub repository (`org/name`).
    Hub(String),
}

impl TrainingRun {
    /// The prefix of a hub repository's run in the recorded text.
    const HUB_PREFIX: &str = "hub:";
}

impl From<String> for TrainingRun {
    fn from(text: String) -> Self {
        match text.strip_prefix(Self::HUB_PREFIX) {
            Some(repo) => Self::Hub(repo.to_string()),
            None => Self::Dir(PathBuf::from(text)),
        }
    }
}

impl From<TrainingRun> for String {
    fn from(run: TrainingRun) -> Self {
        run.to_string()
    }
}

impl fmt::Display for TrainingRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::Hub(repo) => write!(f, "{}{repo}", Self::HUB_PREFIX),
        }
    }
}

/// Where a model stands in a training run: a checkpoint of it (`checkpoint-<step>/`,
/// `step-<step>/`, or a hub revision naming its step), or its final model (a directory whose
/// `trainer_state.json` records its step, beside its checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPoint {
    /// The run.
    pub run: TrainingRun,
    /// The run's name for legends, where it has one of its own (a hub id, or a run directory
    /// holding the final model's `config.json`).
    pub run_name: Option<String>,
    /// Optimizer steps done.
    pub step: u64,
    /// Tokens trained on, where recorded.
    pub tokens: Option<u64>,
    /// Held-out loss (nats per token), where recorded.
    pub held_out_loss: Option<f64>,
}

/// The name a model goes by: the name its `config.json` records (`_name_or_path`, as Hugging
/// Face and `train --name` write it), else its hub id as given (for a source that is not a
/// directory), else the hub id a Hugging Face cache snapshot directory stands for, and only as a
/// last resort the directory's name.
pub fn model_name(source: &str) -> String {
    let dir = Path::new(source);
    if !dir.is_dir() {
        return source.to_string();
    }
    let recorded = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|config| config.get("_name_or_path")?.as_str().map(str::to_string))
        .filter(|name| {
            !name.is_empty() && !name.starts_with(['/', '.']) && !Path::new(name).is_absolute()
        });
    if let Some(name) = recorded {
        return name;
    }
    // .../models--org--name/snapshots/<revision>
    let components: Vec<&str> = source
        .trim_end_matches('/')
        .split('/')
        .filter(|c| !c.is_empty())
        .collect();
    if let [.., repo, "snapshots", _] = components.as_slice()
        && let Some(id) = repo.strip_prefix("models--")
    {
        return id.replacen("--", "/", 1);
    }
    components.last().copied().unwrap_or("model").to_string()
}

/// Where the model of `source` stands in a training run, if it is part of one; an unreadable
/// `trainer_state.json` is an error naming it.
pub fn training_point(source: &str) -> Result<Option<TrainingPoint>, String> {
    let dir = Path::new(source);
    if !dir.is_dir() {
        return Ok(HubRef::parse(source).and_then(|hub| {
            revision_step(hub.revision.as_deref()?).map(|step| TrainingPoint {
                run_name: Some(hub.repo.clone()),
                run: TrainingRun::Hub(hub.repo),
                step,
                tokens: None,
                held_out_loss: None,
            })
        }));
    }
    let state = TrainingState::read(dir)?.unwrap_or_default();
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(checkpoint_step);
    let (run, step) = match (named, state.global_step) {
        (Some(step), _) => match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => (parent.to_path_buf(), step),
            _ => (Path::new(".").to_path_buf(), step),
        },
        // A final model records its step beside its checkpoints.
        (None, Some(step)) => (dir.to_path_buf(), step),
        (None, None) => return Ok(None),
    };
    let run = run.canonicalize().unwrap_or(run);
    let run_name = run
        .join("config.json")
        .is_file()
        .then(|| model_name(&run.display().to_string()));
    Ok(Some(TrainingPoint {
        run: TrainingRun::Dir(run),
        run_name,
        step,
        tokens: state.tokens,
        held_out_loss: state.held_out_loss,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_go_by_their_recorded_name_their_hub_id_or_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let model = |name: &str, config: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("config.json"), config).unwrap();
            path.display().to_string()
        };
        let named = model("m1", r#"{"_name_or_path": "neuron-census-default"}"#);
        assert_eq!(model_name(&named), "neuron-census-default");
        let unnamed = model("m2", r#"{"_name_or_path": ""}"#);
        assert_eq!(model_name(&unnamed), "m2");
        let pathlike = model("m3", r#"{"_name_or_path": "/home/me/opt"}"#);
        assert_eq!(model_name(&pathlike), "m3");
        let snapshot = model(
            "hub/models--facebook--opt-125m/snapshots/abc123",
            r#"{"_name_or_path": ""}"#,
        );
        assert_eq!(model_name(&snapshot), "facebook/opt-125m");
        assert_eq!(model_name("facebook/opt-1.3b"), "facebook/opt-1.3b");
        assert_eq!(model_name("opt-125m"), "opt-125m");
    }

    #[test]
    fn checkpoints_final_models_and_hub_revisions_have_their_place_in_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let checkpoint = run.join("checkpoint-300");
        std::fs::create_dir_all(&checkpoint).unwrap();
        std::fs::write(
            checkpoint.join("trainer_state.json"),
            r#"{"global_step": 300, "tokens": 9600, "held_out_loss": 4.5}"#,
        )
        .unwrap();
        let point = training_point(&checkpoint.display().to_string())
            .unwrap()
            .unwrap();
        let canonical = TrainingRun::Dir(run.canonicalize().unwrap());
        assert_eq!(
            point,
            TrainingPoint {
                run: canonical.clone(),
                run_name: None,
                step: 300,
                tokens: Some(9600),
                held_out_loss: Some(4.5),
            }
        );
        // The final model: the run directory itself, named by its config.
        std::fs::write(
            run.join("config.json"),
            r#"{"_name_or_path": "tiny-default"}"#,
        )
        .unwrap();
        std::fs::write(run.join("trainer_state.json"), r#"{"global_step": 700}"#).unwrap();
        let last = training_point(&run.display().to_string()).unwrap().unwrap();
        assert_eq!((last.run, last.step), (canonical, 700));
        assert_eq!(last.run_name.as_deref(), Some("tiny-default"));
        let hub = training_point("EleutherAI/pythia-160m@step1000")
            .unwrap()
            .unwrap();
        assert_eq!(hub.run.to_string(), "hub:EleutherAI/pythia-160m");
        assert_eq!(
            (hub.run, hub.run_name.as_deref(), hub.step),
            (
                TrainingRun::Hub("EleutherAI/pythia-160m".to_string()),
                Some("EleutherAI/pythia-160m"),
                1000
            )
        );
        assert_eq!(training_point("EleutherAI/pythia-160m").unwrap(), None);
        let plain = dir.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        assert_eq!(training_point(&plain.display().to_string()).unwrap(), None);
        std::fs::write(plain.join("trainer_state.json"), "{ broken").unwrap();
        let e = training_point(&plain.display().to_string()).unwrap_err();
        assert!(e.contains("trainer_state.json"), "{e}");
    }
}
