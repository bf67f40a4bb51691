//! The parts run in order: the engine loaded, each part computed while the one before it is
//! written on another thread, and committed in order.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

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
            embeddings: Box::new(plan.load_inputs::<B>(device, burn_dtype(options.dtype))?),
            plan,
        });
    }
    let _span = tracing::info_span!("load_model").entered();
    Ok(if options.engine.on_host() {
        Compute::Host(Arc::new(HostModel::load(plan, device)?))
    } else {
        Compute::Whole(Arc::new(
            plan.load_model(device, burn_dtype(options.dtype))?,
        ))
    })
}

/// Commits written parts to the manifest, counting them on the progress bar and checking after
/// each that the disk holds the rest at the bytes per token written so far.
pub(super) struct Committer<'a> {
    out: &'a Path,
    /// Tokens of the parts to run.
    remaining: u64,
    /// Tokens committed so far.
    pub(super) processed: u64,
    /// The bar of the tokens committed.
    pub(super) progress: Progress,
}

impl<'a> Committer<'a> {
    /// A committer of the `todo` parts of the run `options` describe.
    pub(super) fn new(options: &'a ExtractOptions, todo: &[&PartPlan]) -> Self {
        let remaining: u64 = todo.iter().map(|p| p.tokens).sum();
        Self {
            out: &options.out,
            remaining,
            processed: 0,
            progress: progress_bar(options.progress, remaining),
        }
    }

    /// Lists `committed` in the manifest, stored; then the disk must hold the rest.
    pub(super) fn commit(
        &mut self,
        manifest: &mut Manifest,
        committed: CommittedPart,
    ) -> Result<()> {
        self.processed += committed.rows;
        self.progress.inc(committed.rows);
        manifest.parts.push(committed);
        manifest.parts.sort_by_key(|p| p.index);
        manifest.store(self.out)?;
        let written: u64 = manifest.parts.iter().map(|p| p.bytes).sum();
        let per_token = written / manifest.committed_tokens().max(1);
        check_disk(self.out, self.remaining - self.processed, per_token)
    }
}

/// Writes and commits the `todo` parts one by one on one device; returns the tokens processed.
pub(super) fn run_parts<B: Backend>(
    compute: &Compute<'_, B>,
    todo: &[&PartPlan],
    layers: &Range<usize>,
    options: &ExtractOptions,
    opened: &mut Opened,
    device: &B::Device,
) -> Result<u64> {
    let mut committer = Committer::new(options, todo);
    let _shown = committer.progress.span().clone().entered();
    let Opened { corpus, manifest } = opened;
    let corpus: &SequencedCorpus = corpus;
    let context = PartContext {
        run_id: manifest.run_id.clone(),
        model: manifest.config.model.source.clone(),
    };
    let config = manifest.config.model.config.clone();
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
                    committer.commit(manifest, join_writer(handle)?)?;
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
                committer.commit(manifest, join_writer(handle)?)?;
            }
            let computed = computed?;
            let context = &context;
            writing = Some(scope.spawn(move || {
                span.in_scope(|| write_computed(computed, corpus, part, layers, options, context))
            }));
        }
        if let Some(handle) = writing.take() {
            committer.commit(manifest, join_writer(handle)?)?;
        }
        Ok(())
    })?;
    Ok(committer.processed)
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
