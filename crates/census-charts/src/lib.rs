//! The figures of neuron-census, drawn with plotters: one description ([`Figure`]) rendered
//! either to an SVG string (inlined in the report's HTML and written standalone, or a training
//! run's loss curve) or to a PNG file. Text is set in the embedded DejaVu Sans, so every machine
//! draws the same bytes.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
/// The colour of a series, a bar stack or a dot.
pub use plotters::style::RGBColor;
use plotters::style::{FontStyle, register_font};

/// A figure that could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The drawing backend failed (writing the PNG, or laying out the figure).
    #[error("cannot draw the figure: {0}")]
    Draw(String),
}

/// The result of drawing.
pub type Result<T> = std::result::Result<T, ChartError>;

/// How a line chart's x axis is scaled and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Numbers, ticks as fitted.
    Linear,
    /// Whole numbers (layers, positions), ticks on integers.
    Integer,
    /// Points hold `log10(x)`; the ticks name `x`.
    Log10,
}

/// Width and height of every figure, in pixels.
pub const SIZE: (u32, u32) = (760, 420);
const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu Sans with plotters (once per process): text is measured and
/// rasterised the same on every machine, with no system fonts.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid font"));
        register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans Bold is a valid font"));
    });
}

/// Colours for models and series (colour-blind-safe, Okabe–Ito order).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

/// The colour of series `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `c` mixed with white (`amount` of white, 0..1): the "weak" shade of a type colour.
pub fn lighter(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |x: u8| (f64::from(x) + (255.0 - f64::from(x)) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// A sequential colour ramp (viridis anchors) at `t` in 0..=1, for ordered categories.
pub fn ramp(t: f64) -> RGBColor {
    const ANCHORS: [(u8, u8, u8); 5] = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let t = t.clamp(0.0, 1.0) * (ANCHORS.len() - 1) as f64;
    let i = (t.floor() as usize).min(ANCHORS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Dashed (e.g. cumulative counts).
    pub dashed: bool,
}

/// One layer of a stacked bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Legend label.
    pub name: String,
    /// Colour.
    pub color: RGBColor,
    /// Height at each x (same order as [`Figure::StackedBars`]'s `x`).
    pub values: Vec<f64>,
}

/// A dot of a dot chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Dot {
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
    /// Colour.
    pub color: RGBColor,
}

/// A figure, independent of the backend it is drawn on.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// Lines over a numeric x axis.
    Lines {
        /// Title.
        title: String,
        /// X axis label.
        x_label: String,
        /// How the x axis is scaled.
        x_axis: XAxis,
        /// Y axis label.
        y_label: String,
        /// The lines.
        series: Vec<Series>,
        /// Fixed y range (else fitted to the data).
        y_range: Option<(f64, f64)>,
        /// The paper's full scale (a share's `0..1`), drawn as a second version of the figure
        /// that the page offers one click away, when the y range is fitted to the data.
        full_scale: Option<(f64, f64)>,
    },
    /// Stacked bars at integer x positions.
    StackedBars {
        /// Title.
        title: String,
        /// X axis label.
        x_label: String,
        /// Y axis label.
        y_label: String,
        /// X positions (layers).
        x: Vec<f64>,
        /// Stacks, bottom first.
        stacks: Vec<Stack>,
    },
    /// Dots (one per neuron), with a legend of colours.
    Dots {
        /// Title.
        title: String,
        /// X axis label.
        x_label: String,
        /// Y axis label.
        y_label: String,
        /// The dots.
        dots: Vec<Dot>,
        /// Legend entries.
        legend: Vec<(String, RGBColor)>,
        /// X range.
        x_range: (f64, f64),
    },
    /// Horizontal ranges, one row each (Fig. 9).
    Ranges {
        /// Title.
        title: String,
        /// X axis label.
        x_label: String,
        /// Row labels and their `[start, end)` ranges.
        rows: Vec<(String, Vec<(f64, f64)>)>,
        /// X range.
        x_range: (f64, f64),
    },
}

