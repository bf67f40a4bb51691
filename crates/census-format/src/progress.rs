//! The one style of every long stage's progress bar (drawn through `tracing-indicatif` where
//! the command line installed its layer; nothing is drawn elsewhere).

use tracing_indicatif::span_ext::IndicatifSpanExt;
use tracing_indicatif::style::ProgressStyle;

/// Draws `span` (made with an `indicatif.pb_show` field) as a bar of `total` `unit`s labelled
/// `label`: elapsed time, position, rate and the time left.
pub fn show_progress(span: &tracing::Span, label: &str, unit: &str, total: u64) {
    let template = format!(
        "{{spinner}} {label} [{{elapsed_precise}}] [{{wide_bar}}] {{human_pos}}/{{human_len}} \
         {unit} ({{per_sec}}, eta {{eta}})"
    );
    span.pb_set_style(
        &ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    span.pb_set_length(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_and_unit_makes_a_valid_bar() {
        for (label, unit) in [
            ("extract", "tokens"),
            ("count", "token-layers"),
            ("train", "steps"),
        ] {
            show_progress(&tracing::Span::none(), label, unit, 10);
        }
    }
}
