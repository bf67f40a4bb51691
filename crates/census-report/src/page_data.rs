//! The shapes of the data the page's script (`page.js`) reads: the embedded data's `layers` and
//! `coverage` of each model, and the neuron browser's scripts (a layer's table and detectors,
//! a neuron's details and history, the tokens' neurons). Each is built here, once, from the
//! analysis tables' rows; `page.js` reads these field names.
//!
//! Token strings the page shows are given twice: readably ([`display_ngram`]) under the field's
//! name, and as the tables hold them under `<name>_raw`, for the title a reader sees on hover.

use std::collections::BTreeMap;

use base64::Engine as _;
use census_format::analysis::tables::{
    CoverageRow, DetectedCoverage, DetectorRow, LayerRow, NeuronRow, ProjectionIds, RankedToken,
    TokenNeuronRow,
};
use census_format::analysis::vocabulary::{display_ngram, display_token};
use serde::Serialize;

use census_format::analysis::Summary;
use census_format::analysis::tables::AnalysisTable;

use crate::analysis::ModelAnalysis;
use crate::claims::ClaimVerdict;
use crate::contexts::Context;
use crate::html::PageModel;
use crate::paper::Headline;

/// The data embedded in the page (`<script id="census-data">`).
#[derive(Debug, Clone, Serialize)]
pub struct PageData<'a> {
    /// The models, in input order.
    pub models: Vec<ModelData<'a>>,
    /// The paper's claims with our values.
    pub headlines: &'a [Headline],
    /// The paper's claims tested on these models (empty where the report shows none).
    pub claims: &'a [ClaimVerdict],
    /// Neurons per neuron-detail script.
    pub neuron_chunk: usize,
    /// Token ids per token script.
    pub token_chunk: usize,
}

/// One model in the embedded data.
#[derive(Debug, Clone, Serialize)]
pub struct ModelData<'a> {
    /// Name for legends.
    pub name: &'a str,
    /// Slug of its data directory and ids.
    pub slug: &'a str,
    /// The analysis directory.
    pub dir: &'a std::path::Path,
    /// The headline numbers.
    pub summary: &'a Summary,
    /// Per-layer aggregates.
    pub layers: Vec<LayerData>,
    /// Coverage bins.
    pub coverage: Vec<CoverageData>,
    /// Detectors.
    pub detectors: usize,
    /// Every detector for the search by token.
    pub detector_index: Vec<IndexedDetector>,
    /// Positional neurons.
    pub positional: usize,
    /// The neuron the browser opens on: the first detector, else the first positional neuron.
    pub start: [usize; 2],
    /// Whether the analysis lists the neurons of each token.
    pub tokens: bool,
}

impl<'a> ModelData<'a> {
    /// The data of `model`.
    pub fn new(model: &'a PageModel<'a>) -> Self {
        let a = model.analysis;
        let start = a
            .detectors
            .first()
            .map(|d| (d.layer, d.neuron))
            .or_else(|| a.positional.first().map(|p| (p.layer, p.neuron)))
            .map_or([a.manifest.layers[0], 0], |(l, n)| {
                [usize::from(l), usize::from(n)]
            });
        Self {
            name: &a.name,
            slug: &model.slug,
            dir: &a.dir,
            summary: &a.summary,
            layers: LayerData::all(a),
            coverage: CoverageData::all(a),
            detectors: a.detectors.len(),
            detector_index: a.detectors.iter().map(IndexedDetector::from).collect(),
            positional: a.positional.len(),
            start,
            tokens: a.dir.join(TokenNeuronRow::FILE).exists(),
        }
    }
}

/// A detector in the search by token: layer, neuron, kind and its triggers, shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexedDetector(pub u16, pub u16, pub &'static str, pub Vec<String>);

impl From<&DetectorRow> for IndexedDetector {
    fn from(d: &DetectorRow) -> Self {
        Self(d.layer, d.neuron, d.kind.name(), shown(&d.triggers))
    }
}

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
    /// (`[weak, strong]`, indexed by `strong as usize`).
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

