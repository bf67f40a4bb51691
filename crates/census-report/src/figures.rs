//! The paper's figures (listed in `docs/METHODS.md`) built from one or more analyses:
//! comparisons draw one line per model, on absolute layers and on normalised depth; per-model
//! figures get one panel each.

use census_charts::RGBColor;

use census_format::analysis::tables::{LayerRow, Order, PositionalRow, PositionalType};

use crate::analysis::ModelAnalysis;
use crate::tiling::Tiling;
use census_charts::{Dot, Figure, Series, Stack, XAxis, color, lighter, ramp};

/// A figure with its file id and caption.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedFigure {
    /// File name stem (`fig1a-dead`, ...).
    pub id: String,
    /// Section it belongs to.
    pub section: Section,
    /// What it shows, with the paper figure it redraws.
    pub caption: String,
    /// The figure.
    pub figure: Figure,
}

/// Report sections, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The statistics along a model's training (checkpoint series).
    Training,
    /// Dead neurons and activation frequency.
    Dead,
    /// N-gram coverage.
    Ngrams,
    /// Token and trigram detectors.
    Detectors,
    /// Positional neurons.
    Positional,
}

impl Section {
    /// All sections in order.
    pub const ALL: [Section; 5] = [
        Self::Training,
        Self::Dead,
        Self::Ngrams,
        Self::Detectors,
        Self::Positional,
    ];

    /// Heading.
    pub fn title(self) -> &'static str {
        match self {
            Self::Training => "During training",
            Self::Dead => "Dead neurons and activation frequency",
            Self::Ngrams => "How many n-grams trigger a neuron",
            Self::Detectors => "Token and trigram detectors",
            Self::Positional => "Positional neurons",
        }
    }

    /// Anchor id.
    pub fn anchor(self) -> &'static str {
        match self {
            Self::Training => "training",
            Self::Dead => "dead",
            Self::Ngrams => "ngrams",
            Self::Detectors => "detectors",
            Self::Positional => "positional",
        }
    }
}

/// Colours of the positional types (the paper's purple, red, green, yellow).
pub const TYPE_COLORS: [RGBColor; 4] = [
    RGBColor(118, 42, 131),
    RGBColor(202, 0, 32),
    RGBColor(26, 150, 65),
    RGBColor(230, 171, 2),
];
/// The colour of a positional type and strength.
pub fn type_color(kind: PositionalType, strong: bool) -> RGBColor {
    let base = TYPE_COLORS[kind as usize];
    if strong { base } else { lighter(base, 0.6) }
}

