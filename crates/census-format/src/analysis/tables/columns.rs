//! Builders for the analysis tables' columns.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, ListArray, ListBuilder, RecordBatch, StringBuilder, UInt16Builder, UInt32Builder,
};
use arrow::datatypes::{ArrowPrimitiveType, Float32Type, UInt32Type, UInt64Type};

use crate::error::{FormatError, Result};

/// `array` as a column.
pub(crate) fn col<A: arrow::array::Array + 'static>(array: A) -> ArrayRef {
    Arc::new(array)
}

/// A record batch of `columns`, for table `file`.
pub(crate) fn batch(file: &str, columns: Vec<(String, ArrayRef)>) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(columns).map_err(|source| FormatError::Arrow {
        path: PathBuf::from(file),
        source,
    })
}

/// A list column of primitives, one optional list per row.
fn primitive_lists<T: ArrowPrimitiveType>(
    rows: impl Iterator<Item = Option<Vec<T::Native>>>,
) -> ArrayRef {
    col(ListArray::from_iter_primitive::<T, _, _>(rows.map(|row| {
        row.map(|values| values.into_iter().map(Some).collect::<Vec<_>>())
    })))
}

/// `u32` lists.
pub(crate) fn u32_lists(rows: impl Iterator<Item = Option<Vec<u32>>>) -> ArrayRef {
    primitive_lists::<UInt32Type>(rows)
}

/// `u64` lists.
pub(crate) fn u64_lists(rows: impl Iterator<Item = Option<Vec<u64>>>) -> ArrayRef {
    primitive_lists::<UInt64Type>(rows)
}

/// `f32` lists.
pub(crate) fn f32_lists(rows: impl Iterator<Item = Option<Vec<f32>>>) -> ArrayRef {
    primitive_lists::<Float32Type>(rows)
}

/// `u16` lists with no null list (their item field is nullable, as the other lists').
pub(crate) fn u16_lists(rows: impl Iterator<Item = Vec<u16>>) -> ArrayRef {
    let mut builder = ListBuilder::new(UInt16Builder::new());
    for row in rows {
        builder.values().append_slice(&row);
        builder.append(true);
    }
    col(builder.finish())
}

/// String lists, one optional list per row.
pub(crate) fn string_lists<S: AsRef<str>>(rows: impl Iterator<Item = Option<Vec<S>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for row in rows {
        match row {
            Some(values) => {
                for v in values {
                    builder.values().append_value(v);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    col(builder.finish())
}

/// Lists of `u32` lists (as `trigger_ids`).
pub(crate) fn nested_u32_lists<'a>(rows: impl Iterator<Item = &'a [Vec<u32>]>) -> ArrayRef {
    let mut builder = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    for row in rows {
        for inner in row {
            builder.values().values().append_slice(inner);
            builder.values().append(true);
        }
        builder.append(true);
    }
    col(builder.finish())
}

/// Column `column` of names, each parsed by `parse`, nulls as `None`; an unknown name is an
/// error naming the table, column and row.
pub(crate) fn optional_names<T>(
    table: &super::TableReader,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    table
        .optional_strings(column)?
        .into_iter()
        .enumerate()
        .map(|(row, name)| {
            name.map(|n| {
                parse(&n).ok_or_else(|| {
                    table.column_error(column, format!("row {row}: unknown value '{n}'"))
                })
            })
            .transpose()
        })
        .collect()
}

/// Column `column` of names with no nulls, each parsed by `parse`.
pub(crate) fn names<T>(
    table: &super::TableReader,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>> {
    optional_names(table, column, parse)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            v.ok_or_else(|| table.column_error(column, format!("row {row}: unexpected null")))
        })
        .collect()
}
