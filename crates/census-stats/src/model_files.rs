//! The files of the model the runs were made with, found exactly as the extraction found them:
//! a directory as given, or a hub id's snapshot in the Hugging Face cache. The weights feed the
//! vocabulary projections; the tokenizer names tokens and tells the real vocabulary from OPT's
//! padding rows of the embedding.

use std::path::{Path, PathBuf};

use census_format::run::manifest::{FileFingerprint, ModelDescription};
use census_model::{HubOptions, ModelSpec, ModelTokenizer};

use crate::error::{Result, StatsError};

/// Where a model's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    /// A local directory (`--model`, or the recorded source).
    Dir(PathBuf),
    /// A hub id, looked up in the Hugging Face cache.
    Hub(String),
}

impl ModelLocation {
    /// `explicit` if given, else the runs' recorded source.
    pub fn of(explicit: Option<&Path>, source: &str) -> Self {
        match explicit {
            Some(dir) => Self::Dir(dir.to_path_buf()),
            None if Path::new(source).is_dir() => Self::Dir(PathBuf::from(source)),
            None => match ModelSpec::parse(source) {
                Ok(ModelSpec::Hub(id)) => Self::Hub(id),
                _ => Self::Dir(PathBuf::from(source)),
            },
        }
    }

    /// The local directory, downloading a hub model into the cache if it is not there (and
    /// the hub may be reached).
    pub fn resolve(&self) -> Result<PathBuf> {
        match self {
            Self::Dir(dir) => Ok(dir.clone()),
            Self::Hub(id) => {
                census_model::hub::resolve(id, &HubOptions::from_env(false)).map_err(|e| {
                    StatsError::InvalidOption(format!(
                        "the runs recorded the model as '{id}', which is no directory here, so it \
                         was looked for as a hub model: {e}. If it was a local directory (moved \
                         since, or given relative to another directory), pass --model DIR; or \
                         pass --no-projection"
                    ))
                })
            }
        }
    }

    /// The local directory if it is already on this machine (nothing is downloaded).
    pub fn local(&self) -> Option<PathBuf> {
        match self {
            Self::Dir(dir) => dir.is_dir().then(|| dir.clone()),
            Self::Hub(id) => census_model::hub::cached_snapshot(id, &HubOptions::from_env(false)),
        }
    }

    /// Where it was looked for, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => format!("directory {}", dir.display()),
            Self::Hub(id) => format!(
                "hub model {id} in the Hugging Face cache {}",
                census_model::hub::cache_dir(&HubOptions::from_env(false)).display()
            ),
        }
    }
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
    let location = ModelLocation::of(explicit, &model.source);
    let Some(dir) = location.local() else {
        tracing::warn!(
            "no tokenizer: the {} is not on this machine; tokens are named by id (#N) and \
             projections range over all {} embedding rows, padding rows included",
            location.describe(),
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
            return Err(StatsError::InvalidOption(format!(
                "the tokenizer in {} is not the one the runs were made with (its files' \
                 fingerprints differ from those in {})",
                dir.display(),
                run_dir
                    .join(census_format::run::manifest::MANIFEST_FILE)
                    .display()
            )));
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
