//! The analysis stage end to end: runs in, count tables layer by layer (in parallel), results,
//! projections and the tables, summary and manifest of an analysis directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use census_format::analysis::vocabulary::VOCABULARY_FILE;
use census_format::{
    OutputKind, OutputLock, Ownership, StagedDir, check_replaceable, write_atomic,
};
use rayon::prelude::*;
use serde::Serialize;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::analysis_tables::AnalysisTables;
use crate::counts::{CorpusTally, CountScope, LayerCounts};
use crate::detectors::Detector;
use crate::error::{Result, StatsError};
use crate::inputs::{PartRef, RunSet};
use crate::layer_analysis::{
    LayerResult, NgramStatistics, analyze_frequencies_and_positions, analyze_layer,
};
use crate::model_files::{FoundTokenizer, locate_tokenizer};
use crate::ngram::{MAX_NEURONS, Order, TableCodes};
use crate::options::{
    AnalysisOptions, DataSelection, LayerScope, PROJECT_ALL_AUTO_FLOPS, ProjectAll,
};
use crate::part_data::{PartTokens, read_layer_part};
use crate::positional_domains::{self, DomainResults, DomainStability};
use crate::projection::{
    NeuronProjection, Projection, locate_weights, project_detectors, project_neurons,
};
use crate::sections::{DataGroup, SectionBases, Sources};

use crate::summary::Summary;
use crate::tables;
pub use census_format::analysis::manifest::{
    ANALYSIS_KIND, ANALYSIS_SCHEMA_VERSION, AnalysisManifest, InputRun, MANIFEST_FILE,
    RunProvenance, SUMMARY_FILE,
};
use census_format::analysis::tables::LayerRow;
use census_format::run::counts::{DomainCounts, read_counts};
use census_format::run::tables::PartFile;
use census_format::run::{RecordMode, SequenceStart};

/// What to analyse and where to write it.
#[derive(Debug, Clone)]
pub struct AnalyzeRequest {
    /// Extraction run directories (shards of one run, or runs of one model): the data of the
    /// frequencies and dead neurons, and of every section not given its own runs.
    pub runs: Vec<PathBuf>,
    /// Runs of the same model for the n-gram statistics (empty: `runs`).
    pub ngram_runs: Vec<PathBuf>,
    /// Runs of the same model for the positional statistics (empty: `runs`).
    pub positional_runs: Vec<PathBuf>,
    /// The analysis directory.
    pub out: PathBuf,
    /// The checkpoint directory for projections, when the runs' recorded source is not one.
    pub model: Option<PathBuf>,
    /// Analyse the committed parts of incomplete runs.
    pub allow_incomplete: bool,
    /// The runs' parts were rewritten by another tool (DuckDB, polars): skip the size, checksum
    /// and footer checks against the manifests (values are still checked).
    pub rewritten_parts: bool,
    /// The analysis options.
    pub options: AnalysisOptions,
    /// The layers to analyse (of those the runs recorded): a part of a split analysis, whose
    /// parts [`crate::merge::merge_analyses`] combines into the tables of one analysis.
    pub layers: LayerScope,
    /// Show a progress bar.
    pub progress: bool,
}

impl AnalyzeRequest {
    /// The analysis of `runs` into `out` with the default options (the paper's), every section
    /// on `runs`, projections from the recorded model, and no progress bar.
    pub fn new(runs: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            runs,
            out: out.into(),
            model: None,
            allow_incomplete: false,
            rewritten_parts: false,
            ngram_runs: Vec::new(),
            positional_runs: Vec::new(),
            options: AnalysisOptions::default(),
            layers: LayerScope::All,
            progress: false,
        }
    }
}

/// Refuses to replace a directory that holds something other than an analysis of ours.
pub fn check_output_dir(out: &Path) -> Result<()> {
    const KIND: OutputKind = OutputKind {
        directory: "an analysis directory",
        ours: "analysis of neuron-census",
    };
    check_replaceable(out, KIND, |dir| {
        let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_FILE)) else {
            return Ownership::NotOurs;
        };
        let kind = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
        if kind.as_deref() == Some(ANALYSIS_KIND) {
            Ownership::Ours
        } else {
            Ownership::OtherKind("another kind of manifest (an extraction run's?)".to_string())
        }
    })
    .map_err(|reason| StatsError::output(out, reason))
}

/// What each layer counts.
pub fn count_scope(set: &RunSet, options: &AnalysisOptions, layer: usize) -> CountScope {
    let total = set.model_config().num_hidden_layers;
    let positional = set.full_length() || options.positional.any_length;
    CountScope {
        unigrams: options.unigram_layers.contains(layer, total),
        bigrams_trigrams: options.ngram_layers.contains(layer, total),
        positions: positional.then(|| set.max_seq_len()),
    }
}

