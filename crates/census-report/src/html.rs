//! The report page: headline table, figures by section, example detectors, the neuron browser
//! and provenance, with the numbers behind the figures embedded as JSON.

use census_format::analysis::tables::{DetectorKind, RankedToken};
use census_format::analysis::vocabulary::display_ngram;
use std::collections::BTreeSet;
use std::fmt::Write;

use crate::analysis::ModelAnalysis;
use crate::browser::script_json;
use crate::claims::ClaimVerdict;
use crate::figures::{NamedFigure, Section};
use crate::page_data::{ModelData, PageData};
use crate::paper::Headline;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A model as the page knows it.
pub struct PageModel<'a> {
    /// The analysis.
    pub analysis: &'a ModelAnalysis,
    /// Its slug (data directory and ids).
    pub slug: String,
}

/// A figure drawn for the page: fitted to its data, and at the paper's full scale when it has
/// one.
#[derive(Debug, Clone)]
pub struct DrawnFigure {
    /// The SVG at the y range of the data.
    pub fitted: String,
    /// The SVG at the paper's full scale.
    pub full_scale: Option<String>,
}

/// The data embedded in the page (`<script id="census-data">`): every number the figures and
/// tables show, straight from the analysis tables.
pub fn embedded_data<'a>(
    models: &'a [PageModel<'a>],
    headlines: &'a [Headline],
    claims: &'a [ClaimVerdict],
) -> PageData<'a> {
    PageData {
        models: models.iter().map(ModelData::new).collect(),
        headlines,
        claims,
        neuron_chunk: crate::browser::NEURON_CHUNK,
        token_chunk: crate::browser::TOKEN_CHUNK,
    }
}

fn headline_table(models: &[PageModel<'_>], headlines: &[Headline]) -> String {
    let mut s = String::from("<table><tr><th>claim</th><th>paper</th>");
    for m in models {
        let _ = write!(
            s,
            "<th>{}<br><span class=\"muted\">{}</span></th>",
            esc(&m.analysis.name),
            m.analysis.manifest.model.config.model_type
        );
    }
    s.push_str("<th>where</th></tr>\n");
    for h in headlines {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td>", esc(h.claim), esc(h.paper));
        for v in &h.ours {
            let _ = write!(s, "<td>{}</td>", esc(v));
        }
        let _ = writeln!(s, "<td class=\"muted\">{}</td></tr>", esc(h.source));
    }
    s.push_str("</table>\n");
    s
}

/// The paper's claims tested on the report's models: verdict, the values it rests on and the
/// rule (empty where none is shown).
fn claims_table(claims: &[ClaimVerdict]) -> String {
    if claims.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<h3 id=\"claims\">The paper's claims, tested</h3>\n<p class=\"muted\">Each claim the paper \
         makes across models or within a figure, tested on the models of this report by the rule \
         given (docs/ANALYSIS.md, \"The paper's claims, tested\"). Sizes are read from FFN \
         neurons; trends across scale take the pre-LN models.</p>\n<table class=\"claims\"><tr>\
         <th>claim</th><th>paper</th><th>verdict</th><th>ours</th><th>rule</th><th>where</th></tr>\n",
    );
    for c in claims {
        let class = match c.verdict {
            crate::claims::Verdict::Holds => "holds",
            crate::claims::Verdict::DoesNotHold => "fails",
            crate::claims::Verdict::NotComputable => "muted",
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td \
             class=\"muted\">{}</td><td class=\"muted\">{}</td></tr>",
            esc(c.claim),
            esc(c.paper),
            c.verdict.text(),
            esc(&c.value),
            esc(&c.rule),
            esc(c.source)
        );
    }
    s.push_str("</table>\n");
    s
}

