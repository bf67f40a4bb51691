//! `summary.json`: the headline numbers of an analysis, the ones the paper states (see
//! `docs/METHODS.md`, "What the paper claims"). The analysis computes them from its tables; the
//! report reads them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::manifest::SUMMARY_FILE;
use crate::analysis::tables::PositionalType;
use crate::error::Result;

/// Dead neurons over the whole model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadSummary {
    /// Dead neurons in all analysed layers.
    pub total: u64,
    /// Their share of all neurons.
    pub share: f64,
    /// The highest per-layer share.
    pub max_layer_share: f64,
    /// The layer with that share.
    pub max_layer: usize,
    /// Whether the `</s>` prefix counted (`--exclude-bos` off): "dead" means never fires at
    /// any position.
    #[serde(default)]
    pub counts_bos: bool,
    /// The other reading of "dead" (outside the prefix when it counted, anywhere when it did
    /// not): its total and its highest per-layer share, with that layer.
    #[serde(default)]
    pub other_reading: Option<DeadReading>,
}

/// Dead neurons under one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadReading {
    /// Dead neurons in all analysed layers.
    pub total: u64,
    /// The highest per-layer share.
    pub max_layer_share: f64,
    /// The layer with that share.
    pub max_layer: usize,
}

/// Detector counts and detected n-grams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSummary {
    /// Detectors summed over layers.
    pub detectors: u64,
    /// The most n-grams detected in one layer.
    pub max_detected_per_layer: u64,
    /// N-grams detected in some layer.
    pub detected_cumulative: u64,
    /// Of the n-grams detected in layers above the first, the share new to all lower layers
    /// (pooled over those layers).
    pub new_overall_share: Option<f64>,
    /// The same share layer by layer (`[layer, share]`, layers above the first that detect
    /// something): the paper's "mostly new in each layer" is a statement about each of these.
    #[serde(default)]
    pub new_share_by_layer: Vec<(usize, f64)>,
    /// The `--min-occurrences` the count is under: the occurrences a trigger needs.
    #[serde(default = "one")]
    pub min_occurrences: u64,
    /// The count under other minimums of occurrences (`[min_occurrences, detectors]`, from
    /// `detector_sensitivity.parquet`; empty in analyses written before it).
    #[serde(default)]
    pub sensitivity: Vec<(u64, u64)>,
    /// The detectors found again on each half of the data, pooled over layers
    /// (`--detector-stability`; empty without it).
    #[serde(default)]
    pub stability: Vec<HalfStability>,
    /// Detectors found with each sequence's text tokens shuffled, summed over layers: the count
    /// expected by chance (`--shuffled-null`; none without it).
    #[serde(default)]
    pub shuffled: Option<u64>,
}

/// The detectors of the whole data found again on one half of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HalfStability {
    /// The half (0 or 1).
    pub half: u8,
    /// Detectors on the whole data.
    pub detectors: u64,
    /// Of those, detectors of the same kind on the half too.
    pub on_half: u64,
    /// Their triggers' mean Jaccard index between the whole data and the half.
    pub trigger_overlap: Option<f64>,
}

/// `min_occurrences` of analyses written before it was recorded: the default.
fn one() -> u64 {
    1
}

/// Trigger suppression by token detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuppressionSummary {
    /// Token detectors projected.
    pub detectors: u64,
    /// Those whose update points away from their triggers.
    pub suppressing: u64,
    /// `suppressing / detectors` (none without token detectors).
    pub share: Option<f64>,
    /// The share expected by chance: the mean, over those detectors, of the chance that the
    /// rule holds for as many tokens drawn at random from the vocabulary.
    #[serde(default)]
    pub null_share: Option<f64>,
    /// One-sided p-value of `suppressing` against those chances (exact Poisson binomial: a sign
    /// test with each detector's own chance).
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Median over the detectors of their triggers' mean bottom rank as a share of the
    /// vocabulary (0: the most suppressed token; about 0.5 by chance).
    #[serde(default)]
    pub median_trigger_rank: Option<f64>,
}

