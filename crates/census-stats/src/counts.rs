//! The sparse count tables everything else is computed from: corpus tallies (token, trigram and
//! position occurrences) and, per layer, how often each neuron fires in total, on each n-gram and
//! at each position. All of them are partial-mergeable: counting parts separately and merging
//! gives exactly the counts of one pass.

use census_format::run::counts::DomainCounts;
use census_format::run::tables::ActivationRows;
use rustc_hash::FxHashMap;

use crate::contexts::FirstPlaces;
use crate::ngram::{TOKEN_BITS, TOKEN_MASK, TableCodes};
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
    /// The first places each neuron fires, this many of each (0: none), for the example
    /// contexts ([`FirstPlaces`]).
    pub contexts: usize,
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
    /// (neuron, n-gram) fire counts of every order counted, in one table: each row's fired
    /// neurons keyed with the codes of its token, the one before and the one before that,
    /// newest first ([`TableCodes::none`] where there is none), up to the highest order. Each
    /// order's counts are sums over a prefix of the key ([`NgramTable::by_neuron`]).
    pub table: Option<SortedCounts>,
    /// The orders the table counts (unigram, bigram, trigram).
    orders: [bool; 3],
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
    /// The first places each neuron fired, where gathered ([`CountScope::contexts`]); the
    /// counting adds each part's as it reads it.
    pub places: Option<FirstPlaces>,
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
        let orders = [
            scope.unigrams,
            scope.bigrams_trigrams,
            scope.bigrams_trigrams,
        ];
        Self {
            layer,
            ffn,
            rows: 0,
            fires: vec![0; ffn],
            fires_bos: vec![0; ffn],
            table: orders
                .contains(&true)
                .then(|| SortedCounts::with_layout(layout)),
            orders,
            positions: scope.positions.map(|len| vec![0; len * ffn]),
            table_neurons: None,
            codes,
            highest: scope.highest_order(),
            saturation: Vec::new(),
            places: (scope.contexts > 0).then(|| FirstPlaces::new(ffn, scope.contexts)),
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
        if let Some(table) = &mut self.table {
            *table = SortedCounts::with_layout(layout);
        }
        self.table_neurons = Some(range);
        self
    }

    /// Neurons the n-gram tables count.
    fn table_width(&self) -> usize {
        self.table_neurons.as_ref().map_or(self.ffn, |r| r.len())
    }

    /// The orders the n-gram table counts (none once it was taken).
    pub fn table_orders(&self) -> [bool; 3] {
        if self.table.is_some() {
            self.orders
        } else {
            [false; 3]
        }
    }

    /// Takes the n-gram table out (it is read neuron by neuron: [`NgramTable::by_neuron`]).
    pub fn take_table(&mut self) -> Option<NgramTable> {
        Some(NgramTable {
            table: self.table.take()?,
            orders: self.orders,
            codes: self.codes.clone(),
            highest: self.highest,
        })
    }

    /// Keeps the table's buffer of unsorted keys within `bytes`.
    pub fn limit_buffers(&mut self, bytes: usize) {
        if let Some(table) = &mut self.table {
            table.limit_buffer(bytes);
        }
    }

    /// Merges the table's runs into one as counting ends ([`SortedCounts::finish`]).
    pub fn compact(&mut self) {
        if let Some(table) = &mut self.table {
            table.finish();
        }
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
        if self.table.is_some() && self.table_width() > keyed {
            return Err(CountError::TablesTooWide {
                keyed,
                bits: self.codes.bits(),
                width: self.table_width(),
            });
        }
        if let Some(table) = &mut self.table {
            table.reserve(tokens.len(), acts.neurons.len());
        }
        for row in 0..tokens.len() {
            let fired = acts.neurons_of(row);
            if fired.iter().max().is_some_and(|&n| usize::from(n) >= ffn) {
                let bad = fired.iter().find(|&&n| usize::from(n) >= ffn);
                return Err(CountError::NeuronBeyondLayer {
                    neuron: *bad.expect("a neuron beyond the layer"),
                    layer: self.layer,
                    ffn,
                });
            }
            let pos = usize::from(tokens.pos[row]);
            let in_prefix = pos < usize::from(tokens.text_start);
            let fires = if in_prefix {
                &mut self.fires_bos
            } else {
                &mut self.fires
            };
            match &mut self.positions {
                Some(positions) => {
                    let base = pos * ffn;
                    let Some(at_pos) = positions.get_mut(base..base + ffn) else {
                        return Err(CountError::PositionBeyondSequence {
                            position: pos,
                            longest: None,
                        });
                    };
                    for &n in fired {
                        at_pos[usize::from(n)] += 1;
                        fires[usize::from(n)] += 1;
                    }
                }
                None => {
                    for &n in fired {
                        fires[usize::from(n)] += 1;
                    }
                }
            }
            if in_prefix {
                continue;
            }
            let Some(table) = &mut self.table else {
                continue;
            };
            let Some(gram) = table_gram(&self.codes, self.highest, tokens, row)? else {
                continue;
            };
            let none = self.codes.none();
            let no_bigram =
                self.highest == Order::Trigram && (gram >> self.codes.bits()) & none == none;
            if no_bigram && !self.orders[0] {
                continue; // no n-gram of an order the table counts
            }
            match &self.table_neurons {
                None => table.add_row(gram, fired.iter().copied()),
                Some(range) => table.add_row(
                    gram,
                    fired
                        .iter()
                        .copied()
                        .filter(|&n| range.contains(&u32::from(n))),
                ),
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

    /// Adds the counts of disjoint parts of the same layer. The saturation points and the first
    /// places are dropped: they need the parts read before each point, or before each place,
    /// which `other` does not hold.
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
        self.places = None;
        add_vectors(&mut self.fires, &other.fires);
        add_vectors(&mut self.fires_bos, &other.fires_bos);
        if let (Some(a), Some(b)) = (&mut self.table, other.table) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.positions, &other.positions) {
            add_vectors(a, b);
        }
    }

    /// Approximate heap bytes of the n-gram table (cheap: no entry is visited).
    pub fn table_bytes(&self) -> usize {
        self.table.as_ref().map_or(0, SortedCounts::bytes)
    }

    /// Entries of the n-gram table.
    pub fn table_entries(&self) -> usize {
        self.table.as_ref().map_or(0, SortedCounts::len)
    }
}

