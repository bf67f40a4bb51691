//! `counts/layer=LL/part-NNNNN.parquet`: what a `--record counts` run writes instead of fired
//! neurons. One row per (domain, neuron) that fired in the part: its fires outside the `</s>`
//! prefix and on it, and, on full-length runs, its fires at every position. They merge across
//! parts, shards and resumes by addition, as the shards' statistics do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, ListArray, RecordBatch, StringArray, UInt16Array, UInt64Array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, UInt16Type, UInt32Type, UInt64Type};
use serde::{Deserialize, Serialize};

use crate::columns::{extend_integers, integer_list_column, string_column};
use crate::error::{FormatError, Result};
use crate::run::tables::{PartCheck, layer_dir_name, part_file_name};

/// Directory of the count parts (Hive-partitioned by layer below it).
pub const COUNTS_DIR: &str = "counts";

/// What a run records of each token and layer (`--record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum RecordMode {
    /// The fired neurons of every token (`activations/`): every statistic can be computed.
    #[default]
    Shards,
    /// Per-neuron fire counts by domain, and by position on full-length runs (`counts/`):
    /// dead neurons, frequencies and positional statistics, in megabytes instead of terabytes;
    /// no n-gram statistics and no example contexts.
    Counts,
}

impl RecordMode {
    /// `shards` or `counts`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Shards => "shards",
            Self::Counts => "counts",
        }
    }

    /// Whether this is the default mode (so older manifests, which do not name one, read as it).
    pub fn is_shards(&self) -> bool {
        *self == Self::Shards
    }
}

/// Path of the count part of `layer` in run directory `run`.
pub fn counts_path(run: &Path, layer: usize, part: u32) -> PathBuf {
    run.join(COUNTS_DIR)
        .join(layer_dir_name(layer))
        .join(part_file_name(part))
}

/// One domain's fire counts in one layer of one part, for every neuron.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCounts {
    /// Fires of each neuron outside the `</s>` prefix.
    pub fires: Vec<u64>,
    /// Fires of each neuron on the `</s>` prefix.
    pub fires_bos: Vec<u64>,
    /// Fires at each position, `positions[pos * ffn + neuron]` (full-length runs).
    pub positions: Option<Vec<u32>>,
}

impl DomainCounts {
    /// Zero counts of `ffn` neurons, by position over `positions` positions when given.
    pub fn new(ffn: usize, positions: Option<usize>) -> Self {
        Self {
            fires: vec![0; ffn],
            fires_bos: vec![0; ffn],
            positions: positions.map(|len| vec![0; len * ffn]),
        }
    }

    /// Neurons counted.
    pub fn ffn(&self) -> usize {
        self.fires.len()
    }

    /// Counts one token at position `pos` that fired `neurons`.
    pub fn add_token(&mut self, pos: usize, neurons: &[u16]) {
        let ffn = self.ffn();
        if let Some(positions) = &mut self.positions {
            let base = pos * ffn;
            for &n in neurons {
                positions[base + usize::from(n)] += 1;
            }
        }
        let into = if pos == 0 {
            &mut self.fires_bos
        } else {
            &mut self.fires
        };
        for &n in neurons {
            into[usize::from(n)] += 1;
        }
    }

    /// Adds the counts of disjoint tokens.
    pub fn merge(&mut self, other: &Self) {
        add(&mut self.fires, &other.fires);
        add(&mut self.fires_bos, &other.fires_bos);
        if let (Some(a), Some(b)) = (&mut self.positions, &other.positions) {
            add(a, b);
        }
    }
}

fn add<T: Copy + std::ops::AddAssign>(into: &mut [T], from: &[T]) {
    for (a, &b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// One layer's counts in one part, by domain name.
pub type PartCounts = BTreeMap<String, DomainCounts>;

/// The record batch of `counts`: one row per (domain, neuron) that fired, domains in name order,
/// neurons ascending; `position_fires` only when the counts hold positions.
pub fn counts_batch(counts: &PartCounts) -> Result<RecordBatch, arrow::error::ArrowError> {
    let with_positions = counts.values().any(|c| c.positions.is_some());
    let (mut domain, mut neuron, mut fires, mut fires_bos) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut offsets, mut position_fires) = (vec![0i32], Vec::new());
    for (name, c) in counts {
        let ffn = c.ffn();
        for n in 0..ffn {
            if c.fires[n] + c.fires_bos[n] == 0 {
                continue;
            }
            domain.push(name.as_str());
            neuron.push(n as u16);
            fires.push(c.fires[n]);
            fires_bos.push(c.fires_bos[n]);
            if let Some(positions) = &c.positions {
                position_fires.extend((0..positions.len() / ffn).map(|p| positions[p * ffn + n]));
                offsets.push(position_fires.len() as i32);
            }
        }
    }
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("domain", Arc::new(StringArray::from(domain))),
        ("neuron", Arc::new(UInt16Array::from(neuron))),
        ("fires", Arc::new(UInt64Array::from(fires))),
        ("fires_bos", Arc::new(UInt64Array::from(fires_bos))),
    ];
    if with_positions {
        let item = Arc::new(Field::new("item", DataType::UInt32, false));
        columns.push((
            "position_fires",
            Arc::new(ListArray::try_new(
                item,
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Arc::new(arrow::array::UInt32Array::from(position_fires)),
                None,
            )?),
        ));
    }
    RecordBatch::try_from_iter(columns)
}

