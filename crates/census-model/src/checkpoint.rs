//! Finding and indexing a Hugging Face checkpoint: single or sharded safetensors, single or sharded
//! `pytorch_model.bin`. Tensors are listed with their shapes before any data is read, and read
//! lazily one at a time, so loading never holds more than the model plus one tensor.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::tensor::{DType, TensorData};
use burn_store::TensorSnapshotError;
use burn_store::pytorch::PytorchReader;
use serde::Deserialize;

use crate::error::{ModelError, Result};

/// One tensor stored in a checkpoint file, not yet read.
#[derive(Clone)]
pub struct StoredTensor {
    /// Its name in the file (Hugging Face naming, with whatever prefix the file uses).
    pub name: String,
    /// The file holding it.
    pub file: PathBuf,
    /// Storage dtype.
    pub dtype: DType,
    /// Shape in PyTorch layout.
    pub shape: Vec<usize>,
    /// Byte range of the raw little-endian data in `file`, where the format stores it plainly
    /// (safetensors).
    raw: Option<std::ops::Range<u64>>,
    read: Rc<dyn Fn() -> std::result::Result<TensorData, TensorSnapshotError>>,
}

impl std::fmt::Debug for StoredTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTensor")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .finish()
    }
}

impl StoredTensor {
    /// The lazy reader of this tensor's data.
    pub fn reader(&self) -> Rc<dyn Fn() -> std::result::Result<TensorData, TensorSnapshotError>> {
        self.read.clone()
    }

    /// Reads the tensor's data now, converted to `f32`, into `out` (which must hold exactly
    /// its elements). Plain `f32` data is read straight into `out`, without a staging copy.
    pub fn read_f32_into(&self, out: &mut [f32]) -> Result<()> {
        let elements: usize = self.shape.iter().product();
        if out.len() != elements {
            return Err(ModelError::TensorData {
                tensor: self.name.clone(),
                path: self.file.clone(),
                reason: format!("{elements} elements do not fill a buffer of {}", out.len()),
            });
        }
        if let (Some(range), DType::F32, true) =
            (&self.raw, self.dtype, cfg!(target_endian = "little"))
        {
            let io = |e: std::io::Error| ModelError::TensorData {
                tensor: self.name.clone(),
                path: self.file.clone(),
                reason: e.to_string(),
            };
            let mut file = File::open(&self.file).map_err(io)?;
            file.seek(SeekFrom::Start(range.start)).map_err(io)?;
            file.read_exact(bytemuck::cast_slice_mut(out)).map_err(io)?;
            return refuse_non_finite(bytemuck::cast_slice(out), DType::F32).map_err(|reason| {
                ModelError::TensorData {
                    tensor: self.name.clone(),
                    path: self.file.clone(),
                    reason,
                }
            });
        }
        let values = self
            .read()?
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| ModelError::TensorData {
                tensor: self.name.clone(),
                path: self.file.clone(),
                reason: format!("{e:?}"),
            })?;
        out.copy_from_slice(&values);
        Ok(())
    }

    /// Reads the tensor's data now.
    pub fn read(&self) -> Result<TensorData> {
        (self.read)().map_err(|e| ModelError::TensorData {
            tensor: self.name.clone(),
            path: self.file.clone(),
            reason: e.to_string(),
        })
    }
}

/// The weight files of a model directory, in the order they are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointFiles {
    /// `model.safetensors` or the shards named by `model.safetensors.index.json`.
    Safetensors(Vec<PathBuf>),
    /// `pytorch_model.bin` or the shards named by `pytorch_model.bin.index.json`.
    Pytorch(Vec<PathBuf>),
}

