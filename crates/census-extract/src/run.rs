//! The extraction run: corpus → sequences → parts → model → Parquet, committed part by part.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use census_format::model::{FloatType, ModelConfig};
use census_model::checkpoint::CheckpointFiles;
use census_model::host::{HostLayer, HostModel, HostScratch, HostStates};
use census_model::{
    CheckpointPlan, DecoderModel, FiredNeurons, ModelTokenizer, TokenBatch, burn_dtype,
};
use sha2::{Digest, Sha256};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::corpus::{CorpusSource, SourceFormat};
use crate::counter_memory::{PositionCounters, available_memory};
use crate::device_counts::DeviceCounts;
use crate::engine::Engine;
use crate::error::{ExtractError, Result};
use crate::manifest::{
    CommittedPart, FileFingerprint, Manifest, ModelDescription, RunConfig, SCHEMA_VERSION,
    check_foreign_directory, first_difference, hex,
};
use crate::sequences::{
    PartPlan, Sequence, SequenceOptions, SequencedCorpus, Shard, build_sequences, plan_batches,
    plan_parts,
};
use crate::shards::{
    ACTIVATIONS_DIR, ActivationRows, FOOTER_RUN_ID, TEMP_SUFFIX, TOKENS_DIR, activations_batch,
    part_footer, tokens_batch, tokens_path, write_temp_parquet,
};
use census_format::run::counts::{DomainCounts, PartCounts, counts_batch};
use census_format::run::sequence_table::{
    CorpusFile, SEQUENCES_FILE, SequenceTable, corpus_files, read_sequences, write_sequences,
};
use census_format::run::tables::PartFile;
use census_format::run::{RecordMode, SequenceStart};
use census_format::{FileDigest, FormatError, OutputLock};
use rayon::prelude::*;

/// Share of FFN neurons assumed to fire when estimating disk use before the first part is
/// measured. Trained OPT models fire far less in their sparse layers; random models fire more,
/// and the estimate is replaced by the measured size as soon as one part is written.
pub const ASSUMED_DENSITY: f64 = 0.05;

/// Tokens per part by default (the unit of commit and resume).
pub const DEFAULT_PART_TOKENS: u64 = 65_536;

/// Largest padded batch by default, in tokens.
pub const DEFAULT_BATCH_TOKENS: usize = 4096;

/// Options of an extraction run (the same as `cargo xtask extract`'s flags).
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Local model directory (Hugging Face layout).
    pub model_dir: PathBuf,
    /// How the model was named (hub id or path), recorded in the manifest.
    pub model_source: String,
    /// Corpus sources, read in order.
    pub sources: Vec<CorpusSource>,
    /// Sequence construction.
    pub sequences: SequenceOptions,
    /// Layers to record; `None` records all.
    pub layers: Option<LayerSpec>,
    /// This machine's share.
    pub shard: Shard,
    /// Tokens per part.
    pub part_tokens: u64,
    /// Largest padded batch, in tokens.
    pub batch_tokens: usize,
    /// Compute dtype.
    pub dtype: FloatType,
    /// What computes the activations (the host engine or the device, whole or streamed layer
    /// by layer); every engine records the same fires for a given dtype.
    pub engine: Engine,
    /// What is recorded: every token's fired neurons, or per-neuron counts.
    pub record: RecordMode,
    /// A neuron fires when its activation input exceeds this (0: the paper's rule).
    pub fire_threshold: f32,
    /// Run directory.
    pub out: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
}

/// The layers a run records, before the model's depth is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSpec {
    /// Layers `start..end` (0-based, end exclusive).
    Range(Range<usize>),
    /// Layers with index below half the model's depth: the paper's "first half of the
    /// network", as `analyze --ngram-layers first-half` reads it.
    FirstHalf,
}

impl LayerSpec {
    /// The layers of a model `depth` layers deep.
    pub fn resolve(&self, depth: usize) -> Range<usize> {
        match self {
            Self::Range(range) => range.clone(),
            Self::FirstHalf => 0..depth / 2,
        }
    }
}

