//! From one layer's counts to its results: per-neuron statistics, coverage bins, detectors and
//! positional neurons.

use crate::contexts::{FirstPlaces, Place};
use crate::counts::{CorpusTally, LayerCounts};
use crate::coverage::{NeuronNgrams, bin_of, by_count};
use crate::detectors::{Detector, detect, is_candidate};
use crate::positional::{PositionMi, classify, ranges_above};
use crate::token_neurons::{LayerPairs, TokenNeurons};
use census_format::analysis::options::{AnalysisOptions, DetectorOptions, NgramDenominator};
use census_format::analysis::tables::Classification;
use census_format::analysis::tables::Order;
use census_format::analysis::tables::PositionCurveRow;
use census_format::analysis::tables::{
    DeadSaturationRow, DetectorKind, DetectorSensitivityRow, SENSITIVITY_MIN_OCCURRENCES,
};

/// Statistics of one neuron (a row of `neurons.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronStats {
    /// Layer (0-based).
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Fires counted (the `</s>` prefix only with `count_bos`).
    pub fires: u64,
    /// Fires on the `</s>` prefix.
    pub fires_bos: u64,
    /// Fires outside the `</s>` prefix.
    pub fires_outside_bos: u64,
    /// `fires` over the counted tokens.
    pub frequency: f64,
    /// Never fired on a counted token.
    pub dead: bool,
    /// N-gram coverage counts (unigram, bigram, trigram) where computed for an alive neuron.
    pub coverage: [Option<u32>; 3],
    /// A token detector.
    pub token_detector: bool,
    /// A trigram detector.
    pub trigram_detector: bool,
    /// Mutual information with position, where computed.
    pub position_mi: Option<f64>,
    /// Type and strength, for positional neurons.
    pub positional: Option<Classification>,
}

/// A positional neuron with its curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionalNeuron {
    /// Layer (0-based).
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Mutual information with position.
    pub mi: f64,
    /// Type and strength.
    pub class: Classification,
    /// Position of the curve's first value (1 when the `</s>` prefix is left out).
    pub first_position: u16,
    /// Activation frequency at each position from `first_position` on.
    pub curve: Vec<f32>,
    /// Ranges `[start, end)` of positions where the frequency is at least the range threshold.
    pub ranges: Vec<(u16, u16)>,
}

/// Everything computed for one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerResult {
    /// Layer (0-based).
    pub layer: usize,
    /// Tokens the frequencies are over.
    pub counted_tokens: u64,
    /// One entry per neuron.
    pub neurons: Vec<NeuronStats>,
    /// Alive neurons per coverage bin, by order (where computed).
    pub coverage_bins: [Option<Vec<u64>>; 3],
    /// Token and trigram detectors.
    pub detectors: Vec<Detector>,
    /// Positional neurons.
    pub positional: Vec<PositionalNeuron>,
    /// Every alive neuron's binned frequency-by-position curve (when positions were analysed
    /// and curves asked for).
    pub curves: Vec<PositionCurveRow>,
    /// Whether the MI was computed.
    pub positions_analysed: bool,
    /// The neurons of each token, where this layer's unigram tables were counted.
    pub token_neurons: Option<TokenNeurons>,
    /// Its token and trigram detectors under each of [`SENSITIVITY_MIN_OCCURRENCES`], where
    /// their tables were counted.
    pub detector_sensitivity: Vec<DetectorSensitivityRow>,
    /// Its dead neurons after the first part and each doubling of the tokens read since.
    pub saturation: Vec<DeadSaturationRow>,
    /// The first places each neuron fired (by neuron), where gathered while counting
    /// ([`crate::counts::CountScope::contexts`]).
    pub places: Option<Vec<Vec<Place>>>,
}

/// The n-gram statistics of a layer, gathered from its count tables (all at once, or neuron
/// range by neuron range when the tables are counted in several passes).
#[derive(Debug, Clone, Default)]
pub struct NgramStatistics {
    /// Alive neurons per coverage bin, by order, where the order was counted.
    bins: [Option<Vec<u64>>; 3],
    /// Detectors by order, each in neuron order.
    detectors: [Vec<Detector>; 3],
    /// The neurons of each token, once unigram tables were seen.
    token_neurons: Option<TokenNeurons>,
    /// Token and trigram detectors under each of [`SENSITIVITY_MIN_OCCURRENCES`], once their
    /// tables were seen.
    sensitivity: [Option<[u64; SENSITIVITY_MIN_OCCURRENCES.len()]>; 2],
}

