//! The neurons of each token (`token_neurons.parquet`): the `k` that fire most often on it and
//! the `k` that give it the largest share of their fires. Both selections keep a total order
//! (ties broken by fires, then layer, then neuron), so selecting again from the union of
//! selections over parts of the layers gives the selection over all of them.

use std::cmp::Ordering;

use census_format::analysis::tables::TokenNeuronRow;

/// Tokens per bucket of [`LayerPairs`] (a bucket's pairs are put in token order in cache).
const BUCKET_BITS: u32 = 11;

/// Bits of a pair's neuron index in [`LayerPairs`].
const INDEX_BITS: u32 = 16;

/// A neuron's fires on a token (below 2^37), its index among the layer's neurons, and the
/// token's place in its bucket, in one word.
#[inline]
fn pack_pair(fires: u64, index: usize, token: u64) -> u64 {
    assert!(
        fires < 1 << (64 - INDEX_BITS - BUCKET_BITS),
        "fewer than 2^37 fires of a neuron on a token"
    );
    let low = token & ((1 << BUCKET_BITS) - 1);
    (fires << (INDEX_BITS + BUCKET_BITS)) | ((index as u64) << BUCKET_BITS) | low
}

/// The fires, neuron index and place in its bucket [`pack_pair`] packed.
#[inline]
fn unpack_pair(pair: u64) -> (u64, usize, usize) {
    (
        pair >> (INDEX_BITS + BUCKET_BITS),
        ((pair >> BUCKET_BITS) & ((1 << INDEX_BITS) - 1)) as usize,
        (pair & ((1 << BUCKET_BITS) - 1)) as usize,
    )
}

/// One layer's neurons with their fires on each token, gathered neuron by neuron (as a walk of
/// the count tables gives them) into buckets of consecutive tokens, for
/// [`TokenNeurons::offer_pairs`] to take token by token.
#[derive(Debug, Clone, Default)]
pub struct LayerPairs {
    /// Each neuron with its fires on all tokens (the sum of its list), by index.
    neurons: Vec<(u16, u64)>,
    /// Packed pairs ([`pack_pair`]) by bucket of tokens, each in the order they came.
    buckets: Vec<Vec<u64>>,
}

impl LayerPairs {
    /// No neuron yet, for token ids below `vocab`.
    pub fn new(vocab: usize) -> Self {
        Self {
            neurons: Vec::new(),
            buckets: vec![Vec::new(); vocab.div_ceil(1 << BUCKET_BITS)],
        }
    }

    /// No neuron yet, for the tokens of `occurrences` (by id), each bucket with room for about
    /// the pairs its tokens bring when each occurrence fires `fires_per_token` neurons, at most
    /// `neurons` a token, and all buckets together for at most `pairs` (so that the buckets
    /// seldom grow, and copy, as they fill, and reserve no more than there can be).
    pub fn with_room(
        occurrences: &[u64],
        fires_per_token: f64,
        neurons: usize,
        pairs: usize,
    ) -> Self {
        let rooms: Vec<f64> = occurrences
            .chunks(1 << BUCKET_BITS)
            .map(|tokens| {
                tokens
                    .iter()
                    .map(|&o| (o as f64 * fires_per_token).min(neurons as f64))
                    .sum()
            })
            .collect();
        let scale = (pairs as f64 / rooms.iter().sum::<f64>().max(1.0)).min(1.0);
        Self {
            neurons: Vec::new(),
            buckets: rooms
                .into_iter()
                .map(|room| Vec::with_capacity((room * scale).ceil() as usize))
                .collect(),
        }
    }

    /// Adds `neuron`'s fires on each token: its (token, fires) `list`, in any order.
    ///
    /// # Panics
    /// Beyond 2^16 neurons, or for a token id not below the vocabulary.
    pub fn push(&mut self, neuron: u16, list: impl IntoIterator<Item = (u64, u64)>) {
        let index = self.neurons.len();
        assert!(
            index < 1 << INDEX_BITS,
            "fewer than 2^16 neurons in a layer"
        );
        let mut total = 0;
        for (token, fires) in list {
            total += fires;
            self.buckets[(token >> BUCKET_BITS) as usize].push(pack_pair(fires, index, token));
        }
        self.neurons.push((neuron, total));
    }
}

/// One neuron's fires on one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFires {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Its fires on the token.
    pub fires: u64,
    /// Its fires on every token.
    pub neuron_fires: u64,
}

