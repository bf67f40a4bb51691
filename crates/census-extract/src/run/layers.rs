//! The one layer loop of every engine: a batch enters, then each layer runs on its state, the
//! layers held by the loaded model or loaded from the checkpoint one at a time.
//!
//! An engine says how a batch enters and how one layer steps it ([`LayerStep`]: the dense path
//! on the backend device, [`DenseStep`], or the host engine, [`HostStep`]); where its layers
//! come from ([`LayerSource`]) sets the order: resident layers run batch by batch (each batch
//! through every layer, so the device holds one batch's states), streamed layers layer by layer
//! (each layer loaded once, through every batch of the part).

use std::ops::Range;

use burn::prelude::*;
use census_model::host::{HostLayer, HostScratch, HostStates};
use census_model::{AttentionContext, DecoderLayer, DecoderModel, FiredNeurons, TokenBatch};

use crate::error::Result;

/// A recorded layer's activity in one batch, as handed to a part's recorder.
pub(super) enum LayerOutput<B: Backend> {
    /// The fired neurons of every token, on the host.
    Fired(FiredNeurons),
    /// The activation inputs, less the fire threshold, on the device (dense engines, when
    /// asked for).
    ///
    /// # Shapes
    /// - `[batch, seq, ffn]`
    PreActivations(Tensor<B, 3>),
}

impl<B: Backend> LayerOutput<B> {
    /// The fired neurons, decoded on the host if they are still on the device.
    pub(super) fn fired(self) -> FiredNeurons {
        match self {
            Self::Fired(fired) => fired,
            Self::PreActivations(fc1) => FiredNeurons::from_pre_activations(fc1),
        }
    }
}

/// How one engine runs a batch through its layers.
pub(super) trait LayerStep<B: Backend> {
    /// What a batch carries from one layer to the next.
    type State;
    /// One decoder layer of this engine.
    type Layer;

    /// A batch's state before the first layer.
    fn enter(&mut self, input: &TokenBatch<B>) -> Result<Self::State>;

    /// Runs `layer` on `state` and gives the layer's activity.
    fn step(&mut self, layer: &Self::Layer, state: &mut Self::State) -> LayerOutput<B>;
}

/// Where an engine's layers come from.
pub(super) enum LayerSource<'a, L> {
    /// Held by the loaded model.
    Resident(&'a [L]),
    /// Loaded from the checkpoint when their turn comes, and dropped after.
    Streamed(&'a dyn Fn(usize) -> census_model::Result<L>),
}

/// Runs every batch of `inputs` through layers `0..layers.end` and hands each recorded
/// layer's output of each batch to `sink(layer - layers.start, batch, output)` as it comes.
pub(super) fn run_layers<B: Backend, E: LayerStep<B>>(
    engine: &mut E,
    source: LayerSource<'_, E::Layer>,
    inputs: &[TokenBatch<B>],
    layers: &Range<usize>,
    sink: &mut dyn FnMut(usize, usize, LayerOutput<B>),
) -> Result<()> {
    let mut record = |index: usize, batch: usize, output: LayerOutput<B>| {
        if index >= layers.start {
            sink(index - layers.start, batch, output);
        }
    };
    match source {
        LayerSource::Resident(all) => {
            if layers.end > all.len() {
                return Err(census_model::ModelError::LayerOutOfRange {
                    layer: layers.end.saturating_sub(1),
                    layers: all.len(),
                }
                .into());
            }
            for (b, input) in inputs.iter().enumerate() {
                let mut state = engine.enter(input)?;
                for (index, layer) in all[..layers.end].iter().enumerate() {
                    let output = engine.step(layer, &mut state);
                    record(index, b, output);
                }
            }
        }
        LayerSource::Streamed(load) => {
            let mut states = inputs
                .iter()
                .map(|input| engine.enter(input))
                .collect::<Result<Vec<_>>>()?;
            for index in 0..layers.end {
                let _span = tracing::debug_span!("layer", index).entered();
                let layer = load(index)?;
                for (b, state) in states.iter_mut().enumerate() {
                    let output = engine.step(&layer, state);
                    record(index, b, output);
                }
            }
        }
    }
    Ok(())
}

/// The dense path: every layer on the backend device, in the model's dtype.
pub(super) struct DenseStep<'a, B: Backend> {
    /// The model that embeds (and, when resident, holds the layers).
    pub embeddings: &'a DecoderModel<B>,
    /// Where the layers run.
    pub device: &'a B::Device,
    /// Keep the residual stream in host memory between layers (`--offload-hidden`).
    pub offload_hidden: bool,
    /// Hand the pre-activations over on the device rather than as fired neurons.
    pub on_device: bool,
    /// A neuron fires when its activation input exceeds this.
    pub fire_threshold: f32,
}

