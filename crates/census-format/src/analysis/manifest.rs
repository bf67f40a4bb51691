//! `manifest.json` of an analysis directory: what was analysed (runs, model, layers), with
//! which options, on which data, and the tables written (see `docs/SCHEMA.md`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::options::AnalysisOptions;
use crate::analysis::sections::SectionBases;
use crate::corpus::CorpusSource;
use crate::error::{FormatError, Result};
use crate::model::{FloatType, TrainingPoint};
use crate::run::manifest::ModelDescription;
use crate::run::{FfnPath, Shard};

/// Version of the analysis-directory layout described in `docs/SCHEMA.md`. 2: the model's name,
/// its place in a training run and each run's provenance are recorded, so the report reads
/// nothing but analyses.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 2;
/// The analysis manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The headline numbers.
pub const SUMMARY_FILE: &str = "summary.json";
/// The `kind` of an analysis manifest.
pub const ANALYSIS_KIND: &str = "analysis";

/// One input run as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRun {
    /// Its directory.
    pub dir: PathBuf,
    /// Its run id.
    pub run_id: String,
    /// Its shard, recorded as `index/count`.
    #[serde(with = "crate::run::sequencing::shard_text")]
    pub shard: Shard,
    /// Whether it was complete.
    pub complete: bool,
    /// Parts analysed.
    pub parts: usize,
    /// Tokens analysed.
    pub tokens: u64,
    /// What the run was made from, as its manifest said when it was analysed.
    pub provenance: RunProvenance,
}

/// What a run was made from, as the report's provenance states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProvenance {
    /// Its corpus sources.
    pub sources: Vec<CorpusSource>,
    /// Its domains, in id order.
    pub domains: Vec<String>,
    /// Documents read.
    pub documents: u64,
    /// Longest sequence.
    pub max_seq_len: usize,
    /// Whether only full-length sequences were kept.
    pub full_length: bool,
    /// The dtype it computed in.
    pub dtype: FloatType,
    /// The device it ran on.
    pub device: String,
    /// Where its FFN layers ran (`host` or `dense`).
    pub ffn: FfnPath,
}

/// `manifest.json` of an analysis directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisManifest {
    /// Layout version ([`ANALYSIS_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Always `analysis`.
    pub kind: String,
    /// The program that wrote it.
    pub producer: String,
    /// The runs analysed.
    pub inputs: Vec<InputRun>,
    /// Model source and configuration.
    pub model: ModelDescription,
    /// The name the model goes by in legends ([`crate::model::model_name`]).
    pub model_name: String,
    /// Where the model stands in a training run, if it is part of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingPoint>,
    /// The runs' fire threshold (`--fire-threshold`); absent for 0, the paper's rule.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fire_threshold: f32,
    /// Layers analysed, `[start, end)`.
    pub layers: [usize; 2],
    /// Whether every sequence had the full length (positions equally frequent).
    pub full_length: bool,
    /// The options.
    pub options: AnalysisOptions,
    /// Where the projections' weights came from, if computed.
    pub projection_weights: Option<PathBuf>,
    /// The directory whose tokenizer named the tokens (none: tokens are named `#id`).
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// The data each section's statistics rest on (§3 frequencies, §4 n-grams, §5 positions).
    #[serde(default)]
    pub sections: Option<SectionBases>,
    /// Seconds the analysis took.
    pub seconds: f64,
    /// The tables written.
    pub tables: Vec<String>,
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

impl AnalysisManifest {
    /// Reads the manifest of analysis directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let bad = |reason: String| FormatError::Manifest {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value = crate::json_file::read_json(&path)?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(ANALYSIS_KIND) {
            return Err(bad(format!(
                "{} is not an analysis directory",
                dir.display()
            )));
        }
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(ANALYSIS_SCHEMA_VERSION)) {
            let made = version.map_or("an unknown version".to_string(), |v| v.to_string());
            return Err(bad(format!(
                "analysis schema version {made}, written by another version of neuron-census; \
                 this one reads version {ANALYSIS_SCHEMA_VERSION}: run `analyze` again on its \
                 runs to redo it"
            )));
        }
        serde_json::from_value(value).map_err(|source| FormatError::Json { path, source })
    }
}