impl Figure {
    /// The figure at the paper's full scale, if it has one besides its fitted range.
    pub fn at_full_scale(&self) -> Option<Figure> {
        match self {
            Figure::Lines {
                title,
                x_label,
                x_axis,
                y_label,
                series,
                full_scale: Some(range),
                ..
            } => Some(Figure::Lines {
                title: title.clone(),
                x_label: x_label.clone(),
                x_axis: *x_axis,
                y_label: y_label.clone(),
                series: series.clone(),
                y_range: Some(*range),
                full_scale: None,
            }),
            _ => None,
        }
    }

    /// The entries of its legend, drawn beside the plotting area.
    fn legend_entries(&self) -> Vec<(String, Glyph)> {
        match self {
            Figure::Lines { series, .. } => series
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        Glyph::Line {
                            color: s.color,
                            dashed: s.dashed,
                        },
                    )
                })
                .collect(),
            Figure::StackedBars { stacks, .. } => stacks
                .iter()
                .map(|s| (s.name.clone(), Glyph::Box(s.color)))
                .collect(),
            Figure::Dots { legend, .. } => legend
                .iter()
                .map(|(name, color)| (name.clone(), Glyph::Dot(*color)))
                .collect(),
            Figure::Ranges { .. } => Vec::new(),
        }
    }
}

/// How a legend entry shows its series.
#[derive(Debug, Clone, Copy)]
enum Glyph {
    /// A line, solid or dashed.
    Line {
        /// Colour.
        color: RGBColor,
        /// Dashed.
        dashed: bool,
    },
    /// A filled box (a bar stack).
    Box(RGBColor),
    /// A filled dot.
    Dot(RGBColor),
}

/// Longest legend label, in characters (longer ones are cut with an ellipsis).
const LEGEND_CHARS: usize = 28;

/// The legend's width for `entries`, in pixels: glyph, gap and the longest (cut) label.
fn legend_width(entries: &[(String, Glyph)]) -> u32 {
    let chars = entries
        .iter()
        .map(|(name, _)| name.chars().count().min(LEGEND_CHARS))
        .max()
        .unwrap_or(0);
    (36 + 7 * chars as u32).clamp(90, 230)
}

/// Draws `entries` down `area`, beside the plotting area (never over the data).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Glyph)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (_, height) = area.dim_in_pixel();
    let row = 18;
    let fits = ((height as i32 - 60) / row).max(1) as usize;
    for (i, (name, glyph)) in entries.iter().enumerate() {
        let y = 48 + row * i as i32;
        if i + 1 == fits && entries.len() > fits {
            area.draw(&Text::new(
                format!("… {} more", entries.len() - i),
                (4, y - 6),
                (FONT, 12).into_font(),
            ))
            .map_err(plot_error)?;
            break;
        }
        match *glyph {
            Glyph::Line { color, dashed } => {
                if dashed {
                    for x in [4, 12] {
                        area.draw(&PathElement::new(
                            vec![(x, y), (x + 5, y)],
                            color.stroke_width(2),
                        ))
                        .map_err(plot_error)?;
                    }
                } else {
                    area.draw(&PathElement::new(
                        vec![(4, y), (22, y)],
                        color.stroke_width(2),
                    ))
                    .map_err(plot_error)?;
                }
            }
            Glyph::Box(color) => area
                .draw(&Rectangle::new([(6, y - 5), (18, y + 5)], color.filled()))
                .map_err(plot_error)?,
            Glyph::Dot(color) => area
                .draw(&Circle::new((12, y), 5, color.filled()))
                .map_err(plot_error)?,
        }
        let label: String = if name.chars().count() > LEGEND_CHARS {
            name.chars().take(LEGEND_CHARS - 1).chain(['…']).collect()
        } else {
            name.clone()
        };
        area.draw(&Text::new(label, (28, y - 7), (FONT, 12).into_font()))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// A y range fitted to `values`: from 0 (or the lowest value, if negative) to a little above
/// the highest; `0..1` when every value is 0 or there is none.
fn fitted_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((0.0f64, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !hi.is_finite() || hi <= lo {
        return (lo, lo + 1.0);
    }
    (lo, hi + (hi - lo) * 0.08)
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// A tick label: integers without decimals, other values with up to three.
fn tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round())
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A tick label on a log axis, whose points hold `log10(x)`: `x` to two significant digits.
fn log_tick(log_x: f64) -> String {
    let x = 10f64.powf(log_x);
    if x >= 10.0 {
        let scale = 10f64.powi(x.log10().floor() as i32 - 1);
        format!("{}", (x / scale).round() * scale)
    } else {
        tick((x * 10.0).round() / 10.0)
    }
}

/// A tick label on an integer axis (layers, positions): empty between integers.
fn integer_tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round())
    } else {
        String::new()
    }
}

