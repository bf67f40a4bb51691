//! The count phase: every data group counted in its layers (layers in parallel), each
//! section's statistics merged into one result per layer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

use super::AnalyzeRequest;
use super::counting::{count_and_analyze_layer, tally_corpus};
use super::plan::AnalysisPlan;
use crate::counts::{CorpusTally, CountScope};
use crate::error::{Result, StatsError};
use crate::layer_analysis::LayerResult;
use crate::positional_domains::{self, DomainResults};
use crate::sections::DataGroup;
use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::sections::SectionBases;
use census_format::analysis::summary::DomainStability;
use census_format::analysis::tables::{DetectorKind, DetectorNullRow, DetectorStabilityRow};
use census_format::progress::Progress;

/// The counts of an analysis, merged into one result per layer.
pub(super) struct Counted {
    /// Per layer: frequencies from the main data, n-gram and positional statistics from their
    /// sections' data.
    pub(super) results: Vec<LayerResult>,
    /// The main data's corpus tally.
    pub(super) tally: CorpusTally,
    /// The data each section rests on.
    pub(super) bases: SectionBases,
    /// Positional neurons domain by domain, against the pooled ones.
    pub(super) by_domain: Option<(Vec<positional_domains::DomainRow>, DomainStability)>,
    /// Each layer's detectors against each half of the n-gram data (`--detector-stability`).
    pub(super) stability: Option<Vec<DetectorStabilityRow>>,
    /// Each layer's detectors against those found with the tokens shuffled (`--shuffled-null`).
    pub(super) null: Option<Vec<DetectorNullRow>>,
}

