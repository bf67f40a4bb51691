//! The Parquet tables of an analysis directory (see `docs/SCHEMA.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, ListArray, ListBuilder, RecordBatch, StringArray,
    StringBuilder, UInt16Array, UInt16Builder, UInt32Array, UInt32Builder, UInt64Array,
};
use arrow::datatypes::{Float32Type, UInt32Type, UInt64Type};

use crate::detectors::{DetectedCoverage, Detector};
use crate::error::{Result, StatsError};
use crate::layer_analysis::{LayerResult, NeuronStats, PositionalNeuron};
use crate::ngram::{Order, unpack};
use crate::positional::{Classification, PositionalType};
use crate::positional_domains::DomainRow;
use crate::projection::Projection;

/// `neurons.parquet`.
pub const NEURONS_FILE: &str = "neurons.parquet";
/// `layers.parquet`.
pub const LAYERS_FILE: &str = "layers.parquet";
/// `coverage.parquet`.
pub const COVERAGE_FILE: &str = "coverage.parquet";
/// `detectors.parquet`.
pub const DETECTORS_FILE: &str = "detectors.parquet";
/// `projections.parquet`.
pub const PROJECTIONS_FILE: &str = "projections.parquet";
/// `positional.parquet`.
pub const POSITIONAL_FILE: &str = "positional.parquet";
/// Positional statistics domain by domain.
pub const POSITIONAL_DOMAINS_FILE: &str = "positional_domains.parquet";

/// Writes `batch` (zstd, footer `metadata`) to `path` through a temporary file renamed into
/// place.
pub fn write_table(path: &Path, batch: &RecordBatch, metadata: &[(String, String)]) -> Result<()> {
    let (temp, _) = census_format::run::tables::write_temp_parquet(path, batch, metadata)?;
    std::fs::rename(&temp, path).map_err(|e| StatsError::io("cannot write", path, e))
}

fn batch(columns: Vec<(&str, ArrayRef)>, path: &str) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(columns).map_err(|e| StatsError::Parquet {
        path: PathBuf::from(path),
        reason: e.to_string(),
    })
}

fn col<A: arrow::array::Array + 'static>(array: A) -> ArrayRef {
    Arc::new(array)
}

/// `neurons.parquet`: one row per (layer, neuron).
pub fn neurons_batch(layers: &[LayerResult]) -> Result<RecordBatch> {
    let rows: Vec<&NeuronStats> = layers.iter().flat_map(|l| &l.neurons).collect();
    let coverage = |i: usize| col(UInt32Array::from_iter(rows.iter().map(|n| n.coverage[i])));
    batch(
        vec![
            (
                "layer",
                col(UInt16Array::from_iter_values(rows.iter().map(|n| n.layer))),
            ),
            (
                "neuron",
                col(UInt16Array::from_iter_values(rows.iter().map(|n| n.neuron))),
            ),
            (
                "fires",
                col(UInt64Array::from_iter_values(rows.iter().map(|n| n.fires))),
            ),
            (
                "fires_bos",
                col(UInt64Array::from_iter_values(
                    rows.iter().map(|n| n.fires_bos),
                )),
            ),
            (
                "frequency",
                col(Float64Array::from_iter_values(
                    rows.iter().map(|n| n.frequency),
                )),
            ),
            (
                "dead",
                col(BooleanArray::from_iter(rows.iter().map(|n| Some(n.dead)))),
            ),
            ("unigram_coverage", coverage(0)),
            ("bigram_coverage", coverage(1)),
            ("trigram_coverage", coverage(2)),
            (
                "token_detector",
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.token_detector)),
                )),
            ),
            (
                "trigram_detector",
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.trigram_detector)),
                )),
            ),
            (
                "position_mi",
                col(Float64Array::from_iter(rows.iter().map(|n| n.position_mi))),
            ),
            (
                "positional",
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| Some(n.positional.is_some())),
                )),
            ),
            (
                "positional_type",
                col(StringArray::from_iter(
                    rows.iter().map(|n| n.positional.map(|c| c.kind.name())),
                )),
            ),
            (
                "positional_strong",
                col(BooleanArray::from_iter(
                    rows.iter().map(|n| n.positional.map(|c| c.strong)),
                )),
            ),
        ],
        NEURONS_FILE,
    )
}

