//! The training view: the analyses of one training run's checkpoints (`checkpoint-<step>/` or
//! `step-<step>/` model directories, as Hugging Face `Trainer` and `neuron-census train` write
//! them, and the final model beside them), as the headline statistics against training step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use census_format::analysis::tables::PositionalType;

use crate::analysis::ModelAnalysis;
use crate::error::{ReportError, Result};
use crate::figures::{NamedFigure, Section, slug, type_color};
use census_charts::{Figure, Series, XAxis, color, ramp};

/// One analysed checkpoint of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Optimizer steps done.
    pub step: u64,
    /// Index of its analysis among the report's.
    pub analysis: usize,
    /// Tokens trained on, where recorded.
    pub tokens: Option<u64>,
    /// Held-out loss, where recorded.
    pub held_out_loss: Option<f64>,
}

/// The analysed checkpoints of one training run, in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSeries {
    /// The run's name (its final model's, else its directory's).
    pub name: String,
    /// The run's directory (`hub:org/name` for the revisions of a hub repository).
    pub dir: PathBuf,
    /// Its checkpoints, at least two.
    pub checkpoints: Vec<Checkpoint>,
}

impl TrainingSeries {
    /// The analysis of the last checkpoint (the trained model, when it was analysed).
    pub fn last(&self) -> usize {
        self.checkpoints
            .last()
            .expect("at least two checkpoints")
            .analysis
    }
}

/// The training runs among `models`: analyses of checkpoints of the same run (and of the run's
/// final model), two or more per run, as each analysis recorded its place in its run.
pub fn find_series(models: &[ModelAnalysis]) -> Result<Vec<TrainingSeries>> {
    let mut runs: BTreeMap<String, (Option<String>, Vec<Checkpoint>)> = BTreeMap::new();
    for (i, m) in models.iter().enumerate() {
        let Some(point) = &m.manifest.training else {
            continue;
        };
        let run = runs.entry(point.run.to_string()).or_default();
        if run.0.is_none() {
            run.0.clone_from(&point.run_name);
        }
        run.1.push(Checkpoint {
            step: point.step,
            analysis: i,
            tokens: point.tokens,
            held_out_loss: point.held_out_loss,
        });
    }
    for (dir, (_, checkpoints)) in &mut runs {
        checkpoints.sort_by_key(|c| (c.step, c.analysis));
        if let Some(pair) = checkpoints.windows(2).find(|p| p[0].step == p[1].step) {
            return Err(ReportError::analysis(
                &models[pair[1].analysis].dir,
                format!(
                    "is an analysis of the same model as {} (step {} of {dir}); the report shows \
                     one analysis of each model of a training run: give one of the two",
                    models[pair[0].analysis].dir.display(),
                    pair[0].step,
                ),
            ));
        }
    }
    Ok(runs
        .into_iter()
        .filter(|(_, (_, checkpoints))| checkpoints.len() >= 2)
        .map(|(dir, (name, checkpoints))| TrainingSeries {
            name: name.unwrap_or_else(|| {
                models[checkpoints[checkpoints.len() - 1].analysis]
                    .name
                    .clone()
            }),
            dir: PathBuf::from(dir),
            checkpoints,
        })
        .collect())
}

/// The x of a step on the log axis (steps below 1 sit at 1).
fn log_step(step: u64) -> f64 {
    (step.max(1) as f64).log10()
}

/// The x-axis label of the training figures (the charts read it as a log axis).
pub const STEP_AXIS: &str = "training step (log scale)";

/// One line of `value(checkpoint analysis)` against step.
fn line(
    series: &TrainingSeries,
    models: &[ModelAnalysis],
    name: &str,
    color: census_charts::RGBColor,
    value: &dyn Fn(&Checkpoint, &ModelAnalysis) -> Option<f64>,
) -> Series {
    Series {
        name: name.to_string(),
        points: series
            .checkpoints
            .iter()
            .filter_map(|c| value(c, &models[c.analysis]).map(|v| (log_step(c.step), v)))
            .collect(),
        color,
        dashed: false,
    }
}

/// A line figure of the training view, when any line has a point.
fn figure(
    id: String,
    title: String,
    caption: String,
    y_label: &str,
    lines: Vec<Series>,
    full_scale: Option<(f64, f64)>,
) -> Option<NamedFigure> {
    let lines: Vec<Series> = lines.into_iter().filter(|s| !s.points.is_empty()).collect();
    (!lines.is_empty()).then(|| NamedFigure {
        id,
        section: Section::Training,
        caption,
        figure: Figure::Lines {
            title,
            x_label: STEP_AXIS.to_string(),
            x_axis: XAxis::Log10,
            y_label: y_label.to_string(),
            series: lines,
            y_range: None,
            full_scale,
        },
    })
}

