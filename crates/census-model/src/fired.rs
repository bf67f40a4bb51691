//! [`FiredNeurons`]: which FFN neurons fired for each token of a batch, as ascending index
//! lists (what extraction records).

use burn::prelude::*;

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
