//! The training log as `loss.csv` and a self-contained `loss.svg`.

use std::fmt::Write as _;

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

/// A line chart of training (blue) and held-out (orange, dots) loss against tokens seen.
pub fn loss_svg(log: &[LogRow], title: &str) -> String {
    let (width, height, left, right, top, bottom) = (640.0, 360.0, 60.0, 20.0, 36.0, 44.0);
    let max_tokens = log.iter().map(|r| r.tokens).max().unwrap_or(1).max(1) as f64;
    let losses = log
        .iter()
        .flat_map(|r| std::iter::once(r.train_loss).chain(r.eval_loss));
    let (lo, hi) = losses.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
        (lo.min(l), hi.max(l))
    });
    let (lo, hi) = if lo.is_finite() {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (0.0, 1.0)
    };
    let x = |tokens: u64| left + (width - left - right) * tokens as f64 / max_tokens;
    let y = |loss: f64| top + (height - top - bottom) * (hi - loss) / (hi - lo);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>
"#,
        width / 2.0,
        escape(title)
    );
    let ticks = (hi - lo) as usize;
    for i in 0..=ticks {
        let value = lo + i as f64;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}</text>"##,
            width - right,
            left - 6.0,
            y(value) + 4.0,
            y = y(value)
        );
    }
    for i in 0..=4 {
        let tokens = (max_tokens * i as f64 / 4.0) as u64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(tokens),
            height - bottom + 16.0,
            human(tokens)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">tokens</text><text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">loss (nats/token)</text>"#,
        (left + width - right) / 2.0,
        height - 8.0,
        height / 2.0,
        height / 2.0
    );
    let train: Vec<String> = log
        .iter()
        .map(|r| format!("{:.1},{:.1}", x(r.tokens), y(r.train_loss)))
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>"##,
        train.join(" ")
    );
    for row in log {
        if let Some(loss) = row.eval_loss {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#ff7f0e"/>"##,
                x(row.tokens),
                y(loss)
            );
        }
    }
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#1f77b4">training</text><text x="{}" y="{}" text-anchor="end" fill="#ff7f0e">held out</text>
</svg>"##,
        width - right - 4.0,
        top + 14.0,
        width - right - 4.0,
        top + 30.0
    );
    svg
}

fn human(tokens: u64) -> String {
    match tokens {
        t if t >= 1_000_000 => format!("{:.1}M", t as f64 / 1e6),
        t if t >= 1_000 => format!("{:.0}k", t as f64 / 1e3),
        t => t.to_string(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
        let svg = loss_svg(&log, "a < b");
        assert!(svg.contains("a &lt; b"));
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("<polyline"));
    }
}
