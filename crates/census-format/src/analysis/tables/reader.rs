//! An analysis table read whole, with typed column accessors. Integer columns of any width whose
//! values fit are accepted (a table rewritten by DuckDB or polars keeps its values, not always
//! its types); a missing column, another kind of column, or a value out of range is an error
//! naming the file and column, never a panic.

use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt64Array};
use arrow::compute::cast;
use arrow::compute::kernels::boolean::and;
use arrow::compute::kernels::cmp::eq;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type};
use arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};

use crate::error::{FormatError, Result};

/// One row's list of lists (as a trigger list's token ids).
pub type NestedList<T> = Vec<Vec<T>>;

/// A whole table and where it came from.
#[derive(Debug, Clone)]
pub struct TableReader {
    path: PathBuf,
    batch: RecordBatch,
}

/// Opens table `path`; a missing one is an error saying what its absence means.
fn open_table(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
    if !path.exists() {
        return Err(FormatError::parquet(
            path,
            "missing (an incomplete or foreign analysis directory?)",
        ));
    }
    crate::parquet_file::open_file(path)
}

impl TableReader {
    /// Reads `path` whole.
    pub fn read(path: &Path) -> Result<Self> {
        let builder = open_table(path)?;
        Self::decode(path, builder)
    }

    /// Decodes every batch `builder` reads of `path` into one.
    fn decode(
        path: &Path,
        builder: ParquetRecordBatchReaderBuilder<std::fs::File>,
    ) -> Result<Self> {
        let schema = builder.schema().clone();
        let batches = crate::parquet_file::read_all(path, builder)?;
        let batch = arrow::compute::concat_batches(&schema, &batches).map_err(|source| {
            FormatError::Arrow {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Self::new(path, batch))
    }

    /// Reads the rows of `path` whose `layer` and `neuron` columns hold `layer` and `neuron`:
    /// those two columns are decoded whole, the rest only for the rows kept, so one neuron of
    /// a large table is read without the table.
    pub fn read_neuron(path: &Path, layer: usize, neuron: usize) -> Result<Self> {
        let builder = open_table(path)?;
        let schema = builder.schema().clone();
        for name in ["layer", "neuron"] {
            if schema.field_with_name(name).is_err() {
                return Err(FormatError::Column {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    reason: "is missing (a table of neurons has it)".to_string(),
                });
            }
        }
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["layer", "neuron"]);
        let wanted = [("layer", layer as u64), ("neuron", neuron as u64)];
        let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
            let mut keep: Option<BooleanArray> = None;
            for (name, value) in wanted {
                let column = batch.column_by_name(name).ok_or_else(|| {
                    ArrowError::SchemaError(format!("column '{name}' is missing"))
                })?;
                let column = cast(column, &DataType::UInt64)?;
                let equal = eq(&column, &UInt64Array::new_scalar(value))?;
                keep = Some(match keep {
                    Some(k) => and(&k, &equal)?,
                    None => equal,
                });
            }
            Ok(keep.expect("two columns compared"))
        });
        Self::decode(
            path,
            builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)])),
        )
    }

    /// `batch`, as read from `path`.
    pub fn new(path: &Path, batch: RecordBatch) -> Self {
        Self {
            path: path.to_path_buf(),
            batch,
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the table has column `name` (columns later schema versions added are read only
    /// where present).
    pub fn has(&self, name: &str) -> bool {
        self.batch.column_by_name(name).is_some()
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| self.bad(name, "is missing"))
    }

    /// An error about column `name` of this table.
    pub fn column_error(&self, name: &str, reason: impl std::fmt::Display) -> FormatError {
        self.bad(name, reason)
    }

    fn bad(&self, name: &str, reason: impl std::fmt::Display) -> FormatError {
        FormatError::Column {
            path: self.path.clone(),
            column: name.to_string(),
            reason: reason.to_string(),
        }
    }

    fn required<T>(&self, name: &str, values: Vec<Option<T>>) -> Result<Vec<T>> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| self.bad(name, format!("row {row}: unexpected null"))))
            .collect()
    }

    /// Integers of type `T` from `array`, which may be any integer type whose values fit.
    fn integers_of<T: ArrowPrimitiveType>(
        &self,
        name: &str,
        array: &ArrayRef,
    ) -> Result<Vec<Option<T::Native>>> {
        let cast = crate::columns::cast_integers(array, &T::DATA_TYPE, &self.path, name)?;
        let values = cast.as_primitive::<T>();
        Ok((0..values.len())
            .map(|i| values.is_valid(i).then(|| values.value(i)))
            .collect())
    }

    /// Integer column `name` as `T`, nulls as `None`.
    pub fn optional_integers<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<T::Native>>> {
        self.integers_of::<T>(name, self.column(name)?)
    }

    /// Integer column `name` as `T`, with no nulls.
    pub fn integers<T: ArrowPrimitiveType>(&self, name: &str) -> Result<Vec<T::Native>> {
        self.required(name, self.optional_integers::<T>(name)?)
    }

    /// Numbers in `lo..=hi` from `array` (any numeric type), nulls as `None`; NaN and infinite
    /// values are refused, naming the row (`list_row` when `array` is one row's list).
    fn numbers_of(
        &self,
        name: &str,
        array: &ArrayRef,
        lo: f64,
        hi: f64,
        list_row: Option<usize>,
    ) -> Result<Vec<Option<f64>>> {
        if !array.data_type().is_numeric() {
            return Err(self.bad(name, format!("is {}, expected numbers", array.data_type())));
        }
        let cast = cast(array, &DataType::Float64).map_err(|e| self.bad(name, e))?;
        let values = cast.as_primitive::<Float64Type>();
        (0..values.len())
            .map(|i| {
                if !values.is_valid(i) {
                    return Ok(None);
                }
                let v = values.value(i);
                let row = list_row.unwrap_or(i);
                if !v.is_finite() {
                    return Err(self.bad(name, format!("row {row}: {v} is not a finite number")));
                }
                if v < lo || v > hi {
                    return Err(self.bad(name, format!("row {row}: {v} is outside {lo}..={hi}")));
                }
                Ok(Some(v))
            })
            .collect()
    }

    /// Numbers in `lo..=hi`, nulls as `None`.
    pub fn optional_numbers(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<f64>>> {
        self.numbers_of(name, self.column(name)?, lo, hi, None)
    }

    /// Numbers in `lo..=hi`, with no nulls.
    pub fn numbers(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<f64>> {
        self.required(name, self.optional_numbers(name, lo, hi)?)
    }

    /// A string column, nulls as `None`.
    pub fn optional_strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let column = self.column(name)?;
        let is_text = |t: &DataType| {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        };
        if !is_text(column.data_type()) {
            return Err(self.bad(name, format!("is {}, expected strings", column.data_type())));
        }
        let column = cast(column, &DataType::Utf8).map_err(|e| self.bad(name, e))?;
        let values = column.as_string::<i32>();
        Ok((0..values.len())
            .map(|i| values.is_valid(i).then(|| values.value(i).to_string()))
            .collect())
    }

    /// A string column with no nulls.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        self.required(name, self.optional_strings(name)?)
    }

    /// A boolean column, nulls as `None`.
    pub fn optional_bools(&self, name: &str) -> Result<Vec<Option<bool>>> {
        let column = self.column(name)?;
        let values = column.as_boolean_opt().ok_or_else(|| {
            self.bad(
                name,
                format!("is {}, expected booleans", column.data_type()),
            )
        })?;
        Ok((0..values.len())
            .map(|i| values.is_valid(i).then(|| values.value(i)))
            .collect())
    }

    /// A boolean column with no nulls.
    pub fn bools(&self, name: &str) -> Result<Vec<bool>> {
        self.required(name, self.optional_bools(name)?)
    }

    /// A list column read row by row with `read` (given each non-null list's values and the
    /// row), null lists as `None`. Lists with 32- or 64-bit offsets are accepted.
    fn lists<T>(
        &self,
        name: &str,
        column: &ArrayRef,
        mut read: impl FnMut(&ArrayRef, usize) -> Result<T>,
    ) -> Result<Vec<Option<T>>> {
        let value = |i: usize| -> Option<ArrayRef> {
            match column.data_type() {
                DataType::List(_) => {
                    let l = column.as_list::<i32>();
                    l.is_valid(i).then(|| l.value(i))
                }
                _ => {
                    let l = column.as_list::<i64>();
                    l.is_valid(i).then(|| l.value(i))
                }
            }
        };
        if !matches!(
            column.data_type(),
            DataType::List(_) | DataType::LargeList(_)
        ) {
            return Err(self.bad(name, format!("is {}, expected lists", column.data_type())));
        }
        (0..column.len())
            .map(|i| value(i).map(|v| read(&v, i)).transpose())
            .collect()
    }

    fn no_null_items<T>(&self, name: &str, row: usize, items: Vec<Option<T>>) -> Result<Vec<T>> {
        items
            .into_iter()
            .map(|v| v.ok_or_else(|| self.bad(name, format!("row {row}: a list holds nulls"))))
            .collect()
    }

    /// A list column of integers of type `T`, null lists as `None`.
    pub fn integer_lists<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<Vec<T::Native>>>> {
        self.lists(name, self.column(name)?, |items, row| {
            let items = self.integers_of::<T>(name, items)?;
            self.no_null_items(name, row, items)
        })
    }

    /// A list column of numbers in `lo..=hi`, null lists as `None`.
    pub fn number_lists(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<Vec<f64>>>> {
        self.lists(name, self.column(name)?, |items, row| {
            let items = self.numbers_of(name, items, lo, hi, Some(row))?;
            self.no_null_items(name, row, items)
        })
    }

    /// A list column of lists of integers of type `T` (as `trigger_ids`), null lists as `None`.
    pub fn nested_integer_lists<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<NestedList<T::Native>>>> {
        self.lists(name, self.column(name)?, |inner, row| {
            let inner = self.lists(name, inner, |items, _| {
                let items = self.integers_of::<T>(name, items)?;
                self.no_null_items(name, row, items)
            })?;
            self.no_null_items(name, row, inner)
        })
    }

    /// A list column of strings, null lists as `None`.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Option<Vec<String>>>> {
        self.lists(name, self.column(name)?, |items, row| {
            let strings = cast(items, &DataType::Utf8).map_err(|e| self.bad(name, e))?;
            let strings = strings.as_string::<i32>();
            let items = (0..strings.len())
                .map(|j| strings.is_valid(j).then(|| strings.value(j).to_string()))
                .collect();
            self.no_null_items(name, row, items)
        })
    }
}
