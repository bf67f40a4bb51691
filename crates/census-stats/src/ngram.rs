//! N-grams as packed integers: each token id takes 16 bits (OPT's vocabulary has 50,272
//! entries), so a trigram fits 48 bits and a (neuron, n-gram) pair one `u64`.

/// Largest vocabulary whose ids pack into 16 bits.
pub const MAX_VOCAB: usize = 1 << 16;
/// Largest FFN width whose neuron indices pack into 16 bits (the `neurons` column is `u16`).
pub const MAX_NEURONS: usize = 1 << 16;

/// Order of an n-gram.
pub use census_format::analysis::tables::Order;

/// Packs the tokens of an n-gram, oldest first.
pub fn pack(tokens: &[u32]) -> u64 {
    tokens
        .iter()
        .fold(0u64, |key, &t| (key << 16) | u64::from(t))
}

/// Unpacks an n-gram of order `n`, oldest first.
pub fn unpack(key: u64, n: usize) -> Vec<u32> {
    (0..n)
        .rev()
        .map(|i| ((key >> (16 * i)) & 0xFFFF) as u32)
        .collect()
}

/// The key of (neuron, n-gram) in a count table.
#[inline]
pub fn neuron_key(neuron: u16, ngram: u64) -> u64 {
    (u64::from(neuron) << 48) | ngram
}

/// Splits a count-table key into (neuron, n-gram).
#[inline]
pub fn split_key(key: u64) -> (u16, u64) {
    ((key >> 48) as u16, key & ((1 << 48) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let trigram = [50271, 0, 2];
        assert_eq!(unpack(pack(&trigram), 3), trigram);
        let key = neuron_key(36863, pack(&trigram));
        assert_eq!(split_key(key), (36863, pack(&trigram)));
        assert_ne!(pack(&[1, 2]), pack(&[2, 1]));
    }
}
