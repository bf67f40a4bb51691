//! The host engine: every family's decoder layers run on the CPU in `f32` straight on the
//! `gemm` kernels, built for extraction. Beside the plain forward it reads q, k and v in place
//! from one fused projection, skips the masked half of causal attention, sums fc2 over the
//! fired neurons only where the activation is a ReLU, and reuses its buffers, so it does a
//! fraction of a dense pass's work and allocates nothing per layer. Embeddings stay on the
//! burn model.

mod activation;
mod attention;
mod ffn;
mod layer;
mod linear;
mod matmul;
mod norm;
mod rotary;
mod sparse_fc2;

use burn::prelude::*;

pub use attention::RowLayout;
pub use layer::{HostLayer, HostScratch};

use crate::batch::TokenBatch;
use crate::decoder::DecoderModel;
use crate::error::{ModelError, Result};
use crate::fired::FiredNeurons;
use crate::loader::CheckpointPlan;

/// Host copy of a float tensor as `f32`.
fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float data converts to f32")
}

/// A batch's residual stream in host memory.
#[derive(Debug, Clone)]
pub struct HostStates {
    /// `[batch * seq, hidden]`, row-major.
    pub hidden: Vec<f32>,
    /// How the rows are laid out.
    pub rows: RowLayout,
}

impl HostStates {
    /// Embeds a left-padded batch with `model` (which may hold no layers) and copies the
    /// result to the host.
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]`; the states are `[batch * seq, hidden]`
    pub fn embed<B: Backend>(model: &DecoderModel<B>, batch: &TokenBatch<B>) -> Result<Self> {
        let [rows, seq] = batch.dims();
        let mask: Vec<i64> = batch
            .attention_mask
            .clone()
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("integer mask data");
        let mut padding = Vec::with_capacity(rows);
        for (row, mask) in mask.chunks_exact(seq).enumerate() {
            let pad = mask.iter().take_while(|&&m| m == 0).count();
            if mask[pad..].contains(&0) {
                return Err(crate::error::BatchError::NotLeftPadded { row }.into());
            }
            padding.push(pad);
        }
        Ok(Self {
            hidden: host_f32(model.embed(batch)?),
            rows: RowLayout {
                batch: rows,
                seq,
                padding,
            },
        })
    }
}

/// A whole model for the host engine: embeddings on the burn model, layers on the host.
#[derive(Debug)]
pub struct HostModel<B: Backend> {
    embeddings: DecoderModel<B>,
    layers: Vec<HostLayer>,
}

impl<B: Backend> HostModel<B> {
    /// Loads a checkpoint: embeddings on `device` (in `f32`), every layer on the host.
    pub fn load(plan: &CheckpointPlan, device: &B::Device) -> Result<Self> {
        let _span = tracing::info_span!("load_host_model").entered();
        let embeddings = plan.load_inputs(device, burn::tensor::DType::F32)?;
        tracing::debug!("embeddings loaded");
        let layers: Vec<HostLayer> = (0..plan.config().num_hidden_layers)
            .map(|index| HostLayer::load(plan, index))
            .collect::<Result<_>>()?;
        tracing::info!(
            layers = layers.len(),
            "model loaded: embeddings on the device, layers on the host"
        );
        Ok(Self { embeddings, layers })
    }

    /// The host layers.
    pub fn layers(&self) -> &[HostLayer] {
        &self.layers
    }

    /// The model that embeds (no layers, no separate LM head).
    pub fn embeddings(&self) -> &DecoderModel<B> {
        &self.embeddings
    }

    /// Runs layers `0..=last_layer` and returns each one's fired neurons for the `batch * seq`
    /// tokens, row-major (padding included), and the residual stream after the last one.
    pub fn forward(
        &self,
        batch: &TokenBatch<B>,
        last_layer: usize,
        scratch: &mut HostScratch,
    ) -> Result<(Vec<FiredNeurons>, HostStates)> {
        if last_layer >= self.layers.len() {
            return Err(ModelError::LayerOutOfRange {
                layer: last_layer,
                layers: self.layers.len(),
            });
        }
        let mut states = HostStates::embed(&self.embeddings, batch)?;
        let fired = self.layers[..=last_layer]
            .iter()
            .map(|layer| layer.forward(&mut states.hidden, &states.rows, scratch))
            .collect();
        Ok((fired, states))
    }
}
