//! One writer per output: a command holds `.<output>.neuron-census-lock`, beside its output,
//! for its whole life, so a second command writing the same output is refused, naming the
//! first. A file at that place that is not such a lock (a user's, or a link) is refused and
//! never written.
//!
//! The lock is an advisory lock of the operating system on that file (`flock`), so a process
//! that is killed releases it with its file handles: a lock file it leaves behind is stale, and
//! the next command takes it over (logging whose it was). The file is removed when the holder
//! drops its [`OutputLock`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{FormatError, Result};

/// The lock of one output directory (or file) for this process's life.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    file: File,
}

/// What every lock file starts with, so a file of someone else's is never taken for one.
const LOCK_PREFIX: &str = "neuron-census lock: ";

/// `.<output>.neuron-census-lock` beside `output`; a final symbolic link is followed first, so
/// the link and its target share one lock. None for an output without a name of its own (`/`).
pub fn lock_path(output: &Path) -> Option<PathBuf> {
    let resolved = std::fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf());
    let name = resolved.file_name()?;
    let mut lock = std::ffi::OsString::from(".");
    lock.push(name);
    lock.push(".neuron-census-lock");
    Some(resolved.with_file_name(lock))
}

/// Refuses a file at the lock's place that is not one of our locks: a link, a directory, or a
/// file whose text does not start with [`LOCK_PREFIX`] (an empty one is a lock whose holder
/// stopped before it wrote its name).
fn refuse_foreign(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let ours = meta.is_file()
        && std::fs::read(path)
            .is_ok_and(|text| text.is_empty() || text.starts_with(LOCK_PREFIX.as_bytes()));
    if ours {
        Ok(())
    } else {
        Err(FormatError::Foreign {
            path: path.to_path_buf(),
            reason: "is in the place of neuron-census's lock of the output beside it and is not \
                     one; move it away"
                .to_string(),
        })
    }
}

impl OutputLock {
    /// [`OutputLock::acquire`], waiting up to `patience` while another command holds the lock.
    pub fn acquire_waiting(
        output: &Path,
        command: &str,
        patience: std::time::Duration,
    ) -> Result<Self> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match Self::acquire(output, command) {
                Err(FormatError::Busy { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                taken => return taken,
            }
        }
    }

    /// Takes the lock of `output` for `command` (as it is shown to a second command), or
    /// refuses, naming the process that holds it.
    pub fn acquire(output: &Path, command: &str) -> Result<Self> {
        let path = lock_path(output).ok_or_else(|| FormatError::Foreign {
            path: output.to_path_buf(),
            reason: "an output directory needs a name of its own".to_string(),
        })?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| FormatError::io("cannot create", output, e))?;
        }
        // The file can be removed by its holder between our open and our lock: lock again
        // until the file we hold is the one at the path.
        for _ in 0..16 {
            refuse_foreign(&path)?;
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| FormatError::io("cannot open the lock", &path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim().trim_start_matches(LOCK_PREFIX);
                    let holder = if holder.is_empty() {
                        "another process"
                    } else {
                        holder
                    };
                    return Err(FormatError::Busy {
                        path: output.to_path_buf(),
                        reason: format!(
                            "is being written by another neuron-census command ({holder}; lock \
                             {}); wait for it to finish, or choose another output",
                            path.display()
                        ),
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(FormatError::io("cannot lock", &path, e));
                }
            }
            if !same_file(&file, &path) {
                continue;
            }
            let mut stale = String::new();
            let _ = file.read_to_string(&mut stale);
            if !stale.trim().is_empty() {
                tracing::info!(
                    lock = %path.display(),
                    left_by = %stale.trim().trim_start_matches(LOCK_PREFIX),
                    "clearing a lock its holder left when it was stopped"
                );
            }
            let holder = format!("{LOCK_PREFIX}pid {}: {command}", std::process::id());
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
                .and_then(|()| file.write_all(holder.as_bytes()))
                .map_err(|e| FormatError::io("cannot write", &path, e))?;
            return Ok(Self { path, file });
        }
        Err(FormatError::Foreign {
            path,
            reason: "keeps being replaced while it is taken; is another command starting and \
                     stopping in a loop?"
                .to_string(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether the open `file` is the one now at `path`.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether the open `file` is the one now at `path`.
#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held, so no other command can hold the removed file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_the_lock_goes_with_its_holder() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("run");
        let first = OutputLock::acquire(&out, "extract").unwrap();
        let lock = root
            .path()
            .canonicalize()
            .unwrap()
            .join(".run.neuron-census-lock");
        assert_eq!(first.path(), lock);
        let e = OutputLock::acquire(&out, "analyze")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("being written by another neuron-census command")
                && e.contains(&format!("pid {}: extract", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(!lock.exists());
        let again = OutputLock::acquire(&out, "analyze").unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_left_by_a_killed_holder_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("analysis");
        let left = root.path().join(".analysis.neuron-census-lock");
        std::fs::write(&left, format!("{LOCK_PREFIX}pid 4242: analyze")).unwrap();
        let lock = OutputLock::acquire(&out, "analyze").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(
            text,
            format!("{LOCK_PREFIX}pid {}: analyze", std::process::id())
        );
    }

    #[test]
    fn a_users_file_or_link_in_the_locks_place_is_refused_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("run");
        let place = root.path().join(".run.neuron-census-lock");
        std::fs::write(&place, "my notes").unwrap();
        let e = OutputLock::acquire(&out, "extract")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not one; move it away"), "{e}");
        assert_eq!(std::fs::read_to_string(&place).unwrap(), "my notes");
        std::fs::remove_file(&place).unwrap();
        #[cfg(unix)]
        {
            std::fs::write(root.path().join("notes.txt"), "mine").unwrap();
            std::os::unix::fs::symlink("notes.txt", &place).unwrap();
            assert!(OutputLock::acquire(&out, "extract").is_err());
            let notes = std::fs::read_to_string(root.path().join("notes.txt")).unwrap();
            assert_eq!(notes, "mine");
            assert!(place.is_symlink());
        }
        assert!(OutputLock::acquire(Path::new("/"), "analyze").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_and_its_target_share_one_lock() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("disk")).unwrap();
        let link = root.path().join("report");
        std::os::unix::fs::symlink(root.path().join("disk"), &link).unwrap();
        let _held = OutputLock::acquire(&root.path().join("disk"), "report").unwrap();
        assert!(OutputLock::acquire(&link, "report").is_err());
    }
}
