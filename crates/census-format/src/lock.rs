//! One writer per output: a command holds `<output>.lock`, beside its output, for its whole
//! life, so a second command writing the same output is refused, naming the first.
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

/// `<output>.lock` beside `output`; a final symbolic link is followed first, so the link and its
/// target share one lock.
pub fn lock_path(output: &Path) -> PathBuf {
    let resolved = std::fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf());
    let mut name = resolved.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    resolved.with_file_name(name)
}

impl OutputLock {
    /// Takes the lock of `output` for `command` (as it is shown to a second command), or
    /// refuses, naming the process that holds it.
    pub fn acquire(output: &Path, command: &str) -> Result<Self> {
        let path = lock_path(output);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| FormatError::io("cannot create", output, e))?;
        }
        // The file can be removed by its holder between our open and our lock: lock again
        // until the file we hold is the one at the path.
        for _ in 0..16 {
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
                    let holder = holder.trim();
                    let holder = if holder.is_empty() {
                        "another process"
                    } else {
                        holder
                    };
                    return Err(FormatError::Foreign {
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
                    left_by = %stale.trim(),
                    "clearing a lock its holder left when it was stopped"
                );
            }
            let holder = format!("pid {}: {command}", std::process::id());
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
        assert_eq!(
            first.path(),
            root.path().canonicalize().unwrap().join("run.lock")
        );
        let e = OutputLock::acquire(&out, "analyze")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("being written by another neuron-census command")
                && e.contains(&format!("pid {}: extract", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(!root.path().join("run.lock").exists());
        let again = OutputLock::acquire(&out, "analyze").unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_left_by_a_killed_holder_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("analysis");
        std::fs::write(root.path().join("analysis.lock"), "pid 4242: analyze").unwrap();
        let lock = OutputLock::acquire(&out, "analyze").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("pid {}: analyze", std::process::id()));
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
