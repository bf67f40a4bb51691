//! A Parquet table read whole, with typed column accessors that name the file and column when
//! something is missing.

use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use crate::error::{ReportError, Result};

/// A whole table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    path: PathBuf,
    batch: RecordBatch,
}

impl Table {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |reason: String| ReportError::analysis(path, reason);
        if !path.exists() {
            return Err(bad(
                "missing (an incomplete or foreign analysis directory?)".into(),
            ));
        }
        let builder = census_format::parquet_file::open_file(path)?;
        let schema = builder.schema().clone();
        let batches = census_format::parquet_file::read_all(path, builder)?;
        let batch =
            arrow::compute::concat_batches(&schema, &batches).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            batch,
        })
    }

    /// Rows.
    pub(crate) fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether the table has column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.batch.column_by_name(name).is_some()
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| ReportError::analysis(&self.path, format!("no column '{name}'")))
    }

    fn bad(&self, name: &str, e: impl std::fmt::Display) -> ReportError {
        ReportError::analysis(&self.path, format!("column '{name}': {e}"))
    }

    /// A numeric column whose values all lie in `lo..=hi` (so finite), nulls as `None`; NaN and
    /// infinite values are refused, naming the table, column and row.
    fn numbers_within(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<f64>>> {
        let column = cast(self.column(name)?, &DataType::Float64).map_err(|e| self.bad(name, e))?;
        let values = column.as_primitive::<Float64Type>();
        (0..values.len())
            .map(|i| {
                if !values.is_valid(i) {
                    return Ok(None);
                }
                let v = values.value(i);
                self.check_value(name, i, v, lo, hi)?;
                Ok(Some(v))
            })
            .collect()
    }

    fn check_value(&self, name: &str, row: usize, v: f64, lo: f64, hi: f64) -> Result<()> {
        if !v.is_finite() {
            return Err(self.bad(name, format!("row {row}: {v} is not a finite number")));
        }
        if v < lo || v > hi {
            return Err(self.bad(name, format!("row {row}: {v} is outside {lo}..={hi}")));
        }
        Ok(())
    }

    /// Counts: non-negative numbers, nulls as `None`.
    pub fn counts(&self, name: &str) -> Result<Vec<Option<f64>>> {
        self.numbers_within(name, 0.0, f64::MAX)
    }

    /// Shares: numbers in `0..=1`, nulls as `None`.
    pub fn shares(&self, name: &str) -> Result<Vec<Option<f64>>> {
        self.numbers_within(name, 0.0, 1.0)
    }

    /// Counts without nulls.
    pub fn counts_required(&self, name: &str) -> Result<Vec<f64>> {
        self.required(name, self.counts(name)?)
    }

    /// Shares without nulls.
    pub fn shares_required(&self, name: &str) -> Result<Vec<f64>> {
        self.required(name, self.shares(name)?)
    }

    fn required(&self, name: &str, values: Vec<Option<f64>>) -> Result<Vec<f64>> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| self.bad(name, format!("row {row}: unexpected null"))))
            .collect()
    }

    /// A string column, nulls as `None`.
    pub fn strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let column = cast(self.column(name)?, &DataType::Utf8).map_err(|e| self.bad(name, e))?;
        let values = column.as_string::<i32>();
        Ok((0..values.len())
            .map(|i| values.is_valid(i).then(|| values.value(i).to_string()))
            .collect())
    }

    /// A boolean column, nulls as `None`.
    pub fn bools(&self, name: &str) -> Result<Vec<Option<bool>>> {
        let column = self.column(name)?;
        let values = column
            .as_boolean_opt()
            .ok_or_else(|| self.bad(name, "not a boolean column"))?;
        Ok((0..values.len())
            .map(|i| values.is_valid(i).then(|| values.value(i)))
            .collect())
    }

    /// A list column of counts (non-negative).
    pub fn count_lists(&self, name: &str) -> Result<Vec<Option<Vec<f64>>>> {
        self.number_lists_within(name, 0.0, f64::MAX)
    }

    /// A list column of shares (`0..=1`).
    pub fn share_lists(&self, name: &str) -> Result<Vec<Option<Vec<f64>>>> {
        self.number_lists_within(name, 0.0, 1.0)
    }

    fn number_lists_within(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<Vec<f64>>>> {
        let mut row = 0;
        self.lists(name, |inner| {
            let inner = cast(inner, &DataType::Float64).map_err(|e| self.bad(name, e))?;
            let values = inner.as_primitive::<Float64Type>();
            if values.null_count() > 0 {
                return Err(self.bad(name, "a list holds nulls"));
            }
            for &v in values.values() {
                self.check_value(name, row, v, lo, hi)?;
            }
            row += 1;
            Ok(values.values().to_vec())
        })
    }

    /// A list column of lists of counts (as `trigger_ids`), null lists as `None`.
    pub fn nested_count_lists(&self, name: &str) -> Result<Vec<Option<Vec<Vec<f64>>>>> {
        self.lists(name, |inner| {
            let lists = inner
                .as_list_opt::<i32>()
                .ok_or_else(|| self.bad(name, "not a list of lists"))?;
            (0..lists.len())
                .map(|j| {
                    let values =
                        cast(&lists.value(j), &DataType::Float64).map_err(|e| self.bad(name, e))?;
                    let values = values.as_primitive::<Float64Type>();
                    if values.null_count() > 0 || values.values().iter().any(|v| *v < 0.0) {
                        return Err(self.bad(name, "a list holds nulls or negative values"));
                    }
                    Ok(values.values().to_vec())
                })
                .collect()
        })
    }

    /// A list column of strings, null lists as `None`.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Option<Vec<String>>>> {
        self.lists(name, |inner| {
            let strings = inner
                .as_string_opt::<i32>()
                .ok_or_else(|| self.bad(name, "not a list of strings"))?;
            Ok((0..strings.len())
                .map(|j| strings.value(j).to_string())
                .collect())
        })
    }

    /// A list column read row by row with `read` (given each non-null list's values), null
    /// lists as `None`.
    fn lists<T>(
        &self,
        name: &str,
        mut read: impl FnMut(&ArrayRef) -> Result<T>,
    ) -> Result<Vec<Option<T>>> {
        let column = self.column(name)?;
        let lists = column
            .as_list_opt::<i32>()
            .ok_or_else(|| self.bad(name, "not a list column"))?;
        (0..lists.len())
            .map(|i| lists.is_valid(i).then(|| read(&lists.value(i))).transpose())
            .collect()
    }
}
