//! `summary.json`: the headline numbers of an analysis, the ones the paper states (see
//! `docs/METHODS.md`, "What the paper claims"), computed from the tables.

use std::collections::BTreeMap;

use census_format::analysis::summary::{
    DeadReading, DeadSummary, DetectorSummary, HalfStability, PositionalSummary, Summary,
    SuppressionSummary,
};

use std::collections::BTreeSet;

use crate::analysis_tables::AnalysisTables;
use crate::detectors::detected_coverage;
use crate::ngram::pack;
use crate::suppression::at_least;
use census_format::analysis::tables::PositionalType;
use census_format::analysis::tables::{
    DetectorKind, DetectorNullRow, DetectorProjection, DetectorRow, DetectorSensitivityRow,
    DetectorStabilityRow, LayerRow, SENSITIVITY_MIN_OCCURRENCES,
};

/// Dead neurons under the reading `counts_bos` did not choose.
fn other_reading(layers: &[LayerRow], counts_bos: bool) -> DeadReading {
    let dead = |l: &LayerRow| {
        if counts_bos {
            l.dead_without_bos
        } else {
            l.dead_with_bos
        }
    };
    let share = |l: &LayerRow| f64::from(dead(l)) / f64::from(l.neurons.max(1));
    let worst = layers
        .iter()
        .max_by(|a, b| share(a).total_cmp(&share(b)).then(b.layer.cmp(&a.layer)));
    DeadReading {
        total: layers.iter().map(|l| u64::from(dead(l))).sum(),
        max_layer_share: worst.map_or(0.0, share),
        max_layer: worst.map_or(0, |l| usize::from(l.layer)),
    }
}

/// The median of sorted, non-empty `values`.
fn median(values: &[f64]) -> f64 {
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The stability rows of `kind` pooled over layers, half by half.
fn half_stability(rows: &[DetectorStabilityRow], kind: DetectorKind) -> Vec<HalfStability> {
    [0u8, 1]
        .into_iter()
        .filter_map(|half| {
            let of_half: Vec<&DetectorStabilityRow> = (rows.iter())
                .filter(|r| r.kind == kind && r.half == half)
                .collect();
            if of_half.is_empty() {
                return None;
            }
            let on_half: u64 = of_half.iter().map(|r| r.on_half).sum();
            let overlap: f64 = (of_half.iter())
                .filter_map(|r| Some(r.trigger_overlap? * r.on_half as f64))
                .sum();
            Some(HalfStability {
                half,
                detectors: of_half.iter().map(|r| r.detectors).sum(),
                on_half,
                trigger_overlap: (on_half > 0).then(|| overlap / on_half as f64),
            })
        })
        .collect()
}

/// The rows beside the layers that a kind's detector summary reads: its counts under other
/// minimums of occurrences, and against each half of the data.
struct DetectorExtras<'a> {
    kind: DetectorKind,
    sensitivity: &'a [DetectorSensitivityRow],
    stability: &'a [DetectorStabilityRow],
    null: Option<&'a [DetectorNullRow]>,
    min_occurrences: u64,
}

