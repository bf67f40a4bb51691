//! Output directories built beside their final place and swapped in only when complete.
//!
//! A command that replaces a directory (a report, an analysis, a run redone with `--force`, a
//! trained model) writes the new one into `<name>.partial` next to it. Only when every file is
//! written does [`StagedDir::commit`] move the old directory aside, move the new one into
//! place and delete the old one. A command that fails or is interrupted before that leaves the
//! previous output untouched; the staging directory is removed when the [`StagedDir`] is
//! dropped, or by the next command that stages the same target.

use std::path::{Path, PathBuf};

use crate::error::{FormatError, Result};

/// File that marks a staging directory as this project's, so a stale one may be removed.
pub const STAGING_MARKER: &str = ".neuron-census-staging";

/// Whether `dir` holds nothing but, at most, a staging marker: an empty directory, or a
/// staging directory nothing has been written into yet.
pub fn holds_nothing(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        if entry?.file_name() != STAGING_MARKER {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A directory being built to replace `target`.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

/// `<target><suffix>` beside `target`.
fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    target.with_file_name(name)
}

impl StagedDir {
    /// Starts building the replacement of `target` in `<target>.partial`. A staging directory
    /// left by an interrupted command is removed first if it carries this project's marker;
    /// anything else at that path is refused.
    pub fn begin(target: &Path) -> Result<Self> {
        if target.file_name().is_none() {
            return Err(FormatError::Foreign {
                path: target.to_path_buf(),
                reason: "an output directory needs a name of its own".to_string(),
            });
        }
        let staging = sibling(target, ".partial");
        if staging.exists() {
            if !staging.join(STAGING_MARKER).is_file() {
                return Err(FormatError::Foreign {
                    path: staging,
                    reason: "is in the way of the staging directory and was not written by \
                             neuron-census; move it away"
                        .to_string(),
                });
            }
            tracing::info!(staging = %staging.display(), "removing an interrupted command's staging directory");
            std::fs::remove_dir_all(&staging)
                .map_err(|e| FormatError::io("cannot remove", &staging, e))?;
        }
        std::fs::create_dir_all(&staging)
            .map_err(|e| FormatError::io("cannot create", &staging, e))?;
        let marker = staging.join(STAGING_MARKER);
        std::fs::write(&marker, b"").map_err(|e| FormatError::io("cannot write", &marker, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where the new directory is being built.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The directory it will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the new directory in place of the target: the old one (if any) is moved to
    /// `<target>.old`, the new one renamed to the target, and the old one deleted. If the
    /// second rename fails, the old directory is moved back.
    pub fn commit(mut self) -> Result<()> {
        let marker = self.staging.join(STAGING_MARKER);
        std::fs::remove_file(&marker).map_err(|e| FormatError::io("cannot remove", &marker, e))?;
        let old = sibling(&self.target, ".old");
        let had_target = self.target.exists();
        if had_target {
            if old.exists() {
                return Err(FormatError::Foreign {
                    path: old,
                    reason: "is in the way of replacing the directory beside it (left by an \
                             interrupted replacement?); check it and remove it"
                        .to_string(),
                });
            }
            std::fs::rename(&self.target, &old)
                .map_err(|e| FormatError::io("cannot move aside", &self.target, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if had_target {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(FormatError::io("cannot move into place", &self.staging, e));
        }
        self.committed = true;
        if had_target {
            std::fs::remove_dir_all(&old).map_err(|e| FormatError::io("cannot remove", &old, e))?;
        }
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed && self.staging.join(STAGING_MARKER).is_file() {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_commit_replaces_the_whole_directory() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("report");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("stale.svg"), "old").unwrap();
        let staged = StagedDir::begin(&target).unwrap();
        std::fs::write(staged.path().join("index.html"), "new").unwrap();
        // Until the commit, the old directory is as it was.
        assert_eq!(listing(&target), ["stale.svg"]);
        staged.commit().unwrap();
        assert_eq!(listing(&target), ["index.html"]);
        assert_eq!(listing(root.path()), ["report"]);
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("analysis");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("neurons.parquet"), "old").unwrap();
        {
            let staged = StagedDir::begin(&target).unwrap();
            std::fs::write(staged.path().join("neurons.parquet"), "half").unwrap();
        }
        assert_eq!(listing(root.path()), ["analysis"]);
        assert_eq!(
            std::fs::read_to_string(target.join("neurons.parquet")).unwrap(),
            "old"
        );
    }

    #[test]
    fn a_new_target_is_created_and_stale_staging_is_cleared() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("nested").join("run");
        let first = StagedDir::begin(&target).unwrap();
        std::fs::write(first.path().join("x"), "1").unwrap();
        // An interrupted command leaves its staging directory behind.
        std::mem::forget(first);
        let staged = StagedDir::begin(&target).unwrap();
        assert_eq!(listing(staged.path()), [STAGING_MARKER]);
        staged.commit().unwrap();
        assert!(listing(&target).is_empty());
    }

    #[test]
    fn a_foreign_directory_in_the_staging_place_is_refused_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let foreign = root.path().join("model.partial");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.tex"), "mine").unwrap();
        let e = StagedDir::begin(&target).unwrap_err().to_string();
        assert!(
            e.contains("model.partial") && e.contains("not written by"),
            "{e}"
        );
        assert_eq!(listing(&foreign), ["thesis.tex"]);
    }
}
