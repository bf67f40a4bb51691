//! The analysis tables' typed rows: written and read back unchanged, read back from files whose
//! integer columns another tool rewrote at other widths, and refused with the file and column
//! named when a column is missing or holds a value the format does not allow.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use census_format::analysis::tables::{
    AnalysisTable, Classification, CoverageRow, DetectedCoverage, DetectorKind, DetectorProjection,
    DetectorRow, LayerRow, NeuronRow, Order, PositionalDomainRow, PositionalRow, PositionalType,
    ProjectionRow, RankedToken, write_table,
};

fn token(id: u32, name: &str, score: f32) -> RankedToken {
    RankedToken {
        id,
        name: name.to_string(),
        score,
    }
}

fn neurons() -> Vec<NeuronRow> {
    let base = NeuronRow {
        layer: 0,
        neuron: 0,
        fires: 0,
        fires_bos: 0,
        frequency: 0.0,
        dead: true,
        coverage: [None, None, None],
        token_detector: false,
        trigram_detector: false,
        position_mi: None,
        positional: None,
    };
    vec![
        base.clone(),
        NeuronRow {
            layer: 3,
            neuron: 40_000,
            fires: 1 << 40,
            fires_bos: 12,
            frequency: 0.25,
            dead: false,
            coverage: [Some(4), Some(70_000), None],
            token_detector: true,
            trigram_detector: false,
            position_mi: Some(0.031),
            positional: Some(Classification {
                kind: PositionalType::BothExtremes,
                strong: true,
            }),
        },
        NeuronRow {
            neuron: 1,
            position_mi: Some(0.0),
            positional: Some(Classification {
                kind: PositionalType::Other,
                strong: false,
            }),
            ..base
        },
    ]
}

fn layers() -> Vec<LayerRow> {
    let base = LayerRow {
        layer: 0,
        tokens: 1_000,
        neurons: 64,
        dead: 2,
        dead_share: 2.0 / 64.0,
        dead_with_bos: 2,
        dead_without_bos: 3,
        mean_frequency_alive: Some(0.1),
        token_detectors: Some(5),
        trigram_detectors: None,
        tokens_detected: Some(DetectedCoverage {
            detected: 9,
            cumulative: 9,
            new_overall: 9,
            new_vs_previous: 9,
        }),
        trigrams_detected: None,
        positional: Some([[1, 2], [0, 0], [3, 0], [0, 7]]),
    };
    vec![
        base.clone(),
        LayerRow {
            layer: 1,
            dead: 64,
            dead_share: 1.0,
            mean_frequency_alive: None,
            token_detectors: None,
            tokens_detected: None,
            positional: None,
            ..base
        },
    ]
}

fn coverage() -> Vec<CoverageRow> {
    vec![
        CoverageRow {
            layer: 0,
            order: Order::Unigram,
            bin: 0,
            label: "1".into(),
            neurons: 10,
        },
        CoverageRow {
            layer: 2,
            order: Order::Trigram,
            bin: 3,
            label: "≥100".into(),
            neurons: 0,
        },
    ]
}

fn detectors() -> Vec<DetectorRow> {
    let plain = DetectorRow {
        layer: 1,
        neuron: 7,
        kind: DetectorKind::Token,
        trigger_ids: vec![vec![50_000], vec![3]],
        triggers: vec!["Ġthe".into(), "Ċ".into()],
        trigger_fires: vec![30, 4],
        trigger_occurrences: vec![31, 40],
        activations: 40,
        coverage: 0.85,
        coverage_count: 2,
        projection: None,
    };
    vec![
        plain.clone(),
        DetectorRow {
            kind: DetectorKind::Trigram,
            trigger_ids: vec![vec![1, 2, 3]],
            triggers: vec!["a b c".into()],
            trigger_fires: vec![5],
            trigger_occurrences: vec![5],
            projection: Some(DetectorProjection {
                promoted: vec![token(9, "x", 1.5), token(8, "y", 0.5)],
                suppressed: vec![token(3, "c", -2.0)],
                trigger_scores: vec![-2.0],
                trigger_bottom_ranks: vec![0],
                suppresses_triggers: Some(true),
                negative_share: 0.4,
                null_probability: None,
                trigger_rank_share: 0.0,
            }),
            ..plain
        },
    ]
}

fn positional() -> Vec<PositionalRow> {
    vec![PositionalRow {
        layer: 2,
        neuron: 5,
        mi: 0.2,
        class: Classification {
            kind: PositionalType::Oscillatory,
            strong: false,
        },
        first_position: 1,
        frequency: vec![0.0, 0.5, 1.0, 0.25],
        ranges: vec![(1, 3), (4, 5)],
    }]
}