/// Tokens (or n-grams) as the tables name them, each shown readably in a `<code>` whose title
/// is the raw token string and, where known, its ids.
fn tokens_html<'a>(raw: impl Iterator<Item = &'a String>, ids: &[Vec<u32>]) -> String {
    raw.enumerate()
        .map(|(i, t)| {
            let ids = ids
                .get(i)
                .map(|ids| {
                    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
                    format!(" · id {}", ids.join(" "))
                })
                .unwrap_or_default();
            format!(
                "<code title=\"{}{}\">{}</code>",
                esc(t),
                ids,
                esc(&display_ngram(t))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn detector_examples(m: &PageModel<'_>, limit: usize) -> String {
    let a = m.analysis;
    let tokens: Vec<_> = a
        .detectors
        .iter()
        .filter(|d| d.kind == DetectorKind::Token)
        .collect();
    if tokens.is_empty() {
        return format!("<p>{}: no token detectors.</p>\n", esc(&a.name));
    }
    let mut s = format!(
        "<h3>{}: token detectors ({} of {} shown)</h3>\n<table><tr><th>neuron</th><th>triggers</th>\
         <th>top promoted</th><th>top suppressed</th><th>suppresses triggers</th></tr>\n",
        esc(&a.name),
        tokens.len().min(limit),
        tokens.len()
    );
    let join = |ranked: Option<&Vec<RankedToken>>| {
        ranked
            .map(|ranked| {
                let names: Vec<&String> = ranked.iter().map(|t| &t.name).collect();
                let ids: Vec<Vec<u32>> = ranked.iter().map(|t| vec![t.id]).collect();
                tokens_html(names.into_iter().take(5), &ids)
            })
            .unwrap_or_else(|| "–".to_string())
    };
    for d in tokens.iter().take(limit) {
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#browser\" data-neuron=\"{}/{}/{}\">L{} N{}</a></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            m.slug,
            d.layer,
            d.neuron,
            d.layer,
            d.neuron,
            tokens_html(d.triggers.iter(), &d.trigger_ids),
            join(d.projection.as_ref().map(|p| &p.promoted)),
            join(d.projection.as_ref().map(|p| &p.suppressed)),
            match d.projection.as_ref().and_then(|p| p.suppresses_triggers) {
                Some(true) => "yes",
                Some(false) => "no",
                None => "–",
            }
        );
    }
    s.push_str("</table>\n");
    s
}

/// What `section`'s figures rest on, model by model: tokens, sequences, domains and runs (the
/// paper computes its sections on different data).
fn basis_lines(models: &[PageModel<'_>], section: Section) -> String {
    let mut s = String::new();
    if section == Section::Training {
        // Each training figure's caption names its checkpoints.
        return s;
    }
    for m in models {
        let a = m.analysis;
        let Some(sections) = &a.manifest.sections else {
            let _ = writeln!(
                s,
                "<p class=\"muted basis\">Data ({}): {} tokens in {} sequences.</p>",
                esc(&a.name),
                a.summary.tokens,
                a.summary.sequences
            );
            continue;
        };
        let basis = match section {
            Section::Training => None,
            Section::Dead => Some(&sections.frequency),
            Section::Ngrams | Section::Detectors => sections.ngram.as_ref(),
            Section::Positional => sections.positional.as_ref(),
        };
        let Some(basis) = basis else { continue };
        let runs: Vec<String> = basis
            .runs
            .iter()
            .map(|r| {
                format!(
                    "<code>{}</code> (run {}, shard {})",
                    esc(&r.dir.display().to_string()),
                    esc(&r.run_id),
                    esc(&r.shard.to_string())
                )
            })
            .collect();
        let budget = basis
            .selection
            .token_budget
            .map(|b| format!(", cut at a budget of {b} tokens"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<p class=\"muted basis\">Data ({}): {} tokens in {} sequences of {}{budget}; \
             from {}.</p>",
            esc(&a.name),
            basis.tokens,
            basis.sequences,
            esc(&basis.domains.join(", ")),
            runs.join(", ")
        );
    }
    s
}

/// How many detectors each model has when a trigger must occur at least 1, 5 or 20 times
/// (`detector_sensitivity.parquet`), beside the count under the analysis's own setting.
fn detector_sensitivity(models: &[PageModel<'_>]) -> String {
    let mut rows = String::new();
    let null = models.iter().any(|m| {
        let kinds = m.analysis.summary.detectors_by_kind();
        kinds
            .iter()
            .any(|(_, d)| d.is_some_and(|d| d.shuffled.is_some()))
    });
    for m in models {
        for (kind, detectors) in m.analysis.summary.detectors_by_kind() {
            let kind = kind.name();
            let Some(d) = detectors.filter(|d| !d.sensitivity.is_empty()) else {
                continue;
            };
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{kind}</td>",
                esc(&m.analysis.name)
            );
            for (_, count) in &d.sensitivity {
                let _ = write!(rows, "<td>{count}</td>");
            }
            let _ = write!(rows, "<td>{} (≥{})</td>", d.detectors, d.min_occurrences);
            if null {
                let shuffled = d.shuffled.map_or("–".to_string(), |n| n.to_string());
                let _ = write!(rows, "<td>{shuffled}</td>");
            }
            rows.push_str("</tr>\n");
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let minimums: String = census_format::analysis::tables::SENSITIVITY_MIN_OCCURRENCES
        .iter()
        .map(|m| format!("<th>≥{m}</th>"))
        .collect();
    let (null_header, null_text) = if null {
        (
            "<th>tokens shuffled</th>",
            " The last column counts the detectors found again with each sequence's tokens \
             shuffled and the fires kept in place (<code>--shuffled-null</code>): the number \
             found by chance, with the n-gram structure gone.",
        )
    } else {
        ("", "")
    };
    format!(
        "<h3>Detectors against the occurrences a trigger needs</h3>\n<p>A trigger must occur at \
         least this many times (<code>--min-occurrences</code>; the paper sets no minimum, so a \
         token seen once can be one). Detectors whose triggers are rare fall away as the minimum \
         rises.{null_text}</p>\n<table><tr><th>model</th><th>kind</th>{minimums}<th>headline \
         (its setting)</th>{null_header}</tr>\n{rows}</table>\n"
    )
}

/// How many of each model's detectors are detectors again on each half of the data
/// (`--detector-stability`), and how much their triggers overlap there.
fn detector_stability(models: &[PageModel<'_>]) -> String {
    let mut rows = String::new();
    for m in models {
        for (kind, detectors) in m.analysis.summary.detectors_by_kind() {
            let kind = kind.name();
            for h in detectors.iter().flat_map(|d| &d.stability) {
                let share = if h.detectors == 0 {
                    "–".to_string()
                } else {
                    format!("{:.0}%", 100.0 * h.on_half as f64 / h.detectors as f64)
                };
                let overlap = h
                    .trigger_overlap
                    .map_or_else(|| "–".to_string(), |o| format!("{o:.2}"));
                let _ = writeln!(
                    rows,
                    "<tr><td>{}</td><td>{kind}</td><td>{}</td><td>{} of {} ({share})</td>\
                     <td>{overlap}</td></tr>",
                    esc(&m.analysis.name),
                    h.half,
                    h.on_half,
                    h.detectors
                );
            }
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let seeds: BTreeSet<String> = models
        .iter()
        .filter_map(|m| m.analysis.manifest.options.detector_stability)
        .map(|s| s.to_string())
        .collect();
    format!(
        "<h3>Detectors found again on each half of the data</h3>\n<p>The n-gram data split in \
         two halves by sequence (seed {}), each half's detectors found again with the same \
         rules: how many of the whole data's detectors are detectors on the half too, and the \
         mean overlap of their triggers (Jaccard index). A detector that does not come back on \
         either half rests on too few occurrences to mean much.</p>\n<table><tr><th>model</th>\
         <th>kind</th><th>half</th><th>detectors again</th><th>trigger overlap</th></tr>\n\
         {rows}</table>\n",
        seeds.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// Whether positional neurons keep their type across the domains of the positional data.
fn domain_stability(models: &[PageModel<'_>]) -> String {
    let mut s = String::new();
    for m in models {
        let Some(d) = &m.analysis.summary.positional_domains else {
            continue;
        };
        let _ = write!(
            s,
            "<h3>Across domains ({})</h3>\n<p>Of {} positional neurons, {} are positional in \
             every domain and {} keep their type in every domain (the paper: the activation \
             pattern \"does not change across data domains\"). Each domain analysed alone:</p>\n\
             <table><tr><th>domain</th><th>tokens</th><th>positional neurons</th>\
             <th>of the pooled ones, with the same type</th><th>MI by chance</th></tr>\n",
            esc(&m.analysis.name),
            d.pooled,
            d.positional_in_every_domain,
            d.same_type_in_every_domain
        );
        let threshold = m.analysis.manifest.options.positional.mi_threshold;
        for c in &d.domains {
            let small = c.chance_mi > threshold / 4.0;
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{:.4}</td></tr>",
                esc(&c.domain),
                c.tokens,
                c.positional,
                c.same_type,
                if small { " class=\"warn\"" } else { "" },
                c.chance_mi
            );
        }
        s.push_str(
            "</table>\n<p class=\"muted\">MI by chance: the MI a neuron independent of \
             position reaches on average on this many tokens ((T − 1) / 2N nats); marked where \
             it exceeds a quarter of the threshold, where a domain is too small for its count of \
             positional neurons to mean much.</p>\n",
        );
    }
    s
}

fn provenance(m: &PageModel<'_>) -> String {
    let a = m.analysis;
    let c = &a.manifest.model.config;
    let mut s = format!(
        "<h3>{}</h3>\n<table>\n<tr><th>model</th><td><code>{}</code>: {} ({}), {} layers × {} neurons, \
         hidden {}, {}</td></tr>\n<tr><th>fired</th><td>{}</td></tr>\n\
         <tr><th>tokens analysed</th><td>{} tokens in {} sequences{}</td></tr>\n\
         <tr><th>analysis</th><td><code>{}</code>, {:.1} s, {}</td></tr>\n",
        esc(&a.name),
        esc(&a.manifest.model.source),
        c.model_type,
        c.activation_function.name(),
        c.num_hidden_layers,
        c.ffn_dim,
        c.hidden_size,
        if c.do_layer_norm_before {
            "pre-LN"
        } else {
            "post-LN"
        },
        esc(&c.fired_rule(a.manifest.fire_threshold)),
        a.summary.tokens,
        a.summary.sequences,
        if a.manifest.full_length {
            ", all of full length"
        } else {
            ""
        },
        esc(&a.dir.display().to_string()),
        a.manifest.seconds,
        esc(&a.manifest.producer),
    );
    for input in &a.manifest.inputs {
        let _ = writeln!(
            s,
            "<tr><th>run</th><td><code>{}</code> (run {}, shard {}, {} parts, {} tokens{})</td></tr>",
            esc(&input.dir.display().to_string()),
            esc(&input.run_id),
            esc(&input.shard.to_string()),
            input.parts,
            input.tokens,
            if input.complete { "" } else { ", incomplete" }
        );
        let run = &input.provenance;
        let sources: Vec<String> = run
            .sources
            .iter()
            .map(|src| {
                format!(
                    "<code>{}</code> ({:?}{}{})",
                    esc(&src.path.display().to_string()),
                    src.format,
                    src.domain
                        .as_ref()
                        .map(|d| format!(", domain {}", esc(d)))
                        .unwrap_or_default(),
                    src.max_tokens
                        .map(|t| format!(", at most {t} tokens"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "<tr><th>corpus</th><td>{}; domains {}; {} documents; sequences of at most {} \
             tokens{}; {} on {}, FFN {}</td></tr>",
            sources.join(", "),
            esc(&run.domains.join(", ")),
            run.documents,
            run.max_seq_len,
            if run.full_length {
                " (full length only)"
            } else {
                ""
            },
            run.dtype,
            esc(&run.device),
            run.ffn
        );
        let stored = a.manifest.model.config.dtype.as_deref();
        if run.dtype.coarser_than_checkpoint(stored) {
            let _ = writeln!(
                s,
                "<tr><th>precision</th><td class=\"warn\">This run computed in {}, coarser \
                 than the checkpoint's {}: fc1 pre-activations near zero may change sign, \
                 which moves the dead counts and the 95% thresholds (docs/ANALYSIS.md, \
                 \"Precision\").</td></tr>",
                run.dtype,
                esc(stored.unwrap_or_default())
            );
        }
    }
    let options = serde_json::to_string_pretty(&a.manifest.options).unwrap_or_default();
    let _ = writeln!(
        s,
        "<tr><th>flags</th><td><pre>{}</pre></td></tr>\n</table>",
        esc(&options)
    );
    s
}

/// The whole page.
pub fn page(
    models: &[PageModel<'_>],
    figures: &[NamedFigure],
    svgs: &[DrawnFigure],
    headlines: &[Headline],
    claims: &[ClaimVerdict],
) -> String {
    let names: Vec<String> = models.iter().map(|m| esc(&m.analysis.name)).collect();
    let sections: Vec<Section> = Section::ALL
        .into_iter()
        .filter(|&section| {
            section != Section::Training || figures.iter().any(|f| f.section == section)
        })
        .collect();
    let mut s = head(&names);
    s.push_str(&nav(&sections));
    let _ = write!(
        s,
        "<section id=\"headline\"><h2>The paper's numbers beside ours</h2>\n{}<p class=\"muted\">The \
         paper's values are for the model named; ours depend on the corpus and flags listed under \
         provenance.</p>{}</section>\n",
        headline_table(models, headlines),
        claims_table(claims)
    );
    for &section in &sections {
        s.push_str(&figure_section(section, models, figures, svgs));
    }
    s.push_str(&examples_section(models));
    s.push_str(&browser_section(models));
    s.push_str("<section id=\"provenance\"><h2>Provenance</h2>\n");
    for m in models {
        s.push_str(&provenance(m));
    }
    s.push_str("</section>\n</main>\n");
    let _ = write!(
        s,
        "<script type=\"application/json\" id=\"census-data\">{}</script>\n<script>\n{}</script>\n</body>\n</html>\n",
        script_json(&embedded_data(models, headlines, claims)),
        include_str!("page.js")
    );
    s
}

/// The page's head, style and header, named after the models.
fn head(names: &[String]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>neuron-census: {}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
        names.join(", "),
        include_str!("page.css")
    );
    let _ = write!(
        s,
        "<header>\n<h1>Neurons in {}: dead, n-gram, positional</h1>\n<p class=\"muted\">A \
         reproduction of Voita, Ferrando and Nalmpantis (2023) by neuron-census. Layers are \
         0-based. Definitions and flags: docs/ANALYSIS.md.</p>\n<pre id=\"errors\" hidden></pre>\n</header>\n",
        names.join(", ")
    );
    s
}

/// The navigation bar: the comparison table, each section shown, the examples, the browser and
/// the provenance.
fn nav(sections: &[Section]) -> String {
    let mut s = String::from("<nav><a href=\"#headline\">paper vs ours</a>");
    for section in sections {
        let _ = write!(
            s,
            "<a href=\"#{}\">{}</a>",
            section.anchor(),
            esc(section.title())
        );
    }
    s.push_str("<a href=\"#examples\">example detectors</a><a href=\"#browser\">neuron browser</a><a href=\"#provenance\">provenance</a></nav>\n<main>\n");
    s
}

/// One section of figures: the data it rests on, its figures (each with its full-scale view
/// where it has one), and for the positional section the stability across domains.
fn figure_section(
    section: Section,
    models: &[PageModel<'_>],
    figures: &[NamedFigure],
    svgs: &[DrawnFigure],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<section id=\"{}\"><h2>{}</h2>",
        section.anchor(),
        esc(section.title())
    );
    s.push_str(&basis_lines(models, section));
    let mut any = false;
    for (figure, svg) in figures.iter().zip(svgs) {
        if figure.section != section {
            continue;
        }
        any = true;
        let (views, toggle) = match &svg.full_scale {
            Some(full) => (
                format!(
                    "<div class=\"scale fitted\">{}</div>\n<div class=\"scale full\" hidden>{full}</div>",
                    svg.fitted
                ),
                "<button type=\"button\" class=\"scale-toggle\" title=\"Switch between \
                     the range of the data and the paper's full scale\">paper's scale (0–1)\
                     </button> "
                    .to_string(),
            ),
            None => (svg.fitted.clone(), String::new()),
        };
        let _ = write!(
            s,
            "<figure id=\"{id}\">\n{views}\n<figcaption>{toggle}{} <a href=\"figures/{id}.svg\">SVG</a> \
                 <a href=\"figures/{id}.png\">PNG</a></figcaption>\n</figure>\n",
            esc(&figure.caption),
            id = figure.id,
        );
    }
    if !any {
        s.push_str("<p>Not computed for these analyses.</p>\n");
    }
    if section == Section::Positional {
        s.push_str(&domain_stability(models));
    }
    if section == Section::Detectors {
        s.push_str(&detector_sensitivity(models));
        s.push_str(&detector_stability(models));
    }
    s.push_str("</section>\n");
    s
}

/// The example detectors of every model with their vocabulary projections.
fn examples_section(models: &[PageModel<'_>]) -> String {
    let mut s = String::new();
    s.push_str("<section id=\"examples\"><h2>Example detectors and their vocabulary projections</h2>\n\
                <p class=\"muted\">Triggers, and the tokens each neuron's update promotes and suppresses \
                most (paper Fig. 5). Click a neuron to open it in the browser.</p>\n");
    for m in models {
        s.push_str(&detector_examples(m, 40));
    }
    s.push_str("</section>\n");
    s
}

/// The neuron browser's forms and the places its views are drawn.
fn browser_section(models: &[PageModel<'_>]) -> String {
    let mut s = String::from(
        "<section id=\"browser\"><h2>Neuron browser</h2>\n<form id=\"neuron-form\">model <select name=\"model\">",
    );
    for m in models {
        let _ = write!(
            s,
            "<option value=\"{}\">{}</option>",
            m.slug,
            esc(&m.analysis.name)
        );
    }
    s.push_str("</select> layer <input name=\"layer\" type=\"number\" min=\"0\" value=\"0\"> neuron \
                <input name=\"neuron\" type=\"number\" min=\"0\" value=\"0\"> <button>show</button></form>\n\
                <form id=\"token-search\">find a token's detectors and the neurons that fire on it \
                <input name=\"q\" type=\"search\" placeholder=\"e.g. the\"> <button>search</button>\
                </form>\n<ul id=\"search-results\"></ul>\n\
                <p class=\"muted\">A neuron's view has its own address \
                (<code>index.html#m=model&amp;l=layer&amp;n=neuron</code>) to link to.</p>\n\
                <div id=\"neuron-table\"></div>\n<div id=\"neuron-view\"></div>\n</section>\n");
    s
}
