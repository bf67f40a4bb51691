//! The shapes of the analysis rows the page's script (`page.js`) reads: the embedded data's
//! `layers` and `coverage` of each model, and the detectors of the neuron browser's layer
//! scripts. Each is built here, once, from the analysis tables' rows; `page.js` reads these
//! field names.

use census_format::analysis::tables::{CoverageRow, DetectedCoverage, DetectorRow, LayerRow};
use serde::Serialize;

use crate::analysis::ModelAnalysis;

/// A layer's aggregates as the page reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerData {
    /// Layer (0-based).
    pub layer: u16,
    /// Counted tokens.
    pub tokens: f64,
    /// Neurons.
    pub neurons: f64,
    /// Dead share.
    pub dead_share: f64,
    /// Dead share under the other reading of the `</s>` prefix.
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

impl LayerData {
    /// `row` of `model`.
    pub fn new(model: &ModelAnalysis, row: &LayerRow) -> Self {
        let four = |c: Option<DetectedCoverage>| {
            c.map_or([None; 4], |c| {
                [c.detected, c.cumulative, c.new_overall, c.new_vs_previous].map(|v| Some(v as f64))
            })
        };
        Self {
            layer: row.layer,
            tokens: row.tokens as f64,
            neurons: f64::from(row.neurons),
            dead_share: row.dead_share,
            dead_share_other: Some(model.dead_share_other(row)),
            mean_frequency_alive: row.mean_frequency_alive,
            token_detectors: row.token_detectors.map(f64::from),
            trigram_detectors: row.trigram_detectors.map(f64::from),
            tokens_detected: four(row.tokens_detected),
            trigrams_detected: four(row.trigrams_detected),
            positional: row
                .positional
                .map(|p| p.map(|counts| counts.map(f64::from))),
        }
    }

    /// Every layer of `model`, in order.
    pub fn all(model: &ModelAnalysis) -> Vec<Self> {
        model.layers.iter().map(|r| Self::new(model, r)).collect()
    }
}

/// A coverage bin as the page reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageData {
    /// Layer.
    pub layer: u16,
    /// `unigram`, `bigram` or `trigram`.
    pub order: &'static str,
    /// Bin index.
    pub bin: u16,
    /// Bin label.
    pub label: String,
    /// Alive neurons in the bin.
    pub neurons: f64,
}

impl CoverageData {
    /// Every coverage bin of `model`.
    pub fn all(model: &ModelAnalysis) -> Vec<Self> {
        model
            .coverage
            .iter()
            .map(|r: &CoverageRow| Self {
                layer: r.layer,
                order: r.order.name(),
                bin: r.bin,
                label: r.label.clone(),
                neurons: r.neurons as f64,
            })
            .collect()
    }
}

/// A detector as the neuron browser reads it (before its token strings are made readable).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorData {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// `token` or `trigram`.
    pub kind: &'static str,
    /// Trigger strings.
    pub triggers: Vec<String>,
    /// Token ids of each trigger.
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

impl From<&DetectorRow> for DetectorData {
    fn from(r: &DetectorRow) -> Self {
        let p = r.projection.as_ref();
        Self {
            layer: r.layer,
            neuron: r.neuron,
            kind: r.kind.name(),
            triggers: r.triggers.clone(),
            trigger_ids: r.trigger_ids.clone(),
            trigger_fires: r.trigger_fires.iter().map(|&f| f as f64).collect(),
            coverage: r.coverage,
            promoted: p.map(|p| p.promoted.iter().map(|t| t.name.clone()).collect()),
            promoted_ids: p.map(|p| p.promoted.iter().map(|t| t.id).collect()),
            suppressed: p.map(|p| p.suppressed.iter().map(|t| t.name.clone()).collect()),
            suppressed_ids: p.map(|p| p.suppressed.iter().map(|t| t.id).collect()),
            suppresses_triggers: p.and_then(|p| p.suppresses_triggers),
        }
    }
}