impl TokenFires {
    /// Most fires first; then layer and neuron.
    fn by_fires(&self, other: &Self) -> Ordering {
        other
            .fires
            .cmp(&self.fires)
            .then((self.layer, self.neuron).cmp(&(other.layer, other.neuron)))
    }

    /// Largest share of the neuron's fires first (compared exactly); then as [`Self::by_fires`].
    fn by_share(&self, other: &Self) -> Ordering {
        let mine = u128::from(self.fires) * u128::from(other.neuron_fires);
        let theirs = u128::from(other.fires) * u128::from(self.neuron_fires);
        theirs.cmp(&mine).then(self.by_fires(other))
    }
}

/// The best `k` of a stream under an order, kept sorted; an entry offered again is kept once.
#[derive(Debug, Clone, Default, PartialEq)]
struct Best {
    /// The best, best first.
    list: Vec<TokenFires>,
    /// The last of `list` once it holds `k`: what an entry must beat (kept beside the list, so
    /// most offers are turned away without reading it).
    floor: Option<TokenFires>,
}

impl Best {
    #[inline(always)]
    fn offer(
        &mut self,
        k: usize,
        entry: TokenFires,
        order: impl Fn(&TokenFires, &TokenFires) -> Ordering,
    ) {
        if let Some(floor) = &self.floor
            && order(&entry, floor) != Ordering::Less
        {
            return;
        }
        let list = &mut self.list;
        let at = list.partition_point(|e| order(e, &entry) == Ordering::Less);
        if list.get(at) == Some(&entry) {
            return;
        }
        list.insert(at, entry);
        list.truncate(k);
        if list.len() == k {
            self.floor = list.last().copied();
        }
    }
}

impl Best {
    /// The best `k` of this and `other` (kept under the same order): the two lists merged, as
    /// offering each of `other`'s entries would leave them (each of `other`'s best that is not
    /// among the union's best would not be among them either).
    fn absorb(
        &mut self,
        k: usize,
        other: &Self,
        order: impl Fn(&TokenFires, &TokenFires) -> Ordering,
    ) {
        let mut merged = Vec::with_capacity(k.min(self.list.len() + other.list.len()));
        let (mut mine, mut theirs) = (self.list.iter().peekable(), other.list.iter().peekable());
        while merged.len() < k {
            let next = match (mine.peek(), theirs.peek()) {
                (Some(a), Some(b)) => match order(a, b) {
                    Ordering::Less => mine.next(),
                    Ordering::Greater => theirs.next(),
                    // Offered, an entry equal to one held is dropped, and one equal under the
                    // order only goes before it.
                    Ordering::Equal if a == b => {
                        theirs.next();
                        mine.next()
                    }
                    Ordering::Equal => theirs.next(),
                },
                (Some(_), None) => mine.next(),
                (None, Some(_)) => theirs.next(),
                (None, None) => break,
            };
            merged.push(*next.expect("an entry was peeked"));
        }
        self.floor = (merged.len() == k).then(|| merged[k - 1]);
        self.list = merged;
    }
}

/// One token's selections.
#[derive(Debug, Clone, Default, PartialEq)]
struct Selected {
    /// Its occurrences.
    occurrences: u64,
    /// The neurons firing most on it.
    most: Best,
    /// The neurons it takes the largest share of.
    devoted: Best,
}

impl Selected {
    /// Offers an entry (with fires) to both selections of `k`.
    #[inline(always)]
    fn offer(&mut self, k: usize, entry: TokenFires) {
        self.most.offer(k, entry, TokenFires::by_fires);
        self.devoted.offer(k, entry, TokenFires::by_share);
    }
}

/// Each token's selections, as neurons are offered.
#[derive(Debug, Clone, Default)]
pub struct TokenNeurons {
    k: usize,
    /// By token id (empty for a token never offered), as far as the highest id offered.
    tokens: Vec<Selected>,
}

impl PartialEq for TokenNeurons {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k && self.selected().eq(other.selected())
    }
}

