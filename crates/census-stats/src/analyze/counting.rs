//! One layer counted over a run set's parts, within the n-gram tables' memory cap: counted
//! again neuron range by neuron range when the tables outgrow it.

use census_format::progress::Progress;
use census_format::run::RecordMode;
use census_format::run::counts::{DomainCounts, read_counts};
use census_format::run::tables::PartFile;
use rayon::prelude::*;

use crate::contexts::FirstPlaces;
use crate::counts::{CorpusTally, CountScope, LayerCounts};
use crate::error::{Result, StatsError};
use crate::inputs::{PartRef, RunSet};
use crate::layer_analysis::{
    LayerResult, NgramStatistics, analyze_frequencies_and_positions, analyze_layer,
};
use crate::ngram::TableCodes;
use crate::part_data::{PartTokens, read_layer_part};
use census_format::analysis::options::AnalysisOptions;

/// What each layer counts.
pub fn count_scope(set: &RunSet, options: &AnalysisOptions, layer: usize) -> CountScope {
    let total = set.model_config().num_hidden_layers;
    let positional = set.full_length() || options.positional.any_length;
    CountScope {
        unigrams: options.unigram_layers.contains(layer, total),
        bigrams_trigrams: options.ngram_layers.contains(layer, total),
        positions: positional.then(|| set.max_seq_len()),
        contexts: 0,
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
            let tokens = set.read_tokens(part)?;
            let mut tally = CorpusTally::new(positions, vocab, count_trigrams);
            tally
                .add_part(&tokens)
                .map_err(|source| StatsError::Count {
                    path: path.clone(),
                    source,
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
    progress: &Progress,
) -> Result<LayerPass> {
    let layer = counts.layer;
    // Unsorted keys take at most a sixteenth of the cap per table.
    counts.limit_buffers(cap_bytes / 16);
    for (index, &part) in parts.iter().enumerate() {
        census_format::interrupt::check(
            "analysis stopped; nothing of it was written, and an earlier analysis in its place \
             is kept",
        )
        .map_err(census_format::FormatError::from)?;
        let limits = set.part_limits(part);
        let tokens = set.read_tokens(part)?;
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
                    .map_err(|source| StatsError::Count {
                        path: path.clone(),
                        source,
                    })?;
                if let Some(places) = &mut counts.places {
                    let start = set.runs[part.run].manifest.config.sequence_start;
                    places.add(part.run, part.part, &acts, start.text_start());
                }
            }
            RecordMode::Counts => add_recorded_counts(set, part, layer, &tokens, &mut counts)?,
        }
        progress.inc(part.rows);
        counts.saturation_checkpoint(index + 1 == parts.len());
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
    progress: &Progress,
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
    progress: &Progress,
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
        progress.inc_length(total * ranges as u64);
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
        progress.inc_length(total * (ranges as u64 + 1) - rows);
        ranges
    };
    let frequencies = CountScope {
        unigrams: false,
        bigrams_trigrams: false,
        ..scope
    };
    let base = LayerCounts::new(layer, ffn, frequencies, codes.clone());
    let LayerPass::Whole(mut base) = count_layer(set, parts, base, cap_bytes, progress)? else {
        unreachable!("counts without n-gram tables never outgrow the cap");
    };
    let mut result = analyze_frequencies_and_positions(&base, tally, options);
    result.places = base.places.take().map(FirstPlaces::into_places);
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
            contexts: 0,
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
                progress.inc_length(total + rows);
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
        .map_err(|source| StatsError::Count { path, source })
}
