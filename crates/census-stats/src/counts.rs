//! The sparse count tables everything else is computed from: corpus tallies (token, trigram and
//! position occurrences) and, per layer, how often each neuron fires in total, on each n-gram and
//! at each position. All of them are partial-mergeable: counting parts separately and merging
//! gives exactly the counts of one pass.

use census_format::run::counts::DomainCounts;
use census_format::run::tables::ActivationRows;
use rustc_hash::FxHashMap;

use crate::coverage::GroupedCounts;
use crate::ngram::{TableCodes, pack};
use crate::part_data::{NO_NGRAM, PartTokens};
use crate::sorted_counts::{KeyLayout, SortedCounts};
use census_format::analysis::tables::Order;

/// Values a part holds that do not fit the run it belongs to, found while counting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountError {
    /// A token sits past the runs' longest sequence.
    #[error("position {position} beyond the longest sequence{}", longest.map(|n| format!(" ({n} tokens)")).unwrap_or_default())]
    PositionBeyondSequence {
        /// Its position.
        position: usize,
        /// The longest sequence, in tokens, where known.
        longest: Option<usize>,
    },
    /// A token id is outside the model's vocabulary.
    #[error("token id {token} is not below the vocabulary of {vocabulary}")]
    TokenBeyondVocabulary {
        /// The id.
        token: usize,
        /// The vocabulary's size.
        vocabulary: usize,
    },
    /// A token the corpus tally never saw (the tally and the counted parts differ).
    #[error("token id {token} is not among the tokens the corpus tally holds")]
    TokenNotTallied {
        /// The id.
        token: u32,
    },
    /// A fired neuron is outside the layer.
    #[error("neuron {neuron} recorded but layer {layer} has {ffn} neurons")]
    NeuronBeyondLayer {
        /// The neuron.
        neuron: u16,
        /// The layer.
        layer: usize,
        /// The layer's neurons.
        ffn: usize,
    },
    /// The n-gram tables were asked to key more neurons than their token codes leave room for.
    #[error(
        "the n-gram tables key {keyed} neurons at most with {bits}-bit token codes, not {width}"
    )]
    TablesTooWide {
        /// Neurons a key holds at most.
        keyed: usize,
        /// Bits of a token code.
        bits: u32,
        /// Neurons asked for.
        width: usize,
    },
    /// Recorded counts of another layer width.
    #[error("holds counts of {recorded} neurons but layer {layer} has {ffn}")]
    RecordedWidth {
        /// Neurons the counts hold.
        recorded: usize,
        /// The layer.
        layer: usize,
        /// The layer's neurons.
        ffn: usize,
    },
    /// Counts without positions where positions are counted.
    #[error("holds no counts by position")]
    NoPositionCounts,
    /// Recorded position counts past the runs' longest sequence.
    #[error("holds positions beyond the longest sequence")]
    RecordedPositionsBeyondSequence,
}

/// A count table keyed by packed (neuron, n-gram) or by n-gram.
pub type CountTable = FxHashMap<u64, u64>;

/// Bytes one table slot takes (a 16-byte entry and its control byte).
const SLOT_BYTES: usize = 17;

/// Approximate heap bytes of a table.
pub fn table_bytes(table: &CountTable) -> usize {
    table.capacity() * SLOT_BYTES
}

fn merge_tables(into: &mut CountTable, from: CountTable) {
    if into.len() < from.len() {
        let small = std::mem::replace(into, from);
        return merge_tables(into, small);
    }
    for (key, count) in from {
        *into.entry(key).or_insert(0) += count;
    }
}