/// Positional neurons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionalSummary {
    /// Positional neurons in all layers.
    pub total: u64,
    /// By type: `[strong, weak]` counts, every type present; recorded keyed by the types'
    /// names in name order.
    #[serde(with = "counts_by_type_name")]
    pub by_type: BTreeMap<PositionalType, [u64; 2]>,
    /// Strong oscillatory neurons in layer 1 (the paper's "second layer" of 125m has 10).
    pub strong_oscillatory_layer_1: u64,
    /// Layers with at least one oscillatory neuron.
    pub layers_with_oscillatory: Vec<usize>,
}

/// [`PositionalSummary::by_type`] as `summary.json` records it: an object keyed by the types'
/// names, in name order.
mod counts_by_type_name {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::analysis::tables::PositionalType;

    pub fn serialize<S: Serializer>(
        counts: &BTreeMap<PositionalType, [u64; 2]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let named: BTreeMap<&str, &[u64; 2]> =
            counts.iter().map(|(kind, c)| (kind.name(), c)).collect();
        named.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<PositionalType, [u64; 2]>, D::Error> {
        BTreeMap::<String, [u64; 2]>::deserialize(deserializer)?
            .into_iter()
            .map(|(name, c)| {
                PositionalType::from_name(&name)
                    .map(|kind| (kind, c))
                    .ok_or_else(|| D::Error::custom(format!("unknown positional type '{name}'")))
            })
            .collect()
    }
}

/// The headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Model source as the runs recorded it.
    pub model: String,
    /// Layers analysed.
    pub layers: usize,
    /// Neurons per layer.
    pub neurons_per_layer: usize,
    /// Tokens the frequencies are over.
    pub tokens: u64,
    /// Sequences.
    pub sequences: u64,
    /// Dead neurons.
    pub dead: DeadSummary,
    /// Mean activation frequency over all alive neurons.
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors (where unigrams were counted).
    pub token_detectors: Option<DetectorSummary>,
    /// Trigram detectors (where trigrams were counted).
    pub trigram_detectors: Option<DetectorSummary>,
    /// Trigger suppression (when projections were computed).
    pub suppression: Option<SuppressionSummary>,
    /// Positional neurons (when the MI was computed).
    pub positional: Option<PositionalSummary>,
    /// Positional neurons domain by domain (when the positional data holds two domains or
    /// more): how many keep their type across domains.
    #[serde(default)]
    pub positional_domains: Option<DomainStability>,
}

/// One domain's count of positional neurons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainCount {
    /// The domain.
    pub domain: String,
    /// Its tokens.
    pub tokens: u64,
    /// Its sequences.
    pub sequences: u64,
    /// Neurons positional in this domain.
    pub positional: u64,
    /// Of the pooled positional neurons, those positional in this domain with the same type.
    pub same_type: u64,
    /// The MI a neuron independent of position reaches by chance on this domain's tokens
    /// (Miller–Madow: `(T − 1) / (2N)` nats for `T` positions and `N` tokens): when it nears
    /// the threshold, the domain is too small for its count of positional neurons to mean much.
    #[serde(default)]
    pub chance_mi: f64,
}

/// Whether positional neurons keep their type across domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainStability {
    /// Each domain.
    pub domains: Vec<DomainCount>,
    /// Positional neurons of the pooled analysis (in the layers compared).
    pub pooled: u64,
    /// Of those, the ones positional in every domain.
    pub positional_in_every_domain: u64,
    /// Of those, the ones with their pooled type in every domain.
    pub same_type_in_every_domain: u64,
}

impl Summary {
    /// The token and trigram detectors' summaries, each with its kind.
    pub fn detectors_by_kind(
        &self,
    ) -> [(
        crate::analysis::tables::DetectorKind,
        Option<&DetectorSummary>,
    ); 2] {
        use crate::analysis::tables::DetectorKind;
        [
            (DetectorKind::Token, self.token_detectors.as_ref()),
            (DetectorKind::Trigram, self.trigram_detectors.as_ref()),
        ]
    }

    /// Reads `summary.json` of analysis directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        crate::json_file::read_json(&dir.join(SUMMARY_FILE))
    }
}