impl ExtractOptions {
    /// The command line's defaults for a run of the model in `model_dir` over `sources` into
    /// `out`: every layer, sequences of up to 2048 tokens, the host engine in f32, no progress
    /// bar. Change fields to taste.
    pub fn new(
        model_dir: impl Into<PathBuf>,
        sources: Vec<CorpusSource>,
        out: impl Into<PathBuf>,
    ) -> Self {
        let model_dir = model_dir.into();
        Self {
            model_source: model_dir.display().to_string(),
            model_dir,
            sources,
            sequences: SequenceOptions::default(),
            layers: None,
            shard: Shard::default(),
            part_tokens: DEFAULT_PART_TOKENS,
            batch_tokens: DEFAULT_BATCH_TOKENS,
            dtype: FloatType::F32,
            engine: Engine::Host,
            record: RecordMode::Shards,
            fire_threshold: 0.0,
            out: out.into(),
            progress: false,
        }
    }

    /// Checks the options against the model's configuration, and that every corpus source is
    /// there, before anything is read or written; returns the layers to record.
    pub fn validate(&self, config: &ModelConfig) -> Result<Range<usize>> {
        self.sequences.check()?;
        for source in &self.sources {
            source.check_exists()?;
        }
        if self.sequences.max_seq_len > config.max_position_embeddings {
            return Err(ExtractError::InvalidOption(format!(
                "--max-seq-len {} exceeds the model's {} positions",
                self.sequences.max_seq_len, config.max_position_embeddings
            )));
        }
        let layers = self
            .layers
            .as_ref()
            .map_or(0..config.num_hidden_layers, |l| {
                l.resolve(config.num_hidden_layers)
            });
        if layers.is_empty() || layers.end > config.num_hidden_layers {
            return Err(ExtractError::InvalidOption(format!(
                "--layers {}..{} is not a non-empty range within the model's {} layers",
                layers.start, layers.end, config.num_hidden_layers
            )));
        }
        if self.fire_threshold != 0.0 && (self.engine.on_host() || !self.fire_threshold.is_finite())
        {
            return Err(ExtractError::InvalidOption(format!(
                "--fire-threshold {}: a finite threshold, on the dense path (--ffn dense); the \
                 host engine sums fc2 over the neurons whose ReLU output is positive",
                self.fire_threshold
            )));
        }
        if self.engine.on_host() && !Engine::has_host_engine(config.model_type) {
            return Err(ExtractError::InvalidOption(format!(
                "the host engine runs OPT models only; this {} model runs on --ffn dense",
                config.model_type
            )));
        }
        if self.engine.on_host() && self.dtype != FloatType::F32 {
            return Err(ExtractError::InvalidOption(format!(
                "--ffn sparse runs the layers on the host CPU in f32; --dtype {} needs --ffn dense",
                self.dtype.name()
            )));
        }
        if self.part_tokens == 0 || self.batch_tokens == 0 {
            return Err(ExtractError::InvalidOption(
                "--part-tokens and --batch-tokens must be positive".to_string(),
            ));
        }
        // A part's counters are 32-bit integers on the device and the host.
        if self.part_tokens > i32::MAX as u64 {
            return Err(ExtractError::InvalidOption(format!(
                "--part-tokens {} exceeds {} (a part's counters are 32-bit)",
                self.part_tokens,
                i32::MAX
            )));
        }
        Ok(layers)
    }
}

/// What a finished call did.
#[derive(Debug, Clone)]
pub struct ExtractSummary {
    /// The final manifest.
    pub manifest: Manifest,
    /// Parts written by this call.
    pub parts_written: usize,
    /// Parts found committed and kept.
    pub parts_kept: usize,
    /// Tokens run through the model by this call.
    pub tokens_processed: u64,
    /// Seconds spent in the model and writing parts.
    pub seconds: f64,
}