/// A layer's n-gram table taken out of its counts ([`LayerCounts::take_table`]).
pub struct NgramTable {
    table: SortedCounts,
    orders: [bool; 3],
    codes: TableCodes,
    highest: Order,
}

impl NgramTable {
    /// Walks the table neuron by neuron. `visit` gets each neuron that fired
    /// where an n-gram of a counted order exists, in neuron order, with its n-grams of each
    /// order ([`OrderSums`]): the sums of the table's entries over each prefix of `n` codes
    /// that names a token at every place, in the order of the codes newest first. An order's
    /// fires are empty where the table does not count it ([`LayerCounts::table_orders`]) or
    /// where the neuron fired on no n-gram of that order.
    pub fn by_neuron(self, mut visit: impl FnMut(u16, OrderSums<'_>)) {
        let codes = &self.codes;
        let highest = self.highest.n();
        let layout = PrefixLayout {
            codes,
            // Each order's prefix of a key's codes.
            shifts: std::array::from_fn(|order| {
                codes.bits() * highest.saturating_sub(order + 1) as u32
            }),
        };
        let counted: Vec<Order> = Order::ALL
            .into_iter()
            .filter(|&order| self.orders[order as usize])
            .collect();
        let mut coded: [Vec<(u64, u64)>; 3] = Default::default();
        self.table.by_neuron(|neuron, grams, counts| {
            for &order in &counted {
                let list = &mut coded[order as usize];
                list.clear();
                layout.prefix_sums(grams, counts, order, |prefix, f| list.push((prefix, f)));
            }
            visit(
                neuron,
                OrderSums {
                    coded: [&coded[0], &coded[1], &coded[2]],
                    codes,
                },
            );
        });
    }
}

/// Where each order's n-gram lies in a table key's codes.
#[derive(Clone, Copy)]
struct PrefixLayout<'a> {
    codes: &'a TableCodes,
    /// By order: the shift that leaves a key's `n` newest codes.
    shifts: [u32; 3],
}

