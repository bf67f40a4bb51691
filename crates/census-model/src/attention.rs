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
    /// Head groups attended in parallel on the host (1: one kernel call for all heads).
    head_groups: usize,
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
            head_groups: 1,
        }
    }

    /// Attends `groups` groups of heads in parallel host threads. Worth it on CPU backends whose
    /// attention kernel runs on one thread; leave at 1 on GPUs.
    pub fn set_head_groups(&mut self, groups: usize) {
        self.head_groups = groups.clamp(1, self.num_heads);
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
        let context = if self.head_groups > 1 {
            grouped_attention(q, k, v, padding, options, self.head_groups)
        } else {
            attention(q, k, v, padding, None, options).swap_dims(1, 2)
        };
        self.out_proj.forward(context.reshape([batch, seq, hidden]))
    }
}

/// Attention over `groups` contiguous groups of heads, attended in parallel; returns the
/// context in `[batch, seq, heads, head_dim]` order.
///
/// # Shapes
/// - `q`, `k`, `v`: `[batch, heads, seq, head_dim]`
/// - `padding`: `[batch, 1, seq, seq]` or `None`
/// - returns `[batch, seq, heads, head_dim]`
fn grouped_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    padding: Option<Tensor<B, 4, Bool>>,
    options: AttentionModuleOptions,
    groups: usize,
) -> Tensor<B, 4> {
    use rayon::prelude::*;
    let heads = q.dims()[1];
    let per_group = heads.div_ceil(groups);
    let parts: Vec<(Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>)> = (0..heads)
        .step_by(per_group)
        .map(|start| {
            let n = per_group.min(heads - start);
            (
                q.clone().narrow(1, start, n),
                k.clone().narrow(1, start, n),
                v.clone().narrow(1, start, n),
            )
        })
        .collect();
    let outputs: Vec<Tensor<B, 4>> = parts
        .into_par_iter()
        .map(|(q, k, v)| attention(q, k, v, padding.clone(), None, options).swap_dims(1, 2))
        .collect();
    Tensor::cat(outputs, 2)
}