/// Token strings as the page shows them.
fn shown(raw: &[String]) -> Vec<String> {
    raw.iter().map(|t| display_ngram(t)).collect()
}

/// Ranked tokens' strings, shown and raw, and their ids.
fn ranked(tokens: &[RankedToken]) -> (Vec<String>, Vec<String>, Vec<u32>) {
    let raw: Vec<String> = tokens.iter().map(|t| t.name.clone()).collect();
    (shown(&raw), raw, tokens.iter().map(|t| t.id).collect())
}

/// A detector as the neuron browser reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorData {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// `token` or `trigram`.
    pub kind: &'static str,
    /// Triggers, shown.
    pub triggers: Vec<String>,
    /// Triggers as the tables hold them.
    pub triggers_raw: Vec<String>,
    /// Token ids of each trigger.
    pub trigger_ids: Vec<Vec<u32>>,
    /// Fires on each trigger.
    pub trigger_fires: Vec<f64>,
    /// Share of activations on the triggers.
    pub coverage: f64,
    /// Top promoted tokens, shown (none without a projection).
    pub promoted: Option<Vec<String>>,
    /// Top promoted tokens as the tables hold them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_raw: Option<Vec<String>>,
    /// Their ids.
    pub promoted_ids: Option<Vec<u32>>,
    /// Top suppressed tokens, shown.
    pub suppressed: Option<Vec<String>>,
    /// Top suppressed tokens as the tables hold them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_raw: Option<Vec<String>>,
    /// Their ids.
    pub suppressed_ids: Option<Vec<u32>>,
    /// Whether the update suppresses the triggers.
    pub suppresses_triggers: Option<bool>,
}

impl From<&DetectorRow> for DetectorData {
    fn from(r: &DetectorRow) -> Self {
        let p = r.projection.as_ref();
        let promoted = p.map(|p| ranked(&p.promoted));
        let suppressed = p.map(|p| ranked(&p.suppressed));
        Self {
            layer: r.layer,
            neuron: r.neuron,
            kind: r.kind.name(),
            triggers: shown(&r.triggers),
            triggers_raw: r.triggers.clone(),
            trigger_ids: r.trigger_ids.clone(),
            trigger_fires: r.trigger_fires.iter().map(|&f| f as f64).collect(),
            coverage: r.coverage,
            promoted: promoted.as_ref().map(|t| t.0.clone()),
            promoted_raw: promoted.as_ref().map(|t| t.1.clone()),
            promoted_ids: promoted.map(|t| t.2),
            suppressed: suppressed.as_ref().map(|t| t.0.clone()),
            suppressed_raw: suppressed.as_ref().map(|t| t.1.clone()),
            suppressed_ids: suppressed.map(|t| t.2),
            suppresses_triggers: p.and_then(|p| p.suppresses_triggers),
        }
    }
}

/// A layer's table in the neuron browser (`layer-LL.js`): one column per statistic, by neuron,
/// and the layer's detectors by neuron.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerTable {
    /// Neuron.
    pub neuron: Vec<u16>,
    /// Fires.
    pub fires: Vec<u64>,
    /// Fires in the `</s>` prefix.
    pub fires_bos: Vec<u64>,
    /// Activation frequency.
    pub frequency: Vec<f64>,
    /// Dead.
    pub dead: Vec<bool>,
    /// Unigrams, bigrams and trigrams covering the activations.
    pub coverage: Vec<[Option<u32>; 3]>,
    /// Mutual information with position.
    pub mi: Vec<Option<f64>>,
    /// Positional type.
    #[serde(rename = "type")]
    pub kind: Vec<Option<&'static str>>,
    /// Strong positional pattern.
    pub strong: Vec<Option<bool>>,
    /// The layer's detectors, by neuron.
    pub detectors: BTreeMap<String, DetectorData>,
}

