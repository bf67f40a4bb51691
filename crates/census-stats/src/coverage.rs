//! How many n-grams it takes to cover a neuron's activations (§3.4): the greedy coverage count,
//! and the bins of Figs. 2, 12 and 13.

/// Most frequent first, ties by n-gram key (so results are deterministic).
pub fn by_count(a: &(u64, u64), b: &(u64, u64)) -> std::cmp::Ordering {
    b.1.cmp(&a.1).then(a.0.cmp(&b.0))
}

/// One neuron's n-grams of one order, and the activations their coverage is a share of.
#[derive(Debug, Clone, Copy)]
pub struct NeuronNgrams<'a> {
    /// The neuron.
    pub neuron: u16,
    /// Its (n-gram, fires), in any order for [`Self::coverage_count`]; sorted [`by_count`] for
    /// [`crate::detectors::detect`].
    pub counts: &'a [(u64, u64)],
    /// The activations coverage is a share of: the fires in `counts` (`--ngram-denominator
    /// windowed`), or every fire outside the `</s>` prefix (`all`), which may be more.
    pub activations: u64,
}

impl NeuronNgrams<'_> {
    /// Its coverage count: see [`coverage_count`].
    pub fn coverage_count(&self, share: f64) -> Option<u32> {
        coverage_count(self.counts.iter().map(|&(_, c)| c), self.activations, share)
    }
}

/// The smallest number of n-grams whose counts reach `share` of `activations`, taking the most
/// frequent first (which is optimal); 0 for a neuron that never fired; None when all of them
/// together fall short (the neuron fires too often where no n-gram of the order exists).
///
/// `counts` (each n-gram's fires) may come in any order: they are taken largest first, the few
/// large ones sorted and the many small ones by a histogram of their values.
pub fn coverage_count(
    counts: impl IntoIterator<Item = u64>,
    activations: u64,
    share: f64,
) -> Option<u32> {
    /// Counts below this are taken by their histogram.
    const SMALL: usize = 64;
    if activations == 0 {
        return Some(0);
    }
    let needed = share * activations as f64;
    let mut small = [0u64; SMALL];
    let mut large: Vec<u64> = Vec::new();
    for count in counts {
        match usize::try_from(count) {
            Ok(c) if c < SMALL => small[c] += 1,
            _ => large.push(count),
        }
    }
    large.sort_unstable_by(|a, b| b.cmp(a));
    let (mut covered, mut taken) = (0u64, 0u64);
    for &count in &large {
        covered += count;
        taken += 1;
        if covered as f64 >= needed {
            return Some(taken as u32);
        }
    }
    for count in (1..SMALL as u64).rev() {
        let with = small[count as usize];
        if with == 0 {
            continue;
        }
        if ((covered + with * count) as f64) < needed {
            covered += with * count;
            taken += with;
            continue;
        }
        // The fewest `j` of these whose sum reaches the share, as adding them one by one finds.
        let reaches = |j: u64| (covered + j * count) as f64 >= needed;
        let mut j = (((needed - covered as f64) / count as f64).ceil().max(1.0) as u64).min(with);
        while j > 1 && reaches(j - 1) {
            j -= 1;
        }
        while !reaches(j) {
            j += 1;
        }
        return Some((taken + j) as u32);
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

    /// The fires of (n-gram, fires) pairs.
    fn fires(counts: &[(u64, u64)]) -> impl Iterator<Item = u64> + '_ {
        counts.iter().map(|&(_, c)| c)
    }

    #[test]
    fn coverage_takes_the_fewest_ngrams() {
        // 100 activations: 60 + 30 + 5 + 5 -> 3 n-grams reach 95.
        let counts = [(1, 60), (2, 30), (3, 5), (4, 5)];
        assert_eq!(coverage_count(fires(&counts), 100, 0.95), Some(3));
        assert_eq!(coverage_count(fires(&counts), 100, 0.9), Some(2));
        assert_eq!(coverage_count(fires(&counts), 100, 1.0), Some(4));
        assert_eq!(coverage_count([], 0, 0.95), Some(0));
        // 19 of 20 is exactly 95%.
        assert_eq!(coverage_count([19, 1], 20, 0.95), Some(1));
        // Of 105 activations, 5 where no n-gram exists: 95% of 105 takes all four; 96% none.
        assert_eq!(coverage_count(fires(&counts), 105, 0.95), Some(4));
        assert_eq!(coverage_count(fires(&counts), 105, 0.96), None);
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
    fn coverage_of_any_order_equals_taking_the_sorted_counts_one_by_one() {
        let one_by_one = |sorted: &[(u64, u64)], activations: u64, share: f64| {
            let mut covered = 0u64;
            for (i, &(_, count)) in sorted.iter().enumerate() {
                covered += count;
                if covered as f64 >= share * activations as f64 {
                    return Some(i as u32 + 1);
                }
            }
            None
        };
        let mut rng = census_testkit::SeededRng::new(7);
        let mut next = |below: u64| rng.below(below as usize) as u64;
        for case in 0..400 {
            // Heavy tails: mostly small counts, some above the histogram's range.
            let len = next(300) as usize;
            let counts: Vec<(u64, u64)> = (0..len as u64)
                .map(|g| {
                    (
                        g,
                        if next(10) == 0 {
                            64 + next(500)
                        } else {
                            1 + next(63)
                        },
                    )
                })
                .collect();
            let sum: u64 = counts.iter().map(|c| c.1).sum();
            let mut sorted = counts.clone();
            sorted.sort_unstable_by(by_count);
            for share in [0.5, 0.9, 0.95, 0.999, 1.0] {
                for activations in [sum, sum + next(sum.max(1)), sum.max(1)] {
                    assert_eq!(
                        coverage_count(fires(&counts), activations, share),
                        if activations == 0 {
                            Some(0)
                        } else {
                            one_by_one(&sorted, activations, share)
                        },
                        "case {case}, share {share}, {activations} activations"
                    );
                }
            }
        }
    }
}
