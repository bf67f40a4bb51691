//! The analysis's results as the rows of its Parquet tables (declared, with their columns, in
//! `census_format::analysis::tables`; see `docs/SCHEMA.md`).

use census_format::analysis::tables::{
    CoverageRow, DeadSaturationRow, DetectorKind, DetectorProjection, DetectorRow,
    DetectorSensitivityRow, NeuronRow, PositionalDomainRow, PositionalRow, ProjectionRow,
    RankedToken, TokenNeuronRow,
};

use crate::detectors::Detector;
use crate::layer_analysis::{LayerResult, PositionalNeuron};
use crate::ngram::unpack;
use crate::positional_domains::DomainRow;
use crate::projection::{NeuronProjection, Projection};
use crate::token_neurons::TokenNeurons;
use census_format::analysis::tables::Order;

/// `neurons.parquet`: one row per (layer, neuron).
pub fn neuron_rows(layers: &[LayerResult]) -> Vec<NeuronRow> {
    layers
        .iter()
        .flat_map(|l| &l.neurons)
        .map(|n| NeuronRow {
            layer: n.layer,
            neuron: n.neuron,
            fires: n.fires,
            fires_bos: n.fires_bos,
            frequency: n.frequency,
            dead: n.dead,
            coverage: n.coverage,
            token_detector: n.token_detector,
            trigram_detector: n.trigram_detector,
            position_mi: n.position_mi,
            positional: n.positional,
        })
        .collect()
}

/// `token_neurons.parquet`: the neurons of each token over the layers whose unigram tables
/// were counted (none when no layer's were, or `k` is 0).
pub fn token_neuron_rows(
    layers: &[LayerResult],
    k: usize,
    token_name: &dyn Fn(u32) -> String,
) -> Option<Vec<TokenNeuronRow>> {
    let mut selected: Option<TokenNeurons> = None;
    for layer in layers {
        if let Some(by_token) = &layer.token_neurons {
            selected
                .get_or_insert_with(|| TokenNeurons::new(k))
                .absorb(by_token);
        }
    }
    selected.filter(|_| k > 0).map(|s| s.rows(token_name))
}

/// `dead_saturation.parquet`: each layer's dead neurons after each doubling of the tokens read.
pub fn dead_saturation_rows(layers: &[LayerResult]) -> Vec<DeadSaturationRow> {
    layers
        .iter()
        .flat_map(|l| l.saturation.iter().cloned())
        .collect()
}

/// `detector_sensitivity.parquet`: each layer's detector counts under each minimum of
/// occurrences, where its unigram or trigram tables were counted (none where no layer's were).
pub fn detector_sensitivity_rows(layers: &[LayerResult]) -> Option<Vec<DetectorSensitivityRow>> {
    let rows: Vec<DetectorSensitivityRow> = layers
        .iter()
        .flat_map(|l| l.detector_sensitivity.iter().cloned())
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// `coverage.parquet`: alive neurons per n-gram coverage bin, per layer and order.
pub fn coverage_rows(layers: &[LayerResult], edges: &[u32]) -> Vec<CoverageRow> {
    let mut rows = Vec::new();
    for result in layers {
        for order in Order::ALL {
            if let Some(bins) = &result.coverage_bins[order as usize] {
                for (i, &neurons) in bins.iter().enumerate() {
                    rows.push(CoverageRow {
                        layer: result.layer as u16,
                        order,
                        bin: i as u16,
                        label: crate::coverage::bin_label(i, edges),
                        neurons,
                    });
                }
            }
        }
    }
    rows
}

/// `ranked` (token id, score) pairs with their vocabulary strings.
fn ranked_tokens(ranked: &[(u32, f32)], token_name: &dyn Fn(u32) -> String) -> Vec<RankedToken> {
    ranked
        .iter()
        .map(|&(id, score)| RankedToken {
            id,
            name: token_name(id),
            score,
        })
        .collect()
}

/// `detectors.parquet`: one row per detector, with its projection where computed
/// (`projections[i]` is detector `i`'s).
pub fn detector_rows(
    detectors: &[Detector],
    projections: Option<&[Projection]>,
    token_name: &dyn Fn(u32) -> String,
) -> Vec<DetectorRow> {
    detectors
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let trigger_ids: Vec<Vec<u32>> = d
                .triggers
                .iter()
                .map(|t| unpack(t.ngram, d.order.n()))
                .collect();
            DetectorRow {
                layer: d.layer as u16,
                neuron: d.neuron,
                kind: DetectorKind::of_order(d.order).unwrap_or(DetectorKind::Token),
                triggers: trigger_ids
                    .iter()
                    .map(|ids| {
                        ids.iter()
                            .map(|&t| token_name(t))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect(),
                trigger_ids,
                trigger_fires: d.triggers.iter().map(|t| t.fires).collect(),
                trigger_occurrences: d.triggers.iter().map(|t| t.occurrences).collect(),
                activations: d.activations,
                coverage: d.coverage(),
                coverage_count: d.coverage_count,
                projection: projections.map(|p| &p[i]).map(|p| DetectorProjection {
                    promoted: ranked_tokens(&p.promoted, token_name),
                    suppressed: ranked_tokens(&p.suppressed, token_name),
                    trigger_scores: p.trigger_scores.clone(),
                    trigger_bottom_ranks: p.trigger_bottom_ranks.clone(),
                    suppresses_triggers: p.suppresses_triggers,
                    negative_share: p.negative_share,
                    null_probability: p.null_probability,
                    trigger_rank_share: p.trigger_rank_share,
                }),
            }
        })
        .collect()
}

/// `positional.parquet`: one row per positional neuron with its curve.
pub fn positional_rows(neurons: &[&PositionalNeuron]) -> Vec<PositionalRow> {
    neurons
        .iter()
        .map(|n| PositionalRow {
            layer: n.layer,
            neuron: n.neuron,
            mi: n.mi,
            class: n.class,
            first_position: n.first_position,
            frequency: n.curve.clone(),
            ranges: n.ranges.clone(),
        })
        .collect()
}

/// `positional_domains.parquet`: one row per domain for every neuron positional in the pooled
/// analysis or in some domain.
pub fn positional_domain_rows(rows: &[DomainRow]) -> Vec<PositionalDomainRow> {
    rows.iter()
        .map(|r| PositionalDomainRow {
            layer: r.layer,
            neuron: r.neuron,
            domain: r.domain.clone(),
            mi: r.mi,
            class: r.class,
            pooled_type: r.pooled.map(|c| c.kind),
            same_type: r.same_type(),
        })
        .collect()
}

/// `projections.parquet`: the top promoted and suppressed tokens of every alive neuron.
pub fn projection_rows(
    rows: &[NeuronProjection],
    token_name: &dyn Fn(u32) -> String,
) -> Vec<ProjectionRow> {
    rows.iter()
        .map(|r| ProjectionRow {
            layer: r.layer as u16,
            neuron: r.neuron,
            promoted: ranked_tokens(&r.promoted, token_name),
            suppressed: ranked_tokens(&r.suppressed, token_name),
        })
        .collect()
}
