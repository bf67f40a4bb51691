//! One part through the model: batches padded, every engine's layer loop, and each recorded
//! layer's fired neurons kept as rows (shards) or counts.

use std::ops::Range;

use burn::prelude::*;
use census_model::host::{HostLayer, HostModel, HostScratch, HostStates};
use census_model::{CheckpointPlan, DecoderModel, FiredNeurons, TokenBatch, burn_dtype};

use super::options::ExtractOptions;
use crate::device_counts::DeviceCounts;
use crate::error::Result;
use crate::sequences::{SequencedCorpus, plan_batches};
use census_format::run::RecordMode;
use census_format::run::counts::{DomainCounts, PartCounts};
use census_format::run::sequence_table::Sequence;
use census_format::run::tables::ActivationRows;

/// How a part's activations are computed.
pub(super) enum Compute<'a, B: Backend> {
    /// The whole model is loaded on the device.
    Whole(DecoderModel<B>),
    /// The whole model is loaded, its layers on the host engine.
    Host(HostModel<B>),
    /// Only the embeddings are loaded; each layer is loaded from the checkpoint when its turn
    /// comes and dropped after.
    Streamed {
        embeddings: DecoderModel<B>,
        plan: &'a CheckpointPlan,
    },
}

/// A recorded layer's activity in one batch, as handed to a part's recorder.
enum LayerOutput<B: Backend> {
    /// The fired neurons of every token, on the host.
    Fired(FiredNeurons),
    /// The fc1 pre-activations, on the device (dense engines, when asked for).
    ///
    /// # Shapes
    /// - `[batch, seq, ffn]`
    PreActivations(Tensor<B, 3>),
}

impl<B: Backend> LayerOutput<B> {
    /// The dense path's output: the activation inputs less `threshold` (so a neuron fires
    /// where the result is positive) where `keep_on_device`, else the fired neurons decoded on
    /// the host.
    fn of_dense(fc1: Tensor<B, 3>, keep_on_device: bool, threshold: f32) -> Self {
        let fc1 = if threshold == 0.0 {
            fc1
        } else {
            fc1.sub_scalar(threshold)
        };
        if keep_on_device {
            Self::PreActivations(fc1)
        } else {
            Self::Fired(FiredNeurons::from_pre_activations(fc1))
        }
    }

    /// The fired neurons, decoded on the host if they are still on the device.
    fn fired(self) -> FiredNeurons {
        match self {
            Self::Fired(fired) => fired,
            Self::PreActivations(fc1) => FiredNeurons::from_pre_activations(fc1),
        }
    }
}

