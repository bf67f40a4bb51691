//! Command-line options of the analysis stage, shared by the `census-analyze` binary and
//! `cargo xtask analyze`.

use std::path::PathBuf;

use census_format::bounded;
use clap::Args;
use serde::Serialize;

use crate::analyze::AnalyzeRequest;
use crate::error::Result;
use census_format::analysis::options::{
    AnalysisOptions, DataSelection, DetectorOptions, LayerScope, LogBase, NgramDenominator,
    PositionalOptions, ProjectAll, ProjectionOptions, SuppressionRule,
};

/// `analyze` flags: the runs and the output (set per model by a pipeline), and the
/// [`AnalyzeSettings`] a pipeline's `[analyze]` table gives. Defaults follow the paper
/// (`docs/METHODS.md`); see `docs/ANALYSIS.md`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct AnalyzeArgs {
    /// An extraction run directory; repeat for the shards of one run or several runs of one
    /// model.
    #[arg(long = "run", required = true)]
    pub runs: Vec<PathBuf>,
    /// Analysis directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint directory for the vocabulary projections (default: the model path the runs
    /// recorded).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A run of the same model for the n-gram statistics (coverage, detectors, detected tokens,
    /// projections: the paper's §4 data); repeat for shards. Default: the --run data.
    #[arg(long = "ngram-run")]
    pub ngram_runs: Vec<PathBuf>,
    /// A run of the same model for the positional statistics (the paper's §5 data: full-length
    /// sequences); repeat for shards. Default: the --run data.
    #[arg(long = "positional-run")]
    pub positional_runs: Vec<PathBuf>,
    /// What the analysis computes, and how.
    #[command(flatten)]
    pub settings: AnalyzeSettings,
}

