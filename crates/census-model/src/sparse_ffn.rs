//! The FFN computed on the host from the neurons that fired: fc1 runs on the backend, then each
//! token adds only the fc2 rows of its active neurons. With a few percent of neurons firing
//! this skips most of fc2's work, and it yields the fired indices that extraction records.

use burn::prelude::*;
use rayon::prelude::*;

/// Tokens per parallel task.
const TOKENS_PER_TASK: usize = 32;

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

    /// The fired neurons (`fc1 > 0`) of every token of a dense pass.
    ///
    /// # Shapes
    /// - `fc1`: `[batch, seq, ffn_dim]`
    pub fn from_pre_activations<B: Backend>(fc1: Tensor<B, 3>) -> Self {
        let ffn = fc1.dims()[2];
        let bits: Vec<bool> = fc1
            .greater_elem(0.0)
            .into_data()
            .convert::<bool>()
            .to_vec()
            .expect("boolean mask data");
        let mut fired = Self {
            offsets: vec![0],
            neurons: Vec::new(),
        };
        for token in bits.chunks_exact(ffn) {
            fired
                .neurons
                .extend((0..ffn).filter(|&n| token[n]).map(|n| n as u16));
            fired.offsets.push(fired.neurons.len());
        }
        fired
    }
}

/// One parallel task's share: outputs, neurons and per-token counts.
struct Chunk {
    out: Vec<f32>,
    neurons: Vec<u16>,
    counts: Vec<usize>,
}

/// `fc2(relu(pre))` on the host, skipping zero activations.
///
/// `pre` holds fc1 pre-activations `[tokens, ffn]`, `rows` fc2's weight as `[ffn, hidden]`
/// (row `n` is neuron `n`'s update vector), `bias` fc2's bias. Returns `[tokens, hidden]` and the
/// fired neurons.
pub fn sparse_fc2(
    pre: &[f32],
    ffn: usize,
    rows: &[f32],
    hidden: usize,
    bias: Option<&[f32]>,
) -> (Vec<f32>, FiredNeurons) {
    let chunks: Vec<Chunk> = pre
        .par_chunks(ffn * TOKENS_PER_TASK)
        .map(|tokens| {
            let n = tokens.len() / ffn;
            let mut chunk = Chunk {
                out: Vec::with_capacity(n * hidden),
                neurons: Vec::new(),
                counts: Vec::with_capacity(n),
            };
            for token in tokens.chunks_exact(ffn) {
                let start = chunk.out.len();
                match bias {
                    Some(b) => chunk.out.extend_from_slice(b),
                    None => chunk.out.resize(start + hidden, 0.0),
                }
                let acc = &mut chunk.out[start..];
                let before = chunk.neurons.len();
                for (neuron, &a) in token.iter().enumerate() {
                    if a > 0.0 {
                        chunk.neurons.push(neuron as u16);
                        let row = &rows[neuron * hidden..(neuron + 1) * hidden];
                        for (o, &w) in acc.iter_mut().zip(row) {
                            *o += a * w;
                        }
                    }
                }
                chunk.counts.push(chunk.neurons.len() - before);
            }
            chunk
        })
        .collect();
    let tokens = pre.len() / ffn;
    let mut out = Vec::with_capacity(tokens * hidden);
    let mut fired = FiredNeurons {
        offsets: Vec::with_capacity(tokens + 1),
        neurons: Vec::new(),
    };
    fired.offsets.push(0);
    for chunk in chunks {
        out.extend_from_slice(&chunk.out);
        fired.neurons.extend_from_slice(&chunk.neurons);
        for c in chunk.counts {
            let last = *fired.offsets.last().expect("starts with 0");
            fired.offsets.push(last + c);
        }
    }
    (out, fired)
}

/// Host copy of a float tensor as `f32`.
pub(crate) fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float data converts to f32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_fc2_equals_the_dense_product() {
        let (tokens, ffn, hidden) = (70, 9, 5);
        let pre: Vec<f32> = (0..tokens * ffn)
            .map(|i| ((i * 37 % 17) as f32 - 11.0) / 7.0)
            .collect();
        let rows: Vec<f32> = (0..ffn * hidden)
            .map(|i| ((i * 13 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let bias: Vec<f32> = (0..hidden).map(|i| i as f32 * 0.5).collect();
        let (out, fired) = sparse_fc2(&pre, ffn, &rows, hidden, Some(&bias));
        assert_eq!(fired.tokens(), tokens);
        for t in 0..tokens {
            let expected_fired: Vec<u16> = (0..ffn)
                .filter(|&n| pre[t * ffn + n] > 0.0)
                .map(|n| n as u16)
                .collect();
            assert_eq!(fired.of(t), expected_fired.as_slice());
            for h in 0..hidden {
                let dense: f32 = bias[h]
                    + (0..ffn)
                        .map(|n| pre[t * ffn + n].max(0.0) * rows[n * hidden + h])
                        .sum::<f32>();
                assert!(
                    (out[t * hidden + h] - dense).abs() < 1e-5,
                    "token {t} dim {h}"
                );
            }
        }
    }
}