/// Runs (or resumes) an extraction into `options.out` on `device`, named `device_name` in the
/// manifest. Four phases: [`check_options`] against the model, [`open_or_resume`] the run
/// directory, [`load_engine`], and [`run_parts`] for the parts not yet committed.
pub fn extract<B: Backend>(
    options: &ExtractOptions,
    device: &B::Device,
    device_name: &str,
) -> Result<ExtractSummary> {
    let _span = tracing::info_span!("extract", out = %options.out.display()).entered();
    let _lock = OutputLock::acquire(&options.out, "extract")?;
    let checked = check_options(options)?;
    let mut opened = open_or_resume(options, &checked, device_name)?;
    let parts = plan_parts(&opened.corpus.sequences, options.part_tokens);
    let todo: Vec<&PartPlan> = parts
        .iter()
        .filter(|p| !opened.manifest.parts.iter().any(|c| c.index == p.index))
        .collect();
    let parts_kept = parts.len() - todo.len();
    tracing::info!(
        sequences = opened.corpus.sequences.len(),
        tokens = opened.corpus.counts.shard_tokens,
        parts = parts.len(),
        kept = parts_kept,
        "corpus ready"
    );
    let remaining: u64 = todo.iter().map(|p| p.tokens).sum();
    let layers = &checked.layers;
    let estimate =
        (layers.len() as f64 * checked.config.ffn_dim as f64 * ASSUMED_DENSITY + 24.0) as u64;
    check_disk(&options.out, remaining, estimate)?;
    let started = Instant::now();
    let processed = if todo.is_empty() {
        0
    } else {
        let plan = CheckpointPlan::open(&options.model_dir, &checked.config)?;
        let compute = load_engine::<B>(&plan, options, device)?;
        run_parts(
            &compute,
            &todo,
            &checked.layers,
            options,
            &mut opened,
            device,
        )?
    };
    let Opened { mut manifest, .. } = opened;
    manifest.complete = manifest.parts.len() == parts.len();
    manifest.store(&options.out)?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        written = parts.len() - parts_kept,
        kept = parts_kept,
        tokens_per_second = processed as f64 / seconds.max(1e-9),
        "extraction complete"
    );
    Ok(ExtractSummary {
        manifest,
        parts_written: parts.len() - parts_kept,
        parts_kept,
        tokens_processed: processed,
        seconds,
    })
}

/// The options checked against the model: its configuration, the layers to record, the
/// tokenizer (when there is one), and the run's configuration as the manifest records it.
struct CheckedOptions {
    config: ModelConfig,
    layers: Range<usize>,
    tokenizer: Option<ModelTokenizer>,
    /// The token every sequence starts with, if any.
    bos: Option<u32>,
    run_config: RunConfig,
}

/// Reads the model's configuration and checks the options against it.
fn check_options(options: &ExtractOptions) -> Result<CheckedOptions> {
    let model_dir = &options.model_dir;
    let config = census_model::family::read_config(model_dir.join("config.json"))?;
    let layers = options.validate(&config)?;
    if options.record == RecordMode::Counts && options.sequences.full_length {
        let counters = PositionCounters {
            layers: layers.len() as u64,
            positions: options.sequences.max_seq_len as u64,
            ffn: config.ffn_dim as u64,
        };
        tracing::info!(
            mb = counters.host_bytes() >> 20,
            "counters by position: host memory per domain of a part"
        );
        if let Some(available) = available_memory() {
            counters.check(available)?;
        }
    }
    // Every tensor's name and shape against the configuration (headers only), before the corpus
    // is read against the configuration's vocabulary.
    CheckpointPlan::open(model_dir, &config)?;
    let needs_tokenizer = options
        .sources
        .iter()
        .any(|s| !matches!(s.format, SourceFormat::PreTokenized | SourceFormat::Parquet));
    // Parquet sources may hold text or ids; text without a tokenizer fails when it is read.
    let family = config.model_type;
    let tokenizer = if needs_tokenizer {
        Some(ModelTokenizer::from_dir(model_dir, family)?)
    } else {
        ModelTokenizer::from_dir(model_dir, family).ok()
    };
    // The token every sequence starts with: the tokenizer's, or, for pre-tokenized input read
    // without one, the family's (see `Family::adds_bos`).
    let bos = match &tokenizer {
        Some(tokenizer) => tokenizer.prefix(),
        None => family.adds_bos().then_some(config.bos_token_id),
    };
    let run_config = RunConfig {
        model: describe_model(options, &config)?,
        dtype: options.dtype,
        ffn: options.engine.ffn_path(),
        corpus: options.sources.clone(),
        sequences: options.sequences.clone(),
        layers: [layers.start, layers.end],
        shard: options.shard,
        part_tokens: options.part_tokens,
        record: options.record,
        sequence_start: if bos.is_some() {
            SequenceStart::Bos
        } else {
            SequenceStart::Text
        },
        fire_threshold: options.fire_threshold,
    };
    Ok(CheckedOptions {
        config,
        layers,
        tokenizer,
        bos,
        run_config,
    })
}