fn plot_error(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// The font of figure titles.
fn title_font() -> FontDesc<'static> {
    (FONT, 18).into_font().style(FontStyle::Bold)
}

/// Draws `figure` on `root`.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<()>
where
    DB::ErrorType: 'static,
{
    register_fonts();
    root.fill(&WHITE).map_err(plot_error)?;
    let entries = figure.legend_entries();
    let (width, _) = root.dim_in_pixel();
    let (plot, side) = root.split_horizontally(if entries.is_empty() {
        width
    } else {
        width - legend_width(&entries)
    });
    draw_legend(&side, &entries)?;
    let root = &plot;
    match figure {
        Figure::Lines {
            title,
            x_label,
            x_axis,
            y_label,
            series,
            y_range,
            ..
        } => draw_lines(root, title, (x_label, *x_axis, y_label), series, *y_range)?,
        Figure::StackedBars {
            title,
            x_label,
            y_label,
            x,
            stacks,
        } => draw_stacked_bars(root, title, (x_label, y_label), x, stacks)?,
        Figure::Dots {
            title,
            x_label,
            y_label,
            dots,
            x_range,
            ..
        } => draw_dots(root, title, (x_label, y_label), dots, x_range)?,
        Figure::Ranges {
            title,
            x_label,
            rows,
            x_range,
        } => draw_ranges(root, title, x_label, rows, x_range)?,
    }
    plot.present().map_err(plot_error)
}

/// Lines over a numeric x axis, the y range fixed or fitted to the data.
fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    (x_label, x_axis, y_label): (&str, XAxis, &str),
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = y_range
        .unwrap_or_else(|| fitted_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))));
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_font())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    let x_format = |x: &f64| match x_axis {
        XAxis::Log10 => log_tick(*x),
        XAxis::Integer => integer_tick(*x),
        XAxis::Linear => tick(*x),
    };
    let y_format = |y: &f64| tick(*y);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)?;
    for s in series {
        let style = s.color.stroke_width(2);
        if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
                .map_err(plot_error)?;
        } else {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(plot_error)?;
        }
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&p| Circle::new(p, 2, s.color.filled())),
            )
            .map_err(plot_error)?;
    }
    Ok(())
}

/// Stacked bars at integer x positions (layers).
fn draw_stacked_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    x: &[f64],
    stacks: &[Stack],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = span(x.iter().copied());
    let x_hint = (x0, x1);
    let top = (0..x.len())
        .map(|i| stacks.iter().map(|s| s.values[i]).sum::<f64>())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let mut chart = layer_chart(
        root,
        title,
        (x_label, y_label),
        ((x0 - 0.6)..(x1 + 0.6), 0.0..top * 1.08),
        &x_hint,
    )?;
    let mut base = vec![0.0; x.len()];
    for stack in stacks {
        let color = stack.color;
        let bars: Vec<_> = x
            .iter()
            .enumerate()
            .filter(|(i, _)| stack.values[*i] > 0.0)
            .map(|(i, &xi)| {
                let (b, t) = (base[i], base[i] + stack.values[i]);
                Rectangle::new([(xi - 0.4, b), (xi + 0.4, t)], color.filled())
            })
            .collect();
        for (i, b) in base.iter_mut().enumerate() {
            *b += stack.values[i];
        }
        chart.draw_series(bars).map_err(plot_error)?;
    }
    Ok(())
}

