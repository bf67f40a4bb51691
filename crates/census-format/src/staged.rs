//! Output directories built beside their final place and swapped in only when complete.
//!
//! A command that replaces a directory (a report, an analysis, a run redone with `--force`, a
//! trained model) writes the new one into `<name>.partial` next to it. Only when every file is
//! written does [`StagedDir::commit`] move the old directory aside, move the new one into
//! place and delete the old one. A command that fails or is interrupted before that leaves the
//! previous output untouched; the staging directory is removed when the [`StagedDir`] is
//! dropped, or by the next command that stages the same target.
//!
//! Every committed output lists what it wrote in [`WRITTEN_LIST`]. A replacement keeps whatever
//! else the old directory holds (a user's notes, plots, another report): those entries are moved
//! into the new directory, at the same place, before the old one is deleted. An output written
//! without a list (by an earlier version, or an extraction run) is read by the names its kind
//! writes at its top level ([`StagedDir::begin`]'s `owned`): those are ours, the rest the user's. An entry of the
//! user's that the new output would overwrite is refused, naming it, before anything is
//! touched. A `target` that is a symbolic link is written through: the directory it points to
//! is replaced and the link stays.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{FormatError, Result};

/// File that marks a staging directory as this project's, so a stale one may be removed.
pub const STAGING_MARKER: &str = ".neuron-census-staging";

/// File of every committed output listing, one relative path a line, the files and
/// directories the command wrote (a directory ends in `/`); everything else in the directory is
/// the user's, and a replacement keeps it.
pub const WRITTEN_LIST: &str = ".neuron-census-files";

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

/// What an existing directory at an output's place turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// An output of this kind that this project wrote: it may be replaced.
    Ours,
    /// An output of this project of another kind (described: "an extraction run").
    OtherKind(String),
    /// Nothing this project wrote.
    NotOurs,
}

/// A kind of output directory, as the refusals name it.
#[derive(Debug, Clone, Copy)]
pub struct OutputKind {
    /// The directory with its article: "an analysis directory".
    pub directory: &'static str,
    /// What an output of this kind is: "analysis of neuron-census".
    pub ours: &'static str,
}

/// Checks that an output of `kind` may be written at `out`: nothing is there, an empty
/// directory (or a staging directory nothing was written into), or a directory `owner` says is
/// ours. Anything else is refused, with the reason.
pub fn check_replaceable(
    out: &Path,
    kind: OutputKind,
    owner: impl Fn(&Path) -> Ownership,
) -> std::result::Result<(), crate::Refusal> {
    use crate::Refusal;
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Refusal::IsAFile(kind.directory));
    }
    match owner(out) {
        Ownership::Ours => Ok(()),
        Ownership::OtherKind(other) => Err(Refusal::OtherKind {
            other,
            directory: kind.directory,
        }),
        Ownership::NotOurs => match holds_nothing(out) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refusal::NotOurs(kind.ours)),
            Err(e) => Err(Refusal::Unreadable(e)),
        },
    }
}