/// A run directory ready for its remaining parts: the corpus cut into sequences, and the
/// manifest (a new one, or the resumed run's).
struct Opened {
    corpus: SequencedCorpus,
    manifest: Manifest,
}

/// Opens the run directory: refuses a foreign directory or a run with another configuration or
/// corpus, cuts the corpus into sequences, checks the committed parts and clears half-written
/// ones.
fn open_or_resume(
    options: &ExtractOptions,
    checked: &CheckedOptions,
    device_name: &str,
) -> Result<Opened> {
    let out = &options.out;
    let config = &checked.config;
    check_foreign_directory(out)?;
    // A run that committed no part yet (its model failed to load, say) holds nothing to keep:
    // it starts again with these settings.
    let previous = Manifest::load(out)?.filter(|previous| {
        let started_only = previous.parts.is_empty();
        if started_only {
            tracing::info!(
                out = %out.display(),
                "the run directory holds a run with no committed part: starting it anew"
            );
        }
        !started_only
    });
    if let Some(previous) = &previous
        && let Some(difference) = first_difference(&previous.config, &checked.run_config)
    {
        return Err(ExtractError::ConfigurationChanged {
            dir: out.clone(),
            difference,
        });
    }
    let corpus_files = corpus_files(&options.sources)?;
    refuse_files_read_twice(&corpus_files)?;
    let reused = previous
        .as_ref()
        .and_then(|p| reuse_sequences(out, p, &corpus_files));
    let table_is_current = reused.is_some();
    let corpus = match reused {
        Some(corpus) => corpus,
        None => {
            let _span = tracing::info_span!("tokenize").entered();
            build_sequences(
                &options.sources,
                checked.tokenizer.as_ref(),
                checked.bos,
                // A pad id of its own is never text; where padding borrows the end-of-text
                // id (GPT-2, Pythia, Qwen2), that id separates documents and is kept.
                (config.pad_token_id != config.eos_token_id).then_some(config.pad_token_id),
                config.vocab_size,
                &options.sequences,
                options.shard,
            )?
        }
    };
    let digest = corpus_digest(&corpus);
    let mut manifest = match previous {
        Some(previous) => {
            if previous.corpus_digest != digest {
                return Err(ExtractError::ConfigurationChanged {
                    dir: out.clone(),
                    difference: "the corpus files hold different content than when the run started"
                        .to_string(),
                });
            }
            previous
        }
        None => Manifest {
            schema_version: SCHEMA_VERSION,
            producer: format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
            run_id: checked.run_config.run_id(),
            config: checked.run_config.clone(),
            device: device_name.to_string(),
            engine: Some(options.engine.name().to_string()),
            domains: corpus.domains.clone(),
            counts: corpus.counts,
            corpus_digest: digest,
            sequence_table: None,
            parts: Vec::new(),
            complete: false,
        },
    };
    std::fs::create_dir_all(out).map_err(|e| ExtractError::io("cannot create", out, e))?;
    let plan = plan_parts(&corpus.sequences, options.part_tokens);
    drop_damaged_parts(
        out,
        &mut manifest,
        &checked.layers,
        &plan,
        &corpus.sequences,
    )?;
    remove_temporaries(out)?;
    manifest.store(out)?;
    if !table_is_current {
        let _span = tracing::info_span!("write_sequences").entered();
        let footer = [(FOOTER_RUN_ID.to_string(), manifest.run_id.clone())];
        let digest = write_sequences(
            &out.join(SEQUENCES_FILE),
            &corpus.sequences,
            &corpus.domains,
            &footer,
        )?;
        manifest.sequence_table = Some(SequenceTable {
            digest,
            corpus_files,
        });
        manifest.store(out)?;
    }
    Ok(Opened { corpus, manifest })
}

