//! A run spread over several devices (`--devices`): one worker per device takes the next part
//! not yet taken, computes and writes it, and hands it back; the parts are committed to the
//! manifest in order, so the run directory is at every moment what a single device would have
//! committed so far. A worker that fails stops the others after their current part, and the
//! run resumes as any interrupted run does.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use burn::prelude::*;
use census_model::host::HostModel;
use census_model::{CheckpointPlan, DecoderModel, Worker};

use super::compute::{Compute, compute_part};
use super::options::ExtractOptions;
use super::parts::{Committer, load_engine};
use super::resume::Opened;
use super::write::{PartContext, write_computed};
use crate::error::{ExtractError, Result};
use crate::sequences::{PartPlan, SequencedCorpus};
use census_format::run::manifest::CommittedPart;

/// A model loaded once for the workers of one device.
enum SharedModel<B: Backend> {
    /// The whole model on the device.
    Whole(Arc<DecoderModel<B>>),
    /// The model on the host engine.
    Host(Arc<HostModel<B>>),
}

/// What a worker hands back.
enum Report {
    /// The part in slot `slot` of the work list is written.
    Written { slot: usize, part: CommittedPart },
    /// The worker failed; it takes no more parts.
    Failed(ExtractError),
    /// The worker stopped on request ([`census_format::interrupt`]).
    Stopped(census_format::interrupt::Interrupted),
}

/// The work the workers share.
struct Shared<'a, B: Backend> {
    /// The configuration the checkpoint is checked against (each worker opens it itself).
    checked: &'a census_format::model::ModelConfig,
    /// The model every worker uses, where they share one device; each loads its own otherwise.
    model: Option<SharedModel<B>>,
    todo: &'a [&'a PartPlan],
    corpus: &'a SequencedCorpus,
    layers: &'a Range<usize>,
    options: &'a ExtractOptions,
    context: PartContext,
    config: census_format::model::ModelConfig,
    /// The next slot of `todo` to take.
    next: AtomicUsize,
    /// Set when the run must stop: a worker failed, or a commit did.
    stop: AtomicBool,
}

/// Runs the `todo` parts on `workers`, committing them in order; returns the tokens processed.
pub(super) fn run_parts_on<B: Backend>(
    checked: &census_format::model::ModelConfig,
    todo: &[&PartPlan],
    layers: &Range<usize>,
    options: &ExtractOptions,
    opened: &mut Opened,
    workers: &[Worker<B>],
) -> Result<u64> {
    // Workers of one device (the CPU's) share one model: its weights are held once. Streamed
    // layers are loaded by each worker as its parts need them.
    let one_device = workers.windows(2).all(|w| w[0].device == w[1].device);
    let shared_model = if one_device && !options.engine.streams_layers() {
        let plan = CheckpointPlan::open(&options.model_dir, checked)?;
        match load_engine::<B>(&plan, options, &workers[0].device)? {
            Compute::Whole(model) => Some(SharedModel::Whole(model)),
            Compute::Host(model) => Some(SharedModel::Host(model)),
            Compute::Streamed { .. } => None,
        }
    } else {
        None
    };
    let Opened { corpus, manifest } = opened;
    let shared = Shared {
        checked,
        model: shared_model,
        todo,
        corpus,
        layers,
        options,
        context: PartContext {
            run_id: manifest.run_id.clone(),
            model: manifest.config.model.source.clone(),
        },
        config: manifest.config.model.config.clone(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let mut committer = Committer::new(options, todo);
    let _shown = committer.progress.span().clone().entered();
    let (sender, reports) = mpsc::channel();
    std::thread::scope(|scope| -> Result<u64> {
        for worker in workers {
            let (sender, shared) = (sender.clone(), &shared);
            scope.spawn(move || {
                let span = tracing::info_span!("worker", device = %worker.name);
                span.in_scope(|| work(shared, worker, &sender));
            });
        }
        drop(sender);
        // Written parts wait here until every part before them is committed.
        let mut waiting: BTreeMap<usize, CommittedPart> = BTreeMap::new();
        let mut next_slot = 0;
        let mut first_error: Option<ExtractError> = None;
        for report in reports {
            match report {
                Report::Written { slot, part } => {
                    waiting.insert(slot, part);
                    while let Some(part) = waiting.remove(&next_slot) {
                        next_slot += 1;
                        if first_error.is_some() {
                            continue;
                        }
                        if let Err(e) = committer.commit(manifest, part) {
                            shared.stop.store(true, Ordering::SeqCst);
                            first_error = Some(e);
                        }
                    }
                }
                Report::Failed(e) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    first_error.get_or_insert(e);
                }
                Report::Stopped(stop) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    first_error.get_or_insert(census_format::FormatError::from(stop).into());
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(committer.processed),
        }
    })
}

/// One worker: loads the engine on its device, then takes parts until none is left or the run
/// stops.
fn work<B: Backend>(shared: &Shared<'_, B>, worker: &Worker<B>, reports: &mpsc::Sender<Report>) {
    let failed = |part: Option<u32>, source: ExtractError| {
        Report::Failed(ExtractError::Worker {
            device: worker.name.clone(),
            part,
            source: Box::new(source),
        })
    };
    let plan = match CheckpointPlan::open(&shared.options.model_dir, shared.checked) {
        Ok(plan) => plan,
        Err(e) => {
            let _ = reports.send(failed(None, e.into()));
            return;
        }
    };
    let loaded = match &shared.model {
        Some(SharedModel::Whole(model)) => Ok(Compute::Whole(model.clone())),
        Some(SharedModel::Host(model)) => Ok(Compute::Host(model.clone())),
        None => load_engine::<B>(&plan, shared.options, &worker.device),
    };
    let compute = match loaded {
        Ok(compute) => compute,
        Err(e) => {
            let _ = reports.send(failed(None, e));
            return;
        }
    };
    while !shared.stop.load(Ordering::SeqCst) {
        if let Err(stop) = census_format::interrupt::check(
            "extraction stopped between parts; its committed parts are kept, and the same \
             command resumes it",
        ) {
            let _ = reports.send(Report::Stopped(stop));
            return;
        }
        let slot = shared.next.fetch_add(1, Ordering::SeqCst);
        let Some(&part) = shared.todo.get(slot) else {
            return;
        };
        let _span = tracing::info_span!("part", index = part.index).entered();
        let written = compute_part(
            &compute,
            shared.corpus,
            &shared.corpus.sequences[part.range.clone()],
            shared.layers,
            shared.options,
            &shared.config,
            &worker.device,
        )
        .and_then(|computed| {
            write_computed(
                computed,
                shared.corpus,
                part,
                shared.layers,
                shared.options,
                &shared.context,
            )
        });
        let report = match written {
            Ok(mut committed) => {
                committed.device = Some(worker.name.clone());
                Report::Written {
                    slot,
                    part: committed,
                }
            }
            Err(e) => failed(Some(part.index), e),
        };
        let failed = matches!(report, Report::Failed(_));
        if reports.send(report).is_err() || failed {
            return;
        }
    }
}
