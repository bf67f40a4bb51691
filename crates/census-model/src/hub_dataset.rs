//! Files of a dataset repository on the Hugging Face hub (`datasets/org/name`), downloaded
//! through the `hf-hub` crate into the standard cache (`datasets--org--name`), as the model
//! files are: `HF_HOME`, `HF_ENDPOINT` and `HF_HUB_OFFLINE` are honoured.

use std::path::PathBuf;

use hf_hub::{Repo, RepoType};

use crate::error::{ModelError, Result};
use crate::hub::HubOptions;

/// Some files of a dataset repository, in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFiles {
    /// The commit the files were downloaded at (none when they were taken from the cache
    /// offline).
    pub commit: Option<String>,
    /// Each file's name in the repository and its path in the cache, in the order chosen.
    pub files: Vec<(String, PathBuf)>,
}

fn hub_error(repo: &str, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Hub {
        id: format!("datasets/{repo}"),
        reason: reason.to_string(),
    }
}

/// The files of dataset repository `repo` (`org/name`, at `main`) that `choose` picks from its
/// listing, downloaded where the cache lacks them. Offline (`HF_HUB_OFFLINE`), the listing
/// cannot be read: the files named in `known` (those chosen before) are taken from the cache.
pub fn dataset_files(
    repo: &str,
    choose: &dyn Fn(&[String]) -> Vec<String>,
    known: &[String],
    options: &HubOptions,
) -> Result<DatasetFiles> {
    let dataset = || Repo::new(repo.to_string(), RepoType::Dataset);
    if options.offline {
        let cached = options.cache().repo(dataset());
        if known.is_empty() {
            return Err(hub_error(
                repo,
                "offline (HF_HUB_OFFLINE) and never downloaded: its files cannot be listed",
            ));
        }
        let files = known
            .iter()
            .map(|name| {
                let path = cached.get(name).ok_or_else(|| {
                    hub_error(repo, format!("offline and {name} is not in the cache"))
                })?;
                Ok((name.clone(), path))
            })
            .collect::<Result<_>>()?;
        return Ok(DatasetFiles {
            commit: None,
            files,
        });
    }
    let api = options.api().map_err(|e| hub_error(repo, e))?;
    let handle = api.repo(dataset());
    let _span = tracing::info_span!("hub", dataset = %repo).entered();
    let info = handle
        .info()
        .map_err(|e| hub_error(repo, format!("cannot list the repository: {e}")))?;
    let listed: Vec<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let chosen = choose(&listed);
    if chosen.is_empty() {
        return Err(hub_error(
            repo,
            format!(
                "none of its files is one the recipe reads; it lists {}",
                listed.join(", ")
            ),
        ));
    }
    let files = chosen
        .into_iter()
        .map(|name| {
            if !listed.contains(&name) {
                return Err(hub_error(
                    repo,
                    format!("has no file {name}; it lists {}", listed.join(", ")),
                ));
            }
            let path = handle
                .get(&name)
                .map_err(|e| hub_error(repo, format!("cannot download {name}: {e}")))?;
            tracing::info!(file = %name, path = %path.display(), "dataset file in the cache");
            Ok((name, path))
        })
        .collect::<Result<_>>()?;
    Ok(DatasetFiles {
        commit: Some(info.sha),
        files,
    })
}
