//! One part through the model: batches padded, run through the engine's layers
//! ([`super::layers`]), and each recorded layer's fired neurons kept as rows (shards) or counts.

use std::ops::Range;
use std::sync::Arc;

use burn::prelude::*;
use census_model::host::{HostLayer, HostModel, HostScratch};
use census_model::{CheckpointPlan, DecoderModel, FiredNeurons, TokenBatch, burn_dtype};

use super::layers::{DenseStep, HostStep, LayerOutput, LayerSource, run_layers};

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
    /// The whole model is loaded on the device (shared by the workers of one device).
    Whole(Arc<DecoderModel<B>>),
    /// The whole model is loaded, its layers on the host engine (shared likewise).
    Host(Arc<HostModel<B>>),
    /// Only the embeddings are loaded; each layer is loaded from the checkpoint when its turn
    /// comes and dropped after.
    Streamed {
        embeddings: Box<DecoderModel<B>>,
        plan: &'a CheckpointPlan,
    },
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
    let dense = |embeddings| DenseStep {
        embeddings,
        device,
        offload_hidden: options.engine.offloads_hidden(),
        on_device,
        fire_threshold: options.fire_threshold,
    };
    let host = |embeddings| HostStep {
        embeddings,
        scratch: HostScratch::default(),
    };
    match compute {
        Compute::Whole(model) => run_layers(
            &mut dense(model),
            LayerSource::Resident(model.layers()),
            inputs,
            layers,
            sink,
        ),
        Compute::Host(model) => run_layers(
            &mut host(model.embeddings()),
            LayerSource::Resident(model.layers()),
            inputs,
            layers,
            sink,
        ),
        Compute::Streamed { embeddings, plan } if options.engine.on_host() => run_layers(
            &mut host(embeddings),
            LayerSource::Streamed(&|index| HostLayer::load(plan, index)),
            inputs,
            layers,
            sink,
        ),
        Compute::Streamed { embeddings, plan } => {
            let dtype = burn_dtype(options.dtype);
            run_layers(
                &mut dense(embeddings),
                LayerSource::Streamed(&|index| plan.load_layer::<B>(index, device, dtype)),
                inputs,
                layers,
                sink,
            )
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
