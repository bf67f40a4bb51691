//! One decoder layer: attention and FFN with their norms, joined pre-LN, post-LN (OPT-350m) or
//! in parallel (GPT-NeoX).

use burn::prelude::*;
use census_format::model::ModelConfig;

use crate::attention::{Attention, AttentionContext};
use crate::ffn::FeedForward;
use crate::norm::Norm;

/// A decoder layer. Its norms keep OPT's names: `self_attn_layer_norm` before (or after)
/// attention, `final_layer_norm` before (or after) the FFN.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    self_attn: Attention<B>,
    self_attn_layer_norm: Norm<B>,
    ffn: FeedForward<B>,
    final_layer_norm: Norm<B>,
    norm_before: bool,
    parallel: bool,
}

/// What one layer hands back: the new residual stream and its FFN activation inputs.
#[derive(Debug, Clone)]
pub struct LayerOutput<B: Backend> {
    /// Residual stream after the layer, `[batch, seq, hidden]`.
    pub hidden: Tensor<B, 3>,
    /// The activation's inputs (fc1 or gate outputs), `[batch, seq, ffn_dim]`.
    pub fc1: Tensor<B, 3>,
}

impl<B: Backend> DecoderLayer<B> {
    /// Allocates (lazily) one layer shaped by `config`.
    pub fn new(config: &ModelConfig, device: &B::Device) -> Self {
        Self {
            self_attn: Attention::new(config, device),
            self_attn_layer_norm: Norm::of(config, device),
            ffn: FeedForward::new(config, device),
            final_layer_norm: Norm::of(config, device),
            norm_before: config.do_layer_norm_before,
            parallel: config.parallel_residual,
        }
    }

    /// Runs the layer on a residual stream.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - returns hidden `[batch, seq, hidden]` and fc1 `[batch, seq, ffn_dim]`
    pub fn forward(&self, hidden: Tensor<B, 3>, context: &AttentionContext<B>) -> LayerOutput<B> {
        let (hidden, fc1) = self.run(hidden, context, |x| self.ffn.forward(x));
        LayerOutput { hidden, fc1 }
    }

    /// Attention and FFN blocks with residuals and norms; `ffn` computes the FFN update and
    /// whatever it records.
    fn run<T>(
        &self,
        hidden: Tensor<B, 3>,
        context: &AttentionContext<B>,
        ffn: impl FnOnce(Tensor<B, 3>) -> (Tensor<B, 3>, T),
    ) -> (Tensor<B, 3>, T) {
        if self.parallel {
            let attention = self
                .self_attn
                .forward(self.self_attn_layer_norm.forward(hidden.clone()), context);
            let (update, record) = ffn(self.final_layer_norm.forward(hidden.clone()));
            return (hidden + attention + update, record);
        }
        let attn_in = if self.norm_before {
            self.self_attn_layer_norm.forward(hidden.clone())
        } else {
            hidden.clone()
        };
        let mut hidden = hidden + self.self_attn.forward(attn_in, context);
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
    pub fn ffn(&self) -> &FeedForward<B> {
        &self.ffn
    }
}