/// The detectors of one kind: `pick` and `count` read its columns of the layers.
fn detector_summary(
    layers: &[LayerRow],
    pick: fn(&LayerRow) -> Option<census_format::analysis::tables::DetectedCoverage>,
    count: fn(&LayerRow) -> Option<u32>,
    extras: DetectorExtras<'_>,
) -> Option<DetectorSummary> {
    let DetectorExtras {
        kind,
        sensitivity,
        stability,
        null,
        min_occurrences,
    } = extras;
    let counted: Vec<&LayerRow> = layers.iter().filter(|l| count(l).is_some()).collect();
    if counted.is_empty() {
        return None;
    }
    let coverage: Vec<_> = layers.iter().filter_map(pick).collect();
    let new_share_by_layer = layers
        .iter()
        .filter_map(|l| pick(l).map(|c| (usize::from(l.layer), c)))
        .skip(1)
        .filter(|(_, c)| c.detected > 0)
        .map(|(layer, c)| (layer, c.new_overall as f64 / c.detected as f64))
        .collect();
    let above_first = coverage.iter().skip(1);
    let detected_above: u64 = above_first.clone().map(|c| c.detected).sum();
    let new_above: u64 = above_first.map(|c| c.new_overall).sum();
    Some(DetectorSummary {
        detectors: counted.iter().filter_map(|l| count(l)).map(u64::from).sum(),
        max_detected_per_layer: coverage.iter().map(|c| c.detected).max().unwrap_or(0),
        detected_cumulative: coverage.last().map_or(0, |c| c.cumulative),
        new_overall_share: (detected_above > 0).then(|| new_above as f64 / detected_above as f64),
        new_share_by_layer,
        min_occurrences,
        sensitivity: SENSITIVITY_MIN_OCCURRENCES
            .iter()
            .filter_map(|&min| {
                let rows = sensitivity
                    .iter()
                    .filter(|r| r.kind == kind && r.min_occurrences == min);
                let mut any = false;
                let total = rows.inspect(|_| any = true).map(|r| r.detectors).sum();
                any.then_some((min, total))
            })
            .collect(),
        stability: half_stability(stability, kind),
        shuffled: null.map(|rows| {
            let of_kind = rows.iter().filter(|r| r.kind == kind);
            of_kind.map(|r| r.shuffled).sum()
        }),
    })
}

/// Fills in each layer's detected-n-gram coverage (`tokens_detected`, `trigrams_detected`) from
/// the detectors' triggers. Coverage is defined over consecutive layers, from the first, that all
/// counted the order (their `token_detectors` or `trigram_detectors` is set).
pub fn fill_detected_coverage(layers: &mut [LayerRow], detectors: &[DetectorRow]) {
    for kind in [DetectorKind::Token, DetectorKind::Trigram] {
        let counted = |l: &LayerRow| match kind {
            DetectorKind::Token => l.token_detectors.is_some(),
            DetectorKind::Trigram => l.trigram_detectors.is_some(),
        };
        let prefix: Vec<BTreeSet<u64>> = layers
            .iter()
            .map_while(|l| {
                counted(l).then(|| {
                    detectors
                        .iter()
                        .filter(|d| d.layer == l.layer && d.kind == kind)
                        .flat_map(|d| d.trigger_ids.iter().map(|ids| pack(ids)))
                        .collect()
                })
            })
            .collect();
        let coverage = detected_coverage(&prefix);
        for (i, layer) in layers.iter_mut().enumerate() {
            let value = coverage.get(i).copied();
            match kind {
                DetectorKind::Token => layer.tokens_detected = value,
                DetectorKind::Trigram => layer.trigrams_detected = value,
            }
        }
    }
}

/// What the headline numbers rest on beside an analysis's tables.
#[derive(Debug, Clone)]
pub struct SummaryContext {
    /// The model, as the runs recorded its source.
    pub model: String,
    /// Sequences counted (the frequency data's).
    pub sequences: u64,
    /// Which reading of "dead" the layers' `dead` follows: the BOS's fires count.
    pub counts_bos: bool,
    /// Whether the detectors' projections were computed.
    pub projected: bool,
    /// The occurrences a trigger needs (`--min-occurrences`).
    pub min_occurrences: u64,
}