fn add_vectors<T: Copy + std::ops::AddAssign>(into: &mut [T], from: &[T]) {
    for (a, &b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// Occurrences in the corpus, independent of any layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusTally {
    /// Rows (tokens), `</s>` prefixes included.
    pub rows: u64,
    /// Rows of the BOS (position 0 of sequences that start with one).
    pub bos_rows: u64,
    /// Sequences (rows at position 0).
    pub sequences: u64,
    /// Occurrences of each token id of the vocabulary outside the prefix.
    pub tokens: Vec<u64>,
    /// Occurrences of each trigram (when trigrams are counted).
    pub trigrams: Option<CountTable>,
    /// Rows at each position.
    pub positions: Vec<u64>,
}

impl CorpusTally {
    /// An empty tally of a vocabulary of `vocab` ids, for sequences of up to `positions` tokens.
    pub fn new(positions: usize, vocab: usize, count_trigrams: bool) -> Self {
        Self {
            rows: 0,
            bos_rows: 0,
            sequences: 0,
            tokens: vec![0; vocab],
            trigrams: count_trigrams.then(CountTable::default),
            positions: vec![0; positions],
        }
    }

    /// Counts a part.
    pub fn add_part(&mut self, part: &PartTokens) -> Result<(), CountError> {
        for i in 0..part.len() {
            let pos = usize::from(part.pos[i]);
            if pos >= self.positions.len() {
                return Err(CountError::PositionBeyondSequence {
                    position: pos,
                    longest: Some(self.positions.len()),
                });
            }
            self.positions[pos] += 1;
            if pos == 0 {
                self.sequences += 1;
            }
            if pos < usize::from(part.text_start) {
                self.bos_rows += 1;
                continue;
            }
            let token = part.token[i] as usize;
            let Some(count) = self.tokens.get_mut(token) else {
                return Err(CountError::TokenBeyondVocabulary {
                    token,
                    vocabulary: self.tokens.len(),
                });
            };
            *count += 1;
            if let Some(trigrams) = &mut self.trigrams
                && part.trigram[i] != NO_NGRAM
            {
                *trigrams.entry(part.trigram[i]).or_insert(0) += 1;
            }
        }
        self.rows += part.len() as u64;
        Ok(())
    }

    /// The codes of the tokens this corpus holds in the count tables.
    pub fn table_codes(&self) -> TableCodes {
        TableCodes::for_corpus(&self.tokens)
    }

    /// Adds another tally of disjoint parts.
    pub fn merge(&mut self, other: Self) {
        self.rows += other.rows;
        self.bos_rows += other.bos_rows;
        self.sequences += other.sequences;
        add_vectors(&mut self.tokens, &other.tokens);
        add_vectors(&mut self.positions, &other.positions);
        if let (Some(a), Some(b)) = (&mut self.trigrams, other.trigrams) {
            merge_tables(a, b);
        }
    }

    /// Occurrences of n-gram `key` of order `order` outside the prefix.
    pub fn occurrences(&self, order: Order, key: u64) -> u64 {
        match order {
            Order::Unigram => self.tokens.get(key as usize).copied().unwrap_or(0),
            Order::Trigram => self
                .trigrams
                .as_ref()
                .and_then(|t| t.get(&key).copied())
                .unwrap_or(0),
            Order::Bigram => 0,
        }
    }
}

/// Which tables a layer's counts hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountScope {
    /// (neuron, token) counts.
    pub unigrams: bool,
    /// (neuron, bigram) and (neuron, trigram) counts.
    pub bigrams_trigrams: bool,
    /// (position, neuron) counts for sequences of up to this many tokens.
    pub positions: Option<usize>,
}

impl CountScope {
    /// The highest n-gram order its tables count (their keys are sized for it).
    pub fn highest_order(&self) -> Order {
        if self.bigrams_trigrams {
            Order::Trigram
        } else {
            Order::Unigram
        }
    }
}

/// Counts of one layer's neurons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerCounts {
    /// The layer (0-based).
    pub layer: usize,
    /// Neurons in the layer.
    pub ffn: usize,
    /// Rows counted (BOS rows included).
    pub rows: u64,
    /// Fires of each neuron outside the BOS.
    pub fires: Vec<u64>,
    /// Fires of each neuron on the BOS (position 0 of sequences that start with one).
    pub fires_bos: Vec<u64>,
    /// (neuron, n-gram) fire counts by order (unigram, bigram, trigram), where counted.
    pub tables: [Option<SortedCounts>; 3],
    /// Fires at each position, `positions[pos * ffn + neuron]`, where counted.
    pub positions: Option<Vec<u32>>,
    /// The neurons the n-gram tables count (none: all), for tables counted range by range.
    pub table_neurons: Option<std::ops::Range<u32>>,
    /// The token codes of the n-gram tables' keys.
    pub codes: TableCodes,
    /// The highest order the tables count (their keys are sized for it).
    highest: Order,
    /// The dead neurons after the first part and each doubling of the rows since, and after
    /// the last part ([`Self::saturation_checkpoint`]).
    pub saturation: Vec<SaturationPoint>,
}

/// The dead neurons of a layer once `rows` rows were counted, under both readings of the
/// `</s>` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaturationPoint {
    /// Rows counted so far.
    pub rows: u64,
    /// Neurons that fired nowhere.
    pub dead_with_bos: u32,
    /// Neurons that fired nowhere outside the prefix.
    pub dead_without_bos: u32,
}

impl LayerCounts {
    /// Empty counts of `layer` with `ffn` neurons, the n-gram tables keyed by `codes` (which
    /// key every neuron of the layer only when it has at most [`TableCodes::table_neurons`];
    /// otherwise they count a range of neurons, [`Self::with_table_neurons`]).
    pub fn new(layer: usize, ffn: usize, scope: CountScope, codes: TableCodes) -> Self {
        let layout = KeyLayout {
            gram_bits: codes.gram_bits(scope.highest_order()),
            first_neuron: 0,
        };
        let table = |counted: bool| counted.then(|| SortedCounts::with_layout(layout));
        Self {
            layer,
            ffn,
            rows: 0,
            fires: vec![0; ffn],
            fires_bos: vec![0; ffn],
            tables: [
                table(scope.unigrams),
                table(scope.bigrams_trigrams),
                table(scope.bigrams_trigrams),
            ],
            positions: scope.positions.map(|len| vec![0; len * ffn]),
            table_neurons: None,
            codes,
            highest: scope.highest_order(),
            saturation: Vec::new(),
        }
    }

