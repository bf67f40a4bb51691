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
    /// values are refused, naming the row (`row_of` an index of `array`: its row of the table).
    fn numbers_of(
        &self,
        name: &str,
        array: &ArrayRef,
        lo: f64,
        hi: f64,
        row_of: &dyn Fn(usize) -> usize,
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
                if !v.is_finite() {
                    let row = row_of(i);
                    return Err(self.bad(name, format!("row {row}: {v} is not a finite number")));
                }
                if v < lo || v > hi {
                    let row = row_of(i);
                    return Err(self.bad(name, format!("row {row}: {v} is outside {lo}..={hi}")));
                }
                Ok(Some(v))
            })
            .collect()
    }

    /// Numbers in `lo..=hi`, nulls as `None`.
    pub fn optional_numbers(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<f64>>> {
        self.numbers_of(name, self.column(name)?, lo, hi, &|i| i)
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

    /// A list column: its items read with `read` (given the values of a run of lists and the
    /// row of the table each of those items belongs to), a few thousand lists at a time, and
    /// handed out list by list; null lists are `None`, and a null item is an error naming its
    /// row. `row_of` gives the row of the table of each of the column's own entries (the
    /// identity for a column of the table).
    /// A list column's offsets (one more than its entries) and the values they index; offsets
    /// past the values are refused.
    fn list_parts<'a>(
        &self,
        name: &str,
        column: &'a ArrayRef,
    ) -> Result<(Vec<usize>, &'a ArrayRef)> {
        let (offsets, values): (Vec<usize>, &ArrayRef) = match column.data_type() {
            DataType::List(_) => {
                let l = column.as_list::<i32>();
                let offsets = l.value_offsets().iter().map(|&o| o as usize).collect();
                (offsets, l.values())
            }
            DataType::LargeList(_) => {
                let l = column.as_list::<i64>();
                let offsets = l.value_offsets().iter().map(|&o| o as usize).collect();
                (offsets, l.values())
            }
            other => return Err(self.bad(name, format!("is {other}, expected lists"))),
        };
        if offsets.last().is_some_and(|&end| end > values.len()) {
            return Err(self.bad(name, "list offsets reach past the values"));
        }
        Ok((offsets, values))
    }

    fn lists<T>(
        &self,
        name: &str,
        column: &ArrayRef,
        row_of: &dyn Fn(usize) -> usize,
        mut read: impl FnMut(&ArrayRef, &dyn Fn(usize) -> usize) -> Result<Vec<Option<T>>>,
    ) -> Result<Vec<Option<Vec<T>>>> {
        /// Lists whose items are read at once: few enough that their intermediates stay small.
        const LISTS_AT_ONCE: usize = 4096;
        let (offsets, values) = self.list_parts(name, column)?;
        // The entry of an item: the last list starting at or before it.
        let entry_of = |item: usize| offsets.partition_point(|&o| o <= item).saturating_sub(1);
        let mut lists = Vec::with_capacity(column.len());
        for first in (0..column.len()).step_by(LISTS_AT_ONCE) {
            let last = (first + LISTS_AT_ONCE).min(column.len());
            let start = offsets[first];
            let run = values.slice(start, offsets[last] - start);
            let mut items = read(&run, &|item| row_of(entry_of(start + item)))?;
            for i in first..last {
                if column.is_null(i) {
                    lists.push(None);
                    continue;
                }
                let list = items[offsets[i] - start..offsets[i + 1] - start]
                    .iter_mut()
                    .map(|v| {
                        v.take().ok_or_else(|| {
                            self.bad(name, format!("row {}: a list holds nulls", row_of(i)))
                        })
                    })
                    .collect::<Result<Vec<T>>>()?;
                lists.push(Some(list));
            }
        }
        Ok(lists)
    }

    /// A list column of integers of type `T`, null lists as `None`.
    pub fn integer_lists<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<Vec<T::Native>>>> {
        self.lists(name, self.column(name)?, &|i| i, |items, _| {
            self.integers_of::<T>(name, items)
        })
    }

    /// A list column of numbers in `lo..=hi`, null lists as `None`.
    pub fn number_lists(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<Vec<f64>>>> {
        self.lists(name, self.column(name)?, &|i| i, |items, row_of| {
            self.numbers_of(name, items, lo, hi, row_of)
        })
    }

    /// A list column of numbers in `lo..=hi`, as `f32`, null lists as `None`.
    pub fn f32_lists(&self, name: &str, lo: f64, hi: f64) -> Result<Vec<Option<Vec<f32>>>> {
        self.lists(name, self.column(name)?, &|i| i, |items, row_of| {
            let numbers = self.numbers_of(name, items, lo, hi, row_of)?;
            Ok(numbers.into_iter().map(|v| v.map(|v| v as f32)).collect())
        })
    }

    /// A list column of lists of integers of type `T` (as `trigger_ids`), null lists as `None`.
    pub fn nested_integer_lists<T: ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<NestedList<T::Native>>>> {
        self.lists(name, self.column(name)?, &|i| i, |inner, row_of| {
            self.lists(name, inner, row_of, |items, _| {
                self.integers_of::<T>(name, items)
            })
        })
    }

    /// Visits every string of a list column of strings, with its row and place in the row's
    /// list, without copying it; a null string is an error naming its row.
    pub fn visit_list_strings(
        &self,
        name: &str,
        mut visit: impl FnMut(usize, usize, &str) -> Result<()>,
    ) -> Result<()> {
        let column = self.column(name)?;
        let (offsets, values) = self.list_parts(name, column)?;
        let strings = cast(values, &DataType::Utf8).map_err(|e| self.bad(name, e))?;
        let strings = strings.as_string::<i32>();
        for row in 0..column.len() {
            if column.is_null(row) {
                continue;
            }
            for (place, item) in (offsets[row]..offsets[row + 1]).enumerate() {
                if strings.is_null(item) {
                    return Err(self.bad(name, format!("row {row}: a list holds nulls")));
                }
                visit(row, place, strings.value(item))?;
            }
        }
        Ok(())
    }

    /// A list column of strings, null lists as `None`.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Option<Vec<String>>>> {
        self.lists(name, self.column(name)?, &|i| i, |items, _| {
            let strings = cast(items, &DataType::Utf8).map_err(|e| self.bad(name, e))?;
            let strings = strings.as_string::<i32>();
            Ok((0..strings.len())
                .map(|j| strings.is_valid(j).then(|| strings.value(j).to_string()))
                .collect())
        })
    }
}
