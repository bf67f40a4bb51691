//! The stages of a pipeline run, skipped or planned: [`StageRunner`] decides for each stage
//! (up to date, the one `--stage` names, or a Slurm job) and keeps the ledger; [`step`] runs a
//! stage through it, holding it only to decide and to record.

use super::*;

/// One stage of one model (or the report), ready to run or skip.
pub(super) struct Stage<A> {
    pub(super) key: String,
    /// Where it computes, for the log (`cuda:0,cuda:1`, `host`).
    pub(super) on: String,
    /// The keys of the stages whose outputs it reads.
    pub(super) after: Vec<String>,
    /// Under `[split]`, which task of its job array it is.
    pub(super) array: Option<ArrayTask>,
    /// The stage's typed arguments.
    pub(super) args: A,
    pub(super) stamp: StageStamp,
    pub(super) complete: bool,
}

/// Runs stages or skips them, keeping the ledger and the counts.
pub(super) struct StageRunner {
    pub(super) ledger: StageLedger,
    /// The pipeline's output directory, which holds the ledger.
    pub(super) out: PathBuf,
    pub(super) force: bool,
    pub(super) mode: Mode,
    pub(super) ran: usize,
    pub(super) skipped: usize,
    /// Every stage's key, in order.
    pub(super) seen: Vec<String>,
    /// With `--slurm`, the stages planned as jobs.
    pub(super) due: BTreeSet<String>,
    /// With `--slurm`, their jobs.
    pub(super) jobs: Vec<slurm::Job>,
}

impl StageRunner {
    /// Whether `stage` is to run now: not when it is up to date, not another than `--stage`
    /// names, and never with `--slurm` (it is planned as a job instead). A stage to run is
    /// taken out of the ledger until it is done.
    pub(super) fn begin<A>(&mut self, stage: &Stage<A>) -> Result<bool> {
        self.seen.push(stage.key.clone());
        let current =
            !self.force && stage.complete && self.ledger.is_current(&stage.key, &stage.stamp);
        match &self.mode {
            Mode::Slurm => {
                self.plan_job(stage, current)?;
                return Ok(false);
            }
            Mode::Only(key) if *key != stage.key => return Ok(false),
            Mode::Only(_) | Mode::All => {}
        }
        if current {
            tracing::info!(
                stage = %stage.key,
                "up to date (same request and inputs, output complete): skipped; --force redoes it"
            );
            self.skipped += 1;
            return Ok(false);
        }
        let reason = if self.force {
            "--force"
        } else if !stage.complete {
            "no complete output yet"
        } else {
            "request or inputs changed"
        };
        tracing::info!(stage = %stage.key, on = %stage.on, reason, "running");
        self.update_ledger(|ledger| ledger.forget(&stage.key))?;
        Ok(true)
    }

    /// Records stage `key`, done, with what it was made from.
    pub(super) fn finish(&mut self, key: &str, stamp: StageStamp) -> Result<()> {
        self.update_ledger(|ledger| ledger.record(key, stamp))?;
        self.ran += 1;
        Ok(())
    }

    /// Plans `stage` as a Slurm job when it is not `current`, or when a job it reads from is
    /// planned (its inputs will change).
    pub(super) fn plan_job<A>(&mut self, stage: &Stage<A>, current: bool) -> Result<()> {
        let after: Vec<String> = (stage.after.iter())
            .filter(|k| self.due.contains(*k))
            .cloned()
            .collect();
        if current && after.is_empty() {
            tracing::info!(stage = %stage.key, "up to date: no job");
            self.skipped += 1;
            return Ok(());
        }
        if stage.key.starts_with("train/") {
            bail!(
                "stage {}: the pipeline trains this model first, and its later stages are known \
                 only once it is trained; train it with `run` (without --slurm), then submit the \
                 rest",
                stage.key
            );
        }
        self.due.insert(stage.key.clone());
        self.jobs.push(slurm::Job {
            key: stage.key.clone(),
            extracts: stage.key.starts_with("extract/"),
            after,
            array: stage.array.clone(),
        });
        Ok(())
    }

    /// Applies `change` to the ledger and stores it. A single stage (`--stage`, a Slurm job
    /// beside others) reads the ledger again under the pipeline's lock first, so jobs finishing
    /// together keep each other's entries.
    pub(super) fn update_ledger(
        &mut self,
        change: impl FnOnce(&mut StageLedger) -> Result<()>,
    ) -> Result<()> {
        if let Mode::Only(_) = self.mode {
            let _lock = OutputLock::acquire_waiting(
                &self.out,
                "run --stage",
                std::time::Duration::from_secs(600),
            )?;
            self.ledger = StageLedger::open(&self.out)?;
            change(&mut self.ledger)
        } else {
            change(&mut self.ledger)
        }
    }
}

/// Runs `stage` through `runner` unless it is up to date (see [`StageRunner::begin`]); the
/// runner is held only to decide and to record, so stages on other threads go on meanwhile.
pub(super) fn step<A>(
    runner: &Mutex<StageRunner>,
    stage: Stage<A>,
    run: impl FnOnce(A) -> Result<()>,
) -> Result<()> {
    if !held(runner).begin(&stage)? {
        return Ok(());
    }
    run_begun(runner, stage, run)
}

/// Runs `stage`, which [`StageRunner::begin`] said is to run, and records it.
pub(super) fn run_begun<A>(
    runner: &Mutex<StageRunner>,
    stage: Stage<A>,
    run: impl FnOnce(A) -> Result<()>,
) -> Result<()> {
    let key = stage.key.clone();
    run(stage.args).with_context(|| format!("stage {key}"))?;
    held(runner).finish(&key, stage.stamp)
}

/// The runner, held.
pub(super) fn held(runner: &Mutex<StageRunner>) -> std::sync::MutexGuard<'_, StageRunner> {
    runner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The outcome of a stage run on a thread of its own.
pub(super) fn joined(handle: std::thread::ScopedJoinHandle<'_, Result<()>>) -> Result<()> {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
