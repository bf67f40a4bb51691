//! One decoder layer of any family on the host in `f32`: fused q/k/v projection, rotary
//! positions where the family has them, blocked causal attention with grouped heads and a
//! sliding window, and the FFN whose neurons are recorded; joined pre-norm, post-norm (OPT-350m)
//! or in parallel (GPT-NeoX).

use census_format::model::ModelConfig;

use super::attention::{Heads, RowLayout, causal_attention};
use super::ffn::HostFfn;
use super::linear::HostLinear;
use super::norm::HostNorm;
use super::rotary::HostRotary;
use crate::attention::{FusedLayout, fused_layout};
use crate::error::Result;
use crate::fired::FiredNeurons;
use crate::loader::CheckpointPlan;
use crate::weights::{LayerWeight, Part};

/// Reads norm `norm` of layer `layer`: a LayerNorm (scale and shift) or an RMSNorm.
fn load_norm(plan: &CheckpointPlan, layer: usize, norm: LayerWeight) -> Result<HostNorm> {
    let config = plan.config();
    let rms = config.model_type.rms_norm();
    Ok(HostNorm {
        gamma: plan.read_f32(&norm.param_path(layer, Part::Weight))?,
        beta: if rms {
            None
        } else {
            Some(plan.read_f32(&norm.param_path(layer, Part::Bias))?)
        },
        epsilon: config.norm_eps as f32,
        rms,
    })
}

/// Reads the q/k/v projections of layer `layer` as one map whose outputs are `q | k | v`,
/// each head's dimensions contiguous.
fn load_qkv(plan: &CheckpointPlan, layer: usize, heads: Heads) -> Result<HostLinear> {
    let config = plan.config();
    let (d, bias) = (config.hidden_size, config.biases().qkv);
    use LayerWeight::{KProj, QProj, QkvProj, VProj};
    Ok(match fused_layout(config.model_type) {
        FusedLayout::Separate => HostLinear::load(plan, layer, &[QProj, KProj, VProj], d, bias)?,
        FusedLayout::Blocks => HostLinear::load(plan, layer, &[QkvProj], d, bias)?,
        FusedLayout::PerHead => {
            // Stored per head as `[q k v]`: gather each part's heads together.
            let mut qkv = HostLinear::load(plan, layer, &[QkvProj], d, bias)?;
            let (count, dim) = (heads.count, heads.dim);
            let order: Vec<usize> = (0..3)
                .flat_map(|part| {
                    (0..count).flat_map(move |h| (0..dim).map(move |c| (h * 3 + part) * dim + c))
                })
                .collect();
            qkv.reorder_outputs(&order);
            qkv
        }
    })
}

/// How a layer joins its attention and FFN blocks to the residual stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Each block reads its norm of the stream and adds to it (most models).
    PreNorm,
    /// Each block reads the stream, adds to it, and the sum is normalised (OPT-350m).
    PostNorm,
    /// Both blocks read their norms of the same stream and add together (GPT-NeoX).
    Parallel,
}

impl Join {
    fn of(config: &ModelConfig) -> Self {
        if config.parallel_residual {
            Self::Parallel
        } else if config.do_layer_norm_before {
            Self::PreNorm
        } else {
            Self::PostNorm
        }
    }
}

/// Buffers reused from layer to layer and batch to batch.
#[derive(Debug, Default)]
pub struct HostScratch {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    pre: Vec<f32>,
}

/// Sizes `buffer` to `len` elements (contents unspecified), keeping its allocation.
fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    &mut buffer[..len]
}

/// A decoder layer's weights in host memory, ready for [`HostLayer::forward`].
#[derive(Debug, Clone)]
pub struct HostLayer {
    attn_norm: HostNorm,
    qkv: HostLinear,
    out_proj: HostLinear,
    heads: Heads,
    rotary: Option<HostRotary>,
    window: Option<usize>,
    ffn_norm: HostNorm,
    ffn: HostFfn,
    join: Join,
}

impl HostLayer {
    /// Reads decoder layer `index` of a checkpoint into host memory as `f32`.
    pub fn load(plan: &CheckpointPlan, index: usize) -> Result<Self> {
        let config = plan.config();
        if index >= config.num_hidden_layers {
            return Err(crate::ModelError::LayerOutOfRange {
                layer: index,
                layers: config.num_hidden_layers,
            });
        }
        let heads = Heads {
            count: config.num_attention_heads,
            kv_count: config.kv_heads(),
            dim: config.head_dim(),
        };
        let (f, biases, gated) = (
            config.ffn_dim,
            config.biases(),
            config.model_type.gated_mlp(),
        );
        use LayerWeight::{AttentionNorm, Fc1, Fc2, FfnNorm, OutProj, Up};
        let fc1_parts: &[LayerWeight] = if gated { &[Fc1, Up] } else { &[Fc1] };
        let d = config.hidden_size;
        Ok(Self {
            attn_norm: load_norm(plan, index, AttentionNorm)?,
            qkv: load_qkv(plan, index, heads)?,
            out_proj: HostLinear::load(plan, index, &[OutProj], heads.context_width(), biases.out)?,
            heads,
            rotary: config.rotary.as_ref().map(HostRotary::new),
            window: config.sliding_window,
            ffn_norm: load_norm(plan, index, FfnNorm)?,
            ffn: HostFfn::new(
                HostLinear::load(plan, index, fc1_parts, d, biases.mlp)?,
                HostLinear::load(plan, index, &[Fc2], f, biases.mlp)?,
                config.activation_function,
                gated,
            ),
            join: Join::of(config),
        })
    }

    /// FFN neurons.
    pub fn ffn_dim(&self) -> usize {
        self.ffn.width()
    }

    /// Runs the layer on the residual stream in place and returns the neurons that fired (the
    /// activation's input > 0) for every token, padding included, row-major.
    ///
    /// # Shapes
    /// - `hidden`: `[batch * seq, hidden]` row-major, laid out as `rows` says
    pub fn forward(
        &self,
        hidden: &mut [f32],
        rows: &RowLayout,
        scratch: &mut HostScratch,
    ) -> FiredNeurons {
        let HostScratch {
            normed,
            qkv,
            context,
            pre,
        } = scratch;
        let tokens = rows.tokens();
        assert_eq!(hidden.len(), tokens * self.qkv.inputs, "hidden states size");
        let normed = sized(normed, hidden.len());

        let qkv = sized(qkv, tokens * self.heads.qkv_width());
        if self.join == Join::PostNorm {
            self.qkv.forward(hidden, qkv, false);
        } else {
            self.attn_norm.forward(hidden, normed);
            self.qkv.forward(normed, qkv, false);
        }
        if self.join == Join::Parallel {
            // The FFN reads its norm of the stream before attention adds to it.
            self.ffn_norm.forward(hidden, normed);
        }
        if let Some(rotary) = &self.rotary {
            rotary.apply(qkv, rows, self.heads);
        }
        let context = sized(context, tokens * self.heads.context_width());
        causal_attention(qkv, context, rows, self.heads, self.window);
        self.out_proj.forward(context, hidden, true);

        match self.join {
            Join::PreNorm => self.ffn_norm.forward(hidden, normed),
            Join::PostNorm => {
                self.attn_norm.forward_in_place(hidden);
                normed.copy_from_slice(hidden);
            }
            Join::Parallel => {}
        }
        let fired = self.ffn.forward(normed, hidden, pre);
        if self.join == Join::PostNorm {
            self.ffn_norm.forward_in_place(hidden);
        }
        fired
    }
}
