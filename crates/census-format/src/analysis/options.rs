//! Every choice the paper leaves open, as a flag with a documented default (see
//! `docs/ANALYSIS.md`). The options are recorded in the analysis manifest.

use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A set of layers, resolved against a model's depth or the layers a run recorded: the one
/// grammar of every `--layers`-like flag (`all`, `first-half`, `none`, `a..b`, `a..=b`, `..b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerScope {
    /// Every recorded layer.
    All,
    /// Layers with index `< L / 2` (0-based), the paper's "first half of the network".
    FirstHalf,
    /// No layer.
    None,
    /// Layers `start..end` (0-based, end exclusive).
    Range {
        /// First layer.
        start: usize,
        /// One past the last layer.
        end: usize,
    },
}

impl LayerScope {
    /// Whether `layer` of a model with `layers` layers is in scope.
    pub fn contains(&self, layer: usize, layers: usize) -> bool {
        match *self {
            Self::All => true,
            Self::FirstHalf => layer < layers / 2,
            Self::None => false,
            Self::Range { start, end } => (start..end).contains(&layer),
        }
    }

    /// The layers `start..end`.
    pub fn range(layers: Range<usize>) -> Self {
        Self::Range {
            start: layers.start,
            end: layers.end,
        }
    }

    /// The layers in scope of a model `depth` layers deep, as a range (a range beyond the
    /// model is returned as given, for the caller to refuse).
    pub fn resolve(&self, depth: usize) -> Range<usize> {
        match *self {
            Self::All => 0..depth,
            Self::FirstHalf => 0..depth / 2,
            Self::None => 0..0,
            Self::Range { start, end } => start..end,
        }
    }
}

impl std::fmt::Display for LayerScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::FirstHalf => f.write_str("first-half"),
            Self::None => f.write_str("none"),
            Self::Range { start, end } => write!(f, "{start}..{end}"),
        }
    }
}

impl FromStr for LayerScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "first-half" => Ok(Self::FirstHalf),
            "none" => Ok(Self::None),
            _ => {
                let (a, b, inclusive) = match s.split_once("..=") {
                    Some((a, b)) => (a, b, true),
                    None => {
                        let (a, b) = s.split_once("..").ok_or_else(|| {
                            format!(
                                "'{s}' is not a layer scope: use all, first-half, none, \
                                 START..END, START..=LAST or ..END"
                            )
                        })?;
                        (a, b, false)
                    }
                };
                let parse = |x: &str| {
                    x.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("'{s}': '{x}' is not a layer index"))
                };
                let start = if a.trim().is_empty() { 0 } else { parse(a)? };
                let end = parse(b)?
                    .checked_add(usize::from(inclusive))
                    .ok_or_else(|| format!("'{s}': '{b}' is past every layer"))?;
                if start >= end {
                    return Err(format!("'{s}' is an empty layer range"));
                }
                Ok(Self::Range { start, end })
            }
        }
    }
}

/// Log base of the mutual information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum LogBase {
    /// Natural log (nats): I ≤ ln 2.
    E,
    /// Base 2 (bits): I ≤ 1.
    Two,
}

impl LogBase {
    /// `log_base(x)`.
    pub fn log(self, x: f64) -> f64 {
        match self {
            Self::E => x.ln(),
            Self::Two => x.log2(),
        }
    }
}

/// When a detector's update counts as pointing away from its triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionRule {
    /// The mean vocabulary score of the trigger tokens is negative.
    Mean,
    /// Every trigger token has a negative vocabulary score.
    All,
}

/// Thresholds of n-gram coverage and of token and trigram detectors (§3.4–3.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorOptions {
    /// Share of a neuron's activations its covering n-grams must reach (0.95).
    pub coverage_share: f64,
    /// A token (trigram) is covered when the neuron fires on at least this share of its
    /// occurrences (0.95).
    pub trigger_share: f64,
    /// Token detectors are neurons covered by `1..=max_tokens` tokens (5).
    pub max_tokens: u32,
    /// Trigram detectors are neurons covered by `1..=max_trigrams` trigrams (50).
    pub max_trigrams: u32,
    /// Occurrences an n-gram needs before it can be a trigger (1: the paper sets none).
    pub min_occurrences: u64,
    /// What a neuron's bigram and trigram coverage is a share of. Analyses written before the
    /// choice existed used [`NgramDenominator::Windowed`].
    #[serde(default = "NgramDenominator::before_the_choice")]
    pub ngram_denominator: NgramDenominator,
}

/// What a neuron's n-gram coverage (and a detector's share of activations) is a share of
/// (`--ngram-denominator`). Unigrams exist at every position after the `</s>` prefix, so both
/// agree for them; a bigram (trigram) exists only from the second (third) token of a sequence on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum NgramDenominator {
    /// Every activation outside the prefix (the paper's "its activations"): fires where no
    /// n-gram of the order exists count, and cannot be covered.
    All,
    /// Only the activations where an n-gram of the order exists.
    Windowed,
}