/// Tallies the corpus of `parts`.
pub fn tally_corpus(set: &RunSet, parts: &[PartRef], count_trigrams: bool) -> Result<CorpusTally> {
    let positions = set.max_seq_len();
    let vocab = set.model_config().vocab_size;
    parts
        .par_iter()
        .map(|&part| {
            let path = set.tokens_path(part);
            let mut tokens = PartTokens::read(
                &path,
                set.part_check(part, None).as_ref(),
                &set.part_limits(part),
                set.text_start(),
            )?;
            if let Some(keep) = set.kept(part) {
                tokens = tokens.select(keep);
            }
            let mut tally = CorpusTally::new(positions, vocab, count_trigrams);
            tally
                .add_part(&tokens)
                .map_err(|reason| StatsError::Parquet {
                    path: path.clone(),
                    reason,
                })?;
            Ok(tally)
        })
        .try_reduce(
            || CorpusTally::new(positions, vocab, count_trigrams),
            |mut a, b| {
                a.merge(b);
                Ok(a)
            },
        )
}

/// The outcome of one counting pass over a layer.
pub enum LayerPass {
    /// Every part counted.
    Whole(Box<LayerCounts>),
    /// The n-gram tables outgrew the cap after `rows` rows, holding `entries` entries in
    /// `bytes` bytes.
    Overflow {
        /// Rows counted when the cap was reached.
        rows: u64,
        /// Table entries then.
        entries: usize,
        /// Table bytes then.
        bytes: usize,
    },
}

impl LayerPass {
    /// The overflow of `counts`, when its tables hold more than `cap_bytes`.
    fn overflow(counts: &LayerCounts, cap_bytes: usize) -> Option<Self> {
        let bytes = counts.table_bytes();
        (bytes > cap_bytes).then(|| Self::Overflow {
            rows: counts.rows,
            entries: counts.table_entries(),
            bytes,
        })
    }
}

/// Counts `layer` over `parts` into `counts`, stopping as soon as its n-gram tables hold more
/// than `cap_bytes`.
pub fn count_layer(
    set: &RunSet,
    parts: &[PartRef],
    mut counts: LayerCounts,
    cap_bytes: usize,
    progress: &tracing::Span,
) -> Result<LayerPass> {
    let layer = counts.layer;
    // Unsorted keys take at most a sixteenth of the cap per table.
    counts.limit_buffers(cap_bytes / 16);
    for &part in parts {
        let limits = set.part_limits(part);
        let mut tokens = PartTokens::read(
            &set.tokens_path(part),
            set.part_check(part, None).as_ref(),
            &limits,
            set.text_start(),
        )?;
        if let Some(keep) = set.kept(part) {
            tokens = tokens.select(keep);
        }
        match set.record(part) {
            RecordMode::Shards => {
                let path = set.activations_path(part, layer);
                let acts = read_layer_part(
                    &path,
                    &tokens,
                    set.part_check(part, Some(layer)).as_ref(),
                    &limits,
                    set.kept(part),
                )?;
                counts
                    .add_part(&tokens, &acts)
                    .map_err(|reason| StatsError::Parquet {
                        path: path.clone(),
                        reason,
                    })?;
            }
            RecordMode::Counts => add_recorded_counts(set, part, layer, &tokens, &mut counts)?,
        }
        progress.pb_inc(part.rows);
        if let Some(overflow) = LayerPass::overflow(&counts, cap_bytes) {
            return Ok(overflow);
        }
    }
    counts.compact();
    Ok(LayerPass::overflow(&counts, cap_bytes).unwrap_or(LayerPass::Whole(Box::new(counts))))
}

/// Counts `layer` over `parts` in one pass, whatever its tables take, their keys coded by
/// `codes` (which must key the layer's every neuron).
pub fn count_layer_uncapped(
    set: &RunSet,
    parts: &[PartRef],
    layer: usize,
    scope: CountScope,
    codes: TableCodes,
    progress: &tracing::Span,
) -> Result<LayerCounts> {
    let counts = LayerCounts::new(layer, set.model_config().ffn_dim, scope, codes);
    match count_layer(set, parts, counts, usize::MAX, progress)? {
        LayerPass::Whole(counts) => Ok(*counts),
        LayerPass::Overflow { .. } => unreachable!("no table outgrows usize::MAX bytes"),
    }
}

