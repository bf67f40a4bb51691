//! N-grams as packed integers.
//!
//! Everywhere but inside the count tables, an n-gram is its token ids packed [`TOKEN_BITS`] bits
//! each, oldest first ([`pack`]): every vocabulary below 2^21 ids fits (Llama 3's 128,256,
//! Qwen2's 151,936, Gemma's 256,000), and a trigram takes 63 bits. A unigram's key is its token
//! id.
//!
//! The (neuron, n-gram) count table holds the neuron beside the n-gram in one `u64`, so there
//! each token takes a shorter *code* ([`TableCodes`]): its own id where the vocabulary fits 16
//! bits (OPT, GPT-2, Pythia), otherwise its rank among the tokens the corpus holds, in as few bits
//! as they need (at least 16). The highest code, [`TableCodes::none`], stands for no token. The
//! table keys a row's codes newest first (its token, the one before, the one before that), so
//! each lower order's n-gram is a prefix of the key. Where the codes take more than 16 bits, the
//! table keys fewer neurons than a layer has, and the analysis counts the layer's table neuron
//! range by neuron range.

/// Bits of one token id in a packed n-gram.
pub const TOKEN_BITS: u32 = 21;
/// The bits of one token id in a packed n-gram.
pub const TOKEN_MASK: u32 = (1 << TOKEN_BITS) - 1;
/// Largest vocabulary whose ids pack into [`TOKEN_BITS`] bits.
pub const MAX_VOCAB: usize = 1 << TOKEN_BITS;
/// Largest FFN width whose neuron indices pack into 16 bits (the `neurons` column is `u16`).
pub const MAX_NEURONS: usize = 1 << 16;

/// Order of an n-gram.
use census_format::analysis::tables::Order;

/// Packs the tokens of an n-gram, oldest first.
pub fn pack(tokens: &[u32]) -> u64 {
    pack_bits(tokens.iter().copied(), TOKEN_BITS)
}

/// Unpacks an n-gram of order `n`, oldest first.
pub fn unpack(key: u64, n: usize) -> Vec<u32> {
    unpack_bits(key, n, TOKEN_BITS).collect()
}

fn pack_bits(tokens: impl Iterator<Item = u32>, bits: u32) -> u64 {
    tokens.fold(0u64, |key, t| (key << bits) | u64::from(t))
}

fn unpack_bits(key: u64, n: usize, bits: u32) -> impl Iterator<Item = u32> {
    let mask = (1u64 << bits) - 1;
    (0..n as u32)
        .rev()
        .map(move |i| ((key >> (bits * i)) & mask) as u32)
}

/// Bits of a token code at least (as many as the token ids of OPT, GPT-2 and Pythia take).
const MIN_CODE_BITS: u32 = 16;

/// The token codes of the (neuron, n-gram) count table: the key of an n-gram of codes takes
/// `n · bits` bits (`n` the highest order the layer counts) and the neuron the rest of a `u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCodes {
    /// Bits of one code.
    bits: u32,
    /// Each token's code and each code's token (none: the code is the token id).
    ranks: Option<std::sync::Arc<TokenRanks>>,
}

/// Dense codes: the rank of each token among those the corpus holds.
#[derive(Debug, PartialEq, Eq)]
struct TokenRanks {
    /// The code of each token id ([`u32::MAX`]: not in the corpus).
    code_of: Vec<u32>,
    /// The token id of each code, ascending.
    token_of: Vec<u32>,
}

impl Default for TableCodes {
    fn default() -> Self {
        Self::identity()
    }
}

impl TableCodes {
    /// Token ids as codes, 16 bits each (vocabularies of up to 65,535 ids: the highest code
    /// stands for no token).
    pub fn identity() -> Self {
        Self {
            bits: MIN_CODE_BITS,
            ranks: None,
        }
    }

    /// The codes of a corpus whose occurrences of each token id are `occurrences`: the ids
    /// themselves when every token it holds is below 2^16 − 1, otherwise each token's rank among
    /// those it holds. Codes keep the order of token ids, and the highest code of their bits
    /// is left for no token.
    pub fn for_corpus(occurrences: &[u64]) -> Self {
        let held = || (0..occurrences.len()).filter(|&t| occurrences[t] > 0);
        if held().all(|t| t < (1 << MIN_CODE_BITS) - 1) {
            return Self::identity();
        }
        let token_of: Vec<u32> = held().map(|t| t as u32).collect();
        let mut code_of = vec![u32::MAX; occurrences.len()];
        for (code, &token) in token_of.iter().enumerate() {
            code_of[token as usize] = code as u32;
        }
        // Codes 0..len, and len ≤ 2^bits − 1 = none.
        let bits = (usize::BITS - token_of.len().leading_zeros()).max(MIN_CODE_BITS);
        Self {
            bits,
            ranks: Some(std::sync::Arc::new(TokenRanks { code_of, token_of })),
        }
    }

    /// Bits of one code.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The code standing for no token (before the first text token of a sequence).
    #[inline]
    pub fn none(&self) -> u64 {
        (1 << self.bits) - 1
    }

    /// Bits an n-gram of `order` takes in a table key; the neuron takes the bits above.
    pub fn gram_bits(&self, order: Order) -> u32 {
        order.n() as u32 * self.bits
    }

