//! The training log as `loss.csv` and a self-contained `loss.svg`.

use std::fmt::Write as _;

use census_charts::{ChartError, Figure, Series, XAxis, color, to_svg};

use crate::trainer::LogRow;

/// The log as CSV: `step,tokens,learning_rate,train_loss,eval_loss,seconds`.
pub fn loss_csv(log: &[LogRow]) -> String {
    let mut out = String::from("step,tokens,learning_rate,train_loss,eval_loss,seconds\n");
    for row in log {
        let eval = row.eval_loss.map(|l| format!("{l:.5}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{:.6e},{:.5},{eval},{:.1}",
            row.step, row.tokens, row.learning_rate, row.train_loss, row.seconds
        );
    }
    out
}

/// A line chart of training and held-out loss against tokens seen, drawn by census-charts as
/// the report draws its figures.
pub fn loss_svg(log: &[LogRow], title: &str) -> Result<String, ChartError> {
    let train = Series {
        name: "training".to_string(),
        points: log
            .iter()
            .map(|r| (r.tokens as f64, r.train_loss))
            .collect(),
        color: color(0),
        dashed: false,
    };
    let held_out = Series {
        name: "held out".to_string(),
        points: log
            .iter()
            .filter_map(|r| Some((r.tokens as f64, r.eval_loss?)))
            .collect(),
        color: color(1),
        dashed: false,
    };
    to_svg(&Figure::Lines {
        title: title.to_string(),
        x_label: "tokens".to_string(),
        x_axis: XAxis::Linear,
        y_label: "loss (nats/token)".to_string(),
        series: [train, held_out]
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect(),
        y_range: None,
        full_scale: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: usize, loss: f64, eval: Option<f64>) -> LogRow {
        LogRow {
            step,
            tokens: step as u64 * 100,
            learning_rate: 1e-3,
            train_loss: loss,
            eval_loss: eval,
            seconds: step as f64,
        }
    }

    #[test]
    fn csv_and_svg_hold_every_row() {
        let log = [row(20, 7.5, None), row(40, 6.25, Some(6.5))];
        let csv = loss_csv(&log);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.contains("40,4000,1.000000e-3,6.25000,6.50000,40.0"));
        let svg = loss_svg(&log, "a < b").unwrap();
        assert!(svg.contains("a &lt; b"), "the title, escaped");
        assert!(
            svg.contains("training") && svg.contains("held out"),
            "the legend"
        );
        // A dot per point: two of training, one held out.
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