impl LayerTable {
    /// The table of `rows` (one layer's neurons, by neuron) with that layer's `detectors`.
    pub fn new<'a>(rows: &[&NeuronRow], detectors: impl Iterator<Item = &'a DetectorRow>) -> Self {
        Self {
            neuron: rows.iter().map(|n| n.neuron).collect(),
            fires: rows.iter().map(|n| n.fires).collect(),
            fires_bos: rows.iter().map(|n| n.fires_bos).collect(),
            frequency: rows.iter().map(|n| n.frequency).collect(),
            dead: rows.iter().map(|n| n.dead).collect(),
            coverage: rows.iter().map(|n| n.coverage).collect(),
            mi: rows.iter().map(|n| n.position_mi).collect(),
            kind: rows
                .iter()
                .map(|n| n.positional.map(|c| c.kind.name()))
                .collect(),
            strong: rows
                .iter()
                .map(|n| n.positional.map(|c| c.strong))
                .collect(),
            detectors: detectors
                .map(|d| (d.neuron.to_string(), DetectorData::from(d)))
                .collect(),
        }
    }
}

/// A neuron's frequency-by-position curve as the page draws it, compactly: `top`, its largest
/// value, and each value as a share of it in 255ths, one byte each, in base64 (`levels`). The
/// value over the `width` positions from `first + i·width` is `top · levels[i] / 255`. The page
/// draws a curve at most 116 pixels high, on an axis up to `top` or above, so 255 levels of the
/// curve's own top lose nothing it shows, at any scale; the analysis keeps every digit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// First position.
    pub first: usize,
    /// Positions per value.
    pub width: usize,
    /// The largest value (0 for a curve of zeros).
    pub top: f32,
    /// Each value in 255ths of `top`, a byte each, base64.
    pub levels: String,
}

/// Levels of a curve's values: the steps between 0 and its top.
const LEVELS: f32 = 255.0;

impl Curve {
    /// The curve of `values` over `width` positions each from `first` (a value that is not
    /// finite is drawn as 0).
    pub fn new(first: usize, width: usize, values: &[f32]) -> Self {
        let finite = |v: f32| if v.is_finite() { v.max(0.0) } else { 0.0 };
        let top = values.iter().map(|&v| finite(v)).fold(0.0, f32::max);
        let levels: Vec<u8> = values
            .iter()
            .map(|&v| {
                if top > 0.0 {
                    (finite(v) / top * LEVELS).round() as u8
                } else {
                    0
                }
            })
            .collect();
        Self {
            first,
            width,
            top,
            levels: base64::engine::general_purpose::STANDARD.encode(levels),
        }
    }

    /// The curve of `values` in groups of bins averaged, at most `points` values.
    pub fn coarsened(first: usize, width: usize, values: &[f32], points: usize) -> Self {
        let grouped = values.len().div_ceil(points.max(1)).max(1);
        Self::new(first, width * grouped, &coarsen(values, points))
    }

    /// The values the page draws: `top · level / 255` each.
    pub fn values(&self) -> Vec<f32> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.levels)
            .expect("levels are base64 we wrote")
            .into_iter()
            .map(|level| self.top * f32::from(level) / LEVELS)
            .collect()
    }
}

/// `values` averaged in groups so that at most `points` remain.
fn coarsen(values: &[f32], points: usize) -> Vec<f32> {
    let width = values.len().div_ceil(points.max(1)).max(1);
    values
        .chunks(width)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect()
}

/// A neuron's vocabulary projection in the browser, as token ids; the model's
/// [`TokenSpellings`] spell them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionData {
    /// Top promoted tokens.
    pub promoted_ids: Vec<u32>,
    /// Top suppressed tokens.
    pub suppressed_ids: Vec<u32>,
}

impl From<ProjectionIds> for ProjectionData {
    fn from(p: ProjectionIds) -> Self {
        Self {
            promoted_ids: p.promoted,
            suppressed_ids: p.suppressed,
        }
    }
}

/// Token names by id (`None`: a token no projection holds), as the tables hold them.
pub type TokenNames = Vec<Option<String>>;