impl CheckpointFiles {
    /// Finds the checkpoint in `dir`, preferring safetensors (single, then sharded) over `.bin`.
    pub fn discover(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(ModelError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let single = dir.join("model.safetensors");
        if single.is_file() {
            return Ok(Self::Safetensors(vec![single]));
        }
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            return Ok(Self::Safetensors(shards_of(&index)?));
        }
        let single = dir.join("pytorch_model.bin");
        if single.is_file() {
            return Ok(Self::Pytorch(vec![single]));
        }
        let index = dir.join("pytorch_model.bin.index.json");
        if index.is_file() {
            return Ok(Self::Pytorch(shards_of(&index)?));
        }
        Err(ModelError::NoCheckpoint {
            dir: dir.to_path_buf(),
        })
    }

    /// The files, in reading order.
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            Self::Safetensors(p) | Self::Pytorch(p) => p,
        }
    }

    /// Lists every tensor of every file (names, dtypes, shapes), reading no tensor data.
    ///
    /// A name stored in two files is an error.
    pub fn index(&self) -> Result<Vec<StoredTensor>> {
        let mut tensors = Vec::new();
        for path in self.paths() {
            match self {
                Self::Safetensors(_) => tensors.extend(safetensors_tensors(path)?),
                Self::Pytorch(_) => tensors.extend(pytorch_tensors(path)?),
            }
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for t in &tensors {
            if let Some(first) = seen.insert(&t.name, &t.file) {
                return Err(ModelError::CorruptCheckpoint {
                    path: t.file.clone(),
                    reason: format!("tensor '{}' is also stored in {}", t.name, first.display()),
                });
            }
        }
        Ok(tensors)
    }
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// The distinct shard files an index names, in sorted order, each checked to exist.
fn shards_of(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, e))?;
    let parsed: ShardIndex = serde_json::from_str(&text).map_err(|source| ModelError::Json {
        path: index.to_path_buf(),
        source,
    })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let files: BTreeSet<&String> = parsed.weight_map.values().collect();
    if files.is_empty() {
        return Err(ModelError::CorruptCheckpoint {
            path: index.to_path_buf(),
            reason: "the weight_map is empty".to_string(),
        });
    }
    files
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ModelError::io(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("shard named by {} does not exist", index.display()),
                    ),
                ))
            }
        })
        .collect()
}

