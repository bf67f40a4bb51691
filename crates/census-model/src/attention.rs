//! Causal multi-head self-attention as in Hugging Face's `OPTAttention`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

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

    /// Attends every position to itself and the positions before it, except keys that `padding`
    /// marks.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - `padding`: `[batch, 1, seq, seq]`, `true` where a query must not see a key (padding
    ///   keys); `None` when the batch has no padding. Causality is applied by the kernel.
    /// - returns `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, padding: Option<Tensor<B, 4, Bool>>) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let heads = |t: Tensor<B, 3>| {
            t.reshape([batch, seq, self.num_heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let q = heads(self.q_proj.forward(x.clone()));
        let k = heads(self.k_proj.forward(x.clone()));
        let v = heads(self.v_proj.forward(x));
        let options = AttentionModuleOptions {
            scale: Some((self.head_dim as f64).powf(-0.5)),
            softcap: None,
            is_causal: true,
        };
        let context = attention(q, k, v, padding, None, options).swap_dims(1, 2);
        self.out_proj.forward(context.reshape([batch, seq, hidden]))
    }
}