/// Reads a count part back, checked against `check` when given, into counts of `ffn` neurons
/// (by position over `positions` positions when given: the file must then hold them). Every
/// neuron must be below `ffn`, appear once per domain, and its position counts must add up to
/// its fires.
pub fn read_counts(
    path: &Path,
    check: Option<&PartCheck<'_>>,
    ffn: usize,
    positions: Option<usize>,
) -> Result<PartCounts> {
    let bad = |reason: String| FormatError::Parquet {
        path: path.to_path_buf(),
        reason,
    };
    let builder = crate::run::tables::open_part(path, check)?;
    let mut counts = PartCounts::new();
    for batch in crate::parquet_file::read_all(path, builder)? {
        let domain = string_column(&batch, "domain", path)?;
        let domain = domain.as_string::<i32>();
        let (mut neuron, mut fires, mut fires_bos) = (Vec::new(), Vec::new(), Vec::new());
        extend_integers::<UInt16Type>(&mut neuron, &batch, "neuron", path)?;
        extend_integers::<UInt64Type>(&mut fires, &batch, "fires", path)?;
        extend_integers::<UInt64Type>(&mut fires_bos, &batch, "fires_bos", path)?;
        let by_position = match positions {
            Some(_) if batch.column_by_name("position_fires").is_none() => {
                return Err(bad(
                    "holds no counts by position (the run was not extracted with --full-length)"
                        .to_string(),
                ));
            }
            Some(_) => Some(integer_list_column(
                &batch,
                "position_fires",
                &DataType::UInt32,
                path,
            )?),
            None => None,
        };
        for row in 0..batch.num_rows() {
            let n = usize::from(neuron[row]);
            if n >= ffn {
                return Err(bad(format!(
                    "row {row}: neuron {n} is beyond the layer's {ffn} neurons"
                )));
            }
            let c = counts
                .entry(domain.value(row).to_string())
                .or_insert_with(|| DomainCounts::new(ffn, positions));
            if c.fires[n] + c.fires_bos[n] > 0 {
                return Err(bad(format!(
                    "row {row}: neuron {n} of domain '{}' appears twice",
                    domain.value(row)
                )));
            }
            c.fires[n] = fires[row];
            c.fires_bos[n] = fires_bos[row];
            if let (Some(lists), Some(into), Some(len)) =
                (&by_position, &mut c.positions, positions)
            {
                let list = lists.as_list::<i32>().value(row);
                let values = list.as_primitive::<UInt32Type>().values();
                if values.len() != len {
                    return Err(bad(format!(
                        "row {row}: {} position counts, expected {len}",
                        values.len()
                    )));
                }
                let total: u64 = values.iter().map(|&v| u64::from(v)).sum();
                if total != fires[row] + fires_bos[row] || u64::from(values[0]) != fires_bos[row] {
                    return Err(bad(format!(
                        "row {row}: the position counts of neuron {n} do not add up to its fires"
                    )));
                }
                for (p, &v) in values.iter().enumerate() {
                    into[p * ffn + n] = v;
                }
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(positions: Option<usize>) -> PartCounts {
        let mut wiki = DomainCounts::new(4, positions);
        wiki.add_token(0, &[1, 3]);
        wiki.add_token(1, &[1]);
        wiki.add_token(2, &[1, 2]);
        let mut code = DomainCounts::new(4, positions);
        code.add_token(1, &[0]);
        PartCounts::from([("wiki".to_string(), wiki), ("code".to_string(), code)])
    }

    fn write(path: &Path, counts: &PartCounts) {
        let batch = counts_batch(counts).unwrap();
        let (temp, _) = crate::run::tables::write_temp_parquet(path, &batch, &[]).unwrap();
        std::fs::rename(temp, path).unwrap();
    }

    #[test]
    fn counts_read_back_with_and_without_positions() {
        let dir = tempfile::tempdir().unwrap();
        for positions in [None, Some(3)] {
            let path = dir.path().join(format!("{positions:?}.parquet"));
            let counts = sample(positions);
            write(&path, &counts);
            assert_eq!(read_counts(&path, None, 4, positions).unwrap(), counts);
            assert_eq!(counts["wiki"].fires, [0, 2, 1, 0]);
            assert_eq!(counts["wiki"].fires_bos, [0, 1, 0, 1]);
        }
        // Positions asked of a run that holds none.
        let e = read_counts(&dir.path().join("None.parquet"), None, 4, Some(3))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("None.parquet") && e.contains("--full-length"),
            "{e}"
        );
        // A layer narrower than the file's neurons.
        let e = read_counts(&dir.path().join("None.parquet"), None, 2, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is beyond the layer"), "{e}");
    }

    #[test]
    fn merged_counts_equal_counting_all_tokens_at_once() {
        let mut a = DomainCounts::new(3, Some(2));
        a.add_token(0, &[0]);
        let mut b = DomainCounts::new(3, Some(2));
        b.add_token(1, &[0, 2]);
        let mut all = DomainCounts::new(3, Some(2));
        all.add_token(0, &[0]);
        all.add_token(1, &[0, 2]);
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn the_mode_is_named_and_defaults_to_shards() {
        assert_eq!(RecordMode::default(), RecordMode::Shards);
        assert_eq!(serde_json::to_value(RecordMode::Counts).unwrap(), "counts");
        assert_eq!(RecordMode::Counts.name(), "counts");
    }
}