impl NgramStatistics {
    /// Adds the statistics of the neurons whose n-grams `counts` holds (its tables are consumed),
    /// marking their coverage counts and detector flags in `neurons`. Under
    /// `--ngram-denominator all`, an alive neuron whose n-grams of an order cannot reach the
    /// coverage share (it fires too often where none exists) has no coverage count of that
    /// order and is counted in the last, open bin.
    pub fn add(
        &mut self,
        neurons: &mut [NeuronStats],
        counts: &mut LayerCounts,
        tally: &CorpusTally,
        options: &AnalysisOptions,
    ) {
        let layer = counts.layer;
        let counted = (counts.table_neurons.clone())
            .map_or(0..counts.ffn, |r| r.start as usize..r.end as usize);
        let orders = counts.table_orders();
        let open_bin = options.coverage_bins.len();
        for (order, &on) in orders.iter().enumerate() {
            if on {
                self.bins[order].get_or_insert_with(|| vec![0u64; open_bin + 1]);
            }
        }
        let mut sensitivity: [Option<[u64; 3]>; 3] = std::array::from_fn(|order| {
            let kind = DetectorKind::of_order(Order::ALL[order]).filter(|_| orders[order])?;
            Some(self.sensitivity[kind as usize].unwrap_or([0; 3]))
        });
        let mut with_ngrams = vec![[false; 3]; counted.len()];
        // The unigram lists of alive neurons, for the neurons of each token.
        let mut unigrams =
            (orders[Order::Unigram as usize] && options.token_neurons > 0).then(|| {
                let text_rows = (tally.rows - tally.bos_rows).max(1);
                let fires: u64 = counts.fires[counted.clone()].iter().sum();
                // Each distinct (neuron, token) pair is at least one entry of the table.
                LayerPairs::with_room(
                    &tally.tokens,
                    fires as f64 / text_rows as f64,
                    counted.len(),
                    counts.table_entries(),
                )
            });
        let context = NeuronContext {
            layer,
            tally,
            options,
        };
        if let Some(table) = counts.take_table() {
            table.by_neuron(|neuron, sums| {
                let stats = &mut neurons[usize::from(neuron)];
                let fires = counts.fires[usize::from(neuron)];
                for order in Order::ALL {
                    if sums.is_empty(order) {
                        continue;
                    }
                    with_ngrams[usize::from(neuron) - counted.start][order as usize] = true;
                    if stats.dead {
                        continue;
                    }
                    let found = context.neuron_order(
                        stats,
                        order,
                        sums.fires(order),
                        || sums.list(order),
                        fires,
                        self.bins[order as usize].as_mut().expect("a counted order"),
                        sensitivity[order as usize].as_mut(),
                    );
                    self.detectors[order as usize].extend(found);
                }
                if let Some(unigrams) = &mut unigrams
                    && !stats.dead
                {
                    unigrams.push(neuron, sums.list(Order::Unigram));
                }
            });
        }
        if options.detectors.ngram_denominator == NgramDenominator::All {
            // Alive, firing outside the prefix, but never where an n-gram of the order exists:
            // no number of n-grams covers it.
            for (order, bins) in self.bins.iter_mut().enumerate() {
                let Some(bins) = bins.as_mut().filter(|_| orders[order]) else {
                    continue;
                };
                let uncoverable = counted.clone().filter(|&n| {
                    !with_ngrams[n - counted.start][order]
                        && !neurons[n].dead
                        && counts.fires[n] > 0
                });
                bins[open_bin] += uncoverable.count() as u64;
            }
        }
        if orders[Order::Unigram as usize] {
            let selected = self
                .token_neurons
                .get_or_insert_with(|| TokenNeurons::new(options.token_neurons));
            if let Some(unigrams) = unigrams {
                selected.offer_pairs(layer as u16, &unigrams, &tally.tokens);
            }
        }
        for (order, counts) in sensitivity.into_iter().enumerate() {
            if let (Some(kind), Some(counts)) = (DetectorKind::of_order(Order::ALL[order]), counts)
            {
                self.sensitivity[kind as usize] = Some(counts);
            }
        }
    }