/// Per-layer aggregates, as written to `layers.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    /// Layer (0-based).
    pub layer: usize,
    /// Tokens the frequencies are over.
    pub tokens: u64,
    /// Neurons in the layer.
    pub neurons: u32,
    /// Dead neurons.
    pub dead: u32,
    /// `dead / neurons`.
    pub dead_share: f64,
    /// Neurons that never fired, the `</s>` prefix included.
    pub dead_with_bos: u32,
    /// Neurons that never fired outside the `</s>` prefix.
    pub dead_without_bos: u32,
    /// Mean activation frequency of the alive neurons (none if all are dead).
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors (none if unigrams were not counted in this layer).
    pub token_detectors: Option<u32>,
    /// Trigram detectors (none if trigrams were not counted).
    pub trigram_detectors: Option<u32>,
    /// Detected-token coverage (where unigrams were counted in every layer up to this one).
    pub tokens_detected: Option<DetectedCoverage>,
    /// Detected-trigram coverage.
    pub trigrams_detected: Option<DetectedCoverage>,
    /// Positional neurons by type and strength, `[type][strong as usize]` (none if the MI was
    /// not computed).
    pub positional: Option<[[u32; 2]; 4]>,
}

/// `layers.parquet`.
pub fn layers_batch(summaries: &[LayerSummary]) -> Result<RecordBatch> {
    let s = summaries;
    let coverage =
        |f: &dyn Fn(&LayerSummary) -> Option<u64>| col(UInt64Array::from_iter(s.iter().map(f)));
    let mut columns: Vec<(String, ArrayRef)> = vec![
        (
            "layer".into(),
            col(UInt16Array::from_iter_values(
                s.iter().map(|l| l.layer as u16),
            )),
        ),
        (
            "tokens".into(),
            col(UInt64Array::from_iter_values(s.iter().map(|l| l.tokens))),
        ),
        (
            "neurons".into(),
            col(UInt32Array::from_iter_values(s.iter().map(|l| l.neurons))),
        ),
        (
            "dead".into(),
            col(UInt32Array::from_iter_values(s.iter().map(|l| l.dead))),
        ),
        (
            "dead_share".into(),
            col(Float64Array::from_iter_values(
                s.iter().map(|l| l.dead_share),
            )),
        ),
        (
            "dead_with_bos".into(),
            col(UInt32Array::from_iter_values(
                s.iter().map(|l| l.dead_with_bos),
            )),
        ),
        (
            "dead_without_bos".into(),
            col(UInt32Array::from_iter_values(
                s.iter().map(|l| l.dead_without_bos),
            )),
        ),
        (
            "mean_frequency_alive".into(),
            col(Float64Array::from_iter(
                s.iter().map(|l| l.mean_frequency_alive),
            )),
        ),
        (
            "token_detectors".into(),
            col(UInt32Array::from_iter(s.iter().map(|l| l.token_detectors))),
        ),
        (
            "trigram_detectors".into(),
            col(UInt32Array::from_iter(
                s.iter().map(|l| l.trigram_detectors),
            )),
        ),
    ];
    for (prefix, pick) in [
        (
            "tokens",
            (|l: &LayerSummary| l.tokens_detected) as fn(&LayerSummary) -> _,
        ),
        ("trigrams", |l: &LayerSummary| l.trigrams_detected),
    ] {
        columns.push((
            format!("{prefix}_detected"),
            coverage(&|l| pick(l).map(|c| c.detected)),
        ));
        columns.push((
            format!("{prefix}_detected_cumulative"),
            coverage(&|l| pick(l).map(|c| c.cumulative)),
        ));
        columns.push((
            format!("{prefix}_new_overall"),
            coverage(&|l| pick(l).map(|c| c.new_overall)),
        ));
        columns.push((
            format!("{prefix}_new_vs_previous"),
            coverage(&|l| pick(l).map(|c| c.new_vs_previous)),
        ));
    }
    columns.push((
        "positional".into(),
        col(UInt32Array::from_iter(
            s.iter()
                .map(|l| l.positional.map(|p| p.iter().flatten().sum())),
        )),
    ));
    for kind in PositionalType::ALL {
        for (strong, strength) in [(true, "strong"), (false, "weak")] {
            columns.push((
                format!("{}_{strength}", kind.name().replace('-', "_")),
                col(UInt32Array::from_iter(s.iter().map(|l| {
                    l.positional.map(|p| p[kind as usize][usize::from(strong)])
                }))),
            ));
        }
    }
    batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
        LAYERS_FILE,
    )
}

