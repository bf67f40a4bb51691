//! Files written whole or not at all: the bytes go to a temporary file beside the target, are
//! flushed to disk, and the temporary file is renamed over the target.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{FormatError, Result};

/// Suffix of the temporary file a write goes through.
pub const TEMP_SUFFIX: &str = ".tmp";

/// The temporary path `path` is written through.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a
/// part, and a crash leaves at most a stray `<name>.tmp`.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let temp = temp_path(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes.as_ref())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(FormatError::io("cannot write", &temp, e));
    }
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        FormatError::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("a.json");
        let e = write_atomic(&path, "x").unwrap_err().to_string();
        assert!(e.contains("a.json.tmp"), "{e}");
    }
}
