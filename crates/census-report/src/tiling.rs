//! Whether position ranges tile a span of positions (paper Fig. 9): every position covered by
//! some neuron, and no neuron whose positions the others cover already.

/// How a set of neurons' ranges covers a span of positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiling {
    /// Positions in the span.
    pub positions: usize,
    /// Positions covered by at least one neuron.
    pub covered: usize,
    /// Indices of the neurons whose every position another neuron covers too.
    pub redundant: Vec<usize>,
}

impl Tiling {
    /// Reads how `neurons` (each a list of ranges `[start, end)`) cover the positions
    /// `[span.0, span.1)`.
    pub fn of(neurons: &[Vec<(u16, u16)>], span: (u16, u16)) -> Self {
        let (first, end) = (usize::from(span.0), usize::from(span.1.max(span.0)));
        let mut cover = vec![0usize; end - first];
        let clipped = |&(a, b): &(u16, u16)| {
            let a = usize::from(a).clamp(first, end);
            let b = usize::from(b).clamp(first, end);
            (a - first)..(b.max(a) - first)
        };
        for ranges in neurons {
            let mut own = vec![false; cover.len()];
            for range in ranges.iter().map(clipped) {
                own[range].iter_mut().for_each(|p| *p = true);
            }
            for (c, _) in cover.iter_mut().zip(&own).filter(|(_, o)| **o) {
                *c += 1;
            }
        }
        let redundant = neurons
            .iter()
            .enumerate()
            .filter(|(_, ranges)| {
                ranges
                    .iter()
                    .map(clipped)
                    .all(|range| cover[range].iter().all(|&c| c >= 2))
            })
            .map(|(i, _)| i)
            .collect();
        Tiling {
            positions: cover.len(),
            covered: cover.iter().filter(|&&c| c > 0).count(),
            redundant,
        }
    }

    /// Every position covered and no neuron redundant.
    pub fn tiles(&self) -> bool {
        self.covered == self.positions && self.redundant.is_empty()
    }

    /// `"covers 2047 of 2047 positions, none redundant"`.
    pub fn describe(&self) -> String {
        let redundant = match self.redundant.len() {
            0 => "none redundant".to_string(),
            n => format!("{n} redundant"),
        };
        format!(
            "covers {} of {} positions, {redundant}",
            self.covered, self.positions
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_ranges_tile_the_span_without_redundancy() {
        let neurons = vec![vec![(1, 4), (7, 10)], vec![(4, 7), (10, 12)]];
        let t = Tiling::of(&neurons, (1, 12));
        assert_eq!((t.positions, t.covered), (11, 11));
        assert!(t.redundant.is_empty());
        assert!(t.tiles());
        assert_eq!(t.describe(), "covers 11 of 11 positions, none redundant");
    }

    #[test]
    fn a_gap_or_a_neuron_the_others_cover_breaks_the_tiling() {
        let gap = Tiling::of(&[vec![(1, 4)], vec![(5, 12)]], (1, 12));
        assert_eq!(gap.covered, 10);
        assert!(!gap.tiles());
        // The second neuron's positions all lie in the first's or the third's.
        let neurons = vec![vec![(1, 6)], vec![(4, 8)], vec![(6, 12)]];
        let redundant = Tiling::of(&neurons, (1, 12));
        assert_eq!(redundant.covered, 11);
        assert_eq!(redundant.redundant, vec![1]);
        assert!(!redundant.tiles());
        // A neuron without ranges adds nothing, so it is redundant too.
        let empty = Tiling::of(&[vec![(1, 12)], vec![]], (1, 12));
        assert_eq!(empty.redundant, vec![1]);
    }

    #[test]
    fn ranges_outside_the_span_are_clipped() {
        let t = Tiling::of(&[vec![(0, 5)], vec![(5, 40)]], (1, 12));
        assert_eq!((t.positions, t.covered), (11, 11));
        assert!(t.tiles());
    }
}
