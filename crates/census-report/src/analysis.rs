//! One analysis directory loaded for the report: its manifest, summary and tables.

use std::path::{Path, PathBuf};

use census_format::analysis::AnalysisManifest;
use census_format::analysis::Summary;

use crate::error::{ReportError, Result};
use crate::table::Table;

/// Per-layer aggregates (a row of `layers.parquet`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerRow {
    /// Layer (0-based).
    pub layer: usize,
    /// Counted tokens.
    pub tokens: f64,
    /// Neurons.
    pub neurons: f64,
    /// Dead share.
    pub dead_share: f64,
    /// Dead share under the other reading of the `</s>` prefix (none in analyses that did not
    /// record it).
    pub dead_share_other: Option<f64>,
    /// Mean frequency among alive neurons.
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors.
    pub token_detectors: Option<f64>,
    /// Trigram detectors.
    pub trigram_detectors: Option<f64>,
    /// Tokens detected here, cumulative, new overall, new vs the previous layer.
    pub tokens_detected: [Option<f64>; 4],
    /// The same for trigrams.
    pub trigrams_detected: [Option<f64>; 4],
    /// Positional neurons by type (oscillatory, both extremes, one extreme, other) and strength
    /// (`[strong, weak]`).
    pub positional: Option<[[f64; 2]; 4]>,
}

/// A row of `coverage.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoverageRow {
    /// Layer.
    pub layer: usize,
    /// `unigram`, `bigram` or `trigram`.
    pub order: String,
    /// Bin index.
    pub bin: usize,
    /// Bin label.
    pub label: String,
    /// Alive neurons in the bin.
    pub neurons: f64,
}

/// A row of `detectors.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectorRow {
    /// Layer.
    pub layer: usize,
    /// Neuron.
    pub neuron: usize,
    /// `token` or `trigram`.
    pub kind: String,
    /// Trigger strings.
    pub triggers: Vec<String>,
    /// Token ids of each trigger (empty in analyses that did not record them).
    pub trigger_ids: Vec<Vec<u32>>,
    /// Fires on each trigger.
    pub trigger_fires: Vec<f64>,
    /// Share of activations on the triggers.
    pub coverage: f64,
    /// Top promoted tokens.
    pub promoted: Option<Vec<String>>,
    /// Their ids.
    pub promoted_ids: Option<Vec<u32>>,
    /// Top suppressed tokens.
    pub suppressed: Option<Vec<String>>,
    /// Their ids.
    pub suppressed_ids: Option<Vec<u32>>,
    /// Whether the update suppresses the triggers.
    pub suppresses_triggers: Option<bool>,
}

/// A row of `positional.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PositionalRow {
    /// Layer.
    pub layer: usize,
    /// Neuron.
    pub neuron: usize,
    /// MI with position.
    pub mi: f64,
    /// Type name.
    pub kind: String,
    /// Strong or weak.
    pub strong: bool,
    /// Position of the first curve value.
    pub first_position: usize,
    /// Frequency by position.
    pub curve: Vec<f64>,
    /// Ranges `[start, end)`.
    pub ranges: Vec<(f64, f64)>,
}

/// An analysis directory, read.
#[derive(Debug, Clone)]
pub struct ModelAnalysis {
    /// The directory.
    pub dir: PathBuf,
    /// A short name for legends (the model directory's or hub id's last component).
    pub name: String,
    /// The manifest.
    pub manifest: AnalysisManifest,
    /// The headline numbers.
    pub summary: Summary,
    /// Per-layer aggregates, by layer.
    pub layers: Vec<LayerRow>,
    /// Coverage bins.
    pub coverage: Vec<CoverageRow>,
    /// Detectors.
    pub detectors: Vec<DetectorRow>,
    /// Positional neurons.
    pub positional: Vec<PositionalRow>,
}

fn index(v: f64) -> usize {
    v as usize
}

impl ModelAnalysis {
    /// Reads analysis directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ReportError::analysis(dir, "not a directory"));
        }
        let manifest = AnalysisManifest::load(dir)?;
        let summary = Summary::load(dir)?;
        let name = manifest
            .model
            .source
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("model")
            .to_string();
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            layers: read_layers(
                &Table::read(&dir.join("layers.parquet"))?,
                manifest.options.count_bos,
            )?,
            coverage: read_coverage(&Table::read(&dir.join("coverage.parquet"))?)?,
            detectors: read_detectors(&Table::read(&dir.join("detectors.parquet"))?)?,
            positional: read_positional(&Table::read(&dir.join("positional.parquet"))?)?,
            manifest,
            summary,
        })
    }

    /// Layers in the model (for the normalised depth axis).
    pub fn model_layers(&self) -> usize {
        self.manifest.model.config.num_hidden_layers
    }

    /// `layer / (L - 1)`: depth in 0..=1.
    pub fn depth(&self, layer: usize) -> f64 {
        layer as f64 / (self.model_layers().max(2) - 1) as f64
    }
}

