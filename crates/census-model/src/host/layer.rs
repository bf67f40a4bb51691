//! One OPT decoder layer on the host in `f32`: fused q/k/v projection, blocked causal
//! attention, and an FFN whose fc2 sums only the neurons that fired.

use rayon::prelude::*;

use super::attention::{Heads, RowLayout, causal_attention};
use super::matmul::{MatMut, MatRef, Threads, matmul};
use super::norm::HostLayerNorm;
use super::sparse_fc2::add_fired_updates;
use crate::error::Result;
use crate::fired::FiredNeurons;
use crate::loader::CheckpointPlan;
use crate::weights::{LayerWeight, Part};

/// A linear map `y = x · Wᵀ + bias` with `W` in PyTorch's `[out, in]` layout, as stored.
#[derive(Debug, Clone)]
struct HostLinear {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl HostLinear {
    /// Reads the linear maps `names` of layer `layer` and stacks them along the output
    /// dimension.
    fn load(
        plan: &CheckpointPlan,
        layer: usize,
        names: &[LayerWeight],
        inputs: usize,
        bias: bool,
    ) -> Result<Self> {
        let weights = names
            .iter()
            .map(|name| plan.stored(&name.param_path(layer, Part::Weight)))
            .collect::<Result<Vec<_>>>()?;
        let sizes: Vec<usize> = weights.iter().map(|w| w.shape.iter().product()).collect();
        // Read each part straight into its slice of the stacked matrix.
        let mut weight = vec![0.0; sizes.iter().sum()];
        let mut rest = weight.as_mut_slice();
        for (tensor, &size) in weights.iter().zip(&sizes) {
            let (part, tail) = rest.split_at_mut(size);
            tensor.read_f32_into(part)?;
            rest = tail;
        }
        let mut biases = Vec::new();
        if bias {
            for name in names {
                biases.extend(plan.read_f32(&name.param_path(layer, Part::Bias))?);
            }
        }
        Ok(Self {
            outputs: weight.len() / inputs,
            weight,
            bias: bias.then_some(biases),
            inputs,
        })
    }

    /// `out = x · Wᵀ + bias`, or `out += x · Wᵀ + bias` when `accumulate`.
    ///
    /// # Shapes
    /// - `x`: `[rows, inputs]`, `out`: `[rows, outputs]`
    fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
        let rows = x.len() / self.inputs;
        let mut read_out = accumulate;
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(self.outputs) {
                if accumulate {
                    row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
                } else {
                    row.copy_from_slice(bias);
                }
            }
            read_out = true;
        }
        matmul(
            MatMut::new(out, rows, self.outputs, self.outputs),
            MatRef::row_major(x, rows, self.inputs),
            MatRef::new(&self.weight, self.inputs, self.outputs, 1, self.inputs),
            read_out,
            Threads::All,
        );
    }
}

/// Reads the LayerNorm `norm` of layer `layer`.
fn load_norm(plan: &CheckpointPlan, layer: usize, norm: LayerWeight) -> Result<HostLayerNorm> {
    Ok(HostLayerNorm {
        gamma: plan.read_f32(&norm.param_path(layer, Part::Weight))?,
        beta: Some(plan.read_f32(&norm.param_path(layer, Part::Bias))?),
    })
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    out.par_chunks_mut(rows)
        .enumerate()
        .for_each(|(c, column)| {
            for (r, o) in column.iter_mut().enumerate() {
                *o = data[r * cols + c];
            }
        });
    out
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
    attn_norm: HostLayerNorm,
    qkv: HostLinear,
    out_proj: HostLinear,
    heads: Heads,
    ffn_norm: HostLayerNorm,
    fc1: HostLinear,
    /// fc2's weight as `[ffn, hidden]`: row `n` is neuron `n`'s update vector.
    fc2_rows: Vec<f32>,
    fc2_bias: Option<Vec<f32>>,
    norm_before: bool,
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
        let (d, bias) = (config.hidden_size, config.enable_bias);
        use LayerWeight::{AttentionNorm, Fc1, Fc2, FfnNorm, KProj, OutProj, QProj, VProj};
        let fc2 = HostLinear::load(plan, index, &[Fc2], config.ffn_dim, bias)?;
        Ok(Self {
            attn_norm: load_norm(plan, index, AttentionNorm)?,
            qkv: HostLinear::load(plan, index, &[QProj, KProj, VProj], d, bias)?,
            out_proj: HostLinear::load(plan, index, &[OutProj], d, bias)?,
            heads: Heads {
                count: config.num_attention_heads,
                dim: d / config.num_attention_heads,
            },
            ffn_norm: load_norm(plan, index, FfnNorm)?,
            fc1: HostLinear::load(plan, index, &[Fc1], d, bias)?,
            fc2_rows: transpose(&fc2.weight, d, config.ffn_dim),
            fc2_bias: fc2.bias,
            norm_before: config.do_layer_norm_before,
        })
    }

    /// FFN neurons.
    pub fn ffn_dim(&self) -> usize {
        self.fc1.outputs
    }

    /// Runs the layer on the residual stream in place and returns the neurons that fired
    /// (`fc1 > 0`) for every token, padding included, row-major.
    ///
    /// # Shapes
    /// - `hidden`: `[batch * seq, hidden]` row-major, laid out as `rows` says
    pub fn forward(
        &self,
        hidden: &mut [f32],
        rows: &RowLayout,
        scratch: &mut HostScratch,
    ) -> FiredNeurons {
        let width = self.qkv.inputs;
        let tokens = rows.tokens();
        assert_eq!(hidden.len(), tokens * width, "hidden states size");

        let qkv = sized(&mut scratch.qkv, tokens * 3 * width);
        if self.norm_before {
            let normed = sized(&mut scratch.normed, hidden.len());
            self.attn_norm.forward(hidden, normed);
            self.qkv.forward(normed, qkv, false);
        } else {
            self.qkv.forward(hidden, qkv, false);
        }
        let context = sized(&mut scratch.context, hidden.len());
        causal_attention(qkv, context, rows, self.heads);
        self.out_proj.forward(context, hidden, true);
        if !self.norm_before {
            self.attn_norm.forward_in_place(hidden);
        }

        let pre = sized(&mut scratch.pre, tokens * self.fc1.outputs);
        if self.norm_before {
            let normed = sized(&mut scratch.normed, hidden.len());
            self.ffn_norm.forward(hidden, normed);
            self.fc1.forward(normed, pre, false);
        } else {
            self.fc1.forward(hidden, pre, false);
        }
        let fired = add_fired_updates(
            pre,
            self.fc1.outputs,
            &self.fc2_rows,
            self.fc2_bias.as_deref(),
            hidden,
        );
        if !self.norm_before {
            self.ffn_norm.forward_in_place(hidden);
        }
        fired
    }
}
