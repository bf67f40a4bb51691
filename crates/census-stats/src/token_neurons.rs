//! The neurons of each token (`token_neurons.parquet`): the `k` that fire most often on it and
//! the `k` that give it the largest share of their fires. Both selections keep a total order
//! (ties broken by fires, then layer, then neuron), so selecting again from the union of
//! selections over parts of the layers gives the selection over all of them.

use std::cmp::Ordering;

use census_format::analysis::tables::TokenNeuronRow;

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
    fn offer(
        &mut self,
        k: usize,
        entry: TokenFires,
        order: fn(&TokenFires, &TokenFires) -> Ordering,
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
        let index = token as usize;
        if index >= self.tokens.len() {
            self.tokens.resize_with(index + 1, Selected::default);
        }
        let selected = &mut self.tokens[index];
        selected.occurrences = occurrences;
        selected.most.offer(self.k, entry, TokenFires::by_fires);
        selected.devoted.offer(self.k, entry, TokenFires::by_share);
    }

    /// Offers the fires of every neuron of `layer` on each token: each neuron's (token, fires)
    /// list in `neurons` (neuron, list), its fires on all tokens being the list's sum, and each
    /// token occurring `occurrences[token]` times. The same as offering each pair, done token by
    /// token (a token's pairs gathered first, so its selections stay in cache while they are
    /// offered).
    pub fn offer_layer<'a>(
        &mut self,
        layer: u16,
        neurons: impl Iterator<Item = (u16, &'a [(u64, u64)])> + Clone,
        occurrences: &[u64],
    ) {
        if self.k == 0 {
            return;
        }
        // Each token's pairs, gathered by a counting sort on the token.
        let mut starts = vec![0usize; occurrences.len() + 1];
        for (_, list) in neurons.clone() {
            for &(token, _) in list {
                starts[token as usize + 1] += 1;
            }
        }
        for t in 1..starts.len() {
            starts[t] += starts[t - 1];
        }
        let mut next = starts.clone();
        let mut pairs = vec![
            TokenFires {
                layer,
                neuron: 0,
                fires: 0,
                neuron_fires: 0,
            };
            starts[occurrences.len()]
        ];
        for (neuron, list) in neurons {
            let neuron_fires = list.iter().map(|&(_, c)| c).sum();
            for &(token, fires) in list {
                let at = &mut next[token as usize];
                pairs[*at] = TokenFires {
                    layer,
                    neuron,
                    fires,
                    neuron_fires,
                };
                *at += 1;
            }
        }
        for (token, occurrences) in occurrences.iter().enumerate() {
            for &entry in &pairs[starts[token]..starts[token + 1]] {
                self.offer(token as u32, *occurrences, entry);
            }
        }
    }

    /// Offers every selection of `other`.
    pub fn absorb(&mut self, other: &Self) {
        for (token, selected) in other.selected() {
            for entry in selected.most.list.iter().chain(&selected.devoted.list) {
                self.offer(token, selected.occurrences, *entry);
            }
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
}
