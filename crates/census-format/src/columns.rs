//! Columns read as the types the formats specify. Files rewritten by DuckDB, polars or pyarrow
//! keep their values but not always their types (`seq` as BIGINT, `neurons` as INTEGER[]), so
//! any integer column whose values fit is cast to the specified width. A missing column, another
//! kind of column, a null, or a value that does not fit is an error naming the file and column.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field};

use crate::error::{FormatError, Result};

fn column_error(path: &Path, column: &str, reason: impl Into<String>) -> FormatError {
    FormatError::Column {
        path: path.to_path_buf(),
        column: column.to_string(),
        reason: reason.into(),
    }
}

/// Integer columns are cast only when every value fits; overflow is an error, not a null.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// Casts integer `array` to integer type `want` (values must fit; nulls stay nulls).
pub(crate) fn cast_integers(
    array: &ArrayRef,
    want: &DataType,
    path: &Path,
    name: &str,
) -> Result<ArrayRef> {
    if array.data_type() == want {
        return Ok(array.clone());
    }
    if !array.data_type().is_integer() {
        return Err(column_error(
            path,
            name,
            format!("is {}, expected integers ({want})", array.data_type()),
        ));
    }
    cast_with_options(array, want, &STRICT)
        .map_err(|e| column_error(path, name, format!("a value does not fit {want} ({e})")))
}

fn no_nulls(array: &dyn Array, path: &Path, name: &str) -> Result<()> {
    if array.null_count() > 0 {
        return Err(column_error(
            path,
            name,
            format!("holds {} null values", array.null_count()),
        ));
    }
    Ok(())
}

fn find<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| column_error(path, name, "is missing"))
}

/// Column `name` of `batch` as integer type `want` (`UInt64`, `UInt16`, …), with no nulls.
pub fn integer_column(
    batch: &RecordBatch,
    name: &str,
    want: &DataType,
    path: &Path,
) -> Result<ArrayRef> {
    let array = find(batch, name, path)?;
    no_nulls(array.as_ref(), path, name)?;
    cast_integers(array, want, path, name)
}

/// The values of integer column `name` of `batch` as `T` (any integer width whose values fit,
/// no nulls), appended to `out`.
pub fn extend_integers<T: ArrowPrimitiveType>(
    out: &mut Vec<T::Native>,
    batch: &RecordBatch,
    name: &str,
    path: &Path,
) -> Result<()> {
    let column = integer_column(batch, name, &T::DATA_TYPE, path)?;
    out.extend(column.as_primitive::<T>().values());
    Ok(())
}

/// Column `name` of `batch` as a list (32-bit offsets) of integer type `want`, with no null
/// lists and no null elements. Large lists and any integer element type whose values fit are
/// accepted.
pub fn integer_list_column(
    batch: &RecordBatch,
    name: &str,
    want: &DataType,
    path: &Path,
) -> Result<ArrayRef> {
    let array = find(batch, name, path)?;
    no_nulls(array.as_ref(), path, name)?;
    let values = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().values(),
        DataType::LargeList(_) => array.as_list::<i64>().values(),
        other => {
            return Err(column_error(
                path,
                name,
                format!("is {other}, expected a list of integers ({want})"),
            ));
        }
    };
    no_nulls(values.as_ref(), path, name)?;
    if matches!(array.data_type(), DataType::List(f) if f.data_type() == want) {
        return Ok(array.clone());
    }
    // Checks the elements' type and range first, so the error says which.
    cast_integers(values, want, path, name)?;
    let target = DataType::List(Arc::new(Field::new("item", want.clone(), true)));
    cast_with_options(array, &target, &STRICT)
        .map_err(|e| column_error(path, name, format!("cannot be read as {target} ({e})")))
}