/// `coverage.parquet`: alive neurons per n-gram coverage bin, per layer and order.
pub fn coverage_batch(layers: &[LayerResult], edges: &[u32]) -> Result<RecordBatch> {
    let (mut layer, mut order, mut bin, mut label, mut neurons) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for result in layers {
        for o in Order::ALL {
            if let Some(bins) = &result.coverage_bins[o as usize] {
                for (i, &count) in bins.iter().enumerate() {
                    layer.push(result.layer as u16);
                    order.push(o.name());
                    bin.push(i as u16);
                    label.push(crate::coverage::bin_label(i, edges));
                    neurons.push(count);
                }
            }
        }
    }
    batch(
        vec![
            ("layer", col(UInt16Array::from(layer))),
            ("order", col(StringArray::from(order))),
            ("bin", col(UInt16Array::from(bin))),
            ("label", col(StringArray::from(label))),
            ("neurons", col(UInt64Array::from(neurons))),
        ],
        COVERAGE_FILE,
    )
}

fn string_lists(rows: impl Iterator<Item = Option<Vec<String>>>) -> ArrayRef {
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

fn nested_u32_lists(rows: impl Iterator<Item = Vec<Vec<u32>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    for row in rows {
        for inner in row {
            builder.values().values().append_slice(&inner);
            builder.values().append(true);
        }
        builder.append(true);
    }
    col(builder.finish())
}

/// `detectors.parquet`: one row per detector; projections where computed.
pub fn detectors_batch(
    detectors: &[Detector],
    projections: Option<&[Projection]>,
    token_name: &dyn Fn(u32) -> String,
) -> Result<RecordBatch> {
    let d = detectors;
    let projection = |i: usize| projections.map(|p| &p[i]);
    let names = |ids: &[u32]| {
        ids.iter()
            .map(|&t| token_name(t))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ids_of = |x: &Detector| -> Vec<Vec<u32>> {
        x.triggers
            .iter()
            .map(|t| unpack(t.ngram, x.order.n()))
            .collect()
    };
    let list_u64 = |f: &dyn Fn(&Detector) -> Vec<u64>| {
        col(ListArray::from_iter_primitive::<UInt64Type, _, _>(
            d.iter()
                .map(|x| Some(f(x).into_iter().map(Some).collect::<Vec<_>>())),
        ))
    };
    let ranked = |f: &dyn Fn(&Projection) -> Vec<(u32, f32)>| {
        (
            col(ListArray::from_iter_primitive::<UInt32Type, _, _>(
                (0..d.len()).map(|i| {
                    projection(i)
                        .map(|p| f(p).into_iter().map(|(t, _)| Some(t)).collect::<Vec<_>>())
                }),
            )),
            string_lists((0..d.len()).map(|i| {
                projection(i).map(|p| f(p).into_iter().map(|(t, _)| token_name(t)).collect())
            })),
            col(ListArray::from_iter_primitive::<Float32Type, _, _>(
                (0..d.len()).map(|i| {
                    projection(i)
                        .map(|p| f(p).into_iter().map(|(_, s)| Some(s)).collect::<Vec<_>>())
                }),
            )),
        )
    };
    let (promoted_ids, promoted, promoted_scores) = ranked(&|p| p.promoted.clone());
    let (suppressed_ids, suppressed, suppressed_scores) = ranked(&|p| p.suppressed.clone());
    batch(
        vec![
            (
                "layer",
                col(UInt16Array::from_iter_values(
                    d.iter().map(|x| x.layer as u16),
                )),
            ),
            (
                "neuron",
                col(UInt16Array::from_iter_values(d.iter().map(|x| x.neuron))),
            ),
            (
                "kind",
                col(StringArray::from_iter_values(d.iter().map(
                    |x| match x.order {
                        Order::Trigram => "trigram",
                        _ => "token",
                    },
                ))),
            ),
            ("trigger_ids", nested_u32_lists(d.iter().map(ids_of))),
            (
                "triggers",
                string_lists(
                    d.iter()
                        .map(|x| Some(ids_of(x).iter().map(|ids| names(ids)).collect())),
                ),
            ),
            (
                "trigger_fires",
                list_u64(&|x| x.triggers.iter().map(|t| t.fires).collect()),
            ),
            (
                "trigger_occurrences",
                list_u64(&|x| x.triggers.iter().map(|t| t.occurrences).collect()),
            ),
            (
                "activations",
                col(UInt64Array::from_iter_values(
                    d.iter().map(|x| x.activations),
                )),
            ),
            (
                "coverage",
                col(Float64Array::from_iter_values(
                    d.iter().map(|x| x.coverage()),
                )),
            ),
            (
                "coverage_count",
                col(UInt32Array::from_iter_values(
                    d.iter().map(|x| x.coverage_count),
                )),
            ),
            ("promoted_ids", promoted_ids),
            ("promoted", promoted),
            ("promoted_scores", promoted_scores),
            ("suppressed_ids", suppressed_ids),
            ("suppressed", suppressed),
            ("suppressed_scores", suppressed_scores),
            (
                "trigger_scores",
                col(ListArray::from_iter_primitive::<Float32Type, _, _>(
                    (0..d.len()).map(|i| {
                        projection(i).map(|p| {
                            p.trigger_scores
                                .iter()
                                .map(|&s| Some(s))
                                .collect::<Vec<_>>()
                        })
                    }),
                )),
            ),
            (
                "trigger_bottom_ranks",
                col(ListArray::from_iter_primitive::<UInt32Type, _, _>(
                    (0..d.len()).map(|i| {
                        projection(i).map(|p| {
                            p.trigger_bottom_ranks
                                .iter()
                                .map(|&r| Some(r))
                                .collect::<Vec<_>>()
                        })
                    }),
                )),
            ),
            (
                "suppresses_triggers",
                col(BooleanArray::from_iter(
                    (0..d.len()).map(|i| projection(i).and_then(|p| p.suppresses_triggers)),
                )),
            ),
            (
                "negative_share",
                col(Float64Array::from_iter(
                    (0..d.len()).map(|i| projection(i).map(|p| p.negative_share)),
                )),
            ),
            (
                "null_probability",
                col(Float64Array::from_iter(
                    (0..d.len()).map(|i| projection(i).and_then(|p| p.null_probability)),
                )),
            ),
            (
                "trigger_rank_share",
                col(Float64Array::from_iter(
                    (0..d.len()).map(|i| projection(i).map(|p| p.trigger_rank_share)),
                )),
            ),
        ],
        DETECTORS_FILE,
    )
}

/// `positional.parquet`: one row per positional neuron with its curve.
pub fn positional_batch(neurons: &[&PositionalNeuron]) -> Result<RecordBatch> {
    let p = neurons;
    let u16_lists = |f: &dyn Fn(&PositionalNeuron) -> Vec<u16>| {
        let mut builder = ListBuilder::new(UInt16Builder::new());
        for n in p {
            builder.values().append_slice(&f(n));
            builder.append(true);
        }
        col(builder.finish())
    };
    batch(
        vec![
            (
                "layer",
                col(UInt16Array::from_iter_values(p.iter().map(|n| n.layer))),
            ),
            (
                "neuron",
                col(UInt16Array::from_iter_values(p.iter().map(|n| n.neuron))),
            ),
            (
                "mi",
                col(Float64Array::from_iter_values(p.iter().map(|n| n.mi))),
            ),
            (
                "type",
                col(StringArray::from_iter_values(
                    p.iter().map(|n| n.class.kind.name()),
                )),
            ),
            (
                "strong",
                col(BooleanArray::from_iter(
                    p.iter().map(|n| Some(n.class.strong)),
                )),
            ),
            (
                "first_position",
                col(UInt16Array::from_iter_values(
                    p.iter().map(|n| n.first_position),
                )),
            ),
            (
                "frequency",
                col(ListArray::from_iter_primitive::<Float32Type, _, _>(
                    p.iter()
                        .map(|n| Some(n.curve.iter().map(|&x| Some(x)).collect::<Vec<_>>())),
                )),
            ),
            (
                "range_starts",
                u16_lists(&|n| n.ranges.iter().map(|r| r.0).collect()),
            ),
            (
                "range_ends",
                u16_lists(&|n| n.ranges.iter().map(|r| r.1).collect()),
            ),
        ],
        POSITIONAL_FILE,
    )
}

/// `positional_domains.parquet`: one row per domain for every neuron positional in the pooled
/// analysis or in some domain.
pub fn positional_domains_batch(rows: &[DomainRow]) -> Result<RecordBatch> {
    let kind = |c: Option<Classification>| c.map(|c| c.kind.name());
    batch(
        vec![
            (
                "layer",
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
            ),
            (
                "neuron",
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
            ),
            (
                "domain",
                col(StringArray::from_iter_values(
                    rows.iter().map(|r| r.domain.as_str()),
                )),
            ),
            (
                "mi",
                col(Float64Array::from_iter_values(rows.iter().map(|r| r.mi))),
            ),
            (
                "type",
                col(StringArray::from_iter(rows.iter().map(|r| kind(r.class)))),
            ),
            (
                "strong",
                col(BooleanArray::from_iter(
                    rows.iter().map(|r| r.class.map(|c| c.strong)),
                )),
            ),
            (
                "pooled_type",
                col(StringArray::from_iter(rows.iter().map(|r| kind(r.pooled)))),
            ),
            (
                "same_type",
                col(BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.same_type())),
                )),
            ),
        ],
        POSITIONAL_DOMAINS_FILE,
    )
}

