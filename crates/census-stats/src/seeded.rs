//! Seeded choices by sequence, the same on every run of the same data: which half of the data a
//! sequence falls in (detector stability), and how its text tokens are shuffled (the
//! shuffled-token null).

/// The half (0 or 1) sequence `seq` falls in under `seed`: a hash of both, so the halves are
/// as good as random, and the same on every run of the same data.
pub fn half_of(seq: u64, seed: u64) -> usize {
    (splitmix64(seq ^ splitmix64(seed)) >> 63) as usize
}

/// Shuffles `tokens` (one sequence's text tokens, in position order) in place under `seed`:
/// a Fisher–Yates shuffle drawn from a SplitMix64 stream seeded by the sequence id and `seed`,
/// so every sequence gets its own permutation, the same on every run of the same data.
pub fn shuffle_sequence(seq: u64, seed: u64, tokens: &mut [u32]) {
    // A constant apart from `half_of`'s, so a sequence's half and its permutation are unrelated.
    let mut state = splitmix64(seq ^ splitmix64(seed ^ 0x5348_5546_464C_4544));
    for i in (1..tokens.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let draw = splitmix64(state);
        // Multiply-shift maps the draw onto 0..=i without modulo bias worth counting.
        let j = ((u128::from(draw) * (i as u128 + 1)) >> 64) as usize;
        tokens.swap(i, j);
    }
}

/// SplitMix64's finaliser: a bijection of `u64` that mixes every bit into every other.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_split_sequences_about_evenly_and_the_seed_reshuffles_them() {
        let first: Vec<usize> = (0..10_000).map(|s| half_of(s, 0)).collect();
        let ones = first.iter().filter(|&&h| h == 1).count();
        assert!((4_800..5_200).contains(&ones), "{ones}");
        let other: Vec<usize> = (0..10_000).map(|s| half_of(s, 1)).collect();
        let moved = first.iter().zip(&other).filter(|(a, b)| a != b).count();
        assert!((4_800..5_200).contains(&moved), "{moved}");
        assert_eq!(
            first,
            (0..10_000).map(|s| half_of(s, 0)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_shuffle_is_a_permutation_fixed_by_sequence_and_seed() {
        let tokens: Vec<u32> = (0..50).collect();
        let shuffled = |seq: u64, seed: u64| {
            let mut t = tokens.clone();
            shuffle_sequence(seq, seed, &mut t);
            t
        };
        let a = shuffled(7, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, tokens, "the same tokens");
        assert_ne!(a, tokens, "moved");
        assert_eq!(a, shuffled(7, 1), "the same on every call");
        assert_ne!(a, shuffled(8, 1), "another sequence, another permutation");
        assert_ne!(a, shuffled(7, 2), "another seed, another permutation");
        // Each position takes each token about equally often over many sequences.
        let mut first = [0u32; 4];
        for seq in 0..40_000 {
            let mut t = [0u32, 1, 2, 3];
            shuffle_sequence(seq, 0, &mut t);
            first[t[0] as usize] += 1;
        }
        assert!(
            first.iter().all(|&n| (9_500..10_500).contains(&n)),
            "{first:?}"
        );
        // Nothing to shuffle in one token or none.
        let mut one = [5u32];
        shuffle_sequence(1, 1, &mut one);
        assert_eq!(one, [5]);
        shuffle_sequence(1, 1, &mut []);
    }
}
