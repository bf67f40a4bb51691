//! How many n-grams it takes to cover a neuron's activations (§3.4): counts grouped by neuron,
//! the greedy coverage count, and the bins of Figs. 2, 12 and 13.

use std::ops::Range;

/// A (neuron, n-gram) table regrouped by neuron; each neuron's n-grams are sorted by count,
/// most frequent first (ties by n-gram key, so results are deterministic).
#[derive(Debug, Clone, Default)]
pub struct GroupedCounts {
    /// (n-gram, count) of all neurons, neuron by neuron.
    entries: Vec<(u64, u64)>,
    /// Each neuron with its slice of `entries`, by neuron.
    neurons: Vec<(u16, Range<usize>)>,
}

impl GroupedCounts {
    /// Groups (neuron, n-gram, count) triples by neuron.
    pub fn new(triples: impl Iterator<Item = (u16, u64, u64)>) -> Self {
        let mut keyed: Vec<(u16, u64, u64)> = triples.collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
        let mut neurons: Vec<(u16, Range<usize>)> = Vec::new();
        for (i, &(neuron, _, _)) in keyed.iter().enumerate() {
            match neurons.last_mut() {
                Some((n, range)) if *n == neuron => range.end = i + 1,
                _ => neurons.push((neuron, i..i + 1)),
            }
        }
        Self {
            entries: keyed.into_iter().map(|(_, g, c)| (g, c)).collect(),
            neurons,
        }
    }

    /// Groups (neuron, n-gram, count) triples that come in neuron order (as a sorted count table
    /// gives them): only each neuron's own list is sorted.
    pub fn from_neuron_order(triples: impl Iterator<Item = (u16, u64, u64)>) -> Self {
        let mut entries: Vec<(u64, u64)> = Vec::with_capacity(triples.size_hint().0);
        let mut neurons: Vec<(u16, Range<usize>)> = Vec::new();
        for (neuron, gram, count) in triples {
            let i = entries.len();
            entries.push((gram, count));
            match neurons.last_mut() {
                Some((n, range)) if *n == neuron => range.end = i + 1,
                Some((n, _)) if *n > neuron => panic!("triples out of neuron order"),
                _ => neurons.push((neuron, i..i + 1)),
            }
        }
        for (_, range) in &neurons {
            entries[range.clone()].sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        Self { entries, neurons }
    }

    /// Each neuron that fired on some n-gram, with its (n-gram, count) list, most frequent first.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[(u64, u64)])> {
        self.neurons
            .iter()
            .map(|(n, range)| (*n, &self.entries[range.clone()]))
    }

    /// The (n-gram, count) list of `neuron` (empty if it never fired on one).
    pub fn of(&self, neuron: u16) -> &[(u64, u64)] {
        match self.neurons.binary_search_by_key(&neuron, |(n, _)| *n) {
            Ok(i) => &self.entries[self.neurons[i].1.clone()],
            Err(_) => &[],
        }
    }
}

/// One neuron's n-grams of one order, and the activations their coverage is a share of.
#[derive(Debug, Clone, Copy)]
pub struct NeuronNgrams<'a> {
    /// The neuron.
    pub neuron: u16,
    /// Its (n-gram, fires), most frequent first.
    pub counts: &'a [(u64, u64)],
    /// The activations coverage is a share of: the fires in `counts` (`--ngram-denominator
    /// windowed`), or every fire outside the `</s>` prefix (`all`), which may be more.
    pub activations: u64,
}

impl NeuronNgrams<'_> {
    /// Its coverage count: see [`coverage_count`].
    pub fn coverage_count(&self, share: f64) -> Option<u32> {
        coverage_count(self.counts, self.activations, share)
    }
}

/// The smallest number of n-grams whose counts reach `share` of `activations`, taking the most
/// frequent first (which is optimal); 0 for a neuron that never fired; None when all of them
/// together fall short (the neuron fires too often where no n-gram of the order exists).
///
/// `counts` must be sorted by count, most frequent first.
pub fn coverage_count(counts: &[(u64, u64)], activations: u64, share: f64) -> Option<u32> {
    if activations == 0 {
        return Some(0);
    }
    let needed = share * activations as f64;
    let mut covered = 0u64;
    for (i, &(_, count)) in counts.iter().enumerate() {
        covered += count;
        if covered as f64 >= needed {
            return Some(i as u32 + 1);
        }
    }
    None
}

/// The bin of a coverage count: index `i` holds counts in `(edges[i-1], edges[i]]` (the first
/// bin starts at 1), and index `edges.len()` holds everything above the last edge.
pub fn bin_of(count: u32, edges: &[u32]) -> usize {
    edges.partition_point(|&edge| edge < count)
}

/// A readable label for bin `i` (`1-5`, `6-10`, ..., `>5000`).
pub fn bin_label(i: usize, edges: &[u32]) -> String {
    let low = if i == 0 { 1 } else { edges[i - 1] + 1 };
    match edges.get(i) {
        Some(&high) if high == low => format!("{low}"),
        Some(&high) => format!("{low}-{high}"),
        None => format!(">{}", low - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_takes_the_fewest_ngrams() {
        // 100 activations: 60 + 30 + 5 + 5 -> 3 n-grams reach 95.
        let counts = [(1, 60), (2, 30), (3, 5), (4, 5)];
        assert_eq!(coverage_count(&counts, 100, 0.95), Some(3));
        assert_eq!(coverage_count(&counts, 100, 0.9), Some(2));
        assert_eq!(coverage_count(&counts, 100, 1.0), Some(4));
        assert_eq!(coverage_count(&[], 0, 0.95), Some(0));
        // 19 of 20 is exactly 95%.
        assert_eq!(coverage_count(&[(1, 19), (2, 1)], 20, 0.95), Some(1));
        // Of 105 activations, 5 where no n-gram exists: 95% of 105 takes all four; 96% none.
        assert_eq!(coverage_count(&counts, 105, 0.95), Some(4));
        assert_eq!(coverage_count(&counts, 105, 0.96), None);
    }

    #[test]
    fn bins_follow_the_edges() {
        let edges = [5, 10, 20];
        assert_eq!(bin_of(1, &edges), 0);
        assert_eq!(bin_of(5, &edges), 0);
        assert_eq!(bin_of(6, &edges), 1);
        assert_eq!(bin_of(20, &edges), 2);
        assert_eq!(bin_of(21, &edges), 3);
        assert_eq!(bin_label(0, &edges), "1-5");
        assert_eq!(bin_label(2, &edges), "11-20");
        assert_eq!(bin_label(3, &edges), ">20");
    }

    #[test]
    fn grouping_sorts_each_neuron_by_count() {
        let grouped = GroupedCounts::new([(3, 7, 2), (3, 9, 5), (1, 4, 1)].into_iter());
        assert_eq!(grouped.of(3), &[(9, 5), (7, 2)]);
        assert_eq!(grouped.of(1), &[(4, 1)]);
        assert!(grouped.of(2).is_empty());
        assert_eq!(grouped.iter().count(), 2);
        let sorted =
            GroupedCounts::from_neuron_order([(1, 4, 1), (3, 7, 2), (3, 9, 5)].into_iter());
        assert_eq!(sorted.of(3), grouped.of(3));
        assert_eq!(sorted.of(1), grouped.of(1));
    }
}