/// Counts and analyses `layer` over `parts`. When its n-gram tables outgrow `cap_bytes` (the
/// layer's share of `--ngram-memory-mib`), they are counted again neuron range by neuron range,
/// one pass over the data each, ranges sized from the growth seen so far: the statistics of a
/// neuron rest on its own counts only, so the result is the same, and memory stays within the
/// cap at the price of more passes. So are they from the start when the corpus holds too many
/// distinct tokens for a table's keys to hold every neuron beside a trigram
/// ([`TableCodes::table_neurons`]).
#[allow(clippy::too_many_arguments)]
pub fn count_and_analyze_layer(
    set: &RunSet,
    parts: &[PartRef],
    layer: usize,
    scope: CountScope,
    cap_bytes: usize,
    tally: &CorpusTally,
    options: &AnalysisOptions,
    progress: &tracing::Span,
) -> Result<LayerResult> {
    let ffn = set.model_config().ffn_dim;
    let codes = tally.table_codes();
    let too_large = |entries: usize, bytes: usize, rows: u64| StatsError::NgramMemory {
        layer,
        entries,
        mib: bytes >> 20,
        tokens: rows,
        cap_mib: cap_bytes >> 20,
    };
    let total: u64 = parts.iter().map(|p| p.rows).sum();
    let tables = scope.unigrams || scope.bigrams_trigrams;
    let keyed = codes.table_neurons(scope.highest_order());
    let ranges = if tables && ffn > keyed {
        let ranges = ffn.div_ceil(keyed);
        tracing::info!(
            layer,
            ranges,
            "the corpus holds more than 65,536 distinct tokens: with {}-bit token codes an \
             n-gram leaves room for {} neurons in a table's keys, so the n-gram tables are \
             counted in {ranges} neuron ranges, one pass over the data each",
            codes.bits(),
            keyed
        );
        progress.pb_inc_length(total * ranges as u64);
        ranges
    } else {
        let (rows, entries, bytes) = match count_layer(
            set,
            parts,
            LayerCounts::new(layer, ffn, scope, codes.clone()),
            cap_bytes,
            progress,
        )? {
            LayerPass::Whole(counts) => return Ok(analyze_layer(*counts, tally, options)),
            LayerPass::Overflow {
                rows,
                entries,
                bytes,
            } => (rows, entries, bytes),
        };
        let predicted = bytes as f64 * total as f64 / rows.max(1) as f64;
        let ranges = (1.25 * predicted / cap_bytes.max(1) as f64).ceil() as usize;
        if cap_bytes == 0 || ranges > ffn {
            return Err(too_large(entries, bytes, rows));
        }
        tracing::info!(
            layer,
            ranges,
            "the n-gram tables outgrow --ngram-memory-mib: counting them in {ranges} neuron \
             ranges, one pass over the data each"
        );
        progress.pb_inc_length(total * (ranges as u64 + 1) - rows);
        ranges
    };
    let frequencies = CountScope {
        unigrams: false,
        bigrams_trigrams: false,
        ..scope
    };
    let base = LayerCounts::new(layer, ffn, frequencies, codes.clone());
    let LayerPass::Whole(base) = count_layer(set, parts, base, cap_bytes, progress)? else {
        unreachable!("counts without n-gram tables never outgrow the cap");
    };
    let mut result = analyze_frequencies_and_positions(&base, tally, options);
    drop(base);
    let mut ngrams = NgramStatistics::default();
    // Neuron ranges in order; a range whose tables still outgrow the cap (its neurons fire more
    // than most) is split in two and counted again.
    let mut pending: std::collections::VecDeque<std::ops::Range<u32>> = (0..ranges)
        .map(|r| (r * ffn / ranges) as u32..((r + 1) * ffn / ranges) as u32)
        .filter(|r| !r.is_empty())
        .collect();
    while let Some(neurons) = pending.pop_front() {
        let tables = CountScope {
            positions: None,
            ..scope
        };
        let counts =
            LayerCounts::new(layer, ffn, tables, codes.clone()).with_table_neurons(neurons.clone());
        match count_layer(set, parts, counts, cap_bytes, progress)? {
            LayerPass::Whole(mut counts) => {
                ngrams.add(&mut result.neurons, &mut counts, tally, options);
            }
            LayerPass::Overflow {
                rows,
                entries,
                bytes,
            } => {
                if neurons.len() == 1 {
                    return Err(too_large(entries, bytes, rows));
                }
                let middle = neurons.start + (neurons.end - neurons.start) / 2;
                pending.push_front(middle..neurons.end);
                pending.push_front(neurons.start..middle);
                progress.pb_inc_length(total + rows);
            }
        }
    }
    ngrams.finish(&mut result);
    Ok(result)
}

/// Adds the fire counts a counts run recorded for `part` in `layer`, for the domains the
/// analysis keeps (`tokens`: the part's kept rows).
fn add_recorded_counts(
    set: &RunSet,
    part: PartRef,
    layer: usize,
    tokens: &PartTokens,
    counts: &mut LayerCounts,
) -> Result<()> {
    let path = set.counts_path(part, layer);
    let domains = set.kept_domains(part)?;
    let recorded = read_counts(
        &path,
        set.part_file_check(part, PartFile::Counts(layer)).as_ref(),
        counts.ffn,
        counts
            .positions
            .is_some()
            .then(|| set.runs[part.run].manifest.config.sequences.max_seq_len),
    )?;
    let mut merged = DomainCounts::new(
        counts.ffn,
        counts
            .positions
            .as_ref()
            .map(|p| p.len() / counts.ffn.max(1)),
    );
    for (domain, c) in &recorded {
        if domains.as_ref().is_none_or(|keep| keep.contains(domain)) {
            merged.merge(c);
        }
    }
    counts
        .add_recorded(&merged, tokens.len() as u64, tokens.text_start)
        .map_err(|reason| StatsError::Parquet { path, reason })
}