impl PrefixLayout<'_> {
    /// The sums of `counts` over each prefix of `order`'s codes among the sorted `grams`, each
    /// prefix that names a token at every place (the oldest code is none where the rows had no
    /// n-gram of the order) passed to `emit` with its fires. Keys sort by codes newest first, so
    /// a prefix's entries are consecutive.
    #[inline]
    fn prefix_sums(
        &self,
        grams: &[u64],
        counts: &[u32],
        order: Order,
        mut emit: impl FnMut(u64, u64),
    ) {
        let (shift, none) = (self.shifts[order as usize], self.codes.none());
        let names_tokens = |prefix: u64| order == Order::Unigram || prefix & none != none;
        let mut open: Option<(u64, u64)> = None;
        for (&gram, &count) in grams.iter().zip(counts) {
            let prefix = gram >> shift;
            match &mut open {
                Some((held, fires)) if *held == prefix => *fires += u64::from(count),
                slot => {
                    if let Some((held, fires)) = slot.replace((prefix, u64::from(count)))
                        && names_tokens(held)
                    {
                        emit(held, fires);
                    }
                }
            }
        }
        if let Some((held, fires)) = open
            && names_tokens(held)
        {
            emit(held, fires);
        }
    }
}

/// One neuron's n-grams of each order (unigram, bigram, trigram) as [`NgramTable::by_neuron`]
/// gives them: (codes, fires) lists, the codes of each n-gram newest first. The fires are all
/// coverage needs; the n-grams are decoded only where they are needed (a detector's triggers,
/// the neurons of each token), not for every order.
#[derive(Clone, Copy)]
pub struct OrderSums<'a> {
    /// (codes, fires) of each n-gram, by order, in the order of the codes.
    coded: [&'a [(u64, u64)]; 3],
    codes: &'a TableCodes,
}

impl OrderSums<'_> {
    /// Whether the neuron fired on no n-gram of `order` (or the table does not count it).
    pub fn is_empty(&self, order: Order) -> bool {
        self.coded[order as usize].is_empty()
    }

    /// Its fires on each n-gram of `order`, in the order of [`Self::list`].
    pub fn fires(&self, order: Order) -> impl Iterator<Item = u64> + Clone + '_ {
        self.coded[order as usize].iter().map(|&(_, fires)| fires)
    }

    /// The (n-gram, fires) of `order`, n-grams packed by [`pack`](crate::ngram::pack).
    pub fn list(&self, order: Order) -> Vec<(u64, u64)> {
        self.coded[order as usize]
            .iter()
            .map(|&(codes, fires)| (self.codes.decode_newest_first(codes, order.n()), fires))
            .collect()
    }
}

