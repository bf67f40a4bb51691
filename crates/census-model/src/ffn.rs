//! The FFN block whose neurons the census counts: `fc1 → ReLU → fc2`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Position-wise feed-forward block. Neuron `i` is output `i` of `fc1` after the ReLU.
#[derive(Module, Debug)]
pub struct OptFeedForward<B: Backend> {
    fc1: Linear<B>,
    fc2: Linear<B>,
}

impl<B: Backend> OptFeedForward<B> {
    /// Allocates (lazily) an FFN of width `hidden` with `ffn_dim` neurons.
    pub fn new(hidden: usize, ffn_dim: usize, bias: bool, device: &B::Device) -> Self {
        Self {
            fc1: LinearConfig::new(hidden, ffn_dim)
                .with_bias(bias)
                .init(device),
            fc2: LinearConfig::new(ffn_dim, hidden)
                .with_bias(bias)
                .init(device),
        }
    }

    /// Runs the block and also returns the fc1 pre-activations (a neuron fires iff its entry is > 0).
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` (already normalised where the model normalises)
    /// - returns `([batch, seq, hidden], [batch, seq, ffn_dim])`
    pub fn forward(&self, x: Tensor<B, 3>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let pre = self.fc1.forward(x);
        let out = self.fc2.forward(relu(pre.clone()));
        (out, pre)
    }

    /// The fc2 weight in PyTorch layout: column `i` is neuron `i`'s update to the residual stream.
    ///
    /// # Shapes
    /// - returns `[hidden, ffn_dim]`
    pub fn update_vectors(&self) -> Tensor<B, 2> {
        self.fc2.weight.val().transpose()
    }
}