    /// Puts the statistics into `result`: coverage bins, detectors by order, then neuron, and
    /// their counts under each minimum of occurrences.
    pub fn finish(self, result: &mut LayerResult) {
        result.coverage_bins = self.bins;
        result.detectors = self.detectors.into_iter().flatten().collect();
        result.token_neurons = self.token_neurons;
        let layer = result.layer as u16;
        result.detector_sensitivity = [DetectorKind::Token, DetectorKind::Trigram]
            .into_iter()
            .filter_map(|kind| Some((kind, self.sensitivity[kind as usize]?)))
            .flat_map(|(kind, counts)| {
                SENSITIVITY_MIN_OCCURRENCES.iter().zip(counts).map(
                    move |(&min_occurrences, detectors)| DetectorSensitivityRow {
                        layer,
                        kind,
                        min_occurrences,
                        detectors,
                    },
                )
            })
            .collect();
    }
}

/// What the statistics of one neuron's n-grams are computed against.
struct NeuronContext<'a> {
    layer: usize,
    tally: &'a CorpusTally,
    options: &'a AnalysisOptions,
}

impl NeuronContext<'_> {
    /// The coverage of an alive neuron's n-grams of `order` (its fires on each, `list`, and the
    /// same with their n-grams, `decoded`; `fires` outside the prefix in all), put into `stats`
    /// and counted in its coverage bin, and whether it is a detector (counted under each minimum
    /// of occurrences in `sensitivity`).
    #[allow(clippy::too_many_arguments)]
    fn neuron_order(
        &self,
        stats: &mut NeuronStats,
        order: Order,
        list: impl Iterator<Item = u64> + Clone,
        decoded: impl FnOnce() -> Vec<(u64, u64)>,
        fires: u64,
        bins: &mut [u64],
        sensitivity: Option<&mut [u64; 3]>,
    ) -> Option<Detector> {
        let options = self.options;
        let activations = match options.detectors.ngram_denominator {
            NgramDenominator::All => fires,
            NgramDenominator::Windowed => list.clone().sum(),
        };
        let share = options.detectors.coverage_share;
        let Some(m) = crate::coverage::coverage_count(list, activations, share) else {
            bins[options.coverage_bins.len()] += 1;
            return None;
        };
        stats.coverage[order as usize] = Some(m);
        bins[bin_of(m, &options.coverage_bins)] += 1;
        if !is_candidate(order, m, &options.detectors) {
            return None;
        }
        // A candidate's triggers are listed most frequent first.
        let mut sorted = decoded();
        sorted.sort_unstable_by(by_count);
        let ngrams = NeuronNgrams {
            neuron: stats.neuron,
            counts: &sorted,
            activations,
        };
        let (layer, tally) = (self.layer, self.tally);
        if let Some(counts) = sensitivity {
            for (count, &min_occurrences) in counts.iter_mut().zip(&SENSITIVITY_MIN_OCCURRENCES) {
                let rule = DetectorOptions {
                    min_occurrences,
                    ..options.detectors.clone()
                };
                *count += u64::from(detect(layer, order, &ngrams, m, tally, &rule).is_some());
            }
        }
        let found = detect(layer, order, &ngrams, m, tally, &options.detectors)?;
        match order {
            Order::Unigram => stats.token_detector = true,
            Order::Trigram => stats.trigram_detector = true,
            Order::Bigram => {}
        }
        Some(found)
    }
}

/// Analyses a layer's counts (its n-gram table is consumed).
pub fn analyze_layer(
    mut counts: LayerCounts,
    tally: &CorpusTally,
    options: &AnalysisOptions,
) -> LayerResult {
    let mut result = analyze_frequencies_and_positions(&counts, tally, options);
    result.places = counts.places.take().map(FirstPlaces::into_places);
    let mut ngrams = NgramStatistics::default();
    ngrams.add(&mut result.neurons, &mut counts, tally, options);
    ngrams.finish(&mut result);
    result
}