/// One dot per neuron (its legend of colours is drawn beside it).
fn draw_dots<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    dots: &[Dot],
    x_range: &(f64, f64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let top = dots.iter().map(|d| d.y).fold(1.0f64, f64::max);
    let x_hint = *x_range;
    let mut chart = layer_chart(
        root,
        title,
        (x_label, y_label),
        (x_range.0..x_range.1, 0.0..top + 1.0),
        &x_hint,
    )?;
    let radius = (180.0 / (top + 1.0)).clamp(1.5, 6.0) as i32;
    chart
        .draw_series(
            dots.iter()
                .map(|d| Circle::new((d.x, d.y), radius, d.color.filled())),
        )
        .map_err(plot_error)?;
    Ok(())
}

/// Horizontal ranges, one row each (Fig. 9).
fn draw_ranges<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    rows: &[(String, Vec<(f64, f64)>)],
    x_range: &(f64, f64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_font())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range.0..x_range.1, 0.0..n)
        .map_err(plot_error)?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let label_of = |y: &f64| {
        let i = (n - y - 0.5).round();
        if (i - (n - y - 0.5)).abs() < 0.26 && i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .x_label_formatter(&|x: &f64| integer_tick(*x))
        .label_style((FONT, 12))
        .disable_y_mesh()
        .y_labels(rows.len() * 2 + 1)
        .y_label_formatter(&label_of)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)?;
    for (i, (_, ranges)) in rows.iter().enumerate() {
        let y = n - i as f64 - 1.0;
        chart
            .draw_series(
                ranges.iter().map(|&(a, b)| {
                    Rectangle::new([(a, y + 0.15), (b, y + 0.85)], color(3).filled())
                }),
            )
            .map_err(plot_error)?;
    }
    Ok(())
}

/// A chart over layers (integer ticks on x, no vertical grid lines), its axes drawn.
fn layer_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    x_hint: &(f64, f64),
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
>
where
    DB::ErrorType: 'static,
{
    let title_font = (FONT, 18).into_font().style(FontStyle::Bold);
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_font)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels((x1_span(x_hint) as usize + 2).min(24))
        .x_label_formatter(&|x: &f64| integer_tick(*x))
        .y_label_formatter(&|y: &f64| tick(*y))
        .label_style((FONT, 13))
        .disable_x_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)?;
    Ok(chart)
}

/// The width of an x range, in whole units.
fn x1_span(range: &(f64, f64)) -> f64 {
    (range.1 - range.0).ceil().max(1.0)
}

/// The figure as an SVG document.
pub fn to_svg(figure: &Figure) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, figure)?;
    }
    Ok(svg)
}

/// Writes the figure as a PNG file.
pub fn write_png(figure: &Figure, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&root, figure)
}

#[cfg(test)]
mod tests {
    use super::{fitted_range, log_tick};

    #[test]
    fn log_ticks_name_the_step() {
        assert_eq!(log_tick(0.0), "1");
        assert_eq!(log_tick(1.0), "10");
        assert_eq!(log_tick(2.0_f64.log10()), "2");
        assert_eq!(log_tick(1500f64.log10()), "1500");
        assert_eq!(log_tick(12345f64.log10()), "12000");
        assert_eq!(log_tick(0.5), "3.2");
        assert_eq!(log_tick(25.1f64.log10()), "25");
    }

    #[test]
    fn fitted_ranges_start_at_zero_and_leave_room_above() {
        let (lo, hi) = fitted_range([0.027, 0.031].into_iter());
        assert_eq!(lo, 0.0);
        assert!(hi > 0.031 && hi < 0.04, "{hi}");
        assert_eq!(fitted_range([0.03, 0.03].into_iter()).0, 0.0);
        assert_eq!(fitted_range([0.0, 0.0].into_iter()), (0.0, 1.0));
        assert_eq!(fitted_range(std::iter::empty()), (0.0, 1.0));
        assert_eq!(fitted_range([-2.0, 3.0].into_iter()).0, -2.0);
    }
}