/// The training view's figures for each series: dead share per layer, mean frequency of alive
/// neurons, detectors and detected tokens, positional neurons by type, and held-out loss, each
/// against training step.
pub fn figures(all: &[TrainingSeries], models: &[ModelAnalysis]) -> Vec<NamedFigure> {
    let kinds: [TrainingFigure; 5] = [
        dead_figure,
        frequency_figure,
        detectors_figure,
        positional_figure,
        loss_figure,
    ];
    all.iter()
        .flat_map(|s| kinds.iter().filter_map(move |kind| kind(s, models)))
        .collect()
}

/// One kind of training figure, drawn for a series (None when it has nothing to draw).
type TrainingFigure = fn(&TrainingSeries, &[ModelAnalysis]) -> Option<NamedFigure>;

/// The figure's id for `what` of series `s`.
fn figure_id(s: &TrainingSeries, what: &str) -> String {
    format!("training-{what}-{}", slug(&s.name))
}

/// Dead share of each layer against step.
fn dead_figure(s: &TrainingSeries, models: &[ModelAnalysis]) -> Option<NamedFigure> {
    let steps = s
        .checkpoints
        .iter()
        .map(|c| c.step.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let layers = models[s.last()].layers.len();
    let dead: Vec<Series> = (0..layers)
        .map(|l| {
            line(
                s,
                models,
                &format!("layer {l}"),
                ramp(l as f64 / (layers.max(2) - 1) as f64),
                &|_, m| m.layers.get(l).map(|row| row.dead_share),
            )
        })
        .collect();
    figure(
        figure_id(s, "dead"),
        format!("{}: dead neurons per layer during training", s.name),
        format!(
            "{}: share of each layer's neurons that never fire on the corpus, at each analysed \
             checkpoint (steps {steps}).",
            s.name
        ),
        "dead share",
        dead,
        Some((0.0, 1.0)),
    )
}

/// Mean frequency of the alive neurons against step.
fn frequency_figure(s: &TrainingSeries, models: &[ModelAnalysis]) -> Option<NamedFigure> {
    figure(
        figure_id(s, "frequency"),
        format!("{}: activation frequency during training", s.name),
        format!(
            "{}: mean activation frequency of the neurons that are not dead, all layers \
             together, at each checkpoint.",
            s.name
        ),
        "mean frequency",
        vec![line(s, models, "alive neurons", color(0), &|_, m| {
            m.summary.mean_frequency_alive
        })],
        Some((0.0, 1.0)),
    )
}

/// Token and trigram detectors, and the tokens detected, against step.
fn detectors_figure(s: &TrainingSeries, models: &[ModelAnalysis]) -> Option<NamedFigure> {
    let count = |f: fn(&ModelAnalysis) -> Option<u64>| {
        move |_: &Checkpoint, m: &ModelAnalysis| f(m).map(|v| v as f64)
    };
    figure(
        figure_id(s, "detectors"),
        format!("{}: detectors during training", s.name),
        format!(
            "{}: token and trigram detectors, and the distinct tokens the token detectors of \
             the counted layers cover, at each checkpoint.",
            s.name
        ),
        "count",
        vec![
            line(
                s,
                models,
                "token detectors",
                color(0),
                &count(|m| m.summary.token_detectors.as_ref().map(|d| d.detectors)),
            ),
            line(
                s,
                models,
                "trigram detectors",
                color(1),
                &count(|m| m.summary.trigram_detectors.as_ref().map(|d| d.detectors)),
            ),
            line(
                s,
                models,
                "tokens detected",
                color(2),
                &count(|m| {
                    m.summary
                        .token_detectors
                        .as_ref()
                        .map(|d| d.detected_cumulative)
                }),
            ),
        ],
        None,
    )
}

/// Positional neurons by type, and all together, against step.
fn positional_figure(s: &TrainingSeries, models: &[ModelAnalysis]) -> Option<NamedFigure> {
    let mut positional: Vec<Series> = PositionalType::ALL
        .into_iter()
        .map(|kind| {
            line(s, models, kind.name(), type_color(kind, true), &|_, m| {
                let by_type = &m.summary.positional.as_ref()?.by_type;
                by_type
                    .get(&kind)
                    .map(|[strong, weak]| (strong + weak) as f64)
            })
        })
        .collect();
    positional.push(line(s, models, "all types", color(7), &|_, m| {
        m.summary.positional.as_ref().map(|p| p.total as f64)
    }));
    figure(
        figure_id(s, "positional"),
        format!("{}: positional neurons during training", s.name),
        format!(
            "{}: neurons whose mutual information with position passes the threshold, by type \
             (strong and weak together), at each checkpoint.",
            s.name
        ),
        "neurons",
        positional,
        None,
    )
}

/// The held-out loss each checkpoint recorded, against step.
fn loss_figure(s: &TrainingSeries, models: &[ModelAnalysis]) -> Option<NamedFigure> {
    figure(
        figure_id(s, "loss"),
        format!("{}: held-out loss during training", s.name),
        format!(
            "{}: held-out loss (nats per token) each checkpoint recorded in its \
             trainer_state.json.",
            s.name
        ),
        "held-out loss",
        vec![line(s, models, "held-out loss", color(3), &|c, _| {
            c.held_out_loss
        })],
        None,
    )
}