/// Analyses a layer's fire counts and position counts, leaving its n-gram tables aside.
pub fn analyze_frequencies_and_positions(
    counts: &LayerCounts,
    tally: &CorpusTally,
    options: &AnalysisOptions,
) -> LayerResult {
    let layer = counts.layer;
    let bos = options.count_bos;
    let counted_tokens = if options.count_bos {
        tally.rows
    } else {
        tally.rows - tally.bos_rows
    };
    let mut neurons: Vec<NeuronStats> = (0..counts.ffn)
        .map(|n| {
            let fires = counts.fires[n] + if bos { counts.fires_bos[n] } else { 0 };
            NeuronStats {
                layer: layer as u16,
                neuron: n as u16,
                fires,
                fires_bos: counts.fires_bos[n],
                fires_outside_bos: counts.fires[n],
                frequency: if counted_tokens == 0 {
                    0.0
                } else {
                    fires as f64 / counted_tokens as f64
                },
                dead: fires == 0,
                coverage: [None; 3],
                token_detector: false,
                trigram_detector: false,
                position_mi: None,
                positional: None,
            }
        })
        .collect();

    let mut positional = Vec::new();
    let mut curves = Vec::new();
    if let Some(positions) = &counts.positions {
        let first = usize::from(options.positional.skip_bos);
        // Positions that occur form a prefix (shorter sequences stop earlier).
        let end = tally
            .positions
            .iter()
            .rposition(|&n| n > 0)
            .map_or(0, |p| p + 1);
        let rows = &tally.positions[first..end.max(first)];
        let by_neuron = neuron_major(&positions[first * counts.ffn..], counts.ffn, rows.len());
        let position_mi = PositionMi::new(rows, options.positional.log_base);
        let bins = options.positional.curve_bins;
        for (n, stats) in neurons.iter_mut().enumerate() {
            let fires = &by_neuron[n * rows.len()..(n + 1) * rows.len()];
            if bins > 0 && !stats.dead && !rows.is_empty() {
                curves.push(binned_curve(
                    layer as u16,
                    n as u16,
                    first as u16,
                    fires,
                    rows,
                    bins,
                ));
            }
            let mi = position_mi.of(fires);
            stats.position_mi = Some(mi);
            if mi <= options.positional.mi_threshold {
                continue;
            }
            let curve: Vec<f64> = fires
                .iter()
                .zip(rows)
                .map(|(&f, &r)| f as f64 / r as f64)
                .collect();
            let class = classify(&curve, &options.positional);
            stats.positional = Some(class);
            positional.push(PositionalNeuron {
                layer: layer as u16,
                neuron: n as u16,
                mi,
                class,
                first_position: first as u16,
                ranges: ranges_above(&curve, options.positional.range_threshold)
                    .into_iter()
                    .map(|(a, b)| ((first + a) as u16, (first + b) as u16))
                    .collect(),
                curve: curve.iter().map(|&x| x as f32).collect(),
            });
        }
    }

    LayerResult {
        layer,
        counted_tokens,
        neurons,
        coverage_bins: [None, None, None],
        detectors: Vec::new(),
        positional,
        curves,
        positions_analysed: counts.positions.is_some(),
        token_neurons: None,
        detector_sensitivity: Vec::new(),
        saturation: counts
            .saturation
            .iter()
            .map(|p| DeadSaturationRow {
                layer: layer as u16,
                tokens: p.rows,
                dead: if options.count_bos {
                    p.dead_with_bos
                } else {
                    p.dead_without_bos
                },
            })
            .collect(),
        places: None,
    }
}

/// The first `positions` rows of position-major counts (`ffn` neurons a row) laid out neuron by
/// neuron, a tile at a time.
///
/// # Shapes
/// - `by_position`: `[positions.., ffn]`
/// - returns: `[ffn, positions]`
fn neuron_major(by_position: &[u32], ffn: usize, positions: usize) -> Vec<u64> {
    const TILE: usize = 64;
    let mut out = vec![0u64; ffn * positions];
    for p0 in (0..positions).step_by(TILE) {
        for n0 in (0..ffn).step_by(TILE) {
            for p in p0..(p0 + TILE).min(positions) {
                let row = &by_position[p * ffn..(p + 1) * ffn];
                for n in n0..(n0 + TILE).min(ffn) {
                    out[n * positions + p] = u64::from(row[n]);
                }
            }
        }
    }
    out
}

/// A neuron's frequency by position in at most `bins` bins of equal width (the last may be
/// narrower): fires over tokens in each bin. `fires[i]` and `rows[i]` are at position
/// `first + i`.
fn binned_curve(
    layer: u16,
    neuron: u16,
    first: u16,
    fires: &[u64],
    rows: &[u64],
    bins: usize,
) -> PositionCurveRow {
    let width = rows.len().div_ceil(bins).max(1);
    let frequency = fires
        .chunks(width)
        .zip(rows.chunks(width))
        .map(|(f, r)| {
            let tokens: u64 = r.iter().sum();
            if tokens == 0 {
                0.0
            } else {
                (f.iter().sum::<u64>() as f64 / tokens as f64) as f32
            }
        })
        .collect();
    PositionCurveRow {
        layer,
        neuron,
        first_position: first,
        bin_width: width as u16,
        frequency,
    }
}