/// Largest safetensors header accepted (the format's own limit).
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// Reads a safetensors header and returns lazy readers of its tensors, after checking that every
/// tensor's byte range lies inside the file and matches its dtype and shape.
fn safetensors_tensors(path: &Path) -> Result<Vec<StoredTensor>> {
    let corrupt = |reason: String| ModelError::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| corrupt("shorter than the 8-byte header length".to_string()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || 8 + header_len > file_len {
        return Err(corrupt(format!(
            "header length {header_len} does not fit in a file of {file_len} bytes"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| corrupt(format!("cannot read the header: {e}")))?;
    // The header's tensors as the `safetensors` crate reads them; the byte ranges are checked
    // below, against the file's size, so a truncated file names the tensor it cuts.
    let metadata: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("the header is not a safetensors header: {e}")))?;
    let mut entries: Vec<(String, &safetensors::tensor::TensorInfo)> =
        metadata.tensors().into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let data_start = 8 + header_len;
    let shared_path: Rc<PathBuf> = Rc::new(path.to_path_buf());
    let mut tensors = Vec::new();
    for (name, entry) in entries {
        let (dtype, width) = match entry.dtype {
            safetensors::Dtype::F32 => (DType::F32, 4),
            safetensors::Dtype::F16 => (DType::F16, 2),
            safetensors::Dtype::BF16 => (DType::BF16, 2),
            safetensors::Dtype::F64 => (DType::F64, 8),
            // Buffers some checkpoints hold (causal masks, step counters): indexed so the
            // family's table can skip them; planning refuses them as weights.
            safetensors::Dtype::BOOL => (DType::Bool(burn::tensor::BoolStore::Native), 1),
            safetensors::Dtype::U8 => (DType::U8, 1),
            safetensors::Dtype::I64 => (DType::I64, 8),
            other => {
                return Err(ModelError::TensorData {
                    tensor: name,
                    path: path.to_path_buf(),
                    reason: format!("unsupported dtype {other:?}"),
                });
            }
        };
        let (begin, end) = (entry.data_offsets.0 as u64, entry.data_offsets.1 as u64);
        let expected = entry.shape.iter().product::<usize>() as u64 * width;
        if end < begin || end - begin != expected {
            return Err(ModelError::TensorData {
                tensor: name,
                path: path.to_path_buf(),
                reason: format!(
                    "byte range {begin}..{end} does not hold {expected} bytes of {:?} {:?}",
                    entry.dtype, entry.shape
                ),
            });
        }
        if data_start + end > file_len {
            return Err(ModelError::TensorData {
                tensor: name,
                path: path.to_path_buf(),
                reason: format!(
                    "the file is truncated: the tensor ends at byte {} but the file has {file_len}",
                    data_start + end
                ),
            });
        }
        let file_path = shared_path.clone();
        let shape = entry.shape.clone();
        let read = Rc::new(move || {
            let io = |e: std::io::Error| {
                TensorSnapshotError::IoError(format!("{}: {e}", file_path.display()))
            };
            let mut f = File::open(file_path.as_path()).map_err(io)?;
            f.seek(SeekFrom::Start(data_start + begin)).map_err(io)?;
            let mut bytes = vec![0u8; (end - begin) as usize];
            f.read_exact(&mut bytes).map_err(io)?;
            refuse_non_finite(&bytes, dtype).map_err(TensorSnapshotError::DataError)?;
            Ok(TensorData::from_bytes_vec(bytes, shape.clone(), dtype))
        });
        tensors.push(StoredTensor {
            name,
            file: path.to_path_buf(),
            dtype,
            shape: entry.shape.clone(),
            raw: Some(data_start + begin..data_start + end),
            read,
        });
    }
    Ok(tensors)
}

/// Lists the tensors of a `torch.save` checkpoint through burn-store's pickle reader.
fn pytorch_tensors(path: &Path) -> Result<Vec<StoredTensor>> {
    let reader = PytorchReader::new(path).map_err(|e| ModelError::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut tensors: Vec<StoredTensor> = reader
        .into_tensors()
        .into_iter()
        .map(|(name, snapshot)| StoredTensor {
            name,
            file: path.to_path_buf(),
            dtype: snapshot.dtype,
            shape: snapshot.shape.to_vec(),
            raw: None,
            read: {
                let read = snapshot.clone_data_fn();
                Rc::new(move || {
                    let data = read()?;
                    refuse_non_finite(data.as_bytes(), data.dtype)
                        .map_err(TensorSnapshotError::DataError)?;
                    Ok(data)
                })
            },
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// Refuses stored floating-point data holding NaN or an infinity (a diverged training run),
/// naming the first such element; other dtypes pass.
pub fn refuse_non_finite(bytes: &[u8], dtype: DType) -> std::result::Result<(), String> {
    let first = match dtype {
        DType::F16 => first_exponent_full::<2>(bytes, 0x7c00),
        DType::BF16 => first_exponent_full::<2>(bytes, 0x7f80),
        DType::F32 => first_exponent_full::<4>(bytes, 0x7f80_0000),
        DType::F64 => first_exponent_full::<8>(bytes, 0x7ff0_0000_0000_0000),
        _ => None,
    };
    match first {
        None => Ok(()),
        Some(index) => Err(format!(
            "holds NaN or infinity (first at element {index}): the weights are not usable (a \
             training run that diverged?)"
        )),
    }
}

/// The index of the first little-endian `W`-byte element whose exponent bits (`mask`) are all
/// set: an infinity or a NaN.
fn first_exponent_full<const W: usize>(bytes: &[u8], mask: u64) -> Option<usize> {
    bytes.chunks_exact(W).position(|chunk| {
        let mut bits = [0u8; 8];
        bits[..W].copy_from_slice(chunk);
        u64::from_le_bytes(bits) & mask == mask
    })
}