    /// Records the dead neurons after a part: after the first, whenever the rows counted have
    /// doubled since the last point, and after the `last`.
    pub fn saturation_checkpoint(&mut self, last: bool) {
        let due = match self.saturation.last() {
            None => self.rows > 0,
            Some(point) => self.rows >= 2 * point.rows || (last && self.rows > point.rows),
        };
        if !due {
            return;
        }
        let never = |fires: &mut dyn Iterator<Item = u64>| fires.filter(|&f| f == 0).count() as u32;
        let with_bos = never(&mut self.fires.iter().zip(&self.fires_bos).map(|(a, b)| a + b));
        let without_bos = never(&mut self.fires.iter().copied());
        self.saturation.push(SaturationPoint {
            rows: self.rows,
            dead_with_bos: with_bos,
            dead_without_bos: without_bos,
        });
    }

    /// The same counts with n-gram tables of the neurons in `range` only (at most
    /// [`TableCodes::table_neurons`] of them).
    pub fn with_table_neurons(mut self, range: std::ops::Range<u32>) -> Self {
        let layout = KeyLayout {
            gram_bits: self.codes.gram_bits(self.highest),
            first_neuron: u16::try_from(range.start).expect("a neuron index fits 16 bits"),
        };
        for table in self.tables.iter_mut().flatten() {
            *table = SortedCounts::with_layout(layout);
        }
        self.table_neurons = Some(range);
        self
    }

    /// Neurons the n-gram tables count.
    fn table_width(&self) -> usize {
        self.table_neurons.as_ref().map_or(self.ffn, |r| r.len())
    }

    /// The (neuron, n-gram, fires) counts of `order` grouped by neuron, if counted, n-grams packed
    /// by [`pack`]; the table is handed over (it is as large as the grouping).
    pub fn take_grouped(&mut self, order: Order) -> Option<GroupedCounts> {
        let codes = &self.codes;
        self.tables[order as usize].take().map(|t| {
            GroupedCounts::from_neuron_order(
                t.into_sorted()
                    .map(|(neuron, key, fires)| (neuron, codes.decode(key, order.n()), fires)),
            )
        })
    }

    /// Keeps each table's buffer of unsorted keys within `bytes`.
    pub fn limit_buffers(&mut self, bytes: usize) {
        for table in self.tables.iter_mut().flatten() {
            table.limit_buffer(bytes / 8);
        }
    }

    /// Merges each table into one run (as counting ends).
    pub fn compact(&mut self) {
        self.tables
            .iter_mut()
            .flatten()
            .for_each(SortedCounts::compact);
    }

    /// Counts one part; `acts` must have the rows of `tokens` (see
    /// [`crate::part_data::read_layer_part`]).
    pub fn add_part(
        &mut self,
        tokens: &PartTokens,
        acts: &ActivationRows,
    ) -> Result<(), CountError> {
        let ffn = self.ffn;
        let keyed = self.codes.table_neurons(self.highest);
        if self.tables.iter().any(Option::is_some) && self.table_width() > keyed {
            return Err(CountError::TablesTooWide {
                keyed,
                bits: self.codes.bits(),
                width: self.table_width(),
            });
        }
        for row in 0..tokens.len() {
            let fired = acts.neurons_of(row);
            if let Some(&bad) = fired.iter().find(|&&n| usize::from(n) >= ffn) {
                return Err(CountError::NeuronBeyondLayer {
                    neuron: bad,
                    layer: self.layer,
                    ffn,
                });
            }
            let pos = usize::from(tokens.pos[row]);
            if let Some(positions) = &mut self.positions {
                let base = pos * ffn;
                if base >= positions.len() {
                    return Err(CountError::PositionBeyondSequence {
                        position: pos,
                        longest: None,
                    });
                }
                for &n in fired {
                    positions[base + usize::from(n)] += 1;
                }
            }
            if pos < usize::from(tokens.text_start) {
                for &n in fired {
                    self.fires_bos[usize::from(n)] += 1;
                }
                continue;
            }
            for &n in fired {
                self.fires[usize::from(n)] += 1;
            }
            let grams = [
                pack(&[tokens.token[row]]),
                tokens.bigram[row],
                tokens.trigram[row],
            ];
            for ((table, gram), n) in self.tables.iter_mut().zip(grams).zip(1..) {
                if let Some(table) = table
                    && gram != NO_NGRAM
                {
                    let key = self
                        .codes
                        .encode(gram, n)
                        .ok_or(CountError::TokenNotTallied {
                            token: tokens.token[row],
                        })?;
                    match &self.table_neurons {
                        None => table.add_row(key, fired.iter().copied()),
                        Some(range) => table.add_row(
                            key,
                            fired
                                .iter()
                                .copied()
                                .filter(|&n| range.contains(&u32::from(n))),
                        ),
                    }
                }
            }
        }
        self.rows += tokens.len() as u64;
        Ok(())
    }