fn positional_domains() -> Vec<PositionalDomainRow> {
    vec![
        PositionalDomainRow {
            layer: 2,
            neuron: 5,
            domain: "wiki".into(),
            mi: 0.2,
            class: Some(Classification {
                kind: PositionalType::OneExtreme,
                strong: true,
            }),
            pooled_type: Some(PositionalType::Oscillatory),
            same_type: false,
        },
        PositionalDomainRow {
            layer: 2,
            neuron: 5,
            domain: "code".into(),
            mi: 0.0,
            class: None,
            pooled_type: Some(PositionalType::Oscillatory),
            same_type: false,
        },
    ]
}

fn projections() -> Vec<ProjectionRow> {
    vec![ProjectionRow {
        layer: 0,
        neuron: 2,
        promoted: vec![token(1, "a", 0.5)],
        suppressed: vec![token(2, "b", -0.5), token(4, "d", -0.25)],
    }]
}

/// `batch` with every unsigned integer column, list and list of lists widened to signed 64-bit
/// integers and every `f32` list to `f64`: how DuckDB or polars commonly rewrite a table.
fn widened(batch: &RecordBatch) -> RecordBatch {
    fn widen(t: &DataType) -> DataType {
        match t {
            DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => DataType::Int64,
            DataType::Float32 => DataType::Float64,
            DataType::List(f) => {
                DataType::List(Arc::new(Field::new("item", widen(f.data_type()), true)))
            }
            other => other.clone(),
        }
    }
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::cast(c, &widen(c.data_type())).unwrap())
        .collect();
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn round_trip<T: AnalysisTable + PartialEq + Debug>(rows: Vec<T>) {
    let dir = tempfile::tempdir().unwrap();
    T::write(dir.path(), &rows, &[]).unwrap();
    assert_eq!(T::read(dir.path()).unwrap(), rows, "{}", T::FILE);
    let batch = widened(&T::to_batch(&rows).unwrap());
    write_table(&dir.path().join(T::FILE), &batch, &[]).unwrap();
    assert_eq!(
        T::read(dir.path()).unwrap(),
        rows,
        "{} with widened integers",
        T::FILE
    );
}

#[test]
fn every_table_reads_back_what_was_written_at_any_integer_width() {
    round_trip(neurons());
    round_trip(layers());
    round_trip(coverage());
    round_trip(detectors());
    round_trip(positional());
    round_trip(positional_domains());
    round_trip(projections());
    round_trip(Vec::<NeuronRow>::new());
}

/// Writes `NeuronRow`s' table with column `name` replaced by `column` (or dropped), and returns
/// the error reading it gives.
fn neurons_error(name: &str, column: Option<ArrayRef>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let batch = NeuronRow::to_batch(&neurons()).unwrap();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let c = if field.name() == name {
            match &column {
                Some(replacement) => replacement.clone(),
                None => continue,
            }
        } else {
            c.clone()
        };
        fields.push(Field::new(field.name(), c.data_type().clone(), true));
        columns.push(c);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    write_table(&dir.path().join(NeuronRow::FILE), &batch, &[]).unwrap();
    NeuronRow::read(dir.path()).unwrap_err().to_string()
}

#[test]
fn a_missing_column_or_a_value_out_of_range_names_the_file_and_column() {
    let cases: [(&str, Option<ArrayRef>, &str); 6] = [
        ("fires", None, "is missing"),
        (
            "neuron",
            Some(Arc::new(Int64Array::from(vec![0, -1, 2]))),
            "does not fit",
        ),
        (
            "layer",
            Some(Arc::new(Int64Array::from(vec![0, 70_000, 2]))),
            "does not fit",
        ),
        (
            "frequency",
            Some(Arc::new(Float64Array::from(vec![0.0, 1.5, 0.0]))),
            "outside",
        ),
        (
            "frequency",
            Some(Arc::new(Float64Array::from(vec![0.0, f64::NAN, 0.0]))),
            "not a finite number",
        ),
        (
            "positional_type",
            Some(Arc::new(StringArray::from(vec![
                None,
                Some("diagonal"),
                None,
            ]))),
            "unknown value 'diagonal'",
        ),
    ];
    for (name, column, expected) in cases {
        let e = neurons_error(name, column);
        assert!(
            e.contains("neurons.parquet")
                && e.contains(&format!("'{name}'"))
                && e.contains(expected),
            "{name}: {e}"
        );
    }
    let e = neurons_error("dead", Some(Arc::new(Int64Array::from(vec![0, 1, 0]))));
    assert!(
        e.contains("'dead'") && e.contains("expected booleans"),
        "{e}"
    );
}

#[test]
fn a_missing_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = LayerRow::read(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains(&Path::new("layers.parquet").display().to_string()) && e.contains("missing"),
        "{e}"
    );
}