fn read_layers(t: &Table, counts_bos: bool) -> Result<Vec<LayerRow>> {
    let layer = t.counts_required("layer")?;
    let tokens = t.counts_required("tokens")?;
    let neurons = t.counts_required("neurons")?;
    let dead_share = t.shares_required("dead_share")?;
    let other_column = if counts_bos {
        "dead_without_bos"
    } else {
        "dead_with_bos"
    };
    let dead_other = if t.has(other_column) {
        t.counts(other_column)?
    } else {
        vec![None; t.len()]
    };
    let mean = t.shares("mean_frequency_alive")?;
    let token_detectors = t.counts("token_detectors")?;
    let trigram_detectors = t.counts("trigram_detectors")?;
    let four = |prefix: &str| -> Result<Vec<[Option<f64>; 4]>> {
        let cols = [
            t.counts(&format!("{prefix}_detected"))?,
            t.counts(&format!("{prefix}_detected_cumulative"))?,
            t.counts(&format!("{prefix}_new_overall"))?,
            t.counts(&format!("{prefix}_new_vs_previous"))?,
        ];
        Ok((0..t.len())
            .map(|i| [cols[0][i], cols[1][i], cols[2][i], cols[3][i]])
            .collect())
    };
    let tokens_detected = four("tokens")?;
    let trigrams_detected = four("trigrams")?;
    let mut by_type = Vec::new();
    for kind in ["oscillatory", "both_extremes", "one_extreme", "other"] {
        by_type.push([
            t.counts(&format!("{kind}_strong"))?,
            t.counts(&format!("{kind}_weak"))?,
        ]);
    }
    let mut rows: Vec<LayerRow> = (0..t.len())
        .map(|i| LayerRow {
            layer: index(layer[i]),
            tokens: tokens[i],
            neurons: neurons[i],
            dead_share: dead_share[i],
            dead_share_other: dead_other[i].map(|d| d / neurons[i].max(1.0)),
            mean_frequency_alive: mean[i],
            token_detectors: token_detectors[i],
            trigram_detectors: trigram_detectors[i],
            tokens_detected: tokens_detected[i],
            trigrams_detected: trigrams_detected[i],
            positional: by_type[0][0][i].map(|_| {
                let mut p = [[0.0; 2]; 4];
                for (k, [strong, weak]) in by_type.iter().enumerate() {
                    p[k] = [strong[i].unwrap_or(0.0), weak[i].unwrap_or(0.0)];
                }
                p
            }),
        })
        .collect();
    rows.sort_by_key(|r| r.layer);
    Ok(rows)
}

fn read_coverage(t: &Table) -> Result<Vec<CoverageRow>> {
    let layer = t.counts_required("layer")?;
    let order = t.strings("order")?;
    let bin = t.counts_required("bin")?;
    let label = t.strings("label")?;
    let neurons = t.counts_required("neurons")?;
    Ok((0..t.len())
        .map(|i| CoverageRow {
            layer: index(layer[i]),
            order: order[i].clone().unwrap_or_default(),
            bin: index(bin[i]),
            label: label[i].clone().unwrap_or_default(),
            neurons: neurons[i],
        })
        .collect())
}

fn read_detectors(t: &Table) -> Result<Vec<DetectorRow>> {
    let layer = t.counts_required("layer")?;
    let neuron = t.counts_required("neuron")?;
    let kind = t.strings("kind")?;
    let triggers = t.string_lists("triggers")?;
    let fires = t.count_lists("trigger_fires")?;
    let coverage = t.shares_required("coverage")?;
    let promoted = t.string_lists("promoted")?;
    let suppressed = t.string_lists("suppressed")?;
    let suppresses = t.bools("suppresses_triggers")?;
    let ids = |name: &str| -> Result<Vec<Option<Vec<u32>>>> {
        if !t.has(name) {
            return Ok(vec![None; t.len()]);
        }
        Ok(t.count_lists(name)?
            .into_iter()
            .map(|row| row.map(|ids| ids.into_iter().map(|id| id as u32).collect()))
            .collect())
    };
    let (promoted_ids, suppressed_ids) = (ids("promoted_ids")?, ids("suppressed_ids")?);
    let trigger_ids = if t.has("trigger_ids") {
        t.nested_count_lists("trigger_ids")?
    } else {
        vec![None; t.len()]
    };
    Ok((0..t.len())
        .map(|i| DetectorRow {
            layer: index(layer[i]),
            neuron: index(neuron[i]),
            kind: kind[i].clone().unwrap_or_default(),
            triggers: triggers[i].clone().unwrap_or_default(),
            trigger_ids: trigger_ids[i]
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|ids| ids.into_iter().map(|id| id as u32).collect())
                .collect(),
            trigger_fires: fires[i].clone().unwrap_or_default(),
            coverage: coverage[i],
            promoted: promoted[i].clone(),
            promoted_ids: promoted_ids[i].clone(),
            suppressed: suppressed[i].clone(),
            suppressed_ids: suppressed_ids[i].clone(),
            suppresses_triggers: suppresses[i],
        })
        .collect())
}

fn read_positional(t: &Table) -> Result<Vec<PositionalRow>> {
    let layer = t.counts_required("layer")?;
    let neuron = t.counts_required("neuron")?;
    let mi = t.counts_required("mi")?;
    let kind = t.strings("type")?;
    let strong = t.bools("strong")?;
    let first = t.counts_required("first_position")?;
    let curve = t.share_lists("frequency")?;
    let starts = t.count_lists("range_starts")?;
    let ends = t.count_lists("range_ends")?;
    Ok((0..t.len())
        .map(|i| PositionalRow {
            layer: index(layer[i]),
            neuron: index(neuron[i]),
            mi: mi[i],
            kind: kind[i].clone().unwrap_or_default(),
            strong: strong[i].unwrap_or(false),
            first_position: index(first[i]),
            curve: curve[i].clone().unwrap_or_default(),
            ranges: starts[i]
                .clone()
                .unwrap_or_default()
                .into_iter()
                .zip(ends[i].clone().unwrap_or_default())
                .collect(),
        })
        .collect())
}