    /// Counts `tokens` tokens whose fires a counts run recorded as `counts` (one domain of one
    /// part); the n-gram tables are untouched, and position counts are taken only where this
    /// layer counts positions. The fires it recorded at position 0 are the BOS's when the text
    /// starts at position 1 (`text_start`), and text's otherwise.
    pub fn add_recorded(
        &mut self,
        counts: &DomainCounts,
        tokens: u64,
        text_start: u16,
    ) -> Result<(), CountError> {
        if counts.ffn() != self.ffn {
            return Err(CountError::RecordedWidth {
                recorded: counts.ffn(),
                layer: self.layer,
                ffn: self.ffn,
            });
        }
        add_vectors(&mut self.fires, &counts.fires);
        if text_start == 0 {
            add_vectors(&mut self.fires, &counts.fires_bos);
        } else {
            add_vectors(&mut self.fires_bos, &counts.fires_bos);
        }
        if let Some(positions) = &mut self.positions {
            let recorded = counts
                .positions
                .as_ref()
                .ok_or(CountError::NoPositionCounts)?;
            if recorded.len() > positions.len() {
                return Err(CountError::RecordedPositionsBeyondSequence);
            }
            add_vectors(positions, recorded);
        }
        self.rows += tokens;
        Ok(())
    }

    /// Adds the counts of disjoint parts of the same layer. The saturation points are dropped:
    /// they need the fires of the parts read before each point, which `other` does not hold.
    pub fn merge(&mut self, other: Self) {
        assert_eq!(
            (self.layer, self.ffn),
            (other.layer, other.ffn),
            "merging counts of different layers"
        );
        assert_eq!(
            (&self.codes, &self.table_neurons),
            (&other.codes, &other.table_neurons),
            "merging counts of differently keyed tables"
        );
        self.rows += other.rows;
        self.saturation.clear();
        add_vectors(&mut self.fires, &other.fires);
        add_vectors(&mut self.fires_bos, &other.fires_bos);
        for (a, b) in self.tables.iter_mut().zip(other.tables) {
            if let (Some(a), Some(b)) = (a.as_mut(), b) {
                a.merge(b);
            }
        }
        if let (Some(a), Some(b)) = (&mut self.positions, &other.positions) {
            add_vectors(a, b);
        }
    }

    /// Approximate heap bytes of the n-gram tables (cheap: no entry is visited).
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().flatten().map(SortedCounts::bytes).sum()
    }

    /// Entries of the n-gram tables.
    pub fn table_entries(&self) -> usize {
        self.tables.iter().flatten().map(SortedCounts::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One sequence of three tokens after a BOS.
    fn part() -> PartTokens {
        PartTokens::new(vec![0; 4], vec![0, 1, 2, 3], vec![2, 10, 11, 12], 1)
    }

    #[test]
    fn values_that_do_not_fit_the_run_are_typed_counting_errors() {
        let mut tally = CorpusTally::new(3, 64, true);
        assert_eq!(
            tally.add_part(&part()),
            Err(CountError::PositionBeyondSequence {
                position: 3,
                longest: Some(3),
            })
        );
        let mut small = CorpusTally::new(8, 11, false);
        let e = small.add_part(&part()).unwrap_err();
        assert_eq!(
            e,
            CountError::TokenBeyondVocabulary {
                token: 11,
                vocabulary: 11
            }
        );
        assert_eq!(
            e.to_string(),
            "token id 11 is not below the vocabulary of 11"
        );

        let scope = CountScope {
            unigrams: true,
            bigrams_trigrams: false,
            positions: Some(8),
        };
        let mut counts = LayerCounts::new(2, 4, scope, TableCodes::identity());
        let acts = ActivationRows {
            seq: vec![0; 4],
            pos: vec![0, 1, 2, 3],
            offsets: vec![0, 1, 2, 3, 4],
            neurons: vec![0, 1, 7, 2],
        };
        let e = counts.add_part(&part(), &acts).unwrap_err();
        assert_eq!(
            e,
            CountError::NeuronBeyondLayer {
                neuron: 7,
                layer: 2,
                ffn: 4
            }
        );
        assert_eq!(e.to_string(), "neuron 7 recorded but layer 2 has 4 neurons");
    }
}