    /// The most neurons one table of n-grams up to `order` keys (at most [`MAX_NEURONS`]).
    pub fn table_neurons(&self, order: Order) -> usize {
        1usize << (64 - self.gram_bits(order)).min(16)
    }

    /// The code of `token`; `None` when the corpus the codes were made from does not hold it.
    #[inline]
    pub fn code(&self, token: u32) -> Option<u64> {
        match &self.ranks {
            None => (u64::from(token) < self.none()).then_some(u64::from(token)),
            Some(ranks) => match ranks.code_of.get(token as usize) {
                Some(&code) if code != u32::MAX => Some(u64::from(code)),
                _ => None,
            },
        }
    }

    /// The n-gram of order `n` whose codes `key` packs newest first, packed by [`pack`]
    /// (oldest first).
    #[inline]
    pub fn decode_newest_first(&self, key: u64, n: usize) -> u64 {
        let mask = (1u64 << self.bits) - 1;
        let token = |i: usize| -> u64 {
            let code = (key >> (self.bits * i as u32)) & mask;
            match &self.ranks {
                None => code,
                Some(ranks) => u64::from(ranks.token_of[code as usize]),
            }
        };
        // The lowest code is the oldest token's.
        (0..n).fold(0u64, |gram, i| (gram << TOKEN_BITS) | token(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let trigram = [50271, 0, 2];
        assert_eq!(unpack(pack(&trigram), 3), trigram);
        let wide = [151_935, 128_255, 0];
        assert_eq!(unpack(pack(&wide), 3), wide);
        assert_eq!(pack(&[7]), 7, "a unigram's key is its token id");
        assert_ne!(pack(&[1, 2]), pack(&[2, 1]));
        assert!(
            pack(&[2, 1]) > pack(&[1, 2]),
            "keys sort as their token tuples"
        );
    }

    #[test]
    fn small_vocabularies_are_coded_by_their_ids() {
        let mut occurrences = vec![0u64; 50_272];
        occurrences[50_271] = 3;
        let codes = TableCodes::for_corpus(&occurrences);
        assert_eq!(codes, TableCodes::identity());
        assert_eq!(
            (
                codes.gram_bits(Order::Trigram),
                codes.table_neurons(Order::Trigram)
            ),
            (48, 65_536)
        );
        assert_eq!(codes.none(), 65_535);
        // Newest first: the token, the one before, the one before that.
        let key = (2 << 32) | 50_271;
        assert_eq!(codes.decode_newest_first(key, 3), pack(&[50_271, 0, 2]));
        assert_eq!(codes.decode_newest_first(key >> 16, 2), pack(&[0, 2]));
        assert_eq!(codes.decode_newest_first(key >> 32, 1), 2);
        // A large vocabulary whose corpus holds only ids below 2^16 − 1 keeps its ids.
        let mut large = vec![0u64; 151_936];
        large[65_534] = 1;
        assert_eq!(TableCodes::for_corpus(&large), TableCodes::identity());
        assert_eq!(
            TableCodes::identity().code(65_535),
            None,
            "the code of no token"
        );
        // Token 65,535 would take that code: the corpus is coded by rank.
        large[65_535] = 1;
        let ranked = TableCodes::for_corpus(&large);
        assert_eq!((ranked.bits(), ranked.code(65_535)), (16, Some(1)));
    }

    #[test]
    fn large_vocabularies_are_coded_by_rank_in_order() {
        let mut occurrences = vec![0u64; 151_936];
        for t in [5, 70_000, 151_935, 100_000] {
            occurrences[t] = 1;
        }
        let codes = TableCodes::for_corpus(&occurrences);
        assert_eq!(
            (codes.bits(), codes.table_neurons(Order::Trigram)),
            (16, 65_536)
        );
        let code = |t| codes.code(t).unwrap();
        assert_eq!([5, 70_000, 100_000, 151_935].map(code), [0, 1, 2, 3]);
        let grams = [[5, 70_000, 151_935], [70_000, 100_000, 5], [151_935, 5, 5]];
        for gram in grams {
            let key = (code(gram[2]) << 32) | (code(gram[1]) << 16) | code(gram[0]);
            assert_eq!(unpack(codes.decode_newest_first(key, 3), 3), gram);
        }
        assert_eq!(codes.code(6), None, "a token not in the corpus");
        assert_eq!(codes.code(200_000), None);

        // 70,000 distinct tokens take 17 bits: a table keys 2^13 neurons.
        let mut many = vec![0u64; 151_936];
        for t in (0..151_936).step_by(2).take(70_000) {
            many[t] = 1;
        }
        let codes = TableCodes::for_corpus(&many);
        assert_eq!(
            (codes.bits(), codes.table_neurons(Order::Trigram)),
            (17, 8192)
        );
        // Token tables alone key every neuron beside a 17-bit code.
        assert_eq!(codes.table_neurons(Order::Unigram), 65_536);
        assert_eq!(codes.code(139_998), Some(69_999));
        assert!(
            69_999 < codes.none(),
            "every code below the code of no token"
        );
        let key = (1 << 34) | 69_999;
        assert_eq!(codes.decode_newest_first(key, 3), pack(&[139_998, 0, 2]));
    }
}
