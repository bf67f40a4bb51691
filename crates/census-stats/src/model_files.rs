//! The files of the model the runs were made with, found exactly as the extraction found them:
//! a directory as given, or a hub id's snapshot in the Hugging Face cache. The weights feed the
//! vocabulary projections; the tokenizer names tokens and tells the real vocabulary from OPT's
//! padding rows of the embedding.

use crate::error::ModelFilesError;
use std::path::{Path, PathBuf};

use census_format::run::manifest::{FileFingerprint, ModelDescription};
use census_model::{HubOptions, ModelSpec, ModelTokenizer};

use crate::error::{Result, StatsError};

/// The model whose files are read: `explicit` if given, else the runs' recorded source (a
/// directory, or a hub model looked up in the Hugging Face cache).
pub fn model_spec(explicit: Option<&Path>, source: &str) -> ModelSpec {
    match explicit {
        Some(dir) => ModelSpec::Dir(dir.to_path_buf()),
        None => ModelSpec::recorded(source),
    }
}

/// The local directory of `spec`, downloading a hub model into the cache if it is not there
/// (and the hub may be reached); a hub model that cannot be had says what to pass instead.
pub fn resolve_model(spec: &ModelSpec) -> Result<PathBuf> {
    spec.resolve(&HubOptions::from_env(false)).map_err(|e| {
        ModelFilesError::NotFound {
            recorded: match spec {
                ModelSpec::Dir(dir) => dir.display().to_string(),
                ModelSpec::Hub(hub) => hub.to_string(),
            },
            source: Box::new(e),
        }
        .into()
    })
}

/// A tokenizer and the directory it was read from.
#[derive(Debug, Clone)]
pub struct FoundTokenizer {
    /// The tokenizer.
    pub tokenizer: ModelTokenizer,
    /// Its directory.
    pub dir: PathBuf,
}

/// Finds the tokenizer of the runs' model: from `explicit` if given, else where the recorded
/// source points (a directory, or the hub id's snapshot in the cache). When the runs recorded
/// tokenizer files, the ones found must be those. `Ok(None)` when no tokenizer is there, after
/// a warning naming where it looked; a tokenizer that is there but unreadable or different is
/// an error.
pub fn locate_tokenizer(
    explicit: Option<&Path>,
    model: &ModelDescription,
    run_dir: &Path,
) -> Result<Option<FoundTokenizer>> {
    let spec = model_spec(explicit, &model.source);
    let hub = HubOptions::from_env(false);
    let Some(dir) = spec.local(&hub) else {
        tracing::warn!(
            "no tokenizer: the {} is not on this machine; tokens are named by id (#N) and \
             projections range over all {} embedding rows, padding rows included",
            spec.describe(&hub),
            model.config.vocab_size
        );
        return Ok(None);
    };
    let present: Vec<PathBuf> = census_model::tokenizer_files(model.config.model_type)
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect();
    let has_tokenizer = dir.join("tokenizer.json").is_file()
        || (dir.join("vocab.json").is_file() && dir.join("merges.txt").is_file());
    if !has_tokenizer {
        tracing::warn!(
            "no tokenizer (tokenizer.json, or vocab.json and merges.txt) in {}; tokens are \
             named by id (#N) and projections range over all {} embedding rows, padding rows \
             included (pass --model DIR with the tokenizer)",
            dir.display(),
            model.config.vocab_size
        );
        return Ok(None);
    }
    if !model.tokenizer_files.is_empty() {
        let found = present
            .iter()
            .map(|p| FileFingerprint::of(p).map_err(StatsError::from))
            .collect::<Result<Vec<_>>>()?;
        if found != model.tokenizer_files {
            return Err(ModelFilesError::TokenizerDiffers {
                dir: dir.to_path_buf(),
                manifest: run_dir.join(census_format::run::manifest::MANIFEST_FILE),
            }
            .into());
        }
    }
    let tokenizer = ModelTokenizer::from_dir(&dir, model.config.model_type)?;
    tracing::info!(dir = %dir.display(), vocabulary = tokenizer.vocab_size(), "tokenizer");
    Ok(Some(FoundTokenizer { tokenizer, dir }))
}

/// The vocabulary of `tokenizer` as the analysis records it (`vocabulary.parquet`), so the report
/// spells tokens without loading a tokenizer.
pub fn vocabulary(tokenizer: &ModelTokenizer) -> census_format::analysis::Vocabulary {
    let ids = 0..tokenizer.vocab_size() as u32;
    let special = tokenizer.special_ids();
    census_format::analysis::Vocabulary::new(ids.filter_map(|id| {
        tokenizer
            .token(id)
            .map(|token| (id, token, special.contains(&id)))
    }))
}