/// The `analyze` flags that say what the analysis computes and how (a pipeline's `[analyze]`
/// keys, the runs aside).
#[derive(Debug, Clone, Args, Serialize)]
pub struct AnalyzeSettings {
    /// Analyse the committed parts of runs that are not complete.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// The runs' Parquet parts were rewritten by another tool (DuckDB, polars, pyarrow): skip
    /// the checks of each part's size, checksum and footer against its run's manifest. Values
    /// (token ids, positions, neuron lists) are still checked.
    #[arg(long)]
    pub rewritten_parts: bool,
    /// Leave the `</s>` prefix out of activation counts, frequencies and dead neurons (by
    /// default every position counts, as "never activates" reads; n-gram statistics always
    /// leave the prefix out).
    #[arg(long)]
    pub exclude_bos: bool,
    /// Analyse only the sequences of these domains (comma-separated; default every domain).
    #[arg(long, value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Analyse only whole sequences, in run and part order, while their tokens stay within
    /// this budget.
    #[arg(long)]
    pub token_budget: Option<u64>,
    /// The n-gram statistics only on these domains of the n-gram runs (or of --run).
    #[arg(long, value_delimiter = ',')]
    pub ngram_domains: Vec<String>,
    /// The n-gram statistics only on whole sequences within this many tokens.
    #[arg(long)]
    pub ngram_token_budget: Option<u64>,
    /// The positional statistics only on these domains of the positional runs (or of --run).
    #[arg(long, value_delimiter = ',')]
    pub positional_domains: Vec<String>,
    /// The positional statistics only on whole sequences within this many tokens.
    #[arg(long)]
    pub positional_token_budget: Option<u64>,
    /// Skip the domain-by-domain positional analysis (MI and type in each domain of the
    /// positional data, when it holds two or more).
    #[arg(long)]
    pub no_positional_by_domain: bool,
    /// Layers with token tables (token detectors, unigram coverage): all, first-half, none or
    /// START..END [default: all; none when the n-gram data are counts runs, which cannot give
    /// them].
    #[arg(long)]
    pub unigram_layers: Option<LayerScope>,
    /// Layers with bigram and trigram tables (coverage, trigram detectors) [default:
    /// first-half; none when the n-gram data are counts runs].
    #[arg(long)]
    pub ngram_layers: Option<LayerScope>,
    /// Memory cap for the n-gram tables of the layers counted at once, in MiB.
    #[arg(long, default_value_t = 8192)]
    pub ngram_memory_mib: usize,
    /// Upper edges of the coverage bins, comma-separated (a last bin holds the rest).
    #[arg(
        long,
        default_value = "5,10,20,50,200,1000,2000,5000",
        value_delimiter = ','
    )]
    pub coverage_bins: Vec<u32>,
    /// Share of a neuron's activations its covering n-grams reach.
    #[arg(long, default_value_t = 0.95, value_parser = bounded::positive_share)]
    pub coverage_share: f64,
    /// Share of a token's occurrences a neuron must fire on for the token to be covered.
    #[arg(long, default_value_t = 0.95, value_parser = bounded::positive_share)]
    pub trigger_share: f64,
    /// Token detectors are covered by at most this many tokens.
    #[arg(long, default_value_t = 5)]
    pub max_tokens: u32,
    /// Trigram detectors are covered by at most this many trigrams.
    #[arg(long, default_value_t = 50)]
    pub max_trigrams: u32,
    /// Occurrences an n-gram needs before it can trigger a detector.
    #[arg(long, default_value_t = 1)]
    pub min_occurrences: u64,
    /// What bigram and trigram coverage is a share of: every activation outside the `</s>`
    /// prefix (`all`, the paper's "its activations"), or only those where an n-gram of the order
    /// exists (`windowed`: from the second or third token of a sequence on).
    #[arg(long, value_enum, default_value = "all")]
    pub ngram_denominator: NgramDenominator,
    /// Run the positional analysis on runs that are not of full-length sequences.
    #[arg(long)]
    pub positional_any_length: bool,
    /// Leave position 0 (`</s>`) out of the positional analysis.
    #[arg(long)]
    pub positional_skip_bos: bool,
    /// Log base of the mutual information.
    #[arg(long, value_enum, default_value = "e")]
    pub mi_log: LogBase,
    /// Neurons with a larger MI with position are positional.
    #[arg(long, default_value_t = 0.05, value_parser = bounded::non_negative)]
    pub mi_threshold: f64,
    /// Weak extremes stay within this of 0 or 1.
    #[arg(long, default_value_t = 0.05, value_parser = bounded::half_share)]
    pub weak_epsilon: f64,
    /// Shortest run at an extreme, as a share of the sequence length.
    #[arg(long, default_value_t = 1.0 / 128.0, value_parser = bounded::positive_share)]
    pub extreme_run_share: f64,
    /// Low/high transitions that make a curve oscillatory.
    #[arg(long, default_value_t = 3)]
    pub oscillation_transitions: u32,
    /// The least swing of frequency (smoothed maximum minus minimum) an oscillation needs; a
    /// wavy curve that swings less is "other".
    #[arg(long, default_value_t = 0.5, value_parser = bounded::share)]
    pub oscillation_min_swing: f64,
    /// "Other" curves are strong when their residual around a moving average is at most this
    /// share of their standard deviation.
    #[arg(long, default_value_t = 0.25, value_parser = bounded::non_negative)]
    pub smooth_residual_share: f64,
    /// Frequency at which positions belong to a neuron's ranges.
    #[arg(long, default_value_t = 0.5, value_parser = bounded::positive_share)]
    pub range_threshold: f64,
    /// Bins of the frequency-by-position curve written for every alive neuron (the report's
    /// browser draws it); 0 writes none.
    #[arg(long, default_value_t = 128)]
    pub position_curve_bins: usize,
    /// Neurons listed per token: this many firing most often on it and this many giving it the
    /// largest share of their fires (the report's search by token); 0 writes none.
    #[arg(long, default_value_t = 10)]
    pub token_neurons: usize,
    /// Example contexts recorded per neuron: the first places it fires with the tokens around
    /// them, read from the runs that record fired neurons (the report's neuron browser shows
    /// them); 0 records none.
    #[arg(long, default_value_t = 3)]
    pub contexts: usize,
    /// Split the n-gram data in two halves by sequence (under this seed; 0 when none is given),
    /// find each half's detectors again and compare them with the whole data's
    /// (`detector_stability.parquet`): one more pass of the n-gram tables over the data.
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "0")]
    pub detector_stability: Option<u64>,
    /// Shuffle each sequence's text tokens of the n-gram data (under this seed; 0 when none is
    /// given), keep the fires in place, and find the detectors again: the count found by chance
    /// (`detector_null.parquet`). One more pass of the n-gram tables over the data.
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "0")]
    pub shuffled_null: Option<u64>,
    /// Skip the vocabulary projections (no weights needed).
    #[arg(long)]
    pub no_projection: bool,
    /// Scale updates by the final LayerNorm γ before projecting.
    #[arg(long)]
    pub final_norm_scale: bool,
    /// Promoted and suppressed tokens listed per detector.
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// When a detector suppresses its triggers: their mean score is negative, or all are.
    #[arg(long, value_enum, default_value = "mean")]
    pub suppression: SuppressionRule,
    /// Project every alive neuron's update too (for the report's browser): auto does it when it
    /// costs at most 1e13 FLOPs (OPT-125m-sized models).
    #[arg(long, value_enum, default_value = "auto")]
    pub project_all: ProjectAll,
    /// Analyse only these of the recorded layers (START..END or first-half): one part of an
    /// analysis split across machines, combined by `neuron-census merge-analyses`.
    #[arg(long, default_value = "all")]
    pub layers: LayerScope,
    /// No progress bar.
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
}

