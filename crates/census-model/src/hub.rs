//! Where a model comes from: a local directory, a preset name (`opt-125m` … `opt-66b`, mapped to
//! `facebook/opt-*`) or any Hugging Face hub id, each optionally at a revision (`id@revision`:
//! a branch, tag or commit, such as a training run's checkpoints). Hub models are downloaded through the `hf-hub`
//! crate into the standard Hugging Face cache, so files already fetched by Python tools are
//! reused, honouring `HF_HOME`, `HF_ENDPOINT` and `HF_HUB_OFFLINE`.

use std::path::{Path, PathBuf};

use census_format::hub_ref::{HubRef, is_repo_id, split_revision};
use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{ModelError, Result, SpecError};
use crate::presets::find;

/// Weight layouts in order of preference: an index naming shards, or a single file.
const WEIGHTS: [(&str, bool); 4] = [
    ("model.safetensors.index.json", true),
    ("model.safetensors", false),
    ("pytorch_model.bin.index.json", true),
    ("pytorch_model.bin", false),
];

/// A model as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A local directory in the Hugging Face layout.
    Dir(PathBuf),
    /// A hub repository, at a revision when one is given.
    Hub(HubRef),
}

impl ModelSpec {
    /// Reads `spec`: an existing directory, or a preset name or `org/name` hub id, either with
    /// an optional `@revision`.
    pub fn parse(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(Self::Dir(path.to_path_buf()));
        }
        if path.exists() {
            return Err(SpecError::IsAFile(spec.to_string()).into());
        }
        if path.is_absolute() || spec.starts_with("./") || spec.starts_with("../") {
            return Err(SpecError::NoSuchDirectory(spec.to_string()).into());
        }
        let (id, revision) = split_revision(spec).map_err(SpecError::Revision)?;
        if !id.contains('/')
            && let Some(preset) = find(id)
        {
            return Ok(Self::Hub(HubRef::new(preset.hub_id, revision)));
        }
        if is_repo_id(id) {
            return Ok(Self::Hub(HubRef::new(id, revision)));
        }
        Err(SpecError::Unknown(spec.to_string()).into())
    }

    /// The model a run recorded as `source`: a directory where one is here, else the hub model
    /// it names, else the directory it was (moved or deleted since).
    pub fn recorded(source: &str) -> Self {
        match Self::parse(source) {
            Ok(spec) => spec,
            Err(_) => Self::Dir(PathBuf::from(source)),
        }
    }

    /// The local directory, downloading a hub model into the cache if it is not there (the cache
    /// only, when `options` are offline).
    pub fn resolve(&self, options: &HubOptions) -> Result<PathBuf> {
        match self {
            Self::Dir(dir) => Ok(dir.clone()),
            Self::Hub(hub) if options.offline => from_cache(hub, options),
            Self::Hub(hub) => download(hub, options),
        }
    }

    /// The local directory if it is already on this machine; nothing is downloaded.
    pub fn local(&self, options: &HubOptions) -> Option<PathBuf> {
        match self {
            Self::Dir(dir) => dir.is_dir().then(|| dir.clone()),
            Self::Hub(hub) => cached_snapshot(hub, options),
        }
    }

    /// Where it is looked for, for messages.
    pub fn describe(&self, options: &HubOptions) -> String {
        match self {
            Self::Dir(dir) => format!("directory {}", dir.display()),
            Self::Hub(hub) => format!(
                "hub model {hub} in the Hugging Face cache {}",
                options.cache().path().display()
            ),
        }
    }
}

/// How to reach the hub.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HubOptions {
    /// Base URL (default `https://huggingface.co`; `HF_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Cache directory holding `models--org--name` (default `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`).
    pub cache_dir: Option<PathBuf>,
    /// Use the cache only (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Show download progress bars.
    pub progress: bool,
}

impl HubOptions {
    /// Options from `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE`.
    pub fn from_env(progress: bool) -> Self {
        let truthy = |v: String| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        };
        Self {
            endpoint: std::env::var("HF_ENDPOINT").ok(),
            cache_dir: None,
            offline: std::env::var("HF_HUB_OFFLINE").is_ok_and(truthy),
            progress,
        }
    }

    /// The hub client: this endpoint, this cache, progress bars as asked.
    pub(crate) fn api(&self) -> std::result::Result<Api, ApiError> {
        let mut builder = ApiBuilder::from_cache(self.cache()).with_progress(self.progress);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder.build()
    }

    pub(crate) fn cache(&self) -> Cache {
        match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None => Cache::from_env(),
        }
    }
}

