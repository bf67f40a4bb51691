//! The size and CRC-32 of a file: computed while the file is written ([`DigestWriter`]), kept in
//! a manifest, and compared when the file is read back, so a part replaced, truncated or edited
//! since it was committed is refused instead of counted.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// What a file held when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Size in bytes.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file.
    pub crc32: u32,
}

impl FileDigest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self {
            bytes: data.len() as u64,
            crc32: crc32fast::hash(data),
        }
    }

    /// The digest of the file at `path`, read in blocks.
    pub fn of_file(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            bytes += n as u64;
        }
        Ok(Self {
            bytes,
            crc32: hasher.finalize(),
        })
    }

    /// Why `data` is not the file this digest describes, if it is not.
    pub fn mismatch(&self, data: &[u8]) -> Option<String> {
        let found = Self::of(data);
        if found.bytes != self.bytes {
            return Some(format!(
                "is {} bytes, but the manifest recorded {} when the part was committed (the \
                 file was replaced or truncated)",
                found.bytes, self.bytes
            ));
        }
        if found.crc32 != self.crc32 {
            return Some(
                "its checksum differs from the one the manifest recorded when the part was \
                 committed (the file changed since)"
                    .to_string(),
            );
        }
        None
    }
}

/// A writer that passes bytes through and keeps their digest.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        }
    }

    /// The inner writer and the digest of everything written through.
    pub fn finish(self) -> (W, FileDigest) {
        let digest = FileDigest {
            bytes: self.bytes,
            crc32: self.hasher.finalize(),
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_digest_is_the_digest_of_the_bytes() {
        let mut writer = DigestWriter::new(Vec::new());
        writer.write_all(b"hello ").unwrap();
        writer.write_all(b"world").unwrap();
        let (bytes, digest) = writer.finish();
        assert_eq!(digest, FileDigest::of(b"hello world"));
        assert_eq!(bytes, b"hello world");
        assert_eq!(digest.crc32, 0x0d4a_1185);
        assert!(digest.mismatch(b"hello world").is_none());
        assert!(digest.mismatch(b"hello").unwrap().contains("bytes"));
        assert!(
            digest
                .mismatch(b"jello world")
                .unwrap()
                .contains("checksum")
        );
    }
}
