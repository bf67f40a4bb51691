//! `summary.md`: the headline comparison and per-layer numbers, for terminals and pull requests.

use std::fmt::Write;

use crate::analysis::ModelAnalysis;
use crate::claims::ClaimVerdict;
use crate::paper::Headline;

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// The Markdown summary.
pub fn summary(
    models: &[ModelAnalysis],
    headlines: &[Headline],
    claims: &[ClaimVerdict],
) -> String {
    let mut s = String::from("# neuron-census report\n\n| claim | paper |");
    for m in models {
        let _ = write!(s, " {} |", m.name);
    }
    s.push_str("\n|---|---|");
    for _ in models {
        s.push_str("---|");
    }
    s.push('\n');
    for h in headlines {
        let _ = write!(s, "| {} | {} |", h.claim, h.paper);
        for v in &h.ours {
            let _ = write!(s, " {v} |");
        }
        s.push('\n');
    }
    if !claims.is_empty() {
        s.push_str(
            "\n## The paper's claims, tested\n\n| claim | verdict | ours | rule |\n|---|---|---|---|\n",
        );
        for c in claims {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                c.claim,
                c.verdict.text(),
                c.value,
                c.rule
            );
        }
    }
    for m in models {
        let _ = write!(
            s,
            "\n## {}\n\n{}{}Layers are 0-based.\n\n\
             | layer | dead share | mean frequency (alive) | token detectors | tokens detected | cumulative | trigram detectors | positional |\n\
             |---|---|---|---|---|---|---|---|\n",
            m.name,
            data_lines(m),
            sensitivity_line(m)
        );
        for l in &m.layers {
            let positional = l
                .positional
                .map(|p| p.iter().flatten().map(|&n| f64::from(n)).sum::<f64>());
            let detected = l.tokens_detected.map(|c| c.fields().map(|v| v as f64));
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {} | {} | {} | {} |",
                l.layer,
                l.dead_share,
                cell(l.mean_frequency_alive, 4),
                cell(l.token_detectors.map(f64::from), 0),
                cell(detected.map(|d| d[0]), 0),
                cell(detected.map(|d| d[1]), 0),
                cell(l.trigram_detectors.map(f64::from), 0),
                cell(positional, 0),
            );
        }
    }
    s
}

/// The detector counts under each minimum of occurrences of a trigger, where computed.
fn sensitivity_line(m: &ModelAnalysis) -> String {
    let kinds = m
        .summary
        .detectors_by_kind()
        .map(|(kind, d)| (kind.name(), d));
    let parts: Vec<String> = kinds
        .into_iter()
        .filter_map(|(kind, d)| {
            let d = d.filter(|d| !d.sensitivity.is_empty())?;
            let counts: Vec<String> = (d.sensitivity.iter())
                .map(|(min, count)| format!("≥{min}: {count}"))
                .collect();
            Some(format!("{kind} detectors {}", counts.join(", ")))
        })
        .collect();
    let again: Vec<String> = kinds
        .into_iter()
        .flat_map(|(kind, d)| {
            d.into_iter()
                .flat_map(move |d| d.stability.iter().map(move |h| (kind, h)))
        })
        .map(|(kind, h)| {
            format!(
                "{kind} detectors on half {}: {} of {}",
                h.half, h.on_half, h.detectors
            )
        })
        .collect();
    let chance: Vec<String> = kinds
        .into_iter()
        .filter_map(|(kind, d)| {
            let d = d?;
            Some(format!(
                "{kind}: {} on the data, {} with the tokens shuffled",
                d.detectors, d.shuffled?
            ))
        })
        .collect();
    let mut s = String::new();
    if !chance.is_empty() {
        let _ = write!(
            s,
            "Detectors against chance (each sequence's tokens shuffled, the fires kept): {}.\n\n",
            chance.join("; ")
        );
    }
    if !parts.is_empty() {
        let _ = write!(
            s,
            "Detectors by the occurrences a trigger needs: {}.\n\n",
            parts.join("; ")
        );
    }
    if !again.is_empty() {
        let _ = write!(
            s,
            "Detectors found again on each half of the data: {}.\n\n",
            again.join("; ")
        );
    }
    s
}

/// The data each section rests on, one line each (a single line when they share it).
fn data_lines(m: &ModelAnalysis) -> String {
    let Some(sections) = &m.manifest.sections else {
        return format!(
            "{} tokens, {} sequences. ",
            m.summary.tokens, m.summary.sequences
        );
    };
    let line = |what: &str, b: &census_format::analysis::sections::DataBasis| {
        format!(
            "- {what}: {} tokens in {} sequences of {} (run {})\n",
            b.tokens,
            b.sequences,
            b.domains.join(", "),
            b.runs
                .iter()
                .map(|r| r.run_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut s = line("dead neurons and frequency", &sections.frequency);
    if let Some(b) = &sections.ngram {
        s.push_str(&line("n-gram statistics", b));
    }
    if let Some(b) = &sections.positional {
        s.push_str(&line("positional neurons", b));
    }
    s.push('\n');
    s
}

/// The training view as a table per training run: each checkpoint's headline numbers.
pub fn training(series: &[crate::training::TrainingSeries], models: &[ModelAnalysis]) -> String {
    let mut s = String::new();
    for run in series {
        let _ = write!(
            s,
            "\n## {} during training\n\n\
             | step | tokens | held-out loss | dead | mean frequency (alive) | token detectors | \
             trigram detectors | positional |\n|---|---|---|---|---|---|---|---|\n",
            run.name
        );
        for c in &run.checkpoints {
            let m = &models[c.analysis];
            let count = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |x| x.to_string());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} ({:.1}%) | {} | {} | {} | {} |",
                c.step,
                count(c.tokens),
                cell(c.held_out_loss, 3),
                m.summary.dead.total,
                100.0 * m.summary.dead.share,
                cell(m.summary.mean_frequency_alive, 4),
                count(m.summary.token_detectors.as_ref().map(|d| d.detectors)),
                count(m.summary.trigram_detectors.as_ref().map(|d| d.detectors)),
                count(m.summary.positional.as_ref().map(|p| p.total)),
            );
        }
    }
    s
}
