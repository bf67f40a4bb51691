//! (neuron, token) fire counts stored token-major: each token owns a small table of the neurons
//! that fired on it, so the ~100 increments of one row land in one compact table instead of ~100
//! random places of a big one. A token's table turns dense (one counter per neuron) once a
//! quarter of the neurons have fired on it.

use rustc_hash::FxHashMap;

use crate::ngram::MAX_VOCAB;

/// The neurons that fired on one token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenTable {
    /// neuron → fires.
    Sparse(FxHashMap<u16, u32>),
    /// fires of every neuron.
    Dense(Box<[u32]>),
}

impl Default for TokenTable {
    fn default() -> Self {
        Self::Sparse(FxHashMap::default())
    }
}

/// (neuron, token) fire counts of one layer. Partial-mergeable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCounts {
    ffn: usize,
    tokens: Vec<TokenTable>,
}

impl TokenCounts {
    /// Empty counts for a layer of `ffn` neurons.
    pub fn new(ffn: usize) -> Self {
        Self {
            ffn,
            tokens: vec![TokenTable::default(); MAX_VOCAB],
        }
    }

    /// Counts one row: `token` with its fired `neurons` (all `< ffn`).
    #[inline]
    pub fn add_row(&mut self, token: u32, neurons: &[u16]) {
        self.add_counts(token, neurons.iter().map(|&n| (n, 1)));
    }

    fn add_counts(&mut self, token: u32, counts: impl IntoIterator<Item = (u16, u32)>) {
        let ffn = self.ffn;
        let table = &mut self.tokens[token as usize];
        match table {
            TokenTable::Dense(dense) => {
                for (n, c) in counts {
                    dense[usize::from(n)] += c;
                }
            }
            TokenTable::Sparse(sparse) => {
                for (n, c) in counts {
                    *sparse.entry(n).or_insert(0) += c;
                }
                if sparse.len() * 4 > ffn {
                    let mut dense = vec![0u32; ffn].into_boxed_slice();
                    for (&n, &c) in sparse.iter() {
                        dense[usize::from(n)] = c;
                    }
                    *table = TokenTable::Dense(dense);
                }
            }
        }
    }

    /// Adds the counts of disjoint parts.
    pub fn merge(&mut self, other: Self) {
        for (token, table) in other.tokens.into_iter().enumerate() {
            match table {
                TokenTable::Sparse(sparse) if sparse.is_empty() => {}
                TokenTable::Sparse(sparse) => self.add_counts(token as u32, sparse),
                TokenTable::Dense(dense) => self.add_counts(
                    token as u32,
                    dense
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c > 0)
                        .map(|(n, &c)| (n as u16, c)),
                ),
            }
        }
    }

    /// Every (neuron, token, fires) with fires > 0, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64, u64)> + '_ {
        self.tokens.iter().enumerate().flat_map(
            |(token, table)| -> Box<dyn Iterator<Item = (u16, u64, u64)> + '_> {
                let t = token as u64;
                match table {
                    TokenTable::Sparse(s) => {
                        Box::new(s.iter().map(move |(&n, &c)| (n, t, u64::from(c))))
                    }
                    TokenTable::Dense(d) => Box::new(
                        d.iter()
                            .enumerate()
                            .filter(|(_, c)| **c > 0)
                            .map(move |(n, &c)| (n as u16, t, u64::from(c))),
                    ),
                }
            },
        )
    }

    /// Distinct (neuron, token) pairs held (dense tables count their non-zero entries).
    pub fn len(&self) -> usize {
        self.iter_tables()
            .map(|t| match t {
                TokenTable::Sparse(s) => s.len(),
                TokenTable::Dense(d) => d.iter().filter(|c| **c > 0).count(),
            })
            .sum()
    }

    /// Whether no neuron has fired on any token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        self.tokens.len() * std::mem::size_of::<TokenTable>()
            + self
                .iter_tables()
                .map(|t| match t {
                    // A 6-byte entry padded to 8, and its control byte.
                    TokenTable::Sparse(s) => s.capacity() * 9,
                    TokenTable::Dense(d) => d.len() * 4,
                })
                .sum::<usize>()
    }

    fn iter_tables(&self) -> impl Iterator<Item = &TokenTable> {
        self.tokens.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_tables_count_alike() {
        let mut counts = TokenCounts::new(8);
        counts.add_row(5, &[1, 2]);
        counts.add_row(5, &[2]);
        // Token 7 goes dense after three distinct neurons (3 * 4 > 8).
        counts.add_row(7, &[0, 3, 6]);
        counts.add_row(7, &[3]);
        let mut all: Vec<_> = counts.iter().collect();
        all.sort();
        assert_eq!(
            all,
            vec![(0, 7, 1), (1, 5, 1), (2, 5, 2), (3, 7, 2), (6, 7, 1)]
        );
        assert_eq!(counts.len(), 5);

        let mut other = TokenCounts::new(8);
        other.add_row(7, &[6]);
        other.add_row(9, &[4]);
        counts.merge(other);
        let mut all: Vec<_> = counts.iter().collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                (0, 7, 1),
                (1, 5, 1),
                (2, 5, 2),
                (3, 7, 2),
                (4, 9, 1),
                (6, 7, 2)
            ]
        );
    }
}
