//! The run directory opened or resumed: the manifest and sequence table checked against the
//! options, damaged parts dropped, and the disk checked for what remains.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use census_format::model::ModelConfig;
use census_model::checkpoint::CheckpointFiles;
use sha2::{Digest, Sha256};

use super::options::{CheckedOptions, ExtractOptions};
use super::write::layer_file;
use crate::error::{ExtractError, OptionsError, Result};
use crate::sequences::{PartPlan, SequencedCorpus, build_sequences, plan_parts};
use census_format::FileDigest;
use census_format::run::manifest::{
    CommittedPart, FileFingerprint, Manifest, ModelDescription, SCHEMA_VERSION,
    check_foreign_directory, first_difference, hex,
};
use census_format::run::sequence_table::Sequence;
use census_format::run::sequence_table::{
    CorpusFile, SEQUENCES_FILE, SequenceTable, corpus_files, read_sequences, write_sequences,
};
use census_format::run::tables::{
    ACTIVATIONS_DIR, FOOTER_RUN_ID, TEMP_SUFFIX, TOKENS_DIR, tokens_path,
};

/// A run directory ready for its remaining parts: the corpus cut into sequences, and the
/// manifest (a new one, or the resumed run's).
pub(super) struct Opened {
    pub(super) corpus: SequencedCorpus,
    pub(super) manifest: Manifest,
}

/// Opens the run directory: refuses a foreign directory or a run with another configuration or
/// corpus, cuts the corpus into sequences, checks the committed parts and clears half-written
/// ones.
pub(super) fn open_or_resume(
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
            engine: Some(options.engine),
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

pub(super) fn describe_model(
    options: &ExtractOptions,
    config: &ModelConfig,
) -> Result<ModelDescription> {
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
            return Err(OptionsError::DataTwice {
                path: file.path.clone(),
                first: first.to_path_buf(),
                same_file: file.path.canonicalize().ok() == first.canonicalize().ok(),
            }
            .into());
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
                out.join(census_format::run::manifest::MANIFEST_FILE)
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

/// Deletes `*.tmp` files an interrupted run left behind (never committed, safe to drop): in
/// its table directories, and the run's own files' atomic-write temporaries beside them
/// (`.manifest.json.<random>.tmp`).
fn remove_temporaries(out: &Path) -> Result<()> {
    let listing = std::fs::read_dir(out).map_err(|e| ExtractError::io("cannot list", out, e))?;
    for entry in listing {
        let path = entry
            .map_err(|e| ExtractError::io("cannot list", out, e))?
            .path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ours = census_format::run::RUN_OWNED
            .iter()
            .any(|owned| name.starts_with(&format!(".{owned}.")));
        if ours && name.ends_with(census_format::atomic::TEMP_SUFFIX) && path.is_file() {
            std::fs::remove_file(&path).map_err(|e| ExtractError::io("cannot remove", &path, e))?;
        }
    }
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
pub(super) fn check_disk(out: &Path, tokens: u64, bytes_per_token: u64) -> Result<()> {
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
