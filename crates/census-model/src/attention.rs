//! Causal self-attention for every family: separate or fused q/k/v projections, grouped-query
//! heads, rotary positions and a sliding window.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use census_format::model::{Family, ModelConfig};

use crate::rotary::RotaryTables;

/// How a fused q/k/v projection lays out its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusedLayout {
    /// Separate `q_proj`, `k_proj`, `v_proj` (OPT, Llama, Qwen2, Mistral).
    #[default]
    Separate,
    /// `[q | k | v]`, each `hidden` wide (GPT-2's `c_attn`).
    Blocks,
    /// Per head `[q k v]`, each `head_dim` wide (GPT-NeoX's `query_key_value`).
    PerHead,
}

/// What every layer's attention shares in one forward pass: the mask and the rotary tables.
#[derive(Debug, Clone)]
pub struct AttentionContext<B: Backend> {
    /// `true` where a query must not see a key beyond causality: padding keys, and keys outside
    /// a sliding window; `None` when nothing is masked. `[batch, 1, seq, seq]`.
    pub mask: Option<Tensor<B, 4, Bool>>,
    /// The rotary tables of the batch's positions (rotary families only).
    pub rotary: Option<RotaryTables<B>>,
}

/// Multi-head causal self-attention (Hugging Face's `q/k/v/out` names, or a fused `qkv_proj`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    q_proj: Option<Linear<B>>,
    k_proj: Option<Linear<B>>,
    v_proj: Option<Linear<B>>,
    qkv_proj: Option<Linear<B>>,
    out_proj: Linear<B>,
    num_heads: usize,
    kv_heads: usize,
    head_dim: usize,
    per_head_fused: bool,
}

impl<B: Backend> Attention<B> {
    /// Allocates (lazily) the attention block of a layer of `config`.
    pub fn new(config: &ModelConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        let (heads, kv_heads, head_dim) = (
            config.num_attention_heads,
            config.kv_heads(),
            config.head_dim(),
        );
        let biases = config.biases();
        let linear = |inputs: usize, outputs: usize, bias: bool| {
            LinearConfig::new(inputs, outputs)
                .with_bias(bias)
                .init(device)
        };
        let layout = fused_layout(config.model_type);
        let separate = layout == FusedLayout::Separate;
        Self {
            q_proj: separate.then(|| linear(d, heads * head_dim, biases.qkv)),
            k_proj: separate.then(|| linear(d, kv_heads * head_dim, biases.qkv)),
            v_proj: separate.then(|| linear(d, kv_heads * head_dim, biases.qkv)),
            qkv_proj: (!separate).then(|| linear(d, 3 * heads * head_dim, biases.qkv)),
            out_proj: linear(heads * head_dim, d, biases.out),
            num_heads: heads,
            kv_heads,
            head_dim,
            per_head_fused: layout == FusedLayout::PerHead,
        }
    }

    /// Queries, keys and values, split into heads.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns q `[batch, heads, seq, head_dim]`, k and v `[batch, kv_heads, seq, head_dim]`
    fn project(&self, x: Tensor<B, 3>) -> [Tensor<B, 4>; 3] {
        let [batch, seq, _] = x.dims();
        let heads =
            |t: Tensor<B, 3>, n: usize| t.reshape([batch, seq, n, self.head_dim]).swap_dims(1, 2);
        match (&self.q_proj, &self.k_proj, &self.v_proj, &self.qkv_proj) {
            (Some(q), Some(k), Some(v), _) => [
                heads(q.forward(x.clone()), self.num_heads),
                heads(k.forward(x.clone()), self.kv_heads),
                heads(v.forward(x), self.kv_heads),
            ],
            (_, _, _, Some(qkv)) => {
                let (h, hd) = (self.num_heads, self.head_dim);
                let fused = qkv.forward(x);
                if self.per_head_fused {
                    let fused = fused.reshape([batch, seq, h, 3 * hd]).swap_dims(1, 2);
                    let part = |i: usize| {
                        fused
                            .clone()
                            .slice([0..batch, 0..h, 0..seq, i * hd..(i + 1) * hd])
                    };
                    [part(0), part(1), part(2)]
                } else {
                    let width = h * hd;
                    let part = |i: usize| {
                        heads(
                            fused
                                .clone()
                                .slice([0..batch, 0..seq, i * width..(i + 1) * width]),
                            h,
                        )
                    };
                    [part(0), part(1), part(2)]
                }
            }
            _ => unreachable!("an attention block has separate or fused projections"),
        }
    }

    /// Repeats each key or value head for the query heads that share it.
    ///
    /// # Shapes
    /// - `x`: `[batch, kv_heads, seq, head_dim]`; returns `[batch, heads, seq, head_dim]`
    fn repeat_kv(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if self.kv_heads == self.num_heads {
            return x;
        }
        let [batch, kv, seq, hd] = x.dims();
        let group = self.num_heads / kv;
        x.unsqueeze_dim::<5>(2)
            .expand([batch, kv, group, seq, hd])
            .reshape([batch, self.num_heads, seq, hd])
    }

    /// Attends every position to itself and the positions before it, except keys the context
    /// masks.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, context: &AttentionContext<B>) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let [mut q, mut k, v] = self.project(x);
        if let Some(rotary) = &context.rotary {
            q = rotary.apply(q);
            k = rotary.apply(k);
        }
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let options = AttentionModuleOptions {
            scale: Some((self.head_dim as f64).powf(-0.5)),
            softcap: None,
            is_causal: true,
        };
        let out = attention(q, k, v, context.mask.clone(), None, options).swap_dims(1, 2);
        self.out_proj
            .forward(out.reshape([batch, seq, self.num_heads * self.head_dim]))
    }
}

/// How `family` stores its q/k/v projections.
pub fn fused_layout(family: Family) -> FusedLayout {
    match family {
        Family::Gpt2 => FusedLayout::Blocks,
        Family::GptNeox => FusedLayout::PerHead,
        Family::Opt | Family::Llama | Family::Qwen2 | Family::Mistral => FusedLayout::Separate,
    }
}
