//! The FFN block whose neurons the census counts: `fc1 → ReLU → fc2`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::sparse_ffn::{FiredNeurons, host_f32, sparse_fc2};

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

    /// Runs fc1 on the backend and `fc2(relu(·))` on the host over the neurons that fired only,
    /// returning the fired neurons of every token as well. Meant for CPU backends, where the host
    /// is the device; the result equals [`OptFeedForward::forward`] up to summation order.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, hidden]` and the fired neurons of the `batch * seq` tokens
    pub fn forward_sparse(&self, x: Tensor<B, 3>) -> (Tensor<B, 3>, FiredNeurons) {
        let [batch, seq, hidden] = x.dims();
        let (device, dtype) = (x.device(), x.dtype());
        let ffn = self.fc1.weight.dims()[1];
        let pre = host_f32(self.fc1.forward(x));
        let rows = host_f32(self.fc2.weight.val());
        let bias = self.fc2.bias.as_ref().map(|b| host_f32(b.val()));
        let (out, fired) = sparse_fc2(&pre, ffn, &rows, hidden, bias.as_deref());
        let out = Tensor::<B, 3>::from_data(TensorData::new(out, [batch, seq, hidden]), &device);
        (out.cast(dtype), fired)
    }

    /// The fc2 weight in PyTorch layout: column `i` is neuron `i`'s update to the residual stream.
    ///
    /// # Shapes
    /// - returns `[hidden, ffn_dim]`
    pub fn update_vectors(&self) -> Tensor<B, 2> {
        self.fc2.weight.val().transpose()
    }
}