impl NgramDenominator {
    /// The rule of analyses written before the choice existed.
    fn before_the_choice() -> Self {
        Self::Windowed
    }
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            coverage_share: 0.95,
            trigger_share: 0.95,
            max_tokens: 5,
            max_trigrams: 50,
            min_occurrences: 1,
            ngram_denominator: NgramDenominator::All,
        }
    }
}

/// Rules of the positional analysis (§3.9–3.11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionalOptions {
    /// Run the positional analysis on runs whose sequences are not all of full length (the MI
    /// then weighs positions by how often they occur). Off: such runs get no positional columns.
    pub any_length: bool,
    /// Leave position 0 (the `</s>` prefix) out of the curve and the MI.
    pub skip_bos: bool,
    /// Log base of the MI.
    pub log_base: LogBase,
    /// Neurons with MI above this are positional (0.05).
    pub mi_threshold: f64,
    /// Weak extremes: the curve stays within this of 0 (or 1) (0.05). Strong ones reach 0 or 1
    /// exactly.
    pub weak_epsilon: f64,
    /// Minimum run of consecutive positions at an extreme, as a share of the sequence length
    /// (1/128: 16 positions of 2048), at least 3 positions.
    pub extreme_run_share: f64,
    /// Transitions between low and high regimes that make a neuron oscillatory (3).
    pub oscillation_transitions: u32,
    /// The least swing (smoothed maximum minus minimum, in frequency) an oscillation needs
    /// (0.5): a wavy curve that never comes near silence or saturation is "other".
    #[serde(default = "default_oscillation_min_swing")]
    pub oscillation_min_swing: f64,
    /// An "other" neuron is strong when the residual of its curve around a moving average is
    /// at most this share of the curve's standard deviation (0.25).
    pub smooth_residual_share: f64,
    /// Positions where an oscillatory neuron's frequency is at least this form its ranges (0.5).
    pub range_threshold: f64,
    /// Bins of the frequency-by-position curve written for every alive neuron
    /// (`position_curves.parquet`; 128: 2,048 positions in bins of 16); 0 writes none.
    #[serde(default = "default_curve_bins")]
    pub curve_bins: usize,
}

fn default_curve_bins() -> usize {
    128
}

fn default_oscillation_min_swing() -> f64 {
    0.5
}

impl Default for PositionalOptions {
    fn default() -> Self {
        Self {
            any_length: false,
            skip_bos: false,
            log_base: LogBase::E,
            mi_threshold: 0.05,
            weak_epsilon: 0.05,
            extreme_run_share: 1.0 / 128.0,
            oscillation_transitions: 3,
            oscillation_min_swing: default_oscillation_min_swing(),
            smooth_residual_share: 0.25,
            range_threshold: 0.5,
            curve_bins: default_curve_bins(),
        }
    }
}

impl PositionalOptions {
    /// The minimum run at an extreme for sequences of `positions` positions.
    pub fn extreme_run(&self, positions: usize) -> usize {
        ((positions as f64 * self.extreme_run_share).round() as usize).max(3)
    }
}

/// Whether every alive neuron's update is projected (for the report's neuron browser), not only
/// the detectors'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ProjectAll {
    /// When it costs at most [`PROJECT_ALL_AUTO_FLOPS`] (OPT-125m-sized models on a CPU).
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// The largest projection cost, in FLOPs, that `--project-all auto` takes on (about a minute on
/// a 2-core CPU).
pub const PROJECT_ALL_AUTO_FLOPS: f64 = 1e13;

/// Vocabulary projections of detectors (§3.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionOptions {
    /// Compute them (needs the model weights).
    pub enabled: bool,
    /// Scale updates by the final LayerNorm's γ first.
    pub final_norm_scale: bool,
    /// Promoted and suppressed tokens listed per detector (10).
    pub top_k: usize,
    /// When a detector suppresses its triggers.
    pub rule: SuppressionRule,
    /// Also project every alive neuron (`projections.parquet`).
    pub all: ProjectAll,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            final_norm_scale: false,
            top_k: 10,
            rule: SuppressionRule::Mean,
            all: ProjectAll::Auto,
        }
    }
}

/// Part of the data of some runs: the sequences of some domains, within a token budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSelection {
    /// Only the sequences of these domains (empty: every domain).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Only whole sequences, in run and part order, while their tokens (`</s>` included) stay
    /// within this budget.
    #[serde(default)]
    pub token_budget: Option<u64>,
}

impl DataSelection {
    /// Whether it selects everything.
    pub fn is_everything(&self) -> bool {
        self.domains.is_empty() && self.token_budget.is_none()
    }
}