/// A file-name-safe form of a model name.
pub(crate) fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// One line per model of `value(layer)` against the layer (or depth).
fn per_model_lines(models: &[ModelAnalysis], depth: bool, value: LayerValue<'_>) -> Vec<Series> {
    models
        .iter()
        .enumerate()
        .map(|(i, m)| Series {
            name: m.name.clone(),
            points: layer_points(m, depth, value),
            color: color(i),
            dashed: false,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// `(layer or normalised depth, value)` for every layer of `m` that has a value.
fn layer_points(m: &ModelAnalysis, depth: bool, value: LayerValue<'_>) -> Vec<(f64, f64)> {
    m.layers
        .iter()
        .filter_map(|l| {
            let x = if depth {
                m.depth(l.layer)
            } else {
                f64::from(l.layer)
            };
            value(m, l).map(|v| (x, v))
        })
        .collect()
}

/// A per-layer value of a model.
type LayerValue<'a> = &'a dyn Fn(&ModelAnalysis, &LayerRow) -> Option<f64>;

/// What a comparison figure shows.
struct Comparison<'a> {
    id: &'a str,
    section: Section,
    title: &'a str,
    caption: &'a str,
    y_label: &'a str,
    y_range: Option<(f64, f64)>,
    /// The paper's full scale, offered beside the fitted range (shares: `0..1`).
    full_scale: Option<(f64, f64)>,
}

/// A comparison figure on absolute layers, plus one on normalised depth when there are several
/// models.
fn comparison(
    models: &[ModelAnalysis],
    spec: Comparison<'_>,
    value: LayerValue<'_>,
) -> Vec<NamedFigure> {
    comparison_with(models, spec, value, None)
}

/// A comparison figure as [`comparison`], plus, per model, a dashed `alternate` series named
/// with the suffix it carries, where it differs from `value`.
fn comparison_with(
    models: &[ModelAnalysis],
    spec: Comparison<'_>,
    value: LayerValue<'_>,
    alternate: Option<(&str, LayerValue<'_>)>,
) -> Vec<NamedFigure> {
    let Comparison {
        id,
        section,
        title,
        caption,
        y_label,
        y_range,
        full_scale,
    } = spec;
    let mut out = Vec::new();
    let variants: &[bool] = if models.len() > 1 {
        &[false, true]
    } else {
        &[false]
    };
    for &depth in variants {
        let mut series = per_model_lines(models, depth, value);
        if series.is_empty() {
            continue;
        }
        if let Some((suffix, other)) = alternate {
            for (i, m) in models.iter().enumerate() {
                let differs = m.layers.iter().any(|l| other(m, l) != value(m, l));
                if !differs {
                    continue;
                }
                series.push(Series {
                    name: format!("{} {suffix}", m.name),
                    points: layer_points(m, depth, other),
                    color: color(i),
                    dashed: true,
                });
            }
        }
        out.push(NamedFigure {
            id: if depth {
                format!("{id}-depth")
            } else {
                id.to_string()
            },
            section,
            caption: if depth {
                format!("{caption} Layers on normalised depth (layer / (L - 1)).")
            } else {
                caption.to_string()
            },
            figure: Figure::Lines {
                title: title.to_string(),
                x_label: if depth {
                    "depth (layer / (L-1))"
                } else {
                    "layer"
                }
                .to_string(),
                x_axis: if depth { XAxis::Linear } else { XAxis::Integer },
                y_label: y_label.to_string(),
                series,
                y_range,
                full_scale,
            },
        });
    }
    out
}

/// The dead share of each layer of `m` after each doubling of the tokens read: where a layer's
/// line still falls at the right, more data would find more of its "dead" neurons alive.
fn saturation_figure(m: &ModelAnalysis) -> Option<NamedFigure> {
    let mut layers: Vec<u16> = m.dead_saturation.iter().map(|r| r.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    if m.dead_saturation.iter().all(|r| r.tokens == 0) || layers.is_empty() {
        return None;
    }
    let neurons = |layer: u16| {
        m.layers
            .iter()
            .find(|l| l.layer == layer)
            .map_or(1, |l| l.neurons.max(1))
    };
    let last = f64::from(*layers.last().expect("not empty")).max(1.0);
    let series = layers
        .iter()
        .map(|&layer| Series {
            name: format!("layer {layer}"),
            points: (m.dead_saturation.iter())
                .filter(|r| r.layer == layer && r.tokens > 0)
                .map(|r| {
                    (
                        (r.tokens as f64).log10(),
                        f64::from(r.dead) / f64::from(neurons(layer)),
                    )
                })
                .collect(),
            color: ramp(f64::from(layer) / last),
            dashed: false,
        })
        .collect();
    Some(NamedFigure {
        id: format!("dead-saturation-{}", slug(&m.name)),
        section: Section::Dead,
        caption: format!(
            "{}: the dead share of each layer after the first part of the data and each doubling              of the tokens read since (dead_saturation.parquet; beyond the paper, for its caveat              that \"dead\" may only mean too rare for this much data). A line still falling at              the right means more data would find more of that layer's neurons alive. Parts are              read in order, so early points hold the first corpus sources only.",
            m.name
        ),
        figure: Figure::Lines {
            title: format!("{}: dead share against tokens read", m.name),
            x_label: "tokens read".to_string(),
            x_axis: XAxis::Log10,
            y_label: "dead share".to_string(),
            series,
            y_range: None,
            full_scale: Some((0.0, 1.0)),
        },
    })
}

/// Neurons per coverage bin, stacked, per layer of the first half of the network (Figs. 2, 12,
/// 13 show that half; the other layers stay in the tables and the browser).
fn coverage_figure(m: &ModelAnalysis, order: Order, fig: &str) -> Option<NamedFigure> {
    let half = m.model_layers().div_ceil(2);
    let rows: Vec<_> = m
        .coverage
        .iter()
        .filter(|c| c.order == order && usize::from(c.layer) < half)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let order = order.name();
    let mut layers: Vec<u16> = rows.iter().map(|r| r.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    let bins = rows.iter().map(|r| r.bin).max().unwrap_or(0) + 1;
    let stacks = (0..bins)
        .map(|b| {
            let label = rows
                .iter()
                .find(|r| r.bin == b)
                .map(|r| r.label.clone())
                .unwrap_or_default();
            Stack {
                name: label,
                color: ramp(f64::from(b) / f64::from((bins - 1).max(1))),
                values: layers
                    .iter()
                    .map(|&l| {
                        rows.iter()
                            .find(|r| r.layer == l && r.bin == b)
                            .map_or(0.0, |r| r.neurons as f64)
                    })
                    .collect(),
            }
        })
        .collect();
    Some(NamedFigure {
        id: format!("{fig}-{order}s-{}", slug(&m.name)),
        section: Section::Ngrams,
        caption: format!(
            "{}: alive neurons by the number of {order}s that cover 95% of their activations, in \
             the first half of the network (layers 0–{}) as the paper draws it (paper Fig. {}); \
             the other layers are in coverage.parquet and the neuron browser.",
            m.name,
            half - 1,
            &fig[3..]
        ),
        figure: Figure::StackedBars {
            title: format!("{}: neurons by number of triggering {order}s", m.name),
            x_label: "layer".to_string(),
            y_label: "alive neurons".to_string(),
            x: layers.iter().map(|&l| f64::from(l)).collect(),
            stacks,
        },
    })
}

/// Detected n-grams per layer with new overall and new vs the previous layer (Figs. 4, 15).
fn new_figure(m: &ModelAnalysis, trigrams: bool) -> Option<NamedFigure> {
    let pick = |l: &LayerRow| {
        if trigrams {
            l.trigrams_detected
        } else {
            l.tokens_detected
        }
    };
    let what = if trigrams { "trigrams" } else { "tokens" };
    let names = [
        "detected in the layer",
        "new overall",
        "new vs previous layer",
    ];
    let series: Vec<Series> = [0usize, 2, 3]
        .iter()
        .enumerate()
        .map(|(k, &field)| Series {
            name: names[k].to_string(),
            points: m
                .layers
                .iter()
                .filter_map(|l| pick(l).map(|c| (f64::from(l.layer), c.fields()[field] as f64)))
                .collect(),
            color: color(k),
            dashed: k == 2,
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(NamedFigure {
        id: format!(
            "fig{}-new-{what}-{}",
            if trigrams { 15 } else { 4 },
            slug(&m.name)
        ),
        section: Section::Detectors,
        caption: format!(
            "{}: {what} with a detector in each layer, those new to all lower layers and those \
             new compared with the previous layer (paper Fig. {}).",
            m.name,
            if trigrams { 15 } else { 4 }
        ),
        figure: Figure::Lines {
            title: format!("{}: detected {what}, new and overlapping", m.name),
            x_label: "layer".to_string(),
            x_axis: XAxis::Integer,
            y_label: what.to_string(),
            series,
            y_range: None,
            full_scale: None,
        },
    })
}

/// Detected n-grams per layer (solid) and cumulative (dashed), per model (Figs. 3b, 14b).
fn detected_figure(models: &[ModelAnalysis], trigrams: bool) -> Option<NamedFigure> {
    let what = if trigrams { "trigrams" } else { "tokens" };
    let mut series = Vec::new();
    for (i, m) in models.iter().enumerate() {
        for (field, dashed, suffix) in [(0, false, "per layer"), (1, true, "cumulative")] {
            let points: Vec<(f64, f64)> = m
                .layers
                .iter()
                .filter_map(|l| {
                    let c = if trigrams {
                        l.trigrams_detected
                    } else {
                        l.tokens_detected
                    };
                    c.map(|c| (f64::from(l.layer), c.fields()[field] as f64))
                })
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    name: format!("{} {suffix}", m.name),
                    points,
                    color: color(i),
                    dashed,
                });
            }
        }
    }
    (!series.is_empty()).then(|| NamedFigure {
        id: format!("fig{}-detected-{what}", if trigrams { "14b" } else { "3b" }),
        section: Section::Detectors,
        caption: format!(
            "{what} that have a detecting neuron: per layer (solid) and cumulative over layers \
             (dashed) (paper Fig. {}).",
            if trigrams { "14b" } else { "3b" }
        ),
        figure: Figure::Lines {
            title: format!("{what} with a detector"),
            x_label: "layer".to_string(),
            x_axis: XAxis::Integer,
            y_label: what.to_string(),
            series,
            y_range: None,
            full_scale: None,
        },
    })
}

/// Positional neurons per layer as dots coloured by type and strength (Figs. 8, 16).
fn positional_dots(m: &ModelAnalysis) -> Option<NamedFigure> {
    if m.layers.iter().all(|l| l.positional.is_none()) {
        return None;
    }
    let mut sorted: Vec<&PositionalRow> = m.positional.iter().collect();
    sorted.sort_by_key(|p| (p.layer, p.class.kind, !p.class.strong, p.neuron));
    let mut height = std::collections::BTreeMap::<u16, f64>::new();
    let dots = sorted
        .iter()
        .map(|p| {
            let h = height.entry(p.layer).or_insert(0.0);
            *h += 1.0;
            Dot {
                x: f64::from(p.layer),
                y: *h,
                color: type_color(p.class.kind, p.class.strong),
            }
        })
        .collect();
    let mut legend = Vec::new();
    for kind in PositionalType::ALL {
        let name = kind.name();
        legend.push((format!("{name} (strong)"), type_color(kind, true)));
        legend.push((format!("{name} (weak)"), type_color(kind, false)));
    }
    let last = m.model_layers().max(1) as f64 - 1.0;
    Some(NamedFigure {
        id: format!("fig8-positional-{}", slug(&m.name)),
        section: Section::Positional,
        caption: format!(
            "{}: positional neurons (MI with position above the threshold), one dot per neuron, \
             coloured by type, light for weak patterns (paper Figs. 8, 16).",
            m.name
        ),
        figure: Figure::Dots {
            title: format!("{}: positional neurons per layer", m.name),
            x_label: "layer".to_string(),
            y_label: "positional neurons".to_string(),
            dots,
            legend,
            x_range: (-0.6, last + 0.6),
        },
    })
}

/// Example curves, the highest-MI neuron of each type of one strength: Fig. 7's top row
/// (`strong`) or its bottom row (weak).
fn example_curves(m: &ModelAnalysis, strong: bool) -> Option<NamedFigure> {
    let mut series = Vec::new();
    for kind in PositionalType::ALL {
        let best = (m.positional.iter())
            .filter(|p| p.class.kind == kind && p.class.strong == strong)
            .max_by(|a, b| a.mi.total_cmp(&b.mi));
        if let Some(p) = best {
            series.push(Series {
                name: format!("{} L{}/N{}", kind.name(), p.layer, p.neuron),
                points: p
                    .frequency
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((usize::from(p.first_position) + i) as f64, f64::from(v)))
                    .collect(),
                color: type_color(kind, true),
                dashed: !strong,
            });
        }
    }
    let (id, row, strength) = if strong {
        ("fig7-curves", "top", "strong")
    } else {
        ("fig7-weak-curves", "bottom", "weak")
    };
    (!series.is_empty()).then(|| NamedFigure {
        id: format!("{id}-{}", slug(&m.name)),
        section: Section::Positional,
        caption: format!(
            "{}: activation frequency by position of the {strength} neuron of each type with the \
             highest MI (paper Fig. 7, {row} row).",
            m.name
        ),
        figure: Figure::Lines {
            title: format!("{}: {strength} positional patterns", m.name),
            x_label: "position".to_string(),
            x_axis: XAxis::Integer,
            y_label: "activation frequency".to_string(),
            series,
            y_range: Some((0.0, 1.0)),
            full_scale: None,
        },
    })
}

/// Position ranges of the strong oscillatory neurons of one layer (Fig. 9): layer 1 when it has
/// any, else the layer with the most.
fn oscillatory_ranges(m: &ModelAnalysis) -> Option<NamedFigure> {
    let strong: Vec<&PositionalRow> = m
        .positional
        .iter()
        .filter(|p| p.class.kind == PositionalType::Oscillatory && p.class.strong)
        .collect();
    let count = |l: u16| strong.iter().filter(|p| p.layer == l).count();
    let layer = if count(1) > 0 {
        1
    } else {
        strong
            .iter()
            .map(|p| p.layer)
            .max_by_key(|&l| (count(l), l))?
    };
    let mut rows: Vec<&PositionalRow> = strong.into_iter().filter(|p| p.layer == layer).collect();
    rows.sort_by(|a, b| {
        let start = |p: &PositionalRow| p.ranges.first().map_or(f64::MAX, |r| f64::from(r.0));
        start(a).total_cmp(&start(b))
    });
    let end = rows
        .iter()
        .map(|p| (usize::from(p.first_position) + p.frequency.len()) as f64)
        .fold(1.0, f64::max);
    let first = rows.iter().map(|p| p.first_position).min().unwrap_or(0);
    let ranges: Vec<Vec<(u16, u16)>> = rows.iter().map(|p| p.ranges.clone()).collect();
    let tiling = Tiling::of(&ranges, (first, end as u16));
    Some(NamedFigure {
        id: format!("fig9-ranges-{}", slug(&m.name)),
        section: Section::Positional,
        caption: format!(
            "{}: position ranges where the strong oscillatory neurons of layer {layer} fire on \
             at least half the tokens, sorted by their first range (paper Fig. 9). Together they \
             {}: {}.",
            m.name,
            tiling.describe(),
            if tiling.tiles() {
                "they tile the positions"
            } else {
                "they do not tile the positions"
            }
        ),
        figure: Figure::Ranges {
            title: format!("{}: ranges of oscillatory neurons, layer {layer}", m.name),
            x_label: "position".to_string(),
            rows: rows
                .iter()
                .map(|p| {
                    let ranges = p.ranges.iter().map(|&(a, b)| (f64::from(a), f64::from(b)));
                    (format!("N{}", p.neuron), ranges.collect())
                })
                .collect(),
            x_range: (0.0, end),
        },
    })
}

/// Every figure of the report, in section order.
pub fn build(models: &[ModelAnalysis]) -> Vec<NamedFigure> {
    let mut out = Vec::new();
    out.extend(comparison_with(
        models,
        Comparison {
            id: "fig1a-dead",
            section: Section::Dead,
            title: "Dead neurons per layer",
            caption: "Share of neurons that never fire on the corpus, per layer (paper Fig. 1a). \
                      Solid: the analysis's reading of dead (by default, never fires at any \
                      position); dashed, where it differs: the other reading (never fires \
                      outside the </s> prefix, or at any position).",
            y_label: "dead share",
            y_range: None,
            full_scale: Some((0.0, 1.0)),
        },
        &|_, l| Some(l.dead_share),
        Some(("(other reading of </s>)", &|m, l| {
            Some(m.dead_share_other(l))
        })),
    ));
    out.extend(comparison(
        models,
        Comparison {
            id: "fig1b-frequency",
            section: Section::Dead,
            title: "Activation frequency of alive neurons",
            caption: "Mean activation frequency of the neurons that are not dead, per layer (paper Fig. 1b).",
            y_label: "mean frequency",
            y_range: None,
            full_scale: Some((0.0, 1.0)),
        },
        &|_, l| l.mean_frequency_alive,
    ));
    for m in models {
        out.extend(saturation_figure(m));
    }
    for m in models {
        for (order, fig) in [
            (Order::Unigram, "fig2"),
            (Order::Bigram, "fig12"),
            (Order::Trigram, "fig13"),
        ] {
            out.extend(coverage_figure(m, order, fig));
        }
    }
    out.extend(comparison(
        models,
        Comparison {
            id: "fig3a-token-detectors",
            section: Section::Detectors,
            title: "Token-detecting neurons per layer",
            caption: "Neurons triggered by 1-5 tokens that each fire on 95% of their occurrences and cover 95% \
         of the activations (paper Fig. 3a).",
            y_label: "token detectors",
            y_range: None,
            full_scale: None,
        },
        &|_, l| l.token_detectors.map(f64::from),
    ));
    out.extend(detected_figure(models, false));
    for m in models {
        out.extend(new_figure(m, false));
    }
    out.extend(comparison(
        models,
        Comparison {
            id: "fig14a-trigram-detectors",
            section: Section::Detectors,
            title: "Trigram-detecting neurons per layer",
            caption: "Neurons triggered by 1-50 trigrams, with the same 95%/95% rule (paper Fig. 14a).",
            y_label: "trigram detectors",
            y_range: None,
            full_scale: None,
        },
        &|_, l| l.trigram_detectors.map(f64::from),
    ));
    out.extend(detected_figure(models, true));
    for m in models {
        out.extend(new_figure(m, true));
    }
    for m in models {
        out.extend(positional_dots(m));
        out.extend(example_curves(m, true));
        out.extend(example_curves(m, false));
        out.extend(oscillatory_ranges(m));
    }
    out
}