/// A directory being built to replace `target`.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    /// The top-level names an output of this kind writes.
    owned: &'static [&'static str],
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
    ///
    /// `owned` names what an output of this kind writes at its top level (`*.parquet`,
    /// `checkpoint-*`, `manifest.json`): for an existing output without a [`WRITTEN_LIST`],
    /// the entries that match are ours, and everything else is kept.
    pub fn begin(target: &Path, owned: &'static [&'static str]) -> Result<Self> {
        let target = &through_link(target)?;
        if target.file_name().is_none() {
            return Err(FormatError::Foreign {
                path: target.to_path_buf(),
                reason: "an output directory needs a name of its own".to_string(),
            });
        }
        let staging = sibling(target, ".partial");
        if staging.exists() {
            // Ours while it is built (the marker), or once complete and not yet swapped in (the
            // list of what it wrote).
            let ours =
                staging.join(STAGING_MARKER).is_file() || staging.join(WRITTEN_LIST).is_file();
            if !ours {
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
            owned,
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
    /// `<target>.old`, the new one renamed to the target, the entries of the old one that this
    /// project did not write moved into the new one, and the old one deleted. If the second
    /// rename fails, the old directory is moved back; an entry that cannot be moved leaves the
    /// old directory in place, named in the error.
    pub fn commit(mut self) -> Result<()> {
        let old = sibling(&self.target, ".old");
        let had_target = self.target.exists();
        let kept = if had_target {
            users_entries(&self.target, self.owned)?
        } else {
            Vec::new()
        };
        if let Some(clash) = kept.iter().find(|e| in_the_way(&self.staging, e)) {
            return Err(FormatError::Foreign {
                path: self.target.join(clash),
                reason: "was not written by neuron-census, and the new output writes a file \
                         there; move it away and run again (nothing was replaced)"
                    .to_string(),
            });
        }
        if had_target && old.exists() {
            return Err(FormatError::Foreign {
                path: old,
                reason: "is in the way of replacing the directory beside it (left by an \
                         interrupted replacement?); check it and remove it"
                    .to_string(),
            });
        }
        let written = written_entries(&self.staging)?;
        let marker = self.staging.join(STAGING_MARKER);
        std::fs::remove_file(&marker).map_err(|e| FormatError::io("cannot remove", &marker, e))?;
        let list = self.staging.join(WRITTEN_LIST);
        let text: String = written.iter().map(|e| format!("{e}\n")).collect();
        std::fs::write(&list, text).map_err(|e| FormatError::io("cannot write", &list, e))?;
        if had_target {
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
        if !kept.is_empty() {
            tracing::info!(
                output = %self.target.display(),
                kept = %kept.join(", "),
                "kept what neuron-census did not write"
            );
        }
        for entry in &kept {
            let to = self.target.join(entry);
            let moved = match to.parent() {
                Some(parent) => std::fs::create_dir_all(parent),
                None => Ok(()),
            }
            .and_then(|()| std::fs::rename(old.join(entry), &to));
            if let Err(e) = moved {
                return Err(FormatError::Foreign {
                    path: old.join(entry),
                    reason: format!(
                        "cannot be moved into the new output ({e}); it and the rest of the \
                         previous output stay in {}",
                        old.display()
                    ),
                });
            }
        }
        if had_target {
            std::fs::remove_dir_all(&old).map_err(|e| FormatError::io("cannot remove", &old, e))?;
        }
        Ok(())
    }
}

/// `target`, or the directory it points to when it is a symbolic link, so a replacement writes
/// through the link.
fn through_link(target: &Path) -> Result<PathBuf> {
    let mut path = target.to_path_buf();
    for _ in 0..32 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::read_link(&path)
                    .map_err(|e| FormatError::io("cannot read the link", &path, e))?;
                path = match path.parent() {
                    Some(parent) if to.is_relative() => parent.join(to),
                    _ => to,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(FormatError::Foreign {
        path: target.to_path_buf(),
        reason: "is a chain of symbolic links that does not end".to_string(),
    })
}

/// Every file and directory under `dir`, relative to it, sorted (a directory ends in `/`).
fn written_entries(dir: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| FormatError::io("cannot read", dir, e))? {
            let entry = entry.map_err(|e| FormatError::io("cannot read", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && (name == STAGING_MARKER || name == WRITTEN_LIST) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| FormatError::io("cannot read", entry.path(), e))?;
            if kind.is_dir() {
                out.push(format!("{prefix}{name}/"));
                walk(&entry.path(), &format!("{prefix}{name}/"), out)?;
            } else {
                out.push(format!("{prefix}{name}"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Whether top-level `name` matches one of `owned` (`*` at the start or end of a pattern stands
/// for any text).
fn owned_name(name: &str, owned: &[&str]) -> bool {
    owned.iter().any(
        |pattern| match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(suffix), _) => name.ends_with(suffix),
            (_, Some(prefix)) => name.starts_with(prefix),
            _ => name == *pattern,
        },
    )
}

/// The entries of the existing output `old` that this project did not write: those its
/// [`WRITTEN_LIST`] does not name, or, for an output without one, the top-level entries whose
/// names do not match `owned`.
fn users_entries(old: &Path, owned: &[&str]) -> Result<Vec<String>> {
    let list = old.join(WRITTEN_LIST);
    let ours: BTreeSet<String> = match std::fs::read_to_string(&list) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut ours = BTreeSet::new();
            for entry in
                std::fs::read_dir(old).map_err(|e| FormatError::io("cannot read", old, e))?
            {
                let entry = entry.map_err(|e| FormatError::io("cannot read", old, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if owned_name(&name, owned) {
                    // A whole directory of ours: every entry under it is ours too.
                    let path = entry.path();
                    ours.insert(name.clone());
                    if path.is_dir() && !path.is_symlink() {
                        ours.extend(
                            written_entries(&path)?
                                .into_iter()
                                .map(|e| format!("{name}/{e}")),
                        );
                        ours.insert(format!("{name}/"));
                    }
                }
            }
            ours
        }
        Err(e) => return Err(FormatError::io("cannot read", &list, e)),
    };
    let mut users = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        let dir = old.join(&prefix);
        for entry in std::fs::read_dir(&dir).map_err(|e| FormatError::io("cannot read", &dir, e))? {
            let entry = entry.map_err(|e| FormatError::io("cannot read", &dir, e))?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if name == WRITTEN_LIST {
                continue;
            }
            let is_dir = entry
                .file_type()
                .map_err(|e| FormatError::io("cannot read", entry.path(), e))?
                .is_dir();
            if is_dir && ours.contains(&format!("{name}/")) {
                stack.push(format!("{name}/"));
            } else if !ours.contains(&name) {
                users.push(name);
            }
        }
    }
    users.sort();
    Ok(users)
}

/// Whether moving `entry` into `new` would overwrite something there: the same path, or one of
/// its parents as a file.
fn in_the_way(new: &Path, entry: &str) -> bool {
    let path = Path::new(entry);
    if std::fs::symlink_metadata(new.join(path)).is_ok() {
        return true;
    }
    path.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| std::fs::symlink_metadata(new.join(a)).is_ok_and(|m| !m.is_dir()))
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

    /// What the test outputs write at their top level.
    const TEST_OWNED: &[&str] = &["*.parquet", "index.html", "figures", "stale.svg", "x"];

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
        let first = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::write(first.path().join("stale.svg"), "old").unwrap();
        first.commit().unwrap();
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::write(staged.path().join("index.html"), "new").unwrap();
        // Until the commit, the old directory is as it was.
        assert_eq!(listing(&target), [WRITTEN_LIST, "stale.svg"]);
        staged.commit().unwrap();
        assert_eq!(listing(&target), [WRITTEN_LIST, "index.html"]);
        assert_eq!(listing(root.path()), ["report"]);
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("analysis");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("neurons.parquet"), "old").unwrap();
        {
            let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
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
        let first = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::write(first.path().join("x"), "1").unwrap();
        // An interrupted command leaves its staging directory behind.
        std::mem::forget(first);
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        assert_eq!(listing(staged.path()), [STAGING_MARKER]);
        staged.commit().unwrap();
        assert_eq!(listing(&target), [WRITTEN_LIST]);
    }

    #[test]
    fn a_complete_staging_directory_left_before_its_swap_is_cleared() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("analysis");
        let staging = root.path().join("analysis.partial");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join(WRITTEN_LIST), "neurons.parquet\n").unwrap();
        std::fs::write(staging.join("neurons.parquet"), "half").unwrap();
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        assert_eq!(listing(staged.path()), [STAGING_MARKER]);
    }

    #[test]
    fn an_output_place_is_free_when_absent_empty_or_ours() {
        const KIND: OutputKind = OutputKind {
            directory: "a report directory",
            ours: "report of neuron-census",
        };
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("r");
        let foreign = |_: &Path| Ownership::NotOurs;
        check_replaceable(&out, KIND, foreign).unwrap();
        std::fs::create_dir(&out).unwrap();
        check_replaceable(&out, KIND, foreign).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = check_replaceable(&out, KIND, foreign).unwrap_err();
        assert_eq!(
            e.to_string(),
            "is not empty and holds no report of neuron-census; refusing to replace it"
        );
        check_replaceable(&out, KIND, |_| Ownership::Ours).unwrap();
        let e =
            check_replaceable(&out, KIND, |_| Ownership::OtherKind("a run".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "holds a run, not a report directory; refusing to replace it"
        );
        let e = check_replaceable(&out.join("notes.txt"), KIND, foreign).unwrap_err();
        assert_eq!(e.to_string(), "is a file, not a report directory");
    }

    #[test]
    fn a_foreign_directory_in_the_staging_place_is_refused_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let foreign = root.path().join("model.partial");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.tex"), "mine").unwrap();
        let e = StagedDir::begin(&target, TEST_OWNED)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.partial") && e.contains("not written by"),
            "{e}"
        );
        assert_eq!(listing(&foreign), ["thesis.tex"]);
    }

    /// A committed output with a user's files beside ours, in and under it.
    fn output_with_users_files(root: &Path) -> PathBuf {
        let target = root.join("analysis");
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::create_dir(staged.path().join("figures")).unwrap();
        std::fs::write(staged.path().join("figures/a.svg"), "ours").unwrap();
        std::fs::write(staged.path().join("neurons.parquet"), "ours").unwrap();
        std::fs::write(staged.path().join("stale.parquet"), "ours").unwrap();
        staged.commit().unwrap();
        std::fs::write(target.join("NOTES.txt"), "mine").unwrap();
        std::fs::create_dir_all(target.join("plots/deep")).unwrap();
        std::fs::write(target.join("plots/deep/p.png"), "mine").unwrap();
        std::fs::write(target.join("figures/mine.svg"), "mine").unwrap();
        target
    }

    #[test]
    fn a_replacement_keeps_what_we_did_not_write_and_drops_what_we_did() {
        let root = tempfile::tempdir().unwrap();
        let target = output_with_users_files(root.path());
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::create_dir(staged.path().join("figures")).unwrap();
        std::fs::write(staged.path().join("figures/b.svg"), "new").unwrap();
        std::fs::write(staged.path().join("neurons.parquet"), "new").unwrap();
        staged.commit().unwrap();
        assert_eq!(
            listing(&target),
            [
                WRITTEN_LIST,
                "NOTES.txt",
                "figures",
                "neurons.parquet",
                "plots"
            ]
        );
        assert_eq!(listing(&target.join("figures")), ["b.svg", "mine.svg"]);
        assert_eq!(
            std::fs::read_to_string(target.join("plots/deep/p.png")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(target.join(WRITTEN_LIST)).unwrap(),
            "figures/\nfigures/b.svg\nneurons.parquet\n"
        );
        assert_eq!(listing(root.path()), ["analysis"]);
    }

    #[test]
    fn a_users_file_where_the_new_output_writes_is_refused_before_anything_changes() {
        let root = tempfile::tempdir().unwrap();
        let target = output_with_users_files(root.path());
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::write(staged.path().join("NOTES.txt"), "ours now").unwrap();
        let e = staged.commit().unwrap_err().to_string();
        assert!(
            e.contains("NOTES.txt") && e.contains("nothing was replaced"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("NOTES.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("stale.parquet")).unwrap(),
            "ours"
        );
        assert_eq!(listing(root.path()), ["analysis"]);
    }

    #[test]
    fn an_output_without_a_list_keeps_what_its_kind_does_not_write() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("report");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("index.html"), "old").unwrap();
        std::fs::write(target.join("NOTES.txt"), "mine").unwrap();
        std::fs::create_dir(target.join("figures")).unwrap();
        std::fs::write(target.join("figures/old.svg"), "ours").unwrap();
        std::fs::write(target.join("stale.parquet"), "ours").unwrap();
        let staged = StagedDir::begin(&target, TEST_OWNED).unwrap();
        std::fs::write(staged.path().join("index.html"), "new").unwrap();
        staged.commit().unwrap();
        // Ours by name (the old figures, a table the new output does not write) go.
        assert_eq!(listing(&target), [WRITTEN_LIST, "NOTES.txt", "index.html"]);
        assert_eq!(
            std::fs::read_to_string(target.join("index.html")).unwrap(),
            "new"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_target_is_written_through_the_link() {
        let root = tempfile::tempdir().unwrap();
        let disk = root.path().join("disk");
        std::fs::create_dir_all(disk.join("report")).unwrap();
        std::fs::write(disk.join("report/index.html"), "old").unwrap();
        let link = root.path().join("report");
        std::os::unix::fs::symlink(disk.join("report"), &link).unwrap();
        let staged = StagedDir::begin(&link, TEST_OWNED).unwrap();
        std::fs::write(staged.path().join("index.html"), "new").unwrap();
        staged.commit().unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(disk.join("report/index.html")).unwrap(),
            "new"
        );
        assert_eq!(listing(root.path()), ["disk", "report"]);
        assert_eq!(listing(&disk), ["report"]);
        // A link to a directory not made yet is written through too.
        let later = root.path().join("later");
        std::os::unix::fs::symlink("disk/analysis", &later).unwrap();
        StagedDir::begin(&later, TEST_OWNED)
            .unwrap()
            .commit()
            .unwrap();
        assert!(disk.join("analysis").join(WRITTEN_LIST).is_file());
    }
}
