//! Causal multi-head self-attention as in Hugging Face's `OPTAttention`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Multi-head self-attention with separate `q/k/v/out` projections (Hugging Face names).
#[derive(Module, Debug)]
pub struct OptAttention<B: Backend> {
    q_proj: Linear<B>,
    k_proj: Linear<B>,
    v_proj: Linear<B>,
    out_proj: Linear<B>,
    num_heads: usize,
    head_dim: usize,
}

impl<B: Backend> OptAttention<B> {
    /// Allocates (lazily) an attention block of width `hidden` with `heads` heads.
    pub fn new(hidden: usize, heads: usize, bias: bool, device: &B::Device) -> Self {
        let linear = || {
            LinearConfig::new(hidden, hidden)
                .with_bias(bias)
                .init(device)
        };
        Self {
            q_proj: linear(),
            k_proj: linear(),
            v_proj: linear(),
            out_proj: linear(),
            num_heads: heads,
            head_dim: hidden / heads,
        }
    }

    /// Attends every position to the positions the additive `bias` leaves open.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - `bias`: `[batch, 1, seq, seq]`, 0 where a query may attend a key, a large negative value elsewhere
    /// - returns `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, bias: Tensor<B, 4>) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let heads = |t: Tensor<B, 3>| {
            t.reshape([batch, seq, self.num_heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let scaling = (self.head_dim as f64).powf(-0.5);
        // Hugging Face scales the query before the product; do the same for bitwise-close scores.
        let q = heads(self.q_proj.forward(x.clone()) * scaling);
        let k = heads(self.k_proj.forward(x.clone()));
        let v = heads(self.v_proj.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)) + bias;
        let weights = softmax(scores, 3);
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.out_proj.forward(context)
    }
}