/// Everything that shapes an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// Count activations on the `</s>` prefix toward activation counts, frequencies and dead
    /// neurons (on by default: the paper's §3 calls a neuron dead when it "never activates";
    /// off leaves the prefix out there too, as §4 does for n-grams). Both readings of "dead"
    /// are in the layers table either way.
    pub count_bos: bool,
    /// Analyse only the sequences of these domains (empty: every domain), so one larger run
    /// can serve an experiment on part of its data (the paper's §4 uses five of its domains).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Analyse only whole sequences, in run and part order, while their tokens (`</s>`
    /// included) stay within this budget (the paper's §4 uses 5M tokens).
    #[serde(default)]
    pub token_budget: Option<u64>,
    /// The part of the n-gram runs (§4: coverage, detectors, detected tokens, projections)
    /// analysed; none: the n-gram statistics rest on the same data as the frequencies.
    #[serde(default)]
    pub ngram_data: Option<DataSelection>,
    /// The part of the positional runs (§5) analysed; none: as the frequencies.
    #[serde(default)]
    pub positional_data: Option<DataSelection>,
    /// Also compute the MI with position and the type of each neuron domain by domain on the
    /// positional data (when it holds two domains or more), to test whether positional neurons
    /// keep their type across domains.
    #[serde(default = "yes")]
    pub positional_by_domain: bool,
    /// Layers whose unigram tables are built (token detectors, unigram coverage).
    pub unigram_layers: LayerScope,
    /// Layers whose bigram and trigram tables are built (coverage, trigram detectors).
    pub ngram_layers: LayerScope,
    /// Cap on the n-gram count tables of all layers counted at once, in MiB.
    pub ngram_memory_mib: usize,
    /// Upper edges (inclusive) of the n-gram coverage bins; a last bin holds the rest.
    pub coverage_bins: Vec<u32>,
    /// Detector thresholds.
    pub detectors: DetectorOptions,
    /// Positional analysis.
    pub positional: PositionalOptions,
    /// Vocabulary projections.
    pub projection: ProjectionOptions,
    /// Neurons listed per token in `token_neurons.parquet`: this many that fire most often on
    /// it, and this many that give it the largest share of their fires, over the layers with
    /// unigram tables (10); 0 writes no table.
    #[serde(default = "default_token_neurons")]
    pub token_neurons: usize,
    /// Example contexts recorded per neuron in `contexts.parquet` (the first places it fires,
    /// with the tokens around them, from the runs that record fired neurons); 0 writes no table.
    #[serde(default = "default_contexts")]
    pub contexts: usize,
    /// Detector stability: with a seed, the n-gram data is split in two halves by sequence
    /// under that seed, each half's detectors are found again, and `detector_stability.parquet`
    /// compares them with the whole data's; none: not computed.
    #[serde(default)]
    pub detector_stability: Option<u64>,
    /// The shuffled-token null: with a seed, each sequence's text tokens of the n-gram data are
    /// shuffled under it, the fires kept in place, and the detectors found again
    /// (`detector_null.parquet`); none: not computed.
    #[serde(default)]
    pub shuffled_null: Option<u64>,
}

fn default_token_neurons() -> usize {
    10
}

fn default_contexts() -> usize {
    3
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            count_bos: true,
            domains: Vec::new(),
            token_budget: None,
            ngram_data: None,
            positional_data: None,
            positional_by_domain: true,
            unigram_layers: LayerScope::All,
            ngram_layers: LayerScope::FirstHalf,
            ngram_memory_mib: 8192,
            coverage_bins: vec![5, 10, 20, 50, 200, 1000, 2000, 5000],
            detectors: DetectorOptions::default(),
            positional: PositionalOptions::default(),
            projection: ProjectionOptions::default(),
            token_neurons: default_token_neurons(),
            contexts: default_contexts(),
            detector_stability: None,
            shuffled_null: None,
        }
    }
}

fn yes() -> bool {
    true
}

impl AnalysisOptions {
    /// The selection of the frequency data (`domains`, `token_budget`).
    pub fn frequency_data(&self) -> DataSelection {
        DataSelection {
            domains: self.domains.clone(),
            token_budget: self.token_budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_scopes_have_one_grammar() {
        let parse = |s: &str| s.parse::<LayerScope>();
        assert_eq!(parse("all"), Ok(LayerScope::All));
        assert_eq!(parse("first-half").unwrap().resolve(7), 0..3);
        assert_eq!(parse("none").unwrap().resolve(7), 0..0);
        assert_eq!(parse("0..6"), Ok(LayerScope::range(0..6)));
        assert_eq!(parse("2..=3"), Ok(LayerScope::range(2..4)));
        assert_eq!(parse("..4"), Ok(LayerScope::range(0..4)));
        assert_eq!(parse("..4").unwrap().to_string(), "0..4");
        assert!(parse("3").unwrap_err().contains("START..=LAST"));
        assert!(parse("4..4").unwrap_err().contains("empty"));
        assert!(parse("a..4").unwrap_err().contains("'a'"));
        let past = format!("0..={}", usize::MAX);
        assert!(parse(&past).unwrap_err().contains("past every layer"));
        assert!(LayerScope::range(1..3).contains(2, 12));
        assert!(!LayerScope::FirstHalf.contains(6, 12));
    }
}
