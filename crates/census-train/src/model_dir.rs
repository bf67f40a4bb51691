//! The trained model's directory: what it holds, whether `--out` may take one, and the files
//! written beside the weights (the training record, the loss curve, the tokenizer's side files).

use std::path::Path;

use census_format::{OutputKind, Ownership, check_replaceable};

use crate::bpe::tokenizer_side_files;
use crate::cli::TrainArgs;
use crate::error::{Result, TrainError};
use crate::loss_curve::{loss_csv, loss_svg};
use crate::trainer::LogRow;
use crate::training_run::TrainSummary;

/// The revision of what a trained model's directory holds: raise it when training starts
/// writing something new, so pipelines train their models again.
pub const TRAINED_MODEL_REVISION: u32 = 1;

/// What a trained model's directory holds at its top level, as [`StagedDir::begin`] reads a
/// model written without a list of its files: weights, configuration, tokenizer, the training
/// record and the checkpoints (a README or notes of the user's are kept).
pub(crate) const MODEL_OWNED: &[&str] = &[
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

impl TrainArgs {
    /// The `neuron_census` block of a saved `config.json` (with the step, for a checkpoint).
    pub(crate) fn config_block(
        &self,
        step: Option<usize>,
    ) -> serde_json::Map<String, serde_json::Value> {
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

    /// Writes the training record, the loss curve and the tokenizer's side files into `dir`.
    pub(crate) fn write_side_files(
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

/// Refuses a non-empty `out` that is not a model this project trained, whatever the flags, and
/// one that is unless `force`.
pub(crate) fn refuse_to_overwrite(out: &Path, force: bool) -> Result<()> {
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
    .map_err(|reason| TrainError::OutputRefused {
        path: out.to_path_buf(),
        reason,
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

pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize") + "\n"
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| TrainError::io(&path, e))
}
