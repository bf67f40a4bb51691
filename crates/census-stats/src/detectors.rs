//! Token and trigram detectors (§3.5, §3.6) and the tokens they detect across layers (§3.7).

use std::collections::BTreeSet;

use crate::counts::CorpusTally;
use crate::coverage::NeuronNgrams;
use census_format::analysis::options::DetectorOptions;
use census_format::analysis::tables::Order;

/// An n-gram that triggers a detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The packed n-gram.
    pub ngram: u64,
    /// Fires of the neuron on it.
    pub fires: u64,
    /// Its occurrences in the corpus.
    pub occurrences: u64,
}

/// A neuron that detects a small group of tokens (or trigrams).
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// Layer (0-based).
    pub layer: usize,
    /// Neuron.
    pub neuron: u16,
    /// Unigram (token detector) or trigram.
    pub order: Order,
    /// Its covered n-grams, most frequent first.
    pub triggers: Vec<Trigger>,
    /// The neuron's activations its coverage is a share of (outside `</s>`; with
    /// `--ngram-denominator windowed`, only where the n-gram exists).
    pub activations: u64,
    /// Activations on the triggers.
    pub covered: u64,
    /// Its n-gram coverage count (§3.4).
    pub coverage_count: u32,
}

impl Detector {
    /// Share of the neuron's activations its triggers account for.
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.activations as f64
    }
}

/// Whether a neuron covered by `coverage_count` n-grams of `order` is a candidate detector
/// (step 1 of [`detect`]): covered by `1..=max` tokens or trigrams.
pub fn is_candidate(order: Order, coverage_count: u32, options: &DetectorOptions) -> bool {
    let max = match order {
        Order::Unigram => options.max_tokens,
        Order::Trigram => options.max_trigrams,
        Order::Bigram => return false,
    };
    (1..=max).contains(&coverage_count)
}

/// Decides whether a neuron is a detector of `order` (unigram or trigram).
///
/// `ngrams` are its (n-gram, fires) sorted by fires, most first ([`crate::coverage::by_count`]),
/// with the activations they are
/// a share of; `coverage_count` is their [`crate::coverage::coverage_count`]. Steps of §3.5:
/// (1) candidates are covered by `1..=max` n-grams; (2) an n-gram is a trigger when the neuron
/// fires on at least `trigger_share` of its occurrences (and it occurs at least
/// `min_occurrences` times); (3) the triggers account for at least `coverage_share` of the
/// activations.
pub fn detect(
    layer: usize,
    order: Order,
    ngrams: &NeuronNgrams<'_>,
    coverage_count: u32,
    tally: &CorpusTally,
    options: &DetectorOptions,
) -> Option<Detector> {
    if !is_candidate(order, coverage_count, options) {
        return None;
    }
    let activations = ngrams.activations;
    let triggers: Vec<Trigger> = (ngrams.counts.iter())
        .filter_map(|&(ngram, fires)| {
            let occurrences = tally.occurrences(order, ngram);
            (occurrences >= options.min_occurrences.max(1)
                && fires as f64 >= options.trigger_share * occurrences as f64)
                .then_some(Trigger {
                    ngram,
                    fires,
                    occurrences,
                })
        })
        .collect();
    let covered: u64 = triggers.iter().map(|t| t.fires).sum();
    (!triggers.is_empty() && covered as f64 >= options.coverage_share * activations as f64)
        .then_some(Detector {
            layer,
            neuron: ngrams.neuron,
            order,
            triggers,
            activations,
            covered,
            coverage_count,
        })
}

use census_format::analysis::tables::DetectedCoverage;

