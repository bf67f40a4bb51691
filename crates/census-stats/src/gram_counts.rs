//! (neuron, n-gram) fire counts stored n-gram-major: each n-gram owns a small table of the
//! neurons that fired on it, so the ~100 increments of one row land in one compact table instead
//! of ~100 random places of a big one. A table turns dense (one counter per neuron) once a
//! quarter of the neurons have fired on its n-gram. Tokens index their tables directly; bigrams
//! and trigrams through a hash map.

use rustc_hash::FxHashMap;

use crate::ngram::MAX_VOCAB;

/// The neurons that fired on one n-gram.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NeuronTable {
    /// neuron → fires.
    Sparse(FxHashMap<u16, u32>),
    /// fires of every neuron.
    Dense(Box<[u32]>),
}

impl Default for NeuronTable {
    fn default() -> Self {
        Self::Sparse(FxHashMap::default())
    }
}

/// (neuron, n-gram) fire counts of one layer. Partial-mergeable.
#[derive(Debug, Clone)]
pub struct GramCounts {
    ffn: usize,
    /// N-gram → index into `tables`; `None` when n-grams are token ids indexing directly.
    index: Option<FxHashMap<u64, u32>>,
    /// The n-gram of each table.
    grams: Vec<u64>,
    tables: Vec<NeuronTable>,
}

impl PartialEq for GramCounts {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |c: &Self| {
            let mut all: Vec<_> = c.iter().collect();
            all.sort_unstable();
            all
        };
        self.ffn == other.ffn && sorted(self) == sorted(other)
    }
}

impl Eq for GramCounts {}

impl GramCounts {
    /// Empty (neuron, token) counts for a layer of `ffn` neurons.
    pub fn tokens(ffn: usize) -> Self {
        Self {
            ffn,
            index: None,
            grams: (0..MAX_VOCAB as u64).collect(),
            tables: vec![NeuronTable::default(); MAX_VOCAB],
        }
    }

    /// Empty (neuron, packed n-gram) counts for a layer of `ffn` neurons.
    pub fn ngrams(ffn: usize) -> Self {
        Self {
            ffn,
            index: Some(FxHashMap::default()),
            grams: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Counts one row: n-gram `gram` with its fired `neurons` (all `< ffn`).
    #[inline]
    pub fn add_row(&mut self, gram: u64, neurons: &[u16]) {
        self.add_counts(gram, neurons.iter().map(|&n| (n, 1)));
    }

    fn table_of(&mut self, gram: u64) -> &mut NeuronTable {
        let slot = match &mut self.index {
            None => gram as usize,
            Some(index) => {
                let next = self.grams.len() as u32;
                let slot = *index.entry(gram).or_insert(next);
                if slot == next {
                    self.grams.push(gram);
                    self.tables.push(NeuronTable::default());
                }
                slot as usize
            }
        };
        &mut self.tables[slot]
    }

    fn add_counts(&mut self, gram: u64, counts: impl IntoIterator<Item = (u16, u32)>) {
        let ffn = self.ffn;
        let table = self.table_of(gram);
        match table {
            NeuronTable::Dense(dense) => {
                for (n, c) in counts {
                    dense[usize::from(n)] += c;
                }
            }
            NeuronTable::Sparse(sparse) => {
                for (n, c) in counts {
                    *sparse.entry(n).or_insert(0) += c;
                }
                if sparse.len() * 4 > ffn {
                    let mut dense = vec![0u32; ffn].into_boxed_slice();
                    for (&n, &c) in sparse.iter() {
                        dense[usize::from(n)] = c;
                    }
                    *table = NeuronTable::Dense(dense);
                }
            }
        }
    }

    /// Adds the counts of disjoint parts.
    pub fn merge(&mut self, other: Self) {
        for (gram, table) in other.grams.into_iter().zip(other.tables) {
            match table {
                NeuronTable::Sparse(sparse) if sparse.is_empty() => {}
                NeuronTable::Sparse(sparse) => self.add_counts(gram, sparse),
                NeuronTable::Dense(dense) => self.add_counts(
                    gram,
                    dense
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c > 0)
                        .map(|(n, &c)| (n as u16, c)),
                ),
            }
        }
    }

    /// Every (neuron, n-gram, fires) with fires > 0, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64, u64)> + '_ {
        self.grams.iter().zip(&self.tables).flat_map(
            |(&t, table)| -> Box<dyn Iterator<Item = (u16, u64, u64)> + '_> {
                match table {
                    NeuronTable::Sparse(s) => {
                        Box::new(s.iter().map(move |(&n, &c)| (n, t, u64::from(c))))
                    }
                    NeuronTable::Dense(d) => Box::new(
                        d.iter()
                            .enumerate()
                            .filter(|(_, c)| **c > 0)
                            .map(move |(n, &c)| (n as u16, t, u64::from(c))),
                    ),
                }
            },
        )
    }

    /// Distinct (neuron, n-gram) pairs held (dense tables count their non-zero entries).
    pub fn len(&self) -> usize {
        self.iter_tables()
            .map(|t| match t {
                NeuronTable::Sparse(s) => s.len(),
                NeuronTable::Dense(d) => d.iter().filter(|c| **c > 0).count(),
            })
            .sum()
    }

    /// Whether no neuron has fired on any n-gram.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        self.tables.len() * (std::mem::size_of::<NeuronTable>() + 8)
            + self.index.as_ref().map_or(0, |i| i.capacity() * 13)
            + self
                .iter_tables()
                .map(|t| match t {
                    // A 6-byte entry padded to 8, and its control byte.
                    NeuronTable::Sparse(s) => s.capacity() * 9,
                    NeuronTable::Dense(d) => d.len() * 4,
                })
                .sum::<usize>()
    }

    fn iter_tables(&self) -> impl Iterator<Item = &NeuronTable> {
        self.tables.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_tables_count_alike() {
        let mut counts = GramCounts::tokens(8);
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

        let mut other = GramCounts::tokens(8);
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

#[cfg(test)]
mod hashed_tests {
    use super::*;

    #[test]
    fn hashed_ngrams_merge_like_one_pass() {
        let rows: Vec<(u64, Vec<u16>)> = (0..200u64)
            .map(|i| (1_000_000 + i % 17, (0..(i % 5) as u16).collect()))
            .collect();
        let mut whole = GramCounts::ngrams(8);
        let (mut a, mut b) = (GramCounts::ngrams(8), GramCounts::ngrams(8));
        for (i, (gram, fired)) in rows.iter().enumerate() {
            whole.add_row(*gram, fired);
            if i % 3 == 0 { &mut a } else { &mut b }.add_row(*gram, fired);
        }
        a.merge(b);
        assert_eq!(a, whole);
        assert_eq!(
            whole.iter().map(|(_, _, c)| c).sum::<u64>(),
            rows.iter().map(|r| r.1.len() as u64).sum::<u64>()
        );
    }
}