/// A selection, when the flags name one.
fn selection(domains: &[String], token_budget: Option<u64>) -> Option<DataSelection> {
    let selection = DataSelection {
        domains: domains.to_vec(),
        token_budget,
    };
    (!selection.is_everything()).then_some(selection)
}

impl AnalyzeArgs {
    /// The request these flags describe.
    pub fn request(&self) -> Result<AnalyzeRequest> {
        let settings = &self.settings;
        // N-gram statistics need every token's fired neurons; counts runs hold none. Unless they
        // were asked for, they are skipped for such data, with a line saying so.
        let ngram_data = if self.ngram_runs.is_empty() {
            &self.runs
        } else {
            &self.ngram_runs
        };
        let counts_only = !ngram_data.is_empty()
            && ngram_data.iter().all(|dir| {
                census_format::run::Manifest::load(dir)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.config.record == census_format::run::RecordMode::Counts)
            });
        let defaulted = settings.unigram_layers.is_none() || settings.ngram_layers.is_none();
        if counts_only && defaulted {
            tracing::info!(
                "n-gram statistics skipped: the n-gram data are counts runs (--record counts), \
                 which hold no fired neurons per token; give a shards run with --ngram-run for \
                 them"
            );
        }
        let n_gram_default = |scope: LayerScope| {
            if counts_only { LayerScope::None } else { scope }
        };
        if settings.layers == LayerScope::None {
            return Err(crate::error::RequestError::NothingToAnalyse.into());
        }
        Ok(AnalyzeRequest {
            runs: self.runs.clone(),
            out: self.out.clone(),
            model: self.model.clone(),
            allow_incomplete: settings.allow_incomplete,
            rewritten_parts: settings.rewritten_parts,
            ngram_runs: self.ngram_runs.clone(),
            positional_runs: self.positional_runs.clone(),
            options: AnalysisOptions {
                count_bos: !settings.exclude_bos,
                domains: settings.domains.clone(),
                token_budget: settings.token_budget,
                ngram_data: selection(&settings.ngram_domains, settings.ngram_token_budget),
                positional_data: selection(
                    &settings.positional_domains,
                    settings.positional_token_budget,
                ),
                positional_by_domain: !settings.no_positional_by_domain,
                unigram_layers: settings
                    .unigram_layers
                    .unwrap_or(n_gram_default(LayerScope::All)),
                ngram_layers: settings
                    .ngram_layers
                    .unwrap_or(n_gram_default(LayerScope::FirstHalf)),
                ngram_memory_mib: settings.ngram_memory_mib,
                coverage_bins: settings.coverage_bins.clone(),
                detectors: DetectorOptions {
                    coverage_share: settings.coverage_share,
                    trigger_share: settings.trigger_share,
                    max_tokens: settings.max_tokens,
                    max_trigrams: settings.max_trigrams,
                    min_occurrences: settings.min_occurrences,
                    ngram_denominator: settings.ngram_denominator,
                },
                positional: PositionalOptions {
                    any_length: settings.positional_any_length,
                    skip_bos: settings.positional_skip_bos,
                    log_base: settings.mi_log,
                    mi_threshold: settings.mi_threshold,
                    weak_epsilon: settings.weak_epsilon,
                    extreme_run_share: settings.extreme_run_share,
                    oscillation_transitions: settings.oscillation_transitions,
                    oscillation_min_swing: settings.oscillation_min_swing,
                    smooth_residual_share: settings.smooth_residual_share,
                    range_threshold: settings.range_threshold,
                    curve_bins: settings.position_curve_bins,
                },
                projection: ProjectionOptions {
                    enabled: !settings.no_projection,
                    final_norm_scale: settings.final_norm_scale,
                    top_k: settings.top_k,
                    rule: settings.suppression,
                    all: settings.project_all,
                },
                token_neurons: settings.token_neurons,
                contexts: settings.contexts,
                detector_stability: settings.detector_stability,
                shuffled_null: settings.shuffled_null,
            },
            layers: settings.layers,
            progress: !settings.quiet,
        })
    }

    /// Runs the analysis.
    pub fn run(&self) -> Result<census_format::analysis::summary::Summary> {
        crate::analyze(&self.request()?)
    }
}

/// `merge-analyses` flags.
#[derive(Debug, Clone, Args, Serialize)]
pub struct MergeArgs {
    /// The analysis directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The parts: analysis directories of the same runs and options, each of a layer range
    /// (`analyze --layers START..END`), together covering consecutive layers.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
}

impl MergeArgs {
    /// Merges the parts.
    pub fn run(&self) -> Result<census_format::analysis::summary::Summary> {
        crate::merge_analyses(&self.parts, &self.out)
    }
}