/// Counts every group in its layers (layers in parallel), and merges each section's statistics
/// into the main results.
pub(super) fn count(plan: &AnalysisPlan, request: &AnalyzeRequest) -> Result<Counted> {
    let options = &request.options;
    let sources = &plan.sources;
    for (group, layers) in sources.groups.iter().zip(&plan.group_layers) {
        refuse_ngrams_of_counts_runs(group, layers, options)?;
    }
    let progress = progress_bar(plan.work, request.progress);
    let shown = progress.span().enter();
    let mut counted: Vec<GroupCounts> = sources
        .groups
        .iter()
        .zip(&plan.group_layers)
        .enumerate()
        .map(|(g, (group, layers))| {
            // The main data's counting gathers the example contexts where it can.
            let contexts = if g == 0 && plan.contexts_while_counting {
                options.contexts
            } else {
                0
            };
            count_group(group, layers, options, contexts, &progress)
        })
        .collect::<Result<_>>()?;
    let domain_counts: Vec<(String, GroupCounts)> = plan
        .by_domain
        .iter()
        .map(|(domain, group)| {
            let _span = tracing::info_span!("domain", domain = %domain).entered();
            Ok((
                domain.clone(),
                count_group(group, &plan.positional_layers, options, 0, &progress)?,
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
    let stability = match options.detector_stability {
        Some(seed) => detector_stability(plan, &results, seed, options, &progress)?,
        None => None,
    };
    let null = match options.shuffled_null {
        Some(seed) => shuffled_null(plan, &results, seed, options, &progress)?,
        None => None,
    };
    Ok(Counted {
        results,
        tally: counted.swap_remove(0).tally,
        bases,
        by_domain,
        stability,
        null,
    })
}

/// The layers of the n-gram data with detector tables, each with the kinds it finds.
fn detector_layers(
    plan: &AnalysisPlan,
    options: &AnalysisOptions,
) -> Vec<(usize, Vec<DetectorKind>)> {
    let sources = &plan.sources;
    let group = &sources.groups[sources.ngram];
    (plan.group_layers[sources.ngram].iter().copied())
        .map(|layer| {
            let scope = group_scope(group, options, layer);
            let kinds = [
                (scope.unigrams, DetectorKind::Token),
                (scope.bigrams_trigrams, DetectorKind::Trigram),
            ];
            let kinds = kinds
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, k)| k)
                .collect();
            (layer, kinds)
        })
        .filter(|(_, kinds): &(usize, Vec<DetectorKind>)| !kinds.is_empty())
        .collect()
}

/// The n-gram data of `set` counted again for its detectors alone, in `layers`.
fn count_detectors_on(
    plan: &AnalysisPlan,
    set: crate::inputs::RunSet,
    layers: &[usize],
    options: &AnalysisOptions,
    progress: &Progress,
) -> Result<BTreeMap<usize, LayerResult>> {
    let group = &plan.sources.groups[plan.sources.ngram];
    progress.inc_length(set.tokens() * layers.len() as u64);
    let group = DataGroup {
        set,
        selection: group.selection.clone(),
        frequency: false,
        ngram: true,
        positional: false,
    };
    Ok(count_group(&group, layers, options, 0, progress)?.results)
}

/// Each layer's detectors of the n-gram data (in `results`) beside those found again with each
/// sequence's text tokens shuffled under `seed` and the fires kept in place; none where no
/// layer has detector tables.
fn shuffled_null(
    plan: &AnalysisPlan,
    results: &[LayerResult],
    seed: u64,
    options: &AnalysisOptions,
    progress: &Progress,
) -> Result<Option<Vec<DetectorNullRow>>> {
    let detector_layers = detector_layers(plan, options);
    if detector_layers.is_empty() {
        return Ok(None);
    }
    let _span = tracing::info_span!("shuffled_null", seed).entered();
    let layers: Vec<usize> = detector_layers.iter().map(|(l, _)| *l).collect();
    let set = plan.sources.groups[plan.sources.ngram].set.shuffled(seed);
    let shuffled = count_detectors_on(plan, set, &layers, options, progress)?;
    let count = |result: Option<&LayerResult>, kind: DetectorKind| {
        result.map_or(0, |r| {
            let detectors = r.detectors.iter();
            detectors
                .filter(|d| DetectorKind::of_order(d.order) == Some(kind))
                .count() as u64
        })
    };
    let rows: Vec<DetectorNullRow> = detector_layers
        .iter()
        .flat_map(|(layer, kinds)| {
            let whole = results.iter().find(|r| r.layer == *layer);
            let again = shuffled.get(layer);
            kinds.iter().map(move |&kind| DetectorNullRow {
                layer: *layer as u16,
                kind,
                detectors: count(whole, kind),
                shuffled: count(again, kind),
            })
        })
        .collect();
    tracing::info!(
        detectors = rows.iter().map(|r| r.detectors).sum::<u64>(),
        shuffled = rows.iter().map(|r| r.shuffled).sum::<u64>(),
        "detectors found again with the tokens shuffled"
    );
    Ok(Some(rows))
}

/// Each layer's detectors of the whole n-gram data (in `results`) against those of each half of
/// it under `seed`, found again with the same rules; none where no layer has detector tables.
fn detector_stability(
    plan: &AnalysisPlan,
    results: &[LayerResult],
    seed: u64,
    options: &AnalysisOptions,
    progress: &Progress,
) -> Result<Option<Vec<DetectorStabilityRow>>> {
    let detector_layers = detector_layers(plan, options);
    if detector_layers.is_empty() {
        return Ok(None);
    }
    let _span = tracing::info_span!("detector_stability", seed).entered();
    let layers: Vec<usize> = detector_layers.iter().map(|(l, _)| *l).collect();
    let halves = plan.sources.groups[plan.sources.ngram]
        .set
        .split_in_halves(seed)?;
    let mut rows = Vec::new();
    for (half, set) in halves.into_iter().enumerate() {
        let counted = count_detectors_on(plan, set, &layers, options, progress)?;
        for (layer, kinds) in &detector_layers {
            let whole = results.iter().find(|r| r.layer == *layer);
            let on_half = counted.get(layer);
            if let (Some(whole), Some(on_half)) = (whole, on_half) {
                rows.extend(crate::stability::compare(
                    *layer as u16,
                    half as u8,
                    &whole.detectors,
                    &on_half.detectors,
                    kinds,
                ));
            }
        }
    }
    tracing::info!(
        rows = rows.len(),
        "detectors compared with each half of the data"
    );
    Ok(Some(rows))
}

/// One group's corpus tally and layer results.
struct GroupCounts {
    tally: CorpusTally,
    results: BTreeMap<usize, LayerResult>,
}

/// What `group` counts in `layer`: n-grams and positions only for the sections it serves, in
/// the layers its runs recorded.
pub(super) fn group_scope(
    group: &DataGroup,
    options: &AnalysisOptions,
    layer: usize,
) -> CountScope {
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
        contexts: 0,
    }
}

/// The layers of `layers` that `group` counts: every one for the frequencies, otherwise those
/// where it has something to count.
pub(super) fn group_layers(
    group: &DataGroup,
    options: &AnalysisOptions,
    layers: &[usize],
) -> Vec<usize> {
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
    contexts: usize,
    progress: &Progress,
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
    // The layers with the most tables first, each taken by the next idle thread, so the heavy
    // layers spread over the threads and the light ones fill in after them.
    let mut order = layers.to_vec();
    order.sort_by_key(|&l| {
        let scope = group_scope(group, options, l);
        std::cmp::Reverse((scope.bigrams_trigrams, scope.unigrams))
    });
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let per_thread: Vec<Result<Vec<(usize, LayerResult)>>> = (0..concurrent)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| {
            let mut done = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let Some(&layer) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let _span = tracing::info_span!("layer", layer).entered();
                let scope = CountScope {
                    contexts,
                    ..group_scope(group, options, layer)
                };
                let result = count_and_analyze_layer(
                    set, &parts, layer, scope, cap_bytes, &tally, options, progress,
                );
                match result {
                    Ok(result) => done.push((layer, result)),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(done)
        })
        .collect();
    let mut results = BTreeMap::new();
    for done in per_thread {
        results.extend(done?);
    }
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
    into.detector_sensitivity = from.detector_sensitivity.clone();
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

/// The progress of the counting, `total` token-layers; without `enabled`, none.
fn progress_bar(total: u64, enabled: bool) -> Progress {
    if !enabled {
        return Progress::hidden();
    }
    let span = tracing::info_span!("count", indicatif.pb_show = tracing::field::Empty);
    Progress::new(span, "counting", "token-layers", total)
}