/// Summarises an analysis's tables: the layer aggregates (with their detected coverage filled
/// in), every neuron, the detectors with their projections and the positional neurons.
pub fn summarise(tables: &AnalysisTables, context: SummaryContext) -> Summary {
    let SummaryContext {
        model,
        sequences,
        counts_bos,
        projected,
        min_occurrences,
    } = context;
    let AnalysisTables {
        layers,
        neurons,
        detectors,
        positional,
        detector_sensitivity,
        detector_stability,
        detector_null,
        ..
    } = tables;
    let extras = |kind| DetectorExtras {
        kind,
        sensitivity: detector_sensitivity.as_deref().unwrap_or_default(),
        stability: detector_stability.as_deref().unwrap_or_default(),
        null: detector_null.as_deref(),
        min_occurrences,
    };
    let neuron_count: u64 = layers.iter().map(|l| u64::from(l.neurons)).sum();
    let dead: u64 = layers.iter().map(|l| u64::from(l.dead)).sum();
    let worst = layers.iter().max_by(|a, b| {
        a.dead_share
            .total_cmp(&b.dead_share)
            .then(b.layer.cmp(&a.layer))
    });
    let alive = neuron_count - dead;
    let alive_frequency_sum: f64 = neurons
        .iter()
        .filter(|n| !n.dead)
        .map(|n| n.frequency)
        .sum();
    let suppression = projected.then(|| {
        let token: Vec<&DetectorProjection> = detectors
            .iter()
            .filter(|d| d.kind == DetectorKind::Token)
            .filter_map(|d| d.projection.as_ref())
            .filter(|p| p.suppresses_triggers.is_some())
            .collect();
        let suppressing = token
            .iter()
            .filter(|p| p.suppresses_triggers == Some(true))
            .count();
        let chances: Vec<f64> = token.iter().filter_map(|p| p.null_probability).collect();
        let mut ranks: Vec<f64> = token.iter().map(|p| p.trigger_rank_share).collect();
        ranks.sort_by(f64::total_cmp);
        let any = !token.is_empty();
        SuppressionSummary {
            detectors: token.len() as u64,
            suppressing: suppressing as u64,
            share: any.then(|| suppressing as f64 / token.len() as f64),
            null_share: any.then(|| chances.iter().sum::<f64>() / chances.len() as f64),
            p_value: any.then(|| at_least(&chances, suppressing)),
            median_trigger_rank: any.then(|| median(&ranks)),
        }
    });
    let positional_summary = layers.iter().any(|l| l.positional.is_some()).then(|| {
        let mut by_type: BTreeMap<PositionalType, [u64; 2]> =
            PositionalType::ALL.iter().map(|&t| (t, [0, 0])).collect();
        for p in positional {
            by_type.get_mut(&p.class.kind).expect("every type")[usize::from(!p.class.strong)] += 1;
        }
        let mut oscillatory: Vec<usize> = positional
            .iter()
            .filter(|p| p.class.kind == PositionalType::Oscillatory)
            .map(|p| usize::from(p.layer))
            .collect();
        oscillatory.dedup();
        PositionalSummary {
            total: positional.len() as u64,
            by_type,
            strong_oscillatory_layer_1: positional
                .iter()
                .filter(|p| {
                    p.layer == 1 && p.class.kind == PositionalType::Oscillatory && p.class.strong
                })
                .count() as u64,
            layers_with_oscillatory: oscillatory,
        }
    });
    Summary {
        model,
        layers: layers.len(),
        neurons_per_layer: layers.first().map_or(0, |l| l.neurons as usize),
        tokens: layers.first().map_or(0, |l| l.tokens),
        sequences,
        dead: DeadSummary {
            total: dead,
            share: if neuron_count == 0 {
                0.0
            } else {
                dead as f64 / neuron_count as f64
            },
            max_layer_share: worst.map_or(0.0, |l| l.dead_share),
            max_layer: worst.map_or(0, |l| usize::from(l.layer)),
            counts_bos,
            other_reading: Some(other_reading(layers, counts_bos)),
        },
        mean_frequency_alive: (alive > 0).then(|| alive_frequency_sum / alive as f64),
        token_detectors: detector_summary(
            layers,
            |l| l.tokens_detected,
            |l| l.token_detectors,
            extras(DetectorKind::Token),
        ),
        trigram_detectors: detector_summary(
            layers,
            |l| l.trigrams_detected,
            |l| l.trigram_detectors,
            extras(DetectorKind::Trigram),
        ),
        suppression,
        positional: positional_summary,
        positional_domains: None,
    }
}