/// This shard's sequences read from the run's sequence table, when `previous` recorded one cut
/// from exactly `corpus_files` and it reads back whole; none otherwise (the corpus is then
/// tokenised again, and its digest compared with the run's).
fn reuse_sequences(
    out: &Path,
    previous: &Manifest,
    corpus_files: &[CorpusFile],
) -> Option<SequencedCorpus> {
    let table = previous.sequence_table.as_ref()?;
    if table.corpus_files != corpus_files {
        tracing::info!("the corpus files changed since the run started: tokenising them again");
        return None;
    }
    let _span = tracing::info_span!("read_sequences").entered();
    let path = out.join(SEQUENCES_FILE);
    match read_sequences(&path, &table.digest, &previous.domains) {
        Ok(sequences) => Some(SequencedCorpus {
            sequences,
            domains: previous.domains.clone(),
            counts: previous.counts,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot reuse the sequence table: tokenising the corpus again");
            None
        }
    }
}

/// Loads what computes the activations: the whole model on the device, its layers on the host
/// engine, or only the embeddings with the layers streamed from `plan`.
fn load_engine<'a, B: Backend>(
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
fn run_parts<B: Backend>(
    compute: &Compute<'_, B>,
    todo: &[&PartPlan],
    layers: &Range<usize>,
    options: &ExtractOptions,
    opened: &mut Opened,
    device: &B::Device,
) -> Result<u64> {
    let out = &options.out;
    let remaining: u64 = todo.iter().map(|p| p.tokens).sum();
    let progress = progress_span(options.progress, remaining);
    let _shown = progress.enter();
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
        progress.pb_inc(committed.rows);
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

fn describe_model(options: &ExtractOptions, config: &ModelConfig) -> Result<ModelDescription> {
    let files = CheckpointFiles::discover(&options.model_dir)?;
    let weight_files = files
        .paths()
        .iter()
        .map(|p| FileFingerprint::of(p))
        .collect::<census_format::Result<Vec<_>>>()?;
    let tokenizer_files = census_model::tokenizer_files(config.model_type)
        .iter()
        .map(|name| options.model_dir.join(name))
        .filter(|p| p.is_file())
        .map(|p| FileFingerprint::of(&p))
        .collect::<census_format::Result<Vec<_>>>()?;
    Ok(ModelDescription {
        source: options.model_source.clone(),
        config: config.clone(),
        weight_files,
        tokenizer_files,
    })
}

/// SHA-256 over the shard's sequences.
fn corpus_digest(corpus: &SequencedCorpus) -> String {
    let mut hasher = Sha256::new();
    for s in &corpus.sequences {
        hasher.update(s.seq.to_le_bytes());
        hasher.update(s.doc.to_le_bytes());
        hasher.update(corpus.domains[s.domain as usize].as_bytes());
        hasher.update((s.tokens.len() as u64).to_le_bytes());
        for t in &s.tokens {
            hasher.update(t.to_le_bytes());
        }
    }
    hex(&hasher.finalize())
}

/// Refuses a corpus that reads the same text twice: one file given twice, a file inside a
/// directory also given, a hard link or a copy (by size and SHA-256; empty files aside). Its
/// documents would count twice.
fn refuse_files_read_twice(files: &[CorpusFile]) -> Result<()> {
    let mut seen: BTreeMap<(u64, &str), &Path> = BTreeMap::new();
    for file in files.iter().filter(|f| f.bytes > 0) {
        if let Some(first) = seen.insert((file.bytes, file.sha256.as_str()), &file.path) {
            let how = if file.path.canonicalize().ok() == first.canonicalize().ok() {
                "twice"
            } else {
                "twice (the same bytes as"
            };
            let tail = if how == "twice" {
                format!(" (also as {})", first.display())
            } else {
                format!(" {})", first.display())
            };
            return Err(ExtractError::InvalidOption(format!(
                "--data reads {} {how}{tail}: its documents would count twice; give each \
                 corpus text once",
                file.path.display()
            )));
        }
    }
    Ok(())
}

/// Checks every committed part against the run's plan (the same sequences and tokens under its
/// number) and its files against the manifest (present, and of the size and checksum recorded
/// when the part was committed); a part that fails is taken out of the manifest, its files
/// deleted, and it is computed again.
fn drop_damaged_parts(
    out: &Path,
    manifest: &mut Manifest,
    layers: &Range<usize>,
    plan: &[PartPlan],
    sequences: &[Sequence],
) -> Result<()> {
    let record = manifest.config.record;
    let committed = manifest.parts.len();
    let mut kept = Vec::with_capacity(committed);
    for part in std::mem::take(&mut manifest.parts) {
        let mut files = vec![tokens_path(out, part.index)];
        files.extend(
            layers
                .clone()
                .map(|l| layer_file(record, l).path(out, part.index)),
        );
        let missing = files
            .iter()
            .find(|f| !f.is_file())
            .map(|f| (f.display().to_string(), "is missing".to_string()));
        let planned = plan
            .iter()
            .find(|p| p.index == part.index)
            .is_some_and(|p| {
                let range = &sequences[p.range.clone()];
                range.first().map(|s| s.seq) == Some(part.first_seq)
                    && range.last().map(|s| s.seq) == Some(part.last_seq)
                    && range.len() as u64 == part.sequences
                    && p.tokens == part.rows
            });
        let off_plan = (!planned).then(|| {
            (
                out.join(crate::manifest::MANIFEST_FILE)
                    .display()
                    .to_string(),
                format!(
                    "records part {} as sequences {}..={}, which is not the run's part of that \
                     number (the manifest was edited?)",
                    part.index, part.first_seq, part.last_seq
                ),
            )
        });
        let damage = match off_plan.or(missing) {
            Some(found) => Some(found),
            None => first_mismatch(out, &part)?,
        };
        match damage {
            None => kept.push(part),
            Some((file, reason)) => {
                tracing::warn!(
                    part = part.index,
                    %file,
                    %reason,
                    "a committed part is damaged: computing it again"
                );
                for file in part.files.keys().map(|f| out.join(f)).chain(files) {
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(ExtractError::io("cannot remove", &file, e));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if kept.len() != committed {
        manifest.complete = false;
    }
    manifest.parts = kept;
    Ok(())
}

/// The first of `part`'s recorded files whose size or checksum no longer matches, with why.
fn first_mismatch(out: &Path, part: &CommittedPart) -> Result<Option<(String, String)>> {
    for (name, digest) in &part.files {
        let path = out.join(name);
        let found =
            FileDigest::of_file(&path).map_err(|e| ExtractError::io("cannot read", &path, e))?;
        if found != *digest {
            let reason = if found.bytes != digest.bytes {
                format!("is {} bytes, {} were committed", found.bytes, digest.bytes)
            } else {
                "its checksum differs from the committed one".to_string()
            };
            return Ok(Some((path.display().to_string(), reason)));
        }
    }
    Ok(None)
}

/// Deletes `*.tmp` files an interrupted run left behind (never committed, safe to drop).
fn remove_temporaries(out: &Path) -> Result<()> {
    let mut stack = vec![
        out.join(TOKENS_DIR),
        out.join(ACTIVATIONS_DIR),
        out.join(census_format::run::counts::COUNTS_DIR),
    ];
    while let Some(dir) = stack.pop() {
        if !dir.is_dir() {
            continue;
        }
        for entry in
            std::fs::read_dir(&dir).map_err(|e| ExtractError::io("cannot list", &dir, e))?
        {
            let path = entry
                .map_err(|e| ExtractError::io("cannot list", &dir, e))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(TEMP_SUFFIX) {
                std::fs::remove_file(&path)
                    .map_err(|e| ExtractError::io("cannot remove", &path, e))?;
            }
        }
    }
    Ok(())
}

/// Refuses to go on when `tokens` more tokens at `bytes_per_token` will not fit.
fn check_disk(out: &Path, tokens: u64, bytes_per_token: u64) -> Result<()> {
    let available =
        fs4::available_space(out).map_err(|e| ExtractError::io("cannot stat", out, e))?;
    let needed = tokens.saturating_mul(bytes_per_token);
    if needed > available {
        return Err(ExtractError::DiskSpace {
            dir: out.to_path_buf(),
            needed_mb: needed.div_ceil(1 << 20),
            available_mb: available >> 20,
        });
    }
    Ok(())
}

/// The span of the extraction's parts; when `show`, the command line draws it as a progress bar
/// of `total` tokens (through `tracing-indicatif`), without it nothing is drawn.
fn progress_span(show: bool, total: u64) -> tracing::Span {
    if !show {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("extract", indicatif.pb_show = tracing::field::Empty);
    census_format::progress::show_progress(&span, "extracting", "tokens", total);
    span
}

/// How a part's activations are computed.
enum Compute<'a, B: Backend> {
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
enum ComputedPart {
    /// `rows[layer - start][local sequence]`: that sequence's rows in that layer.
    Rows(Vec<Vec<ActivationRows>>),
    /// Each recorded layer's fire counts, by domain.
    Counts(Vec<PartCounts>),
}

/// Runs one part through the model, recording each batch as it comes: its rows (shards), or
/// its fire counts (counts), so a counts part holds only its counters.
fn compute_part<B: Backend>(
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

/// What the files of a run's parts carry beside their rows.
#[derive(Debug, Clone)]
struct PartContext {
    /// The run id, for the footers.
    run_id: String,
    /// The model source, for the footers.
    model: String,
}

/// One layer file of a part: its layer, its record batch (or why it could not be built) and
/// its path.
type LayerBatch = (
    usize,
    std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError>,
    PathBuf,
);

/// Writes a computed part's files under temporary names (the layers in parallel), renames them,
/// and returns the entry to commit.
fn write_computed(
    computed: ComputedPart,
    corpus: &SequencedCorpus,
    part: &PartPlan,
    layers: &Range<usize>,
    options: &ExtractOptions,
    context: &PartContext,
) -> Result<CommittedPart> {
    let sequences = &corpus.sequences[part.range.clone()];
    let metadata =
        |layer: Option<usize>| part_footer(&context.run_id, &context.model, part.index, layer);
    let out = &options.out;
    let tokens_final = tokens_path(out, part.index);
    let batch = token_rows(sequences, &corpus.domains).map_err(|source| FormatError::Arrow {
        path: tokens_final.clone(),
        source,
    })?;
    let mut temporaries = vec![(
        write_temp_parquet(&tokens_final, &batch, &metadata(None))?,
        tokens_final,
    )];
    let layer_batches: Vec<LayerBatch> = match computed {
        ComputedPart::Rows(rows) => rows
            .into_par_iter()
            .enumerate()
            .map(|(offset, per_sequence)| {
                let layer = layers.start + offset;
                let path = PartFile::Activations(layer).path(out, part.index);
                let merged = merge_rows(per_sequence).map_err(|reason| ExtractError::Parquet {
                    path: path.clone(),
                    reason,
                })?;
                Ok((layer, activations_batch(merged), path))
            })
            .collect::<Result<_>>()?,
        ComputedPart::Counts(counts) => counts
            .par_iter()
            .enumerate()
            .map(|(offset, counts)| {
                let layer = layers.start + offset;
                let path = PartFile::Counts(layer).path(out, part.index);
                (layer, counts_batch(counts), path)
            })
            .collect(),
    };
    let layer_files = layer_batches
        .into_par_iter()
        .map(|(layer, batch, path)| {
            let batch = batch.map_err(|source| FormatError::Arrow {
                path: path.clone(),
                source,
            })?;
            Ok((
                write_temp_parquet(&path, &batch, &metadata(Some(layer)))?,
                path,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    temporaries.extend(layer_files);
    let mut bytes = 0;
    let mut files = BTreeMap::new();
    for ((temp, digest), path) in temporaries {
        bytes += digest.bytes;
        let relative = path
            .strip_prefix(out)
            .expect("parts lie in the run directory");
        files.insert(relative.to_string_lossy().replace('\\', "/"), digest);
        std::fs::rename(&temp, &path).map_err(|e| ExtractError::io("cannot rename", &temp, e))?;
    }
    Ok(CommittedPart {
        index: part.index,
        first_seq: sequences.first().map_or(0, |s| s.seq),
        last_seq: sequences.last().map_or(0, |s| s.seq),
        sequences: sequences.len() as u64,
        rows: part.tokens,
        bytes,
        files,
    })
}

/// The file a part records for `layer` in `mode`.
fn layer_file(mode: RecordMode, layer: usize) -> PartFile {
    match mode {
        RecordMode::Shards => PartFile::Activations(layer),
        RecordMode::Counts => PartFile::Counts(layer),
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
fn merge_rows(per_sequence: Vec<ActivationRows>) -> std::result::Result<ActivationRows, String> {
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

fn token_rows(
    sequences: &[Sequence],
    domains: &[String],
) -> std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError> {
    let n: usize = sequences.iter().map(|s| s.tokens.len()).sum();
    let (mut seq, mut pos, mut token, mut doc, mut domain) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in sequences {
        for (p, &t) in s.tokens.iter().enumerate() {
            seq.push(s.seq);
            pos.push(p as u16);
            token.push(t);
            doc.push(s.doc);
            domain.push(s.domain as i32);
        }
    }
    tokens_batch(seq, pos, token, doc, domain, domains)
}