/// A batch on the dense path between layers.
pub(super) struct DenseState<B: Backend> {
    hidden: HiddenStates<B>,
    context: AttentionContext<B>,
}

impl<B: Backend> LayerStep<B> for DenseStep<'_, B> {
    type State = DenseState<B>;
    type Layer = DecoderLayer<B>;

    fn enter(&mut self, input: &TokenBatch<B>) -> Result<DenseState<B>> {
        Ok(DenseState {
            hidden: HiddenStates::keep(self.embeddings.embed(input)?, self.offload_hidden),
            context: self.embeddings.attention_context(input),
        })
    }

    fn step(&mut self, layer: &DecoderLayer<B>, state: &mut DenseState<B>) -> LayerOutput<B> {
        let out = layer.forward(state.hidden.take(self.device), &state.context);
        state.hidden = HiddenStates::keep(out.hidden, self.offload_hidden);
        let fc1 = if self.fire_threshold == 0.0 {
            out.fc1
        } else {
            out.fc1.sub_scalar(self.fire_threshold)
        };
        if self.on_device {
            LayerOutput::PreActivations(fc1)
        } else {
            LayerOutput::Fired(FiredNeurons::from_pre_activations(fc1))
        }
    }
}

/// The host engine: layers on the CPU in f32, fc2 summed over the fired neurons only.
pub(super) struct HostStep<'a, B: Backend> {
    /// The model that embeds.
    pub embeddings: &'a DecoderModel<B>,
    /// Buffers reused from layer to layer.
    pub scratch: HostScratch,
}

impl<B: Backend> LayerStep<B> for HostStep<'_, B> {
    type State = HostStates;
    type Layer = HostLayer;

    fn enter(&mut self, input: &TokenBatch<B>) -> Result<HostStates> {
        Ok(HostStates::embed(self.embeddings, input)?)
    }

    fn step(&mut self, layer: &HostLayer, state: &mut HostStates) -> LayerOutput<B> {
        LayerOutput::Fired(layer.forward(&mut state.hidden, &state.rows, &mut self.scratch))
    }
}

/// A batch's residual stream between layers: on the device, or in host memory.
enum HiddenStates<B: Backend> {
    /// Kept on the device.
    Device(Tensor<B, 3>),
    /// Offloaded to the host.
    Host(TensorData),
    /// Taken for the layer being run.
    Taken,
}

impl<B: Backend> HiddenStates<B> {
    /// Keeps `states`, on the host when `offload`.
    ///
    /// # Shapes
    /// - `states`: `[batch, seq, hidden]`
    fn keep(states: Tensor<B, 3>, offload: bool) -> Self {
        if offload {
            Self::Host(states.into_data())
        } else {
            Self::Device(states)
        }
    }

    /// The states on `device`, leaving [`HiddenStates::Taken`] behind.
    ///
    /// # Shapes
    /// - returns `[batch, seq, hidden]`
    fn take(&mut self, device: &B::Device) -> Tensor<B, 3> {
        match std::mem::replace(self, Self::Taken) {
            Self::Device(states) => states,
            Self::Host(data) => {
                // In the dtype it left in: f16 states come back as f16, not the default float.
                let dtype = data.dtype;
                Tensor::from_data(data, (device, dtype))
            }
            Self::Taken => unreachable!("each batch's states are taken once per layer"),
        }
    }
}
