//! Detector stability, a control beyond the paper: the n-gram data split in two halves by
//! sequence (seeded), each half's detectors found again with the same rules, and each layer's
//! detectors of the whole data compared with each half's.

use std::collections::{BTreeMap, BTreeSet};

use census_format::analysis::tables::{DetectorKind, DetectorStabilityRow};

use crate::detectors::Detector;

/// The triggers of each detector of `kind`, by neuron.
fn triggers_by_neuron(detectors: &[Detector], kind: DetectorKind) -> BTreeMap<u16, BTreeSet<u64>> {
    detectors
        .iter()
        .filter(|d| DetectorKind::of_order(d.order) == Some(kind))
        .map(|d| (d.neuron, d.triggers.iter().map(|t| t.ngram).collect()))
        .collect()
}

/// Layer `layer`'s detectors of the whole data (`whole`) against those found on half `half`
/// (`on_half`): per kind, how many are detectors on the half too, and how much their triggers
/// overlap there (mean Jaccard index over those).
pub fn compare(
    layer: u16,
    half: u8,
    whole: &[Detector],
    on_half: &[Detector],
    kinds: &[DetectorKind],
) -> Vec<DetectorStabilityRow> {
    kinds
        .iter()
        .map(|&kind| {
            let whole = triggers_by_neuron(whole, kind);
            let again = triggers_by_neuron(on_half, kind);
            let overlaps: Vec<f64> = whole
                .iter()
                .filter_map(|(neuron, triggers)| {
                    let there = again.get(neuron)?;
                    let shared = triggers.intersection(there).count();
                    let either = triggers.union(there).count();
                    Some(shared as f64 / either as f64)
                })
                .collect();
            DetectorStabilityRow {
                layer,
                kind,
                half,
                detectors: whole.len() as u64,
                on_half: overlaps.len() as u64,
                trigger_overlap: (!overlaps.is_empty())
                    .then(|| overlaps.iter().sum::<f64>() / overlaps.len() as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Trigger;
    use census_format::analysis::tables::Order;

    fn detector(neuron: u16, order: Order, triggers: &[u64]) -> Detector {
        Detector {
            layer: 0,
            neuron,
            order,
            triggers: triggers
                .iter()
                .map(|&ngram| Trigger {
                    ngram,
                    fires: 1,
                    occurrences: 1,
                })
                .collect(),
            activations: 1,
            covered: 1,
            coverage_count: triggers.len() as u32,
        }
    }

    #[test]
    fn a_detector_found_again_counts_with_the_overlap_of_its_triggers() {
        let whole = [
            detector(1, Order::Unigram, &[10, 11]),
            detector(2, Order::Unigram, &[12]),
            detector(3, Order::Trigram, &[7]),
        ];
        // Neuron 1 detects 10 and 13 on the half (1 of 3 triggers shared); neuron 2 is lost;
        // neuron 4 is new on the half (not counted); neuron 3's trigram detector is kept.
        let half = [
            detector(1, Order::Unigram, &[10, 13]),
            detector(4, Order::Unigram, &[12]),
            detector(3, Order::Trigram, &[7]),
        ];
        let rows = compare(
            5,
            1,
            &whole,
            &half,
            &[DetectorKind::Token, DetectorKind::Trigram],
        );
        assert_eq!(rows.len(), 2);
        let token = &rows[0];
        assert_eq!(
            (token.layer, token.half, token.kind),
            (5, 1, DetectorKind::Token)
        );
        assert_eq!((token.detectors, token.on_half), (2, 1));
        assert!((token.trigger_overlap.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        let trigram = &rows[1];
        assert_eq!((trigram.detectors, trigram.on_half), (1, 1));
        assert_eq!(trigram.trigger_overlap, Some(1.0));
        let none = compare(5, 0, &whole, &[], &[DetectorKind::Token]);
        assert_eq!((none[0].on_half, none[0].trigger_overlap), (0, None));
    }
}
