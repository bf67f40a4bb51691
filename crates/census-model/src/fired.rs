//! [`FiredNeurons`]: which FFN neurons fired for each token of a batch, as ascending index
//! lists (what extraction records), and how they leave the device: the fired mask packed into
//! 32-bit words there, so one bit per neuron crosses to the host, and decoded on the host in
//! parallel.

use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

/// Neurons per packed word.
pub const WORD_BITS: usize = 32;

/// Tokens one decoding task takes.
const DECODE_CHUNK_TOKENS: usize = 64;

/// The fired fc1 neurons of every token of a batch (row-major over `[batch, seq]`), each
/// token's list ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiredNeurons {
    /// Token `i` fired `neurons[offsets[i]..offsets[i + 1]]`; `offsets.len()` is tokens + 1.
    pub offsets: Vec<usize>,
    /// Neuron indices.
    pub neurons: Vec<u16>,
}

impl FiredNeurons {
    /// Number of tokens.
    pub fn tokens(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The neurons token `i` fired.
    pub fn of(&self, i: usize) -> &[u16] {
        &self.neurons[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The fired neurons (`fc1 > 0`) of every token of a dense pass: the mask is packed on the
    /// device ([`pack_fired`]) and decoded on the host ([`FiredNeurons::from_packed`]).
    ///
    /// # Shapes
    /// - `fc1`: `[batch, seq, ffn_dim]`
    pub fn from_pre_activations<B: Backend>(fc1: Tensor<B, 3>) -> Self {
        let [batch, seq, ffn] = fc1.dims();
        Self::from_packed(&pack_fired(fc1), batch * seq, ffn)
    }

    /// Decodes packed masks: token `t`'s neurons `32 w .. 32 w + 32` are the bits of
    /// `words[t * ceil(ffn / 32) + w]`, lowest bit first. Tokens are decoded in parallel, each
    /// word by trailing-zero iteration over its set bits.
    pub fn from_packed(words: &[u32], tokens: usize, ffn: usize) -> Self {
        let per_token = ffn.div_ceil(WORD_BITS);
        assert_eq!(
            words.len(),
            tokens * per_token,
            "one word per 32 neurons a token"
        );
        if per_token == 0 {
            return Self {
                offsets: vec![0; tokens + 1],
                neurons: Vec::new(),
            };
        }
        let chunks: Vec<(Vec<usize>, Vec<u16>)> = words
            .par_chunks(per_token * DECODE_CHUNK_TOKENS)
            .map(|chunk| {
                let mut ends = Vec::with_capacity(chunk.len() / per_token);
                let mut neurons = Vec::new();
                for token in chunk.chunks_exact(per_token) {
                    for (w, &word) in token.iter().enumerate() {
                        let mut bits = word;
                        while bits != 0 {
                            neurons.push((w * WORD_BITS) as u16 + bits.trailing_zeros() as u16);
                            bits &= bits - 1;
                        }
                    }
                    ends.push(neurons.len());
                }
                (ends, neurons)
            })
            .collect();
        let total: usize = chunks.iter().map(|(_, n)| n.len()).sum();
        let mut fired = Self {
            offsets: Vec::with_capacity(tokens + 1),
            neurons: Vec::with_capacity(total),
        };
        fired.offsets.push(0);
        for (ends, neurons) in chunks {
            let base = fired.neurons.len();
            fired.offsets.extend(ends.iter().map(|e| base + e));
            fired.neurons.extend(neurons);
        }
        fired
    }
}

/// Packs the fired mask (`fc1 > 0`) into 32-bit words on the device, so one bit per neuron is
/// copied to the host: bit `i` of word `w` of a token is neuron `32 w + i` (the last word
/// padded with zeros). The words are sums of distinct powers of two (bit 31 as `i32::MIN`), so
/// the integer sum is exact in any order and at any integer width.
///
/// # Shapes
/// - `fc1`: `[batch, seq, ffn_dim]`
/// - returns `batch * seq * ceil(ffn_dim / 32)` words, token-major
pub fn pack_fired<B: Backend>(fc1: Tensor<B, 3>) -> Vec<u32> {
    let [batch, seq, ffn] = fc1.dims();
    let device = fc1.device();
    let tokens = batch * seq;
    let words = ffn.div_ceil(WORD_BITS);
    if tokens == 0 || words == 0 {
        return Vec::new();
    }
    let mut mask = fc1.greater_elem(0.0).int().reshape([tokens, ffn]);
    let padding = words * WORD_BITS - ffn;
    if padding > 0 {
        mask = Tensor::cat(vec![mask, Tensor::zeros([tokens, padding], &device)], 1);
    }
    let powers: Vec<i32> = (0..WORD_BITS).map(|i| (1u32 << i) as i32).collect();
    let powers = Tensor::<B, 1, Int>::from_ints(TensorData::new(powers, [WORD_BITS]), &device);
    let packed = mask
        .reshape([tokens, words, WORD_BITS])
        .mul(powers.reshape([1, 1, WORD_BITS]))
        .sum_dim(2);
    packed
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("integer data")
        .into_iter()
        .map(|w| w as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;

    /// The fired lists the plain way: every neuron of every token tested.
    fn naive(values: &[f32], ffn: usize) -> FiredNeurons {
        let mut fired = FiredNeurons {
            offsets: vec![0],
            neurons: Vec::new(),
        };
        for token in values.chunks_exact(ffn) {
            fired
                .neurons
                .extend((0..ffn).filter(|&n| token[n] > 0.0).map(|n| n as u16));
            fired.offsets.push(fired.neurons.len());
        }
        fired
    }

    #[test]
    fn packed_masks_decode_to_the_fired_lists() {
        let device = Default::default();
        // Widths around word boundaries, densities from none to all.
        for (ffn, seq) in [(40, 3), (32, 5), (64, 2), (7, 4), (100, 130)] {
            for density in [0.0, 0.05, 0.5, 1.0] {
                let values: Vec<f32> = (0..2 * seq * ffn)
                    .map(|i| {
                        let u = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64
                            / (1u64 << 24) as f64;
                        if u < density { 0.5 } else { -0.5 }
                    })
                    .collect();
                let fc1 = Tensor::<CpuBackend, 3>::from_data(
                    TensorData::new(values.clone(), [2, seq, ffn]),
                    &device,
                );
                assert_eq!(
                    FiredNeurons::from_pre_activations(fc1),
                    naive(&values, ffn),
                    "ffn {ffn}, density {density}"
                );
            }
        }
    }

    #[test]
    fn the_top_bit_of_a_word_is_its_last_neuron() {
        let words = [0x8000_0001u32, 0, 0x0000_0002, 0xFFFF_FFFF];
        let fired = FiredNeurons::from_packed(&words, 2, 64);
        assert_eq!(fired.of(0), &[0, 31]);
        let expected: Vec<u16> = std::iter::once(1).chain(32..64).collect();
        assert_eq!(fired.of(1), expected.as_slice());
    }
}