/// `projections.parquet`: the top promoted and suppressed tokens of every alive neuron.
pub fn projections_batch(
    rows: &[crate::projection::NeuronProjection],
    token_name: &dyn Fn(u32) -> String,
) -> Result<RecordBatch> {
    let ids = |f: &dyn Fn(&crate::projection::NeuronProjection) -> &Vec<(u32, f32)>| {
        col(ListArray::from_iter_primitive::<UInt32Type, _, _>(
            rows.iter()
                .map(|r| Some(f(r).iter().map(|p| Some(p.0)).collect::<Vec<_>>())),
        ))
    };
    let names = |f: &dyn Fn(&crate::projection::NeuronProjection) -> &Vec<(u32, f32)>| {
        string_lists(
            rows.iter()
                .map(|r| Some(f(r).iter().map(|p| token_name(p.0)).collect())),
        )
    };
    let scores = |f: &dyn Fn(&crate::projection::NeuronProjection) -> &Vec<(u32, f32)>| {
        col(ListArray::from_iter_primitive::<Float32Type, _, _>(
            rows.iter()
                .map(|r| Some(f(r).iter().map(|p| Some(p.1)).collect::<Vec<_>>())),
        ))
    };
    batch(
        vec![
            (
                "layer",
                col(UInt16Array::from_iter_values(
                    rows.iter().map(|r| r.layer as u16),
                )),
            ),
            (
                "neuron",
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
            ),
            ("promoted_ids", ids(&|r| &r.promoted)),
            ("promoted", names(&|r| &r.promoted)),
            ("promoted_scores", scores(&|r| &r.promoted)),
            ("suppressed_ids", ids(&|r| &r.suppressed)),
            ("suppressed", names(&|r| &r.suppressed)),
            ("suppressed_scores", scores(&|r| &r.suppressed)),
        ],
        PROJECTIONS_FILE,
    )
}
