//! One OPT decoder layer, pre-LN or post-LN.

use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::attention::OptAttention;
use crate::config::OptConfig;
use crate::ffn::OptFeedForward;

/// A decoder layer: self-attention and FFN, each with a residual connection and a LayerNorm
/// placed before the block (pre-LN) or after the residual add (post-LN, opt-350m).
#[derive(Module, Debug)]
pub struct OptDecoderLayer<B: Backend> {
    self_attn: OptAttention<B>,
    self_attn_layer_norm: LayerNorm<B>,
    ffn: OptFeedForward<B>,
    final_layer_norm: LayerNorm<B>,
    norm_before: bool,
}

/// What one layer hands back: the new residual stream and its FFN pre-activations.
#[derive(Debug, Clone)]
pub struct LayerOutput<B: Backend> {
    /// Residual stream after the layer, `[batch, seq, hidden]`.
    pub hidden: Tensor<B, 3>,
    /// fc1 pre-activations, `[batch, seq, ffn_dim]`.
    pub fc1: Tensor<B, 3>,
}

impl<B: Backend> OptDecoderLayer<B> {
    /// Allocates (lazily) one layer shaped by `config`.
    pub fn new(config: &OptConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        let norm = || LayerNormConfig::new(d).init(device);
        Self {
            self_attn: OptAttention::new(d, config.num_attention_heads, config.enable_bias, device),
            self_attn_layer_norm: norm(),
            ffn: OptFeedForward::new(d, config.ffn_dim, config.enable_bias, device),
            final_layer_norm: norm(),
            norm_before: config.do_layer_norm_before,
        }
    }

    /// Runs the layer on a residual stream.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - `padding`: `[batch, 1, seq, seq]` key-padding mask, or `None` (see [`crate::OptBatch::padding_mask`])
    /// - returns hidden `[batch, seq, hidden]` and fc1 `[batch, seq, ffn_dim]`
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        padding: Option<Tensor<B, 4, Bool>>,
    ) -> LayerOutput<B> {
        let (hidden, fc1) = self.run(hidden, padding, |x| self.ffn.forward(x));
        LayerOutput { hidden, fc1 }
    }

    /// Attention and FFN blocks with residuals and LayerNorms; `ffn` computes the FFN update
    /// and whatever it records.
    fn run<T>(
        &self,
        hidden: Tensor<B, 3>,
        padding: Option<Tensor<B, 4, Bool>>,
        ffn: impl FnOnce(Tensor<B, 3>) -> (Tensor<B, 3>, T),
    ) -> (Tensor<B, 3>, T) {
        let attn_in = if self.norm_before {
            self.self_attn_layer_norm.forward(hidden.clone())
        } else {
            hidden.clone()
        };
        let mut hidden = hidden + self.self_attn.forward(attn_in, padding);
        if !self.norm_before {
            hidden = self.self_attn_layer_norm.forward(hidden);
        }
        let ffn_in = if self.norm_before {
            self.final_layer_norm.forward(hidden.clone())
        } else {
            hidden.clone()
        };
        let (update, record) = ffn(ffn_in);
        let mut hidden = hidden + update;
        if !self.norm_before {
            hidden = self.final_layer_norm.forward(hidden);
        }
        (hidden, record)
    }

    /// The layer's FFN (for projecting neuron updates onto the vocabulary).
    pub fn ffn(&self) -> &OptFeedForward<B> {
        &self.ffn
    }
}
