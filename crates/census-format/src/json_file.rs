//! JSON files read whole, each error naming the file.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{FormatError, Result};

/// Reads the JSON file at `path` as a `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).map_err(|e| FormatError::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|source| FormatError::Json {
        path: path.to_path_buf(),
        source,
    })
}