/// The span of the counting; when `enabled`, the command line draws it as a progress bar of
/// `total` token-layers (through `tracing-indicatif`), without it nothing is drawn.
fn progress_span(total: u64, enabled: bool) -> tracing::Span {
    if !enabled {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("count", indicatif.pb_show = tracing::field::Empty);
    census_format::progress::show_progress(&span, "counting", "token-layers", total);
    span
}

/// Per-layer aggregates from the layer results; the detected-n-gram coverage is filled in from
/// the detectors' rows ([`crate::summary::fill_detected_coverage`]).
fn layer_summaries(results: &[LayerResult]) -> Vec<LayerRow> {
    results
        .iter()
        .map(|r| {
            let neurons = r.neurons.len() as u32;
            let dead = r.neurons.iter().filter(|n| n.dead).count() as u32;
            let alive: Vec<f64> = r
                .neurons
                .iter()
                .filter(|n| !n.dead)
                .map(|n| n.frequency)
                .collect();
            let count = |order: Order| {
                r.coverage_bins[order as usize]
                    .as_ref()
                    .map(|_| r.detectors.iter().filter(|d| d.order == order).count() as u32)
            };
            LayerRow {
                layer: r.layer as u16,
                tokens: r.counted_tokens,
                neurons,
                dead,
                dead_share: f64::from(dead) / f64::from(neurons.max(1)),
                dead_with_bos: r
                    .neurons
                    .iter()
                    .filter(|n| n.fires_outside_bos == 0 && n.fires_bos == 0)
                    .count() as u32,
                dead_without_bos: r
                    .neurons
                    .iter()
                    .filter(|n| n.fires_outside_bos == 0)
                    .count() as u32,
                mean_frequency_alive: (!alive.is_empty())
                    .then(|| alive.iter().sum::<f64>() / alive.len() as f64),
                token_detectors: count(Order::Unigram),
                trigram_detectors: count(Order::Trigram),
                tokens_detected: None,
                trigrams_detected: None,
                positional: r.positions_analysed.then(|| {
                    let mut by_type = [[0u32; 2]; 4];
                    for p in &r.positional {
                        by_type[p.class.kind as usize][usize::from(p.class.strong)] += 1;
                    }
                    by_type
                }),
            }
        })
        .collect()
}

/// One group's corpus tally and layer results.
struct GroupCounts {
    tally: CorpusTally,
    results: BTreeMap<usize, LayerResult>,
}

/// What `group` counts in `layer`: n-grams and positions only for the sections it serves, in
/// the layers its runs recorded.
fn group_scope(group: &DataGroup, options: &AnalysisOptions, layer: usize) -> CountScope {
    let set = &group.set;
    let total = set.model_config().num_hidden_layers;
    let recorded = set.layers().contains(&layer);
    let ngram = group.ngram && recorded;
    let positional =
        group.positional && recorded && (set.full_length() || options.positional.any_length);
    CountScope {
        unigrams: ngram && options.unigram_layers.contains(layer, total),
        bigrams_trigrams: ngram && options.ngram_layers.contains(layer, total),
        positions: positional.then(|| set.max_seq_len()),
    }
}

/// The layers of `layers` that `group` counts: every one for the frequencies, otherwise those
/// where it has something to count.
fn group_layers(group: &DataGroup, options: &AnalysisOptions, layers: &[usize]) -> Vec<usize> {
    layers
        .iter()
        .copied()
        .filter(|&l| {
            let scope = group_scope(group, options, l);
            group.frequency || scope.unigrams || scope.bigrams_trigrams || scope.positions.is_some()
        })
        .collect()
}

/// Refuses n-gram statistics (coverage, detectors) from counts runs, which hold no fired
/// neurons per token, naming the run and what to do instead.
fn refuse_ngrams_of_counts_runs(
    group: &DataGroup,
    layers: &[usize],
    options: &AnalysisOptions,
) -> Result<()> {
    let ngrams = layers.iter().any(|&l| {
        let scope = group_scope(group, options, l);
        scope.unigrams || scope.bigrams_trigrams
    });
    match group.set.counts_runs().first() {
        Some(dir) if ngrams => Err(StatsError::run(
            dir,
            "records counts (--record counts), which give dead neurons, frequencies and \
             positional statistics but not the n-gram coverage and detectors: those need every \
             token's fired neurons (--record shards). Pass --unigram-layers none \
             --ngram-layers none, or take them from a shards run with --ngram-run",
        )),
        _ => Ok(()),
    }
}

/// Tallies `group`'s corpus and counts and analyses `layers` (in parallel).
fn count_group(
    group: &DataGroup,
    layers: &[usize],
    options: &AnalysisOptions,
    progress: &tracing::Span,
) -> Result<GroupCounts> {
    let set = &group.set;
    let parts = set.parts();
    let count_trigrams = layers
        .iter()
        .any(|&l| group_scope(group, options, l).bigrams_trigrams);
    let tally = {
        let _span = tracing::info_span!("tally", parts = parts.len()).entered();
        tally_corpus(set, &parts, count_trigrams)?
    };
    let concurrent = rayon::current_num_threads().min(layers.len()).max(1);
    let cap_bytes = (options.ngram_memory_mib << 20) / concurrent;
    let results = layers
        .par_iter()
        .map(|&layer| {
            let _span = tracing::info_span!("layer", layer).entered();
            let scope = group_scope(group, options, layer);
            let result = count_and_analyze_layer(
                set, &parts, layer, scope, cap_bytes, &tally, options, progress,
            )?;
            Ok((layer, result))
        })
        .collect::<Result<_>>()?;
    Ok(GroupCounts { tally, results })
}

/// Replaces the n-gram statistics of `into` by those of `from` (the same layer counted on the
/// n-gram data).
fn take_ngram_statistics(into: &mut LayerResult, from: &LayerResult) {
    for (a, b) in into.neurons.iter_mut().zip(&from.neurons) {
        a.coverage = b.coverage;
        a.token_detector = b.token_detector;
        a.trigram_detector = b.trigram_detector;
    }
    into.coverage_bins = from.coverage_bins.clone();
    into.detectors = from.detectors.clone();
    into.token_neurons = from.token_neurons.clone();
}

/// Replaces the positional statistics of `into` by those of `from`.
fn take_positional_statistics(into: &mut LayerResult, from: &LayerResult) {
    for (a, b) in into.neurons.iter_mut().zip(&from.neurons) {
        a.position_mi = b.position_mi;
        a.positional = b.positional;
    }
    into.positional = from.positional.clone();
    into.curves = from.curves.clone();
    into.positions_analysed = from.positions_analysed;
}

/// Runs the analysis and writes the analysis directory; returns the headline numbers. Four
/// phases: [`plan_analysis`] (what each data group counts), [`count`] (the counts, merged into
/// per-layer results), [`project`] (detectors onto the vocabulary) and [`write`] (tables,
/// summary and manifest, swapped in only when complete).
pub fn analyze(request: &AnalyzeRequest) -> Result<Summary> {
    let started = Instant::now();
    let _lock = OutputLock::acquire(&request.out, "analyze")?;
    let plan = plan_analysis(request)?;
    let counted = count(&plan, request)?;
    let projected = project(&plan, request, &counted)?;
    write(&plan, request, counted, projected, started)
}

/// What an analysis counts: the runs of each section and the layers each group counts in.
struct AnalysisPlan {
    /// The data groups of the sections.
    sources: Sources,
    /// The runs' model configuration.
    config: census_format::model::ModelConfig,
    /// Every analysed layer.
    layers: Vec<usize>,
    /// Whether every positional sequence has the full length.
    full_length: bool,
    /// The layers each group counts in (by group index).
    group_layers: Vec<Vec<usize>>,
    /// The layers whose positions are counted.
    positional_layers: Vec<usize>,
    /// The positional data domain by domain (empty with fewer than two domains).
    by_domain: Vec<(String, DataGroup)>,
    /// Token-layers to count, for the progress bar.
    work: u64,
    /// Layers the runs recorded (more than `layers` in a part of a split analysis).
    recorded_layers: usize,
}

/// Checks the options and the runs, and plans what each data group counts.
fn plan_analysis(request: &AnalyzeRequest) -> Result<AnalysisPlan> {
    let options = &request.options;
    validate(options)?;
    let sources = Sources::open(request)?;
    check_output_dir(&request.out)?;
    let set = sources.main();
    let config = set.model_config().clone();
    if set.sequence_start() == SequenceStart::Text
        && (!options.count_bos || options.positional.skip_bos)
    {
        return Err(StatsError::InvalidOption(format!(
            "--exclude-bos and --positional-skip-bos leave out a BOS, but these runs' sequences \
             start with text (the {} tokenizer adds no BOS)",
            config.model_type
        )));
    }
    if config.ffn_dim > MAX_NEURONS {
        return Err(StatsError::InvalidOption(format!(
            "{} neurons per layer do not fit 16-bit indices",
            config.ffn_dim
        )));
    }
    let total = config.num_hidden_layers;
    let layers: Vec<usize> = set
        .layers()
        .filter(|&l| request.layers.contains(l, total))
        .collect();
    if layers.is_empty() {
        let recorded: Vec<usize> = set.layers().collect();
        return Err(StatsError::InvalidOption(format!(
            "--layers {}: the runs recorded no layer there (they recorded layers {}..{})",
            request.layers,
            recorded[0],
            recorded[recorded.len() - 1] + 1
        )));
    }
    let recorded_layers = set.layers().count();
    let positional_group = &sources.groups[sources.positional];
    let full_length = positional_group.set.full_length();
    if !full_length && !options.positional.any_length {
        tracing::info!(
            "positional analysis skipped: the runs are not all of full-length sequences \
             (extract with --full-length, or pass --positional-any-length)"
        );
    }
    let group_layers: Vec<Vec<usize>> = sources
        .groups
        .iter()
        .map(|g| group_layers(g, options, &layers))
        .collect();
    let positional_layers: Vec<usize> = group_layers[sources.positional]
        .iter()
        .copied()
        .filter(|&l| {
            group_scope(positional_group, options, l)
                .positions
                .is_some()
        })
        .collect();
    let by_domain = if options.positional_by_domain && !positional_layers.is_empty() {
        let domains = positional_group.set.split_by_domain()?;
        if domains.len() < 2 {
            Vec::new()
        } else {
            domains
                .into_iter()
                .map(|(domain, set)| {
                    let group = DataGroup {
                        set,
                        selection: DataSelection {
                            domains: vec![domain.clone()],
                            token_budget: None,
                        },
                        frequency: false,
                        ngram: false,
                        positional: true,
                    };
                    (domain, group)
                })
                .collect()
        }
    } else {
        Vec::new()
    };
    let work: u64 = sources
        .groups
        .iter()
        .zip(&group_layers)
        .map(|(g, l)| g.set.tokens() * l.len() as u64)
        .chain(
            by_domain
                .iter()
                .map(|(_, g)| g.set.tokens() * positional_layers.len() as u64),
        )
        .sum();
    Ok(AnalysisPlan {
        sources,
        config,
        layers,
        full_length,
        group_layers,
        positional_layers,
        by_domain,
        work,
        recorded_layers,
    })
}

/// The counts of an analysis, merged into one result per layer.
struct Counted {
    /// Per layer: frequencies from the main data, n-gram and positional statistics from their
    /// sections' data.
    results: Vec<LayerResult>,
    /// The main data's corpus tally.
    tally: CorpusTally,
    /// The data each section rests on.
    bases: SectionBases,
    /// Positional neurons domain by domain, against the pooled ones.
    by_domain: Option<(Vec<positional_domains::DomainRow>, DomainStability)>,
}

/// Counts every group in its layers (layers in parallel), and merges each section's statistics
/// into the main results.
fn count(plan: &AnalysisPlan, request: &AnalyzeRequest) -> Result<Counted> {
    let options = &request.options;
    let sources = &plan.sources;
    for (group, layers) in sources.groups.iter().zip(&plan.group_layers) {
        refuse_ngrams_of_counts_runs(group, layers, options)?;
    }
    let progress = progress_span(plan.work, request.progress);
    let shown = progress.enter();
    let mut counted: Vec<GroupCounts> = sources
        .groups
        .iter()
        .zip(&plan.group_layers)
        .map(|(group, layers)| count_group(group, layers, options, &progress))
        .collect::<Result<_>>()?;
    let domain_counts: Vec<(String, GroupCounts)> = plan
        .by_domain
        .iter()
        .map(|(domain, group)| {
            let _span = tracing::info_span!("domain", domain = %domain).entered();
            Ok((
                domain.clone(),
                count_group(group, &plan.positional_layers, options, &progress)?,
            ))
        })
        .collect::<Result<_>>()?;
    drop(shown);
    // The other groups' results, each taken once (the n-gram and positional sections may share
    // a group).
    let others: BTreeMap<usize, BTreeMap<usize, LayerResult>> = (1..counted.len())
        .map(|g| (g, std::mem::take(&mut counted[g].results)))
        .collect();
    let mut results: Vec<LayerResult> = std::mem::take(&mut counted[0].results)
        .into_values()
        .collect();
    for result in &mut results {
        let layer = result.layer;
        if let Some(from) = others.get(&sources.ngram).and_then(|r| r.get(&layer)) {
            take_ngram_statistics(result, from);
        }
        if let Some(from) = others.get(&sources.positional).and_then(|r| r.get(&layer)) {
            take_positional_statistics(result, from);
        }
    }
    let basis = |g: usize| {
        let group = &sources.groups[g];
        let tally = &counted[g].tally;
        crate::sections::basis_of(&group.set, &group.selection, tally.rows, tally.sequences)
    };
    let bases = SectionBases {
        frequency: basis(0),
        ngram: results
            .iter()
            .any(|r| r.coverage_bins.iter().any(Option::is_some))
            .then(|| basis(sources.ngram)),
        positional: results
            .iter()
            .any(|r| r.positions_analysed)
            .then(|| basis(sources.positional)),
    };
    let positional_set = &sources.groups[sources.positional].set;
    let skip_bos = options.positional.skip_bos;
    let domain_results: Vec<DomainResults<'_>> = domain_counts
        .iter()
        .map(|(domain, counts)| DomainResults {
            domain: domain.clone(),
            tokens: counts.tally.rows,
            sequences: counts.tally.sequences,
            results: &counts.results,
            chance_mi: positional_domains::chance_mi(
                positional_set.max_seq_len() - usize::from(skip_bos),
                counts.tally.rows - if skip_bos { counts.tally.bos_rows } else { 0 },
                options.positional.log_base,
            ),
        })
        .collect();
    let by_domain = (!domain_results.is_empty())
        .then(|| positional_domains::compare(&results, &domain_results));
    Ok(Counted {
        results,
        tally: counted.swap_remove(0).tally,
        bases,
        by_domain,
    })
}

/// The detectors, and what the model's weights and tokenizer add to them.
struct Projected {
    /// Every detector, layer by layer.
    detectors: Vec<Detector>,
    /// The checkpoint the projections read, when they were computed.
    model_dir: Option<PathBuf>,
    /// The tokenizer that names tokens, when one was found.
    tokenizer: Option<FoundTokenizer>,
    /// The detectors' projections, in detector order.
    projections: Option<Vec<Projection>>,
    /// Every alive neuron's projection, when asked (or cheap enough).
    all_projections: Option<Vec<NeuronProjection>>,
}

/// Finds the model's weights and tokenizer, and projects the detectors (and, when asked or
/// cheap enough, every alive neuron) onto the vocabulary.
fn project(plan: &AnalysisPlan, request: &AnalyzeRequest, counted: &Counted) -> Result<Projected> {
    let options = &request.options;
    let set = plan.sources.main();
    let config = &plan.config;
    let detectors: Vec<Detector> = counted
        .results
        .iter()
        .flat_map(|r| r.detectors.iter().cloned())
        .collect();
    let model_dir = options
        .projection
        .enabled
        .then(|| {
            locate_weights(
                request.model.as_deref(),
                set.model_source(),
                set.weight_files(),
                config,
                &set.runs[0].dir,
            )
        })
        .transpose()?;
    let tokenizer = locate_tokenizer(
        request.model.as_deref(),
        &set.runs[0].manifest.config.model,
        &set.runs[0].dir,
    )?;
    let real_vocab = tokenizer
        .as_ref()
        .map_or(config.vocab_size, |t| t.tokenizer.vocab_size());
    let Some(dir) = &model_dir else {
        return Ok(Projected {
            detectors,
            model_dir,
            tokenizer,
            projections: None,
            all_projections: None,
        });
    };
    let projections = {
        let _span = tracing::info_span!("projections", detectors = detectors.len()).entered();
        project_detectors(dir, config, &detectors, real_vocab, &options.projection)?
    };
    let alive: BTreeMap<usize, Vec<u16>> = counted
        .results
        .iter()
        .map(|r| {
            let alive = r
                .neurons
                .iter()
                .filter(|n| !n.dead)
                .map(|n| n.neuron)
                .collect();
            (r.layer, alive)
        })
        .collect();
    // A part of a split analysis decides as the whole analysis would: on every recorded layer,
    // its own layers' alive neurons standing for the rest.
    let neurons = alive.values().map(Vec::len).sum::<usize>() as f64 * plan.recorded_layers as f64
        / plan.layers.len() as f64;
    let flops = 2.0 * neurons * config.embed_dim() as f64 * config.vocab_size as f64;
    let wanted = match options.projection.all {
        ProjectAll::On => true,
        ProjectAll::Off => false,
        ProjectAll::Auto => flops <= PROJECT_ALL_AUTO_FLOPS,
    };
    if !wanted && options.projection.all == ProjectAll::Auto {
        tracing::info!(
            flops,
            "not projecting every neuron (pass --project-all on to do it anyway)"
        );
    }
    let all_projections = wanted
        .then(|| project_neurons(dir, config, &alive, real_vocab, &options.projection))
        .transpose()?;
    Ok(Projected {
        detectors,
        model_dir,
        tokenizer,
        projections: Some(projections),
        all_projections,
    })
}

/// Writes the tables, the summary and the manifest into a staging directory that replaces
/// `--out` only when complete; returns the headline numbers.
fn write(
    plan: &AnalysisPlan,
    request: &AnalyzeRequest,
    counted: Counted,
    projected: Projected,
    started: Instant,
) -> Result<Summary> {
    let options = &request.options;
    let set = plan.sources.main();
    let Counted {
        results,
        tally,
        bases,
        by_domain,
    } = counted;
    let Projected {
        detectors,
        model_dir,
        tokenizer,
        projections,
        all_projections,
    } = projected;
    let token_name = |id: u32| -> String {
        tokenizer
            .as_ref()
            .and_then(|t| t.tokenizer.token(id))
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mut summaries = layer_summaries(&results);
    let staged = StagedDir::begin(&request.out, census_format::analysis::ANALYSIS_OWNED)?;
    let out = staged.path();
    let metadata = table_metadata(set.model_source());
    let positional: Vec<_> = results.iter().flat_map(|r| &r.positional).collect();
    let detector_rows = tables::detector_rows(&detectors, projections.as_deref(), &token_name);
    crate::summary::fill_detected_coverage(&mut summaries, &detector_rows);
    let written_tables = AnalysisTables {
        neurons: tables::neuron_rows(&results),
        layers: summaries,
        coverage: tables::coverage_rows(&results, &options.coverage_bins),
        detectors: detector_rows,
        positional: tables::positional_rows(&positional),
        positional_domains: by_domain
            .as_ref()
            .map(|(rows, _)| tables::positional_domain_rows(rows)),
        projections: all_projections
            .as_ref()
            .map(|rows| tables::projection_rows(rows, &token_name)),
        position_curves: (options.positional.curve_bins > 0
            && results.iter().any(|r| r.positions_analysed))
        .then(|| results.iter().flat_map(|r| r.curves.clone()).collect()),
        token_neurons: tables::token_neuron_rows(&results, options.token_neurons, &token_name),
        contexts: (options.contexts > 0)
            .then(|| example_contexts(plan, &results, options.contexts))
            .transpose()?,
    };
    let mut written = written_tables.write(out, &metadata)?;
    if let Some(found) = &tokenizer {
        let path = out.join(VOCABULARY_FILE);
        let batch = crate::model_files::vocabulary(&found.tokenizer)
            .to_batch()
            .map_err(|source| census_format::FormatError::Arrow {
                path: path.clone(),
                source,
            })?;
        census_format::analysis::tables::write_table(&path, &batch, &metadata)?;
        written.push(VOCABULARY_FILE);
    }
    let mut summary = crate::summary::summarise(
        options.count_bos,
        set.model_source().to_string(),
        &written_tables.layers,
        tally.sequences,
        &written_tables.neurons,
        &written_tables.detectors,
        projections.is_some(),
        &written_tables.positional,
    );
    summary.positional_domains = by_domain.map(|(_, stability)| stability);
    write_json(&out.join(SUMMARY_FILE), &summary)?;
    let parts = set.parts();
    let layers = &plan.layers;
    let manifest = AnalysisManifest {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        kind: ANALYSIS_KIND.to_string(),
        producer: format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
        inputs: set
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| InputRun {
                dir: r.dir.clone(),
                run_id: r.manifest.run_id.clone(),
                shard: format!(
                    "{}/{}",
                    r.manifest.config.shard.index, r.manifest.config.shard.count
                ),
                complete: r.manifest.complete,
                parts: parts.iter().filter(|p| p.run == i).count(),
                tokens: parts.iter().filter(|p| p.run == i).map(|p| p.rows).sum(),
                provenance: run_provenance(&r.manifest),
            })
            .collect(),
        model: set.runs[0].manifest.config.model.clone(),
        model_name: census_format::model::model_name(set.model_source()),
        training: census_format::model::training_point(set.model_source())
            .map_err(StatsError::InvalidOption)?,
        fire_threshold: set.runs[0].manifest.config.fire_threshold,
        layers: [layers[0], layers[layers.len() - 1] + 1],
        full_length: plan.full_length,
        options: options.clone(),
        projection_weights: model_dir,
        tokenizer: tokenizer.as_ref().map(|t| t.dir.clone()),
        sections: Some(bases),
        seconds: started.elapsed().as_secs_f64(),
        tables: written.iter().map(|n| n.to_string()).collect(),
    };
    write_json(&out.join(MANIFEST_FILE), &manifest)?;
    staged.commit()?;
    tracing::info!(
        out = %request.out.display(),
        seconds = manifest.seconds,
        dead = summary.dead.total,
        detectors = detectors.len(),
        positional = positional.len(),
        "analysis written"
    );
    Ok(summary)
}

/// Up to `per_neuron` example contexts of every neuron of the analysed layers, from every run of
/// every section's data (each once) that records fired neurons.
fn example_contexts(
    plan: &AnalysisPlan,
    results: &[LayerResult],
    per_neuron: usize,
) -> Result<Vec<census_format::analysis::tables::ContextRow>> {
    let _span = tracing::info_span!("contexts", per_neuron).entered();
    let mut runs: Vec<&crate::inputs::RunInput> = Vec::new();
    let verify_parts = plan.sources.groups.iter().all(|g| g.set.verify_parts);
    for group in &plan.sources.groups {
        for run in &group.set.runs {
            if !runs
                .iter()
                .any(|r| r.dir == run.dir && r.manifest.run_id == run.manifest.run_id)
            {
                runs.push(run);
            }
        }
    }
    let alive: BTreeMap<usize, usize> = results
        .iter()
        .map(|r| (r.layer, r.neurons.iter().filter(|n| !n.dead).count()))
        .collect();
    let config = plan.sources.main().model_config();
    let layers = &plan.layers;
    crate::contexts::collect(
        &runs,
        verify_parts,
        layers[0]..layers[layers.len() - 1] + 1,
        config.ffn_dim,
        config.vocab_size,
        per_neuron,
        &alive,
    )
}

/// What run `manifest` was made from, as the analysis records it for the report.
fn run_provenance(manifest: &census_format::run::Manifest) -> RunProvenance {
    let config = &manifest.config;
    RunProvenance {
        sources: config.corpus.clone(),
        domains: manifest.domains.clone(),
        documents: manifest.counts.documents,
        max_seq_len: config.sequences.max_seq_len,
        full_length: config.sequences.full_length,
        dtype: config.dtype,
        device: manifest.device.clone(),
        ffn: config.ffn,
    }
}

/// The footer metadata of every table of an analysis of the model `source`.
pub(crate) fn table_metadata(source: &str) -> Vec<(String, String)> {
    vec![
        ("neuron_census.kind".to_string(), ANALYSIS_KIND.to_string()),
        (
            "neuron_census.schema_version".to_string(),
            ANALYSIS_SCHEMA_VERSION.to_string(),
        ),
        ("neuron_census.model".to_string(), source.to_string()),
    ]
}

/// Writes JSON atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).expect("analysis records serialize");
    Ok(write_atomic(path, json)?)
}

