//! The parts run in order: the engine loaded, each part computed while the one before it is
//! written on another thread, and committed in order.

use std::ops::Range;

use burn::prelude::*;
use census_format::progress::Progress;
use census_model::host::HostModel;
use census_model::{CheckpointPlan, burn_dtype};

use super::compute::{Compute, compute_part};
use super::options::ExtractOptions;
use super::resume::{Opened, check_disk};
use super::write::{PartContext, write_computed};
use crate::error::Result;
use crate::sequences::{PartPlan, SequencedCorpus};
use census_format::run::manifest::{CommittedPart, Manifest};

/// Loads what computes the activations: the whole model on the device, its layers on the host
/// engine, or only the embeddings with the layers streamed from `plan`.
pub(super) fn load_engine<'a, B: Backend>(
    plan: &'a CheckpointPlan,
    options: &ExtractOptions,
    device: &B::Device,
) -> Result<Compute<'a, B>> {
    if options.engine.streams_layers() {
        let _span = tracing::info_span!("load_embeddings").entered();
        return Ok(Compute::Streamed {
            embeddings: plan.load_embeddings::<B>(device, burn_dtype(options.dtype))?,
            plan,
        });
    }
    let _span = tracing::info_span!("load_model").entered();
    Ok(if options.engine.on_host() {
        Compute::Host(HostModel::load(plan, device)?)
    } else {
        Compute::Whole(plan.load_model(device, burn_dtype(options.dtype))?)
    })
}

/// Writes and commits the `todo` parts one by one, checking after each that the disk holds the
/// rest at the bytes per token written so far; returns the tokens processed.
pub(super) fn run_parts<B: Backend>(
    compute: &Compute<'_, B>,
    todo: &[&PartPlan],
    layers: &Range<usize>,
    options: &ExtractOptions,
    opened: &mut Opened,
    device: &B::Device,
) -> Result<u64> {
    let out = &options.out;
    let remaining: u64 = todo.iter().map(|p| p.tokens).sum();
    let progress = progress_bar(options.progress, remaining);
    let _shown = progress.span().enter();
    let Opened { corpus, manifest } = opened;
    let corpus: &SequencedCorpus = corpus;
    let context = PartContext {
        run_id: manifest.run_id.clone(),
        model: manifest.config.model.source.clone(),
    };
    let config = manifest.config.model.config.clone();
    let mut processed = 0u64;
    // Commits a written part: the manifest lists it, then the disk must hold the rest.
    let mut commit = |manifest: &mut Manifest, committed: CommittedPart| -> Result<()> {
        processed += committed.rows;
        progress.inc(committed.rows);
        manifest.parts.push(committed);
        manifest.parts.sort_by_key(|p| p.index);
        manifest.store(out)?;
        let written: u64 = manifest.parts.iter().map(|p| p.bytes).sum();
        let per_token = written / manifest.committed_tokens().max(1);
        check_disk(out, remaining - processed, per_token)
    };
    // A part's files are written on another thread while the next part computes; at most one
    // part is in writing, and parts are committed in order.
    std::thread::scope(|scope| -> Result<()> {
        let mut writing: Option<std::thread::ScopedJoinHandle<'_, Result<CommittedPart>>> = None;
        for &part in todo {
            if let Err(stop) = census_format::interrupt::check(
                "extraction stopped between parts; its committed parts are kept, and the same \
                 command resumes it",
            ) {
                if let Some(handle) = writing.take() {
                    commit(manifest, join_writer(handle)?)?;
                }
                return Err(census_format::FormatError::from(stop).into());
            }
            let span = tracing::info_span!("part", index = part.index);
            let computed = span.in_scope(|| {
                compute_part(
                    compute,
                    corpus,
                    &corpus.sequences[part.range.clone()],
                    layers,
                    options,
                    &config,
                    device,
                )
            });
            if let Some(handle) = writing.take() {
                commit(manifest, join_writer(handle)?)?;
            }
            let computed = computed?;
            let context = &context;
            writing = Some(scope.spawn(move || {
                span.in_scope(|| write_computed(computed, corpus, part, layers, options, context))
            }));
        }
        if let Some(handle) = writing.take() {
            commit(manifest, join_writer(handle)?)?;
        }
        Ok(())
    })?;
    Ok(processed)
}

/// The result of a part's writer thread.
fn join_writer(
    handle: std::thread::ScopedJoinHandle<'_, Result<CommittedPart>>,
) -> Result<CommittedPart> {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The progress of the extraction's parts, `total` tokens; without `show`, none.
fn progress_bar(show: bool, total: u64) -> Progress {
    if !show {
        return Progress::hidden();
    }
    let span = tracing::info_span!("extract", indicatif.pb_show = tracing::field::Empty);
    Progress::new(span, "extracting", "tokens", total)
}
