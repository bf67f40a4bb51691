//! Files written whole or not at all: the bytes go to a temporary file beside the target, are
//! flushed to disk, and the temporary file is renamed over the target.

use std::io::Write;
use std::path::Path;

use crate::error::{FormatError, Result};

/// Suffix of the temporary files writes go through (`.<name>.<random>.tmp` beside the target).
pub const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a
/// part. The bytes go to a uniquely named temporary file beside `path` (so concurrent writers
/// never share one), are flushed to disk, and the file is renamed over `path`; on any error the
/// temporary file is removed, and a crash leaves at most a stray `.<name>.*.tmp`.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let fail = |e: std::io::Error| FormatError::io("cannot write", path, e);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut builder = tempfile::Builder::new();
    // Readable by others as a plainly created file is (a temporary file is private by default).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut temp = builder
        .prefix(&format!(".{name}."))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(fail)?;
    temp.write_all(bytes.as_ref()).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
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
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "readable as a plainly created file");
        }
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("a.json");
        let e = write_atomic(&path, "x").unwrap_err().to_string();
        assert!(e.contains("missing-dir/a.json"), "{e}");
    }
}