impl TokenNeurons {
    /// Empty selections of `k` neurons each.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            tokens: Vec::new(),
        }
    }

    /// Each token offered, by id, with its selections.
    fn selected(&self) -> impl Iterator<Item = (u32, &Selected)> {
        (0u32..)
            .zip(&self.tokens)
            .filter(|(_, s)| !s.most.list.is_empty())
    }

    /// Offers a neuron's fires on `token`, which occurs `occurrences` times.
    pub fn offer(&mut self, token: u32, occurrences: u64, entry: TokenFires) {
        if self.k == 0 || entry.fires == 0 {
            return;
        }
        let k = self.k;
        self.selection(token, occurrences).offer(k, entry);
    }

    /// The selections of `token`, which occurs `occurrences` times.
    fn selection(&mut self, token: u32, occurrences: u64) -> &mut Selected {
        let index = token as usize;
        if index >= self.tokens.len() {
            self.tokens.resize_with(index + 1, Selected::default);
        }
        let selected = &mut self.tokens[index];
        selected.occurrences = occurrences;
        selected
    }

    /// Offers the fires of every neuron of `layer` on each token: each neuron's (token, fires)
    /// list in `neurons` (neuron, list), its fires on all tokens being the list's sum, and each
    /// token occurring `occurrences[token]` times ([`Self::offer_pairs`]).
    pub fn offer_layer<'a>(
        &mut self,
        layer: u16,
        neurons: impl Iterator<Item = (u16, &'a [(u64, u64)])>,
        occurrences: &[u64],
    ) {
        let mut pairs = LayerPairs::new(occurrences.len());
        for (neuron, list) in neurons {
            pairs.push(neuron, list.iter().copied());
        }
        self.offer_pairs(layer, &pairs, occurrences);
    }

    /// Offers the fires of every neuron of `layer` on each token, gathered in `pairs`, each
    /// token occurring `occurrences[token]` times. The same as offering each pair, done token by
    /// token: a bucket of tokens' pairs is put in token order (kept in the order they came), and
    /// each token's are offered while its selections are at hand.
    pub fn offer_pairs(&mut self, layer: u16, pairs: &LayerPairs, occurrences: &[u64]) {
        if self.k == 0 {
            return;
        }
        let k = self.k;
        let width = 1 << BUCKET_BITS;
        let mut starts = vec![0usize; width + 1];
        let mut sorted: Vec<u64> = Vec::new();
        for (bucket, packed) in pairs.buckets.iter().enumerate() {
            if packed.is_empty() {
                continue;
            }
            starts.fill(0);
            for &pair in packed {
                starts[unpack_pair(pair).2 + 1] += 1;
            }
            for t in 1..=width {
                starts[t] += starts[t - 1];
            }
            sorted.clear();
            sorted.resize(packed.len(), 0);
            let mut next = starts.clone();
            for &pair in packed {
                let slot = &mut next[unpack_pair(pair).2];
                sorted[*slot] = pair;
                *slot += 1;
            }
            for low in 0..width {
                let of_token = &sorted[starts[low]..starts[low + 1]];
                if of_token.is_empty() {
                    continue;
                }
                let token = (bucket << BUCKET_BITS) + low;
                let selected = self.selection(token as u32, occurrences[token]);
                for &pair in of_token {
                    let (fires, index, _) = unpack_pair(pair);
                    let (neuron, neuron_fires) = pairs.neurons[index];
                    if fires > 0 {
                        selected.offer(
                            k,
                            TokenFires {
                                layer,
                                neuron,
                                fires,
                                neuron_fires,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Offers every selection of `other`.
    pub fn absorb(&mut self, other: &Self) {
        let k = self.k;
        if k == 0 {
            return;
        }
        for (token, selected) in other.selected() {
            let mine = self.selection(token, selected.occurrences);
            mine.most.absorb(k, &selected.most, TokenFires::by_fires);
            mine.devoted
                .absorb(k, &selected.devoted, TokenFires::by_share);
        }
    }

    /// The rows: per token in id order, the union of both selections, most fires first.
    /// `name` gives a token's vocabulary string.
    pub fn rows(&self, name: &dyn Fn(u32) -> String) -> Vec<TokenNeuronRow> {
        let mut rows = Vec::new();
        for (token, selected) in self.selected() {
            let mut union: Vec<TokenFires> = selected
                .most
                .list
                .iter()
                .chain(&selected.devoted.list)
                .copied()
                .collect();
            union.sort_by(TokenFires::by_fires);
            union.dedup();
            let token_name = name(token);
            rows.extend(union.into_iter().map(|e| TokenNeuronRow {
                token_id: token,
                token: token_name.clone(),
                layer: e.layer,
                neuron: e.neuron,
                fires: e.fires,
                occurrences: selected.occurrences,
                neuron_fires: e.neuron_fires,
            }));
        }
        rows
    }

    /// Selections made from `rows` (a table, or the tables of parts of the layers).
    pub fn from_rows(k: usize, rows: &[TokenNeuronRow]) -> Self {
        let mut selected = Self::new(k);
        for r in rows {
            selected.offer(
                r.token_id,
                r.occurrences,
                TokenFires {
                    layer: r.layer,
                    neuron: r.neuron,
                    fires: r.fires,
                    neuron_fires: r.neuron_fires,
                },
            );
        }
        selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(layer: u16, neuron: u16, fires: u64, neuron_fires: u64) -> TokenFires {
        TokenFires {
            layer,
            neuron,
            fires,
            neuron_fires,
        }
    }

    #[test]
    fn keeps_the_most_firing_and_the_most_devoted() {
        let mut t = TokenNeurons::new(2);
        // (layer, neuron, fires on token, fires in all)
        for e in [
            fires(0, 1, 50, 1000),
            fires(0, 2, 40, 400),
            fires(1, 3, 5, 5),
            fires(1, 4, 60, 6000),
            fires(2, 5, 1, 2),
        ] {
            t.offer(7, 100, e);
        }
        let rows = t.rows(&|id| format!("t{id}"));
        let got: Vec<(u16, u16)> = rows.iter().map(|r| (r.layer, r.neuron)).collect();
        // Most fires: (1,4) 60 and (0,1) 50. Largest share: (1,3) 5/5 and (2,5) 1/2.
        assert_eq!(got, vec![(1, 4), (0, 1), (1, 3), (2, 5)]);
        assert!(rows.iter().all(|r| r.token == "t7" && r.occurrences == 100));
    }

    #[test]
    fn selecting_again_from_parts_equals_selecting_from_all() {
        // A pseudo-random stream over 3 tokens and 4 layers, with ties.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let entries: Vec<(u32, TokenFires)> = (0..400)
            .map(|i| {
                let f = next() % 20 + 1;
                (
                    (next() % 3) as u32,
                    fires((i % 4) as u16, (i / 4) as u16, f, f + next() % 50),
                )
            })
            .collect();
        let mut all = TokenNeurons::new(5);
        let mut parts = [TokenNeurons::new(5), TokenNeurons::new(5)];
        for &(token, e) in &entries {
            all.offer(token, 1000 + u64::from(token), e);
            parts[usize::from(e.layer >= 2)].offer(token, 1000 + u64::from(token), e);
        }
        let name = |id: u32| id.to_string();
        let mut union = parts[0].rows(&name);
        union.extend(parts[1].rows(&name));
        let merged = TokenNeurons::from_rows(5, &union);
        assert_eq!(merged.rows(&name), all.rows(&name));
        let mut absorbed = TokenNeurons::new(5);
        parts.iter().for_each(|p| absorbed.absorb(p));
        assert_eq!(absorbed, all);
    }

    #[test]
    fn offering_a_layer_by_buckets_equals_offering_each_pair() {
        let mut rng = census_testkit::SeededRng::new(7);
        // Several buckets of tokens, the last one partly filled.
        let tokens = 5000;
        let occurrences: Vec<u64> = (0..tokens).map(|_| 1 + rng.below(50) as u64).collect();
        // Neurons with (token, fires) lists, some out of token order, some tokens never fired.
        let lists: Vec<(u16, Vec<(u64, u64)>)> = (0..60u16)
            .map(|neuron| {
                let mut list = Vec::new();
                for t in (0..tokens as u64).filter(|&t| t % 7 != 3) {
                    if rng.below(4) == 0 {
                        list.push((t, 1 + rng.below(5) as u64));
                    }
                }
                if neuron % 5 == 0 {
                    list.reverse();
                }
                (neuron * 3, list)
            })
            .collect();
        let mut each = TokenNeurons::new(4);
        for (neuron, list) in &lists {
            let neuron_fires = list.iter().map(|&(_, c)| c).sum();
            for &(token, f) in list {
                each.offer(
                    token as u32,
                    occurrences[token as usize],
                    fires(3, *neuron, f, neuron_fires),
                );
            }
        }
        let mut layer = TokenNeurons::new(4);
        let listed = lists.iter().map(|(n, l)| (*n, l.as_slice()));
        layer.offer_layer(3, listed, &occurrences);
        assert_eq!(layer, each);
    }
}