/// Column `name` of `batch` as plain strings (`Utf8`), from any string or dictionary-of-strings
/// column, with no nulls.
pub fn string_column(batch: &RecordBatch, name: &str, path: &Path) -> Result<ArrayRef> {
    let array = find(batch, name, path)?;
    no_nulls(array.as_ref(), path, name)?;
    let is_text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let ok = match array.data_type() {
        DataType::Dictionary(_, values) => is_text(values),
        other => is_text(other),
    };
    if !ok {
        return Err(column_error(
            path,
            name,
            format!("is {}, expected strings", array.data_type()),
        ));
    }
    if array.data_type() == &DataType::Utf8 {
        return Ok(array.clone());
    }
    cast_with_options(array, &DataType::Utf8, &STRICT)
        .map_err(|e| column_error(path, name, format!("cannot be read as strings ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, ListArray, StringArray};
    use arrow::datatypes::{Int32Type, Schema, UInt16Type, UInt64Type};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn wider_integers_that_fit_are_read() {
        let b = batch(vec![(
            "seq",
            Arc::new(Int64Array::from(vec![0, 7, 1 << 40])),
        )]);
        let seq = integer_column(&b, "seq", &DataType::UInt64, Path::new("t.parquet")).unwrap();
        assert_eq!(
            seq.as_primitive::<UInt64Type>().values().to_vec(),
            [0, 7, 1 << 40]
        );
    }

    #[test]
    fn values_that_do_not_fit_nulls_and_other_kinds_name_the_column() {
        let path = Path::new("run/tokens/part-00000.parquet");
        let cases: Vec<(ArrayRef, &str)> = vec![
            (Arc::new(Int64Array::from(vec![-1])), "does not fit"),
            (Arc::new(Int64Array::from(vec![70_000])), "does not fit"),
            (Arc::new(Int64Array::from(vec![Some(1), None])), "null"),
            (Arc::new(StringArray::from(vec!["1"])), "expected integers"),
        ];
        for (array, expected) in cases {
            let b = batch(vec![("pos", array)]);
            let e = integer_column(&b, "pos", &DataType::UInt16, path)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("part-00000.parquet") && e.contains("'pos'") && e.contains(expected),
                "{e}"
            );
        }
        let other = batch(vec![("seq", Arc::new(Int64Array::from(vec![1])))]);
        let e = integer_column(&other, "pos", &DataType::UInt16, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'pos'") && e.contains("missing"), "{e}");
    }

    #[test]
    fn dictionary_and_plain_strings_are_read() {
        let path = Path::new("a.parquet");
        let dict: arrow::array::DictionaryArray<Int32Type> =
            vec!["wiki", "code", "wiki"].into_iter().collect();
        let b = batch(vec![("domain", Arc::new(dict))]);
        let read = string_column(&b, "domain", path).unwrap();
        assert_eq!(read.as_string::<i32>().value(2), "wiki");
        let b = batch(vec![("domain", Arc::new(Int64Array::from(vec![1])))]);
        let e = string_column(&b, "domain", path).unwrap_err().to_string();
        assert!(e.contains("expected strings"), "{e}");
    }

    #[test]
    fn integer_lists_are_cast_and_null_lists_refused() {
        let path = Path::new("a.parquet");
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(5)]),
            Some(vec![]),
        ]);
        let b = batch(vec![("neurons", Arc::new(lists))]);
        let read = integer_list_column(&b, "neurons", &DataType::UInt16, path).unwrap();
        let read = read.as_list::<i32>();
        assert_eq!(
            read.value(0).as_primitive::<UInt16Type>().values().to_vec(),
            [1, 5]
        );
        assert!(read.value(1).is_empty());

        let with_null =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)]), None]);
        let b = batch(vec![("neurons", Arc::new(with_null))]);
        let e = integer_list_column(&b, "neurons", &DataType::UInt16, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'neurons'") && e.contains("null"), "{e}");

        let null_item =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None])]);
        let b = batch(vec![("neurons", Arc::new(null_item))]);
        let e = integer_list_column(&b, "neurons", &DataType::UInt16, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("null"), "{e}");

        let b = batch(vec![("neurons", Arc::new(Int32Array::from(vec![1])))]);
        let e = integer_list_column(&b, "neurons", &DataType::UInt16, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a list"), "{e}");
    }
}