/// Checks option values.
fn validate(options: &AnalysisOptions) -> Result<()> {
    use census_format::bounded::{HALF_SHARE, NON_NEGATIVE, POSITIVE_SHARE, SHARE};
    let (detectors, positional) = (&options.detectors, &options.positional);
    for (flag, value, bounds) in [
        ("--coverage-share", detectors.coverage_share, POSITIVE_SHARE),
        ("--trigger-share", detectors.trigger_share, POSITIVE_SHARE),
        ("--mi-threshold", positional.mi_threshold, NON_NEGATIVE),
        ("--weak-epsilon", positional.weak_epsilon, HALF_SHARE),
        (
            "--extreme-run-share",
            positional.extreme_run_share,
            POSITIVE_SHARE,
        ),
        (
            "--oscillation-min-swing",
            positional.oscillation_min_swing,
            SHARE,
        ),
        (
            "--smooth-residual-share",
            positional.smooth_residual_share,
            NON_NEGATIVE,
        ),
        (
            "--range-threshold",
            positional.range_threshold,
            POSITIVE_SHARE,
        ),
    ] {
        bounds
            .check(value)
            .map_err(|reason| StatsError::InvalidOption(format!("{flag}: {reason}")))?;
    }
    if options.coverage_bins.windows(2).any(|w| w[0] >= w[1]) || options.coverage_bins.is_empty() {
        return Err(StatsError::InvalidOption(
            "--coverage-bins must be increasing upper edges, e.g. 5,10,20".to_string(),
        ));
    }
    if options.projection.top_k == 0 {
        return Err(StatsError::InvalidOption(
            "--top-k must be at least 1".to_string(),
        ));
    }
    Ok(())
}