/// The spellings of the tokens a model's projections name (`vocab.js`), each once, by id:
/// shown readably and as the tables hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenSpellings {
    /// Token ids, ascending.
    pub ids: Vec<u32>,
    /// Each shown.
    pub shown: Vec<String>,
    /// Each as the tables hold it.
    pub raw: Vec<String>,
}

impl From<TokenNames> for TokenSpellings {
    fn from(names: TokenNames) -> Self {
        let (ids, raw): (Vec<u32>, Vec<String>) = (0u32..)
            .zip(names)
            .filter_map(|(id, name)| Some((id, name?)))
            .unzip();
        Self {
            ids,
            shown: shown(&raw),
            raw,
        }
    }
}

/// One checkpoint's statistics of a neuron, in its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeuronState {
    /// Training step.
    pub step: u64,
    /// Activation frequency.
    pub frequency: f64,
    /// Dead.
    pub dead: bool,
    /// Detector kind, if a detector.
    pub detector: Option<&'static str>,
    /// Its first triggers, shown.
    pub triggers: Vec<String>,
    /// Positional type.
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    /// Strong positional pattern.
    pub strong: Option<bool>,
    /// Mutual information with position.
    pub mi: Option<f64>,
    /// Position curve, coarsened.
    pub curve: Option<Curve>,
}

/// A neuron's details in its chunk script (`neurons-CCC.js`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeuronDetail {
    /// Vocabulary projection, where computed.
    pub projection: Option<ProjectionData>,
    /// Example contexts.
    pub contexts: Vec<Context>,
    /// Position curve.
    pub curve: Option<Curve>,
    /// Statistics at each checkpoint (for the trained model of a training run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<NeuronState>>,
}

/// A token with neurons in the token index: id, shown, raw, occurrences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexedToken(pub u32, pub String, pub String, pub u64);

impl From<&TokenNeuronRow> for IndexedToken {
    fn from(r: &TokenNeuronRow) -> Self {
        Self(
            r.token_id,
            display_token(&r.token),
            r.token.clone(),
            r.occurrences,
        )
    }
}

/// One of a token's neurons in a token part: layer, neuron, fires on the token, all fires.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenNeuron(pub u16, pub u16, pub u64, pub u64);

impl From<&TokenNeuronRow> for TokenNeuron {
    fn from(r: &TokenNeuronRow) -> Self {
        Self(r.layer, r.neuron, r.fires, r.neuron_fires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_coarsened_by_averaging_groups() {
        let values: Vec<f32> = (0..10).map(|v| v as f32).collect();
        assert_eq!(coarsen(&values, 4), vec![1.0, 4.0, 7.0, 9.0]);
        assert_eq!(coarsen(&values, 32), values);
        let curve = Curve::coarsened(2, 1, &values, 4);
        assert_eq!((curve.first, curve.width, curve.top), (2, 3, 9.0));
        for (drawn, exact) in curve.values().iter().zip([1.0, 4.0, 7.0, 9.0]) {
            assert!((drawn - exact).abs() <= 9.0 / 510.0, "{drawn} for {exact}");
        }
    }

    #[test]
    fn curves_keep_their_shape_at_any_scale_in_255ths_of_their_top() {
        for scale in [1.0f32, 1e-3, 1e-6] {
            let values: Vec<f32> = (0..128)
                .map(|i| scale * (i as f32 / 20.0).sin().abs())
                .collect();
            let curve = Curve::new(1, 16, &values);
            let top = values.iter().copied().fold(0.0, f32::max);
            assert_eq!(curve.top, top);
            assert_eq!(curve.levels.len(), 172, "128 bytes in base64");
            for (drawn, exact) in curve.values().iter().zip(&values) {
                assert!(
                    (drawn - exact).abs() <= top / 510.0 * 1.001,
                    "{drawn} against {exact}"
                );
            }
        }
        let flat = Curve::new(0, 1, &[0.0, f32::NAN, 0.0]);
        assert_eq!((flat.top, flat.values()), (0.0, vec![0.0; 3]));
    }
}