/// The hf-hub repository of `hub`: at its revision when given, else `main`.
fn repo_of(hub: &HubRef) -> Repo {
    match &hub.revision {
        Some(revision) => Repo::with_revision(hub.repo.clone(), RepoType::Model, revision.clone()),
        None => Repo::new(hub.repo.clone(), RepoType::Model),
    }
}

/// The local directory holding model `spec`, downloading it from the hub if needed.
pub fn resolve(spec: &str, options: &HubOptions) -> Result<PathBuf> {
    ModelSpec::parse(spec)?.resolve(options)
}

/// The snapshot directory of `hub` in the Hugging Face cache (the one its revision's ref points
/// to), if its `config.json` is there; nothing is downloaded.
fn cached_snapshot(hub: &HubRef, options: &HubOptions) -> Option<PathBuf> {
    let repo = options.cache().repo(repo_of(hub));
    let config = repo.get("config.json")?;
    config.parent().map(Path::to_path_buf)
}

fn hub_error(hub: &HubRef, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Hub {
        id: hub.to_string(),
        reason: reason.to_string(),
    }
}

/// The snapshot directory of a cached model, checked to hold a config and weights.
fn from_cache(id: &HubRef, options: &HubOptions) -> Result<PathBuf> {
    let cache = options.cache();
    let repo = cache.repo(repo_of(id));
    let config = repo.get("config.json").ok_or_else(|| {
        hub_error(
            id,
            "offline (HF_HUB_OFFLINE) and not in the Hugging Face cache; download it once online",
        )
    })?;
    let dir = config
        .parent()
        .expect("a cached file has a directory")
        .to_path_buf();
    crate::checkpoint::CheckpointFiles::discover(&dir).map_err(|e| {
        hub_error(
            id,
            format!("offline and its cached weights are incomplete: {e}"),
        )
    })?;
    Ok(dir)
}

/// Downloads the config, tokenizer files and weights of `id` (files already cached are kept).
fn download(id: &HubRef, options: &HubOptions) -> Result<PathBuf> {
    let api = options.api().map_err(|e| hub_error(id, e))?;
    let repo = api.repo(repo_of(id));
    let _span = tracing::info_span!("hub", id = %id).entered();
    let info = repo
        .info()
        .map_err(|e| hub_error(id, format!("cannot list the repository: {e}")))?;
    let present = |name: &str| info.siblings.iter().any(|s| s.rfilename == name);
    let get = |name: &str| {
        repo.get(name)
            .map_err(|e| hub_error(id, format!("cannot download {name}: {e}")))
    };
    if !present("config.json") {
        return Err(hub_error(id, "the repository has no config.json"));
    }
    let config = get("config.json")?;
    // The tokenizer files the family's tokenizer reads, where the repository has them.
    let family = crate::family::read_config(&config)?.model_type;
    for name in crate::tokenizer_files(family).iter().filter(|n| present(n)) {
        get(name)?;
    }
    let (weights, sharded) = WEIGHTS
        .iter()
        .copied()
        .find(|(name, _)| present(name))
        .ok_or_else(|| {
            hub_error(
                id,
                "the repository has no safetensors or pytorch_model.bin weights",
            )
        })?;
    let first = get(weights)?;
    if sharded {
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&first).map_err(|source| {
                ModelError::Io {
                    path: first.clone(),
                    source,
                }
            })?)
            .map_err(|source| ModelError::Json {
                path: first.clone(),
                source,
            })?;
        let mut shards: Vec<String> = index["weight_map"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        for shard in &shards {
            get(shard)?;
        }
    }
    let dir = config
        .parent()
        .expect("a cached file has a directory")
        .to_path_buf();
    tracing::info!(dir = %dir.display(), "model in the Hugging Face cache");
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_hub_model_at_a_revision() {
        let hub = |repo: &str, revision: Option<&str>| ModelSpec::Hub(HubRef::new(repo, revision));
        assert_eq!(
            ModelSpec::parse("opt-125m").unwrap(),
            hub("facebook/opt-125m", None)
        );
        assert_eq!(
            ModelSpec::parse("opt-125m@step-100").unwrap(),
            hub("facebook/opt-125m", Some("step-100"))
        );
        assert_eq!(
            ModelSpec::parse("EleutherAI/pythia-160m@step1000").unwrap(),
            hub("EleutherAI/pythia-160m", Some("step1000"))
        );
        for bad in ["org/name@", "org/name@a@b", "name@rev", "a/b/c"] {
            let e = ModelSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        let repo = repo_of(&HubRef::new("org/name", Some("v2")));
        assert_eq!(repo.revision(), "v2");
        assert_eq!(repo_of(&HubRef::new("org/name", None)).revision(), "main");
    }
}