/// Coverage of each layer given the detected n-gram sets of consecutive layers, lowest first.
pub fn detected_coverage(per_layer: &[BTreeSet<u64>]) -> Vec<DetectedCoverage> {
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let mut previous: BTreeSet<u64> = BTreeSet::new();
    per_layer
        .iter()
        .map(|here| {
            let new_overall = here.difference(&seen).count() as u64;
            let new_vs_previous = here.difference(&previous).count() as u64;
            seen.extend(here.iter().copied());
            previous.clone_from(here);
            DetectedCoverage {
                detected: here.len() as u64,
                cumulative: seen.len() as u64,
                new_overall,
                new_vs_previous,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `counts` of `neuron`, their coverage a share of their own fires.
    fn ngrams(neuron: u16, counts: &[(u64, u64)]) -> NeuronNgrams<'_> {
        NeuronNgrams {
            neuron,
            counts,
            activations: counts.iter().map(|&(_, c)| c).sum(),
        }
    }

    /// A neuron that fires on every occurrence of its trigger but mostly where no trigram
    /// exists is a trigram detector only when those fires are left out of the denominator.
    #[test]
    fn fires_outside_any_window_count_against_a_detector_under_all() {
        let mut tally = CorpusTally::new(4, 64, true);
        let trigram = 5u64;
        tally.trigrams.as_mut().unwrap().insert(trigram, 10);
        let counts = [(trigram, 10)];
        let windowed = ngrams(3, &counts);
        let m = windowed.coverage_count(0.95).unwrap();
        assert!(detect(0, Order::Trigram, &windowed, m, &tally, &Default::default()).is_some());
        // 30 more fires at positions 1-2 of sequences, where no trigram exists.
        let all = NeuronNgrams {
            activations: 40,
            ..windowed
        };
        assert_eq!(all.coverage_count(0.95), None);
        assert!(detect(0, Order::Trigram, &all, m, &tally, &Default::default()).is_none());
    }

    fn tally(occurrences: &[(u32, u64)]) -> CorpusTally {
        let mut tally = CorpusTally::new(4, 64, false);
        for &(token, n) in occurrences {
            tally.tokens[token as usize] = n;
        }
        tally
    }

    #[test]
    fn a_neuron_firing_on_every_occurrence_of_two_tokens_detects_them() {
        let tally = tally(&[(10, 20), (11, 5), (12, 100)]);
        // Fires on all 20 "10", all 5 "11" and once on "12".
        let counts = [(10, 20), (11, 5), (12, 1)];
        let found = detect(
            0,
            Order::Unigram,
            &ngrams(7, &counts),
            2,
            &tally,
            &Default::default(),
        )
        .expect("a detector");
        let triggers: Vec<u64> = found.triggers.iter().map(|t| t.ngram).collect();
        assert_eq!(triggers, vec![10, 11]);
        assert_eq!((found.activations, found.covered), (26, 25));
    }

    #[test]
    fn a_token_fired_on_rarely_is_no_trigger() {
        // The neuron fires on every "10" it sees but "10" occurs 100 times.
        let tally = tally(&[(10, 100)]);
        assert!(
            detect(
                0,
                Order::Unigram,
                &ngrams(1, &[(10, 50)]),
                1,
                &tally,
                &Default::default()
            )
            .is_none()
        );
        // Too many covering tokens: not a candidate.
        let tally = tally_with_many();
        let counts: Vec<(u64, u64)> = (0..6).map(|t| (t, 10)).collect();
        assert!(
            detect(
                0,
                Order::Unigram,
                &ngrams(1, &counts),
                6,
                &tally,
                &Default::default()
            )
            .is_none()
        );
    }

    fn tally_with_many() -> CorpusTally {
        tally(&(0..6).map(|t| (t, 10)).collect::<Vec<_>>())
    }

    #[test]
    fn minimum_occurrences_filter_rare_triggers() {
        let tally = tally(&[(10, 1)]);
        let options = DetectorOptions {
            min_occurrences: 2,
            ..Default::default()
        };
        assert!(
            detect(
                0,
                Order::Unigram,
                &ngrams(1, &[(10, 1)]),
                1,
                &tally,
                &Default::default()
            )
            .is_some()
        );
        let rare = ngrams(1, &[(10, 1)]);
        assert!(detect(0, Order::Unigram, &rare, 1, &tally, &options).is_none());
    }

    #[test]
    fn coverage_across_layers_counts_new_tokens() {
        let layers: Vec<BTreeSet<u64>> = vec![
            [1, 2].into_iter().collect(),
            [2, 3].into_iter().collect(),
            [1, 4].into_iter().collect(),
        ];
        let c = detected_coverage(&layers);
        assert_eq!(
            c.iter()
                .map(|c| (c.detected, c.cumulative, c.new_overall, c.new_vs_previous))
                .collect::<Vec<_>>(),
            vec![(2, 2, 2, 2), (2, 3, 1, 1), (2, 4, 1, 2)]
        );
    }
}