/// Runs every batch of a part and hands each recorded layer's output of each batch to `sink`
/// (`sink(layer - start, batch, output)`) as they come, so a part never holds them all. The
/// dense engines hand over the pre-activations on the device when `on_device`; the host engine
/// always hands over fired neurons.
fn run_batches<B: Backend>(
    compute: &Compute<'_, B>,
    inputs: &[TokenBatch<B>],
    layers: &Range<usize>,
    options: &ExtractOptions,
    device: &B::Device,
    on_device: bool,
    sink: &mut dyn FnMut(usize, usize, LayerOutput<B>),
) -> Result<()> {
    match compute {
        Compute::Whole(model) => {
            for (b, input) in inputs.iter().enumerate() {
                model.forward_visiting(input, Some(layers.end - 1), &mut |layer, fc1| {
                    if layer >= layers.start {
                        sink(
                            layer - layers.start,
                            b,
                            LayerOutput::of_dense(fc1, on_device, options.fire_threshold),
                        );
                    }
                })?;
            }
        }
        Compute::Host(model) => {
            let mut scratch = HostScratch::default();
            for (b, input) in inputs.iter().enumerate() {
                let (per_layer, _) = model.forward(input, layers.end - 1, &mut scratch)?;
                for (layer, f) in per_layer.into_iter().enumerate().skip(layers.start) {
                    sink(layer - layers.start, b, LayerOutput::Fired(f));
                }
            }
        }
        Compute::Streamed { embeddings, plan } if options.engine.on_host() => {
            let mut states = inputs
                .iter()
                .map(|input| HostStates::embed(embeddings, input))
                .collect::<census_model::Result<Vec<_>>>()?;
            let mut scratch = HostScratch::default();
            for layer_index in 0..layers.end {
                let _span = tracing::debug_span!("layer", index = layer_index).entered();
                let layer = HostLayer::load(plan, layer_index)?;
                for (b, state) in states.iter_mut().enumerate() {
                    let f = layer.forward(&mut state.hidden, &state.rows, &mut scratch);
                    if layer_index >= layers.start {
                        sink(layer_index - layers.start, b, LayerOutput::Fired(f));
                    }
                }
            }
        }
        Compute::Streamed { embeddings, plan } => {
            let mut hidden = inputs
                .iter()
                .map(|input| {
                    let h = embeddings.embed(input)?;
                    Ok(HiddenStates::keep(h, options.engine.offloads_hidden()))
                })
                .collect::<census_model::Result<Vec<_>>>()?;
            let contexts: Vec<_> = inputs
                .iter()
                .map(|input| embeddings.attention_context(input))
                .collect();
            for layer_index in 0..layers.end {
                let _span = tracing::debug_span!("layer", index = layer_index).entered();
                let layer = plan.load_layer::<B>(layer_index, device, burn_dtype(options.dtype))?;
                for (b, h) in hidden.iter_mut().enumerate() {
                    let out = layer.forward(h.take(device), &contexts[b]);
                    *h = HiddenStates::keep(out.hidden, options.engine.offloads_hidden());
                    if layer_index >= layers.start {
                        let output =
                            LayerOutput::of_dense(out.fc1, on_device, options.fire_threshold);
                        sink(layer_index - layers.start, b, output);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A batch's residual stream between streamed layers: on the device, or in host memory.
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

/// What one part's files are written from, by record mode.
pub(super) enum ComputedPart {
    /// `rows[layer - start][local sequence]`: that sequence's rows in that layer.
    Rows(Vec<Vec<ActivationRows>>),
    /// Each recorded layer's fire counts, by domain.
    Counts(Vec<PartCounts>),
}

/// Runs one part through the model, recording each batch as it comes: its rows (shards), or
/// its fire counts (counts), so a counts part holds only its counters.
pub(super) fn compute_part<B: Backend>(
    compute: &Compute<'_, B>,
    corpus: &SequencedCorpus,
    sequences: &[Sequence],
    layers: &Range<usize>,
    options: &ExtractOptions,
    config: &census_format::model::ModelConfig,
    device: &B::Device,
) -> Result<ComputedPart> {
    let batches = plan_batches(sequences, options.batch_tokens);
    let inputs = batches
        .iter()
        .map(|batch| {
            let token_lists: Vec<Vec<u32>> =
                batch.iter().map(|&i| sequences[i].tokens.clone()).collect();
            TokenBatch::left_padded(&token_lists, config.pad_token_id, config.vocab_size, device)
        })
        .collect::<census_model::Result<Vec<_>>>()?;
    let widths: Vec<usize> = inputs.iter().map(|input| input.dims()[1]).collect();
    match options.record {
        RecordMode::Shards => {
            let mut rows: Vec<Vec<ActivationRows>> =
                vec![vec![ActivationRows::default(); sequences.len()]; layers.len()];
            run_batches(
                compute,
                &inputs,
                layers,
                options,
                device,
                false,
                &mut |layer, b, output| {
                    let f = output.fired();
                    for (local, first) in batch_sequences(&batches[b], widths[b], sequences) {
                        append_fired(&mut rows[layer][local], &sequences[local], &f, first);
                    }
                },
            )?;
            Ok(ComputedPart::Rows(rows))
        }
        RecordMode::Counts => {
            let positions = options
                .sequences
                .full_length
                .then_some(options.sequences.max_seq_len);
            let mut counts: Vec<PartCounts> = vec![PartCounts::new(); layers.len()];
            let mut on_device =
                DeviceCounts::<B>::new(config.ffn_dim, positions, options.engine.streams_layers());
            run_batches(
                compute,
                &inputs,
                layers,
                options,
                device,
                !options.engine.on_host(),
                &mut |layer, b, output| {
                    let f = match output {
                        LayerOutput::PreActivations(fc1)
                            if on_device.fits(&batches[b], widths[b], sequences) =>
                        {
                            on_device.add(layer, fc1, &batches[b], widths[b], sequences);
                            return;
                        }
                        output => output.fired(),
                    };
                    for (local, first) in batch_sequences(&batches[b], widths[b], sequences) {
                        let sequence = &sequences[local];
                        let domain = counts[layer]
                            .entry(corpus.domains[sequence.domain as usize].clone())
                            .or_insert_with(|| DomainCounts::new(config.ffn_dim, positions));
                        for pos in 0..sequence.tokens.len() {
                            domain.add_token(pos, f.of(first + pos));
                        }
                    }
                },
            )?;
            on_device.into_host(&corpus.domains, &mut counts);
            Ok(ComputedPart::Counts(counts))
        }
    }
}

/// Each sequence of a batch padded to `width` tokens (left padding): its index in `sequences`
/// and the batch token (row-major) where its `</s>` sits.
fn batch_sequences<'a>(
    batch: &'a [usize],
    width: usize,
    sequences: &'a [Sequence],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    batch
        .iter()
        .enumerate()
        .map(move |(row, &local)| (local, row * width + width - sequences[local].tokens.len()))
}

/// Appends the fired neurons of every position of `sequence`, whose `</s>` is batch token `first`, to `out`.
fn append_fired(out: &mut ActivationRows, sequence: &Sequence, fired: &FiredNeurons, first: usize) {
    for pos in 0..sequence.tokens.len() {
        out.neurons.extend_from_slice(fired.of(first + pos));
        out.seq.push(sequence.seq);
        out.pos.push(pos as u16);
        out.offsets.push(out.neurons.len() as i32);
    }
}

/// Concatenates per-sequence rows (already in sequence order).
pub(super) fn merge_rows(
    per_sequence: Vec<ActivationRows>,
) -> std::result::Result<ActivationRows, String> {
    let mut merged = ActivationRows::default();
    for rows in per_sequence {
        let base = merged.neurons.len();
        if base + rows.neurons.len() > i32::MAX as usize {
            return Err(
                "more than 2^31 fired neurons in one part and layer: lower --part-tokens"
                    .to_string(),
            );
        }
        merged.seq.extend(rows.seq);
        merged.pos.extend(rows.pos);
        merged
            .offsets
            .extend(rows.offsets[1..].iter().map(|o| o + base as i32));
        merged.neurons.extend(rows.neurons);
    }
    Ok(merged)
}
