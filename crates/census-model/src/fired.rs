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
    /// Joins per-chunk results in order: each chunk's neurons, and how many each of its tokens
    /// fired.
    pub(crate) fn from_chunks(chunks: Vec<(Vec<u16>, Vec<usize>)>) -> Self {
        let tokens = chunks.iter().map(|(_, counts)| counts.len()).sum::<usize>();
        let mut fired = Self {
            offsets: Vec::with_capacity(tokens + 1),
            neurons: Vec::with_capacity(chunks.iter().map(|(n, _)| n.len()).sum()),
        };
        fired.offsets.push(0);
        for (neurons, counts) in chunks {
            fired.neurons.extend_from_slice(&neurons);
            for c in counts {
                let last = *fired.offsets.last().expect("starts with 0");
                fired.offsets.push(last + c);
            }
        }
        fired
    }

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

/// The fired mask (`fc1 > 0`) as f32 zeros and ones, `[rows, columns]`.
fn fired_matrix<B: Backend>(fc1: Tensor<B, 3>, rows: usize, columns: usize) -> Tensor<B, 2> {
    fc1.greater_elem(0.0)
        .cast(burn::tensor::FloatDType::F32)
        .reshape([rows, columns])
}

/// Fire counts of groups of tokens, summed on the device so only the counts are copied:
/// `groups[r, t]` is 1 where token `t` of the batch (row-major) belongs to group `r`, else 0.
/// Each sum runs over at most `batch * seq` ones in f32, so it is exact.
///
/// # Shapes
/// - `fc1`: `[batch, seq, ffn_dim]`
/// - `groups`: `[rows, batch * seq]`, f32
/// - returns `[rows, ffn_dim]`
pub fn count_fired<B: Backend>(fc1: Tensor<B, 3>, groups: Tensor<B, 2>) -> Tensor<B, 2, Int> {
    let [batch, seq, ffn] = fc1.dims();
    groups.matmul(fired_matrix(fc1, batch * seq, ffn)).int()
}

/// Fire counts by position of groups of sequences, summed on the device: `groups[r, b]` is 1
/// where sequence `b` of the batch belongs to group `r`, else 0.
///
/// # Shapes
/// - `fc1`: `[batch, seq, ffn_dim]`
/// - `groups`: `[rows, batch]`, f32
/// - returns `[rows, seq * ffn_dim]` (position-major)
pub fn count_fired_by_position<B: Backend>(
    fc1: Tensor<B, 3>,
    groups: Tensor<B, 2>,
) -> Tensor<B, 2, Int> {
    let [batch, seq, ffn] = fc1.dims();
    groups.matmul(fired_matrix(fc1, batch, seq * ffn)).int()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;

    #[test]
    fn counts_summed_on_the_device_equal_the_fired_lists_counted() {
        let device = Default::default();
        let (batch, seq, ffn) = (3, 5, 37);
        let values: Vec<f32> = (0..batch * seq * ffn)
            .map(|i| {
                if (i as u64).wrapping_mul(0x9E37_79B9) % 7 < 3 {
                    0.25
                } else {
                    -1.0
                }
            })
            .collect();
        let fc1 = || {
            Tensor::<CpuBackend, 3>::from_data(
                TensorData::new(values.clone(), [batch, seq, ffn]),
                &device,
            )
        };
        let fired = naive(&values, ffn);
        // Group 0: every token; group 1: the first token of each sequence; group 2: none.
        let tokens = batch * seq;
        let mut groups = vec![0f32; 3 * tokens];
        groups[..tokens].fill(1.0);
        for b in 0..batch {
            groups[tokens + b * seq] = 1.0;
        }
        let groups = Tensor::from_data(TensorData::new(groups, [3, tokens]), &device);
        let counts: Vec<i64> = count_fired(fc1(), groups)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        let mut expected = vec![0i64; 3 * ffn];
        for t in 0..tokens {
            for &n in fired.of(t) {
                expected[usize::from(n)] += 1;
                if t % seq == 0 {
                    expected[ffn + usize::from(n)] += 1;
                }
            }
        }
        assert_eq!(counts, expected);

        // Sequences 0 and 2 by position.
        let groups = Tensor::from_data(TensorData::new(vec![1f32, 0.0, 1.0], [1, batch]), &device);
        let by_position: Vec<i64> = count_fired_by_position(fc1(), groups)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        let mut expected = vec![0i64; seq * ffn];
        for b in [0, 2] {
            for pos in 0..seq {
                for &n in fired.of(b * seq + pos) {
                    expected[pos * ffn + usize::from(n)] += 1;
                }
            }
        }
        assert_eq!(by_position, expected);
    }

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