/// The n-gram key of `row` of `tokens` in a table up to order `highest`: the codes of its token
/// and, for trigram tables, of the one before and the one before that ([`TableCodes::none`]
/// where the row has none), newest first; `None` where it has none at all.
#[inline]
fn table_gram(
    codes: &TableCodes,
    highest: Order,
    tokens: &PartTokens,
    row: usize,
) -> Result<Option<u64>, CountError> {
    let code = |token: u32| {
        codes
            .code(token)
            .ok_or(CountError::TokenNotTallied { token })
    };
    let newest = code(tokens.token[row])?;
    if highest == Order::Unigram {
        return Ok(Some(newest));
    }
    let token_of = |gram: u64, back: u32| (gram >> (TOKEN_BITS * back)) as u32 & TOKEN_MASK;
    let (bigram, trigram) = (tokens.bigram[row], tokens.trigram[row]);
    let before = if bigram == NO_NGRAM {
        codes.none()
    } else {
        code(token_of(bigram, 1))?
    };
    let two_before = if trigram == NO_NGRAM {
        codes.none()
    } else {
        code(token_of(trigram, 2))?
    };
    let bits = codes.bits();
    Ok(Some((newest << (2 * bits)) | (before << bits) | two_before))
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
            contexts: 0,
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

    /// (neuron, n-gram) counts counted naively.
    type Naive = std::collections::BTreeMap<(u16, u64), u64>;

    /// Random sequences after a BOS with random fires, and each order's (neuron, n-gram) counts
    /// counted naively from the same rows.
    fn random_part(codes_above_16_bits: bool) -> (PartTokens, ActivationRows, [Naive; 3]) {
        let mut rng = census_testkit::SeededRng::new(99);
        let mut next = |below: u64| rng.below(below as usize) as u64;
        let (mut seq, mut pos, mut token) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..40u64 {
            for p in 0..(1 + next(12)) as u16 {
                seq.push(s);
                pos.push(p);
                let id = if p == 0 { 2 } else { 3 + next(20) as u32 };
                token.push(if codes_above_16_bits { id * 7_000 } else { id });
            }
        }
        let part = PartTokens::new(seq.clone(), pos.clone(), token, 1);
        let mut acts = ActivationRows {
            seq,
            pos,
            offsets: vec![0],
            neurons: Vec::new(),
        };
        let mut expected: [Naive; 3] = Default::default();
        for row in 0..part.len() {
            let fired: Vec<u16> = (0..6u16).filter(|_| next(3) == 0).collect();
            if part.pos[row] >= 1 {
                let grams = [
                    u64::from(part.token[row]),
                    part.bigram[row],
                    part.trigram[row],
                ];
                for (order, gram) in grams.into_iter().enumerate() {
                    if gram != NO_NGRAM {
                        for &n in &fired {
                            *expected[order].entry((n, gram)).or_default() += 1;
                        }
                    }
                }
            }
            acts.neurons.extend(&fired);
            acts.offsets.push(acts.neurons.len() as i32);
        }
        (part, acts, expected)
    }

    #[test]
    fn each_order_s_counts_are_sums_over_a_prefix_of_the_one_table() {
        for (wide, unigrams) in [(false, true), (true, true), (false, false)] {
            let (part, acts, expected) = random_part(wide);
            let mut tally = CorpusTally::new(16, 200_000, true);
            tally.add_part(&part).unwrap();
            let codes = tally.table_codes();
            assert_eq!(codes == TableCodes::identity(), !wide);
            let scope = CountScope {
                unigrams,
                bigrams_trigrams: true,
                positions: None,
                contexts: 0,
            };
            let mut counts = LayerCounts::new(0, 6, scope, codes);
            // Two parts' worth, merged, as the analysis counts a layer.
            let mut other = counts.clone();
            counts.add_part(&part, &acts).unwrap();
            other.add_part(&part, &acts).unwrap();
            counts.merge(other);
            assert_eq!(counts.table_orders(), [unigrams, true, true]);
            let mut got: [Naive; 3] = Default::default();
            let mut neurons = Vec::new();
            let table = counts.take_table().expect("a table");
            table.by_neuron(|n, lists| {
                neurons.push(n);
                for order in Order::ALL {
                    let list = lists.list(order);
                    let fires: Vec<u64> = list.iter().map(|&(_, c)| c).collect();
                    assert_eq!(fires, lists.fires(order).collect::<Vec<_>>(), "{order:?}");
                    got[order as usize].extend(list.iter().map(|&(g, c)| ((n, g), c)));
                }
            });
            assert!(
                neurons.windows(2).all(|w| w[0] < w[1]),
                "each neuron once, in order: {neurons:?}"
            );
            for order in Order::ALL {
                let twice: Naive = match (order, unigrams) {
                    (Order::Unigram, false) => Naive::new(),
                    _ => expected[order as usize]
                        .iter()
                        .map(|(&k, &c)| (k, 2 * c))
                        .collect(),
                };
                assert_eq!(
                    got[order as usize], twice,
                    "{order:?}, wide codes {wide}, unigrams {unigrams}"
                );
            }
            assert!(counts.table.is_none(), "the table is taken");
            assert_eq!(counts.table_orders(), [false; 3]);
        }
    }
}
