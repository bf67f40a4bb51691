//! The report of a real analysis: the numbers in the page equal the analysis tables, every
//! figure exists as SVG and PNG, the browser has a data script per layer, and bad inputs are
//! refused with the reason.

mod common;
use census_testkit::planted;

use std::fs::File;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, UInt16Type, UInt32Type, UInt64Type};
use census_report::{ReportRequest, render};
use census_testkit::{copy_dir, snapshot};
use common::{embedded_data, planted_analysis};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn read(path: &Path) -> arrow::array::RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The neuron details of the first chunk of `layer` in report `out`.
fn chunk_details(out: &Path, layer: usize) -> Vec<serde_json::Value> {
    let script = std::fs::read_to_string(
        out.join(census_report::browser::chunk_script("planted", layer, 0)),
    )
    .unwrap();
    let json = &script[script.find('[').unwrap()..script.rfind(')').unwrap()];
    serde_json::from_str(json).unwrap()
}

fn request(analyses: Vec<std::path::PathBuf>, out: &Path) -> ReportRequest {
    ReportRequest {
        analyses,
        out: out.to_path_buf(),
        png: true,
        contexts: 3,
        claim_rules: Default::default(),
    }
}

#[test]
fn the_page_shows_the_analysis_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    let summary = render(&request(vec![analysis.clone()], &out)).unwrap();
    let html = std::fs::read_to_string(&summary.index).unwrap();
    let data = embedded_data(&html);
    let model = &data["models"][0];

    // Per-layer numbers equal layers.parquet, read here with arrow.
    let layers = read(&analysis.join("layers.parquet"));
    let layer = layers
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let dead = layers
        .column_by_name("dead_share")
        .unwrap()
        .as_primitive::<Float64Type>();
    let detectors = layers
        .column_by_name("token_detectors")
        .unwrap()
        .as_primitive::<UInt32Type>();
    let detected = layers
        .column_by_name("tokens_detected")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let shown = model["layers"].as_array().unwrap();
    assert_eq!(shown.len(), layers.num_rows());
    for (i, row) in shown.iter().enumerate() {
        assert_eq!(row["layer"].as_u64().unwrap(), u64::from(layer.value(i)));
        assert_eq!(row["dead_share"].as_f64().unwrap(), dead.value(i));
        assert_eq!(
            row["token_detectors"].as_f64().unwrap(),
            f64::from(detectors.value(i))
        );
        assert_eq!(
            row["tokens_detected"][0].as_f64().unwrap(),
            detected.value(i) as f64
        );
    }
    // The headline numbers equal summary.json.
    let summary_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(analysis.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(model["summary"], summary_json);
    let detectors_table = read(&analysis.join("detectors.parquet"));
    assert_eq!(
        model["detectors"].as_u64().unwrap(),
        detectors_table.num_rows() as u64
    );
    let headlines = data["headlines"].as_array().unwrap();
    let token_row = headlines
        .iter()
        .find(|h| h["claim"] == "Token detectors, summed over layers")
        .unwrap();
    // The headline count states the occurrences its triggers need, beside the counts under the
    // other minimums (`summary.json`'s sensitivity, from detector_sensitivity.parquet).
    let token = &summary_json["token_detectors"];
    let sensitivity: Vec<String> = token["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] != token["min_occurrences"])
        .map(|pair| format!("≥{}: {}", pair[0], pair[1]))
        .collect();
    assert_eq!(sensitivity.len(), 2, "{token}");
    let stated = format!(
        "{} (triggers ≥{} occurrence; {})",
        token["detectors"],
        token["min_occurrences"],
        sensitivity.join(", ")
    );
    assert_eq!(token_row["ours"][0], stated.as_str());
    assert!(html.contains(&format!("<td>{}</td>", stated)));
    let table = read(&analysis.join("detector_sensitivity.parquet"));
    assert!(table.num_rows() > 0);
    assert!(html.contains("Detectors against the occurrences a trigger needs"));
    // The suppression claim stands beside the share expected by chance and its p-value.
    let suppression = &summary_json["suppression"];
    let suppression_row = headlines
        .iter()
        .find(|h| {
            h["claim"]
                .as_str()
                .unwrap()
                .starts_with("Token detectors whose update suppresses")
        })
        .unwrap();
    let null = 100.0 * suppression["null_share"].as_f64().unwrap();
    let ours = suppression_row["ours"][0].as_str().unwrap();
    assert!(
        ours.contains(&format!("by chance {null:.1}%")) && ours.contains("p = "),
        "{ours}"
    );

    // The planted detectors appear with their triggers and a link into the browser.
    let planted: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(census_testkit::fixtures_dir().join("opt/planted/planted.json"))
            .unwrap(),
    )
    .unwrap();
    for d in planted["detectors"].as_array().unwrap() {
        let link = format!("data-neuron=\"planted/{}/{}\"", d["layer"], d["neuron"]);
        assert!(html.contains(&link), "{link}");
    }

    // Every figure as SVG and PNG, inline in the page too.
    let marker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let figures = marker["figures"].as_array().unwrap();
    assert_eq!(figures.len(), summary.figures);
    for required in [
        "fig1a-dead",
        "fig1b-frequency",
        "fig3a-token-detectors",
        "fig2-unigrams-planted",
        "fig8-positional-planted",
    ] {
        assert!(figures.iter().any(|f| f == required), "{required} missing");
    }
    for id in figures {
        let id = id.as_str().unwrap();
        let svg = std::fs::read_to_string(out.join(format!("figures/{id}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"), "{id}.svg");
        assert!(html.contains(&format!("<figure id=\"{id}\">")));
        let png = image::open(out.join(format!("figures/{id}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(png.dimensions(), census_charts::SIZE);
        let colors: std::collections::BTreeSet<[u8; 3]> = png.pixels().map(|p| p.0).collect();
        assert!(colors.len() > 8, "{id}.png is nearly blank");
    }
    // A browser script per layer, holding every neuron.
    for layer in 0..2 {
        let script =
            std::fs::read_to_string(out.join(format!("data/planted/layer-{layer:02}.js"))).unwrap();
        let json = &script[script.find('{').unwrap()..script.rfind(')').unwrap()];
        let values: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(values["neuron"].as_array().unwrap().len(), 128);
        // The neurons' details, in chunks of NEURON_CHUNK (the planted layers fit one).
        let details = chunk_details(&out, layer);
        assert_eq!(details.len(), 128);
        // Every planted detector of this layer fires, in its example contexts, on its tokens.
        for d in planted["detectors"].as_array().unwrap() {
            if d["layer"] != layer {
                continue;
            }
            let n = d["neuron"].as_u64().unwrap() as usize;
            let contexts = details[n]["contexts"].as_array().unwrap();
            assert_eq!(contexts.len(), 3, "contexts of {layer}/{n}");
            let tokens: Vec<String> = d["token_strings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().replace('\u{120}', " "))
                .collect();
            for c in contexts {
                let token = c["token"].as_str().unwrap();
                assert!(
                    tokens.iter().any(|t| t == token),
                    "{token:?} not in {tokens:?}"
                );
            }
        }
        // Every alive neuron's projection and position curve is there for the browser.
        let alive = 128 - planted["dead"][layer].as_array().unwrap().len();
        for part in ["projection", "curve"] {
            assert_eq!(
                details.iter().filter(|d| !d[part].is_null()).count(),
                alive,
                "{part}s of layer {layer}"
            );
        }
        // A dead neuron has no contexts.
        let dead = planted["dead"][layer].as_array().unwrap()[0]
            .as_u64()
            .unwrap() as usize;
        assert!(details[dead]["contexts"].as_array().unwrap().is_empty());
    }
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(markdown.contains("| claim | paper | planted |"));

    // Two models side by side: a normalised-depth comparison appears.
    let both = dir.path().join("both");
    let twin = dir.path().join("twin");
    copy_dir(&analysis, &twin);
    let summary = render(&request(vec![analysis, twin], &both)).unwrap();
    let html = std::fs::read_to_string(summary.index).unwrap();
    assert!(html.contains("<figure id=\"fig1a-dead-depth\">"));
    assert_eq!(embedded_data(&html)["models"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_analyses_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    let error = |analyses: Vec<std::path::PathBuf>, out: &Path| {
        render(&request(analyses, out)).unwrap_err().to_string()
    };

    // Not an analysis.
    let e = error(vec![dir.path().join("run")], &out);
    assert!(e.contains("not an analysis"), "{e}");

    // A missing table is named.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in [
        "manifest.json",
        "summary.json",
        "layers.parquet",
        "coverage.parquet",
        "positional.parquet",
    ] {
        std::fs::copy(analysis.join(f), broken.join(f)).unwrap();
    }
    let e = error(vec![broken.clone()], &out);
    assert!(
        e.contains("detectors.parquet") && e.contains("missing"),
        "{e}"
    );

    // Another schema version.
    let manifest = std::fs::read_to_string(analysis.join("manifest.json")).unwrap();
    std::fs::copy(
        analysis.join("detectors.parquet"),
        broken.join("detectors.parquet"),
    )
    .unwrap();
    std::fs::write(
        broken.join("manifest.json"),
        manifest.replace("\"schema_version\": 2", "\"schema_version\": 1"),
    )
    .unwrap();
    let e = error(vec![broken], &out);
    assert!(
        e.contains("schema version 1") && e.contains("run `analyze` again"),
        "{e}"
    );

    // A directory that holds something else is not written into.
    let e = error(vec![analysis], dir.path());
    assert!(e.contains("refusing"), "{e}");
}

#[test]
fn a_failed_report_leaves_the_earlier_report_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    render(&request(vec![analysis.clone()], &out)).unwrap();
    let before = snapshot(&out);

    // Another model's analysis with a table missing: refused, naming the table.
    let broken = dir.path().join("other-model");
    copy_dir(&analysis, &broken);
    std::fs::remove_file(broken.join("positional.parquet")).unwrap();
    let e = render(&request(vec![broken], &out))
        .unwrap_err()
        .to_string();
    assert!(e.contains("positional.parquet"), "{e}");
    assert_eq!(snapshot(&out), before, "the earlier report changed");
    let mut siblings: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    siblings.sort();
    assert_eq!(siblings, ["analysis", "other-model", "report", "run"]);

    // The same analysis twice is refused.
    let e = render(&request(vec![analysis.clone(), analysis.clone()], &out))
        .unwrap_err()
        .to_string();
    assert!(e.contains("given twice"), "{e}");
    assert_eq!(snapshot(&out), before);
}

#[test]
fn a_report_over_a_report_of_other_models_leaves_no_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let second = dir.path().join("second");
    copy_dir(&analysis, &second);
    let out = dir.path().join("report");
    let mut two = request(vec![analysis.clone(), second], &out);
    two.contexts = 0;
    render(&two).unwrap();
    let both = snapshot(&out);
    let mut one = request(vec![analysis], &out);
    one.contexts = 0;
    render(&one).unwrap();
    let alone = snapshot(&out);
    // Rendered alone into a fresh directory, the report has exactly the same files.
    let fresh = dir.path().join("fresh");
    let mut fresh_request = one.clone();
    fresh_request.out = fresh.clone();
    render(&fresh_request).unwrap();
    let expected = snapshot(&fresh);
    assert_eq!(
        alone.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        both.len() > alone.len(),
        "the two-model report had more files"
    );
}

#[test]
fn impossible_values_in_the_tables_are_refused_naming_table_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    let cases: [(&str, &str, f64); 4] = [
        ("layers.parquet", "dead_share", 1.5),
        ("layers.parquet", "tokens", -3.0),
        ("neurons.parquet", "frequency", f64::NAN),
        ("detectors.parquet", "coverage", f64::INFINITY),
    ];
    for (i, (table, column, value)) in cases.into_iter().enumerate() {
        let broken = dir.path().join(format!("broken-{i}"));
        copy_dir(&analysis, &broken);
        planted::rewrite_column(&broken.join(table), column, |_| value);
        let e = render(&request(vec![broken], &out))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(table) && e.contains(&format!("column '{column}'")),
            "{table}.{column}: {e}"
        );
        assert!(!out.exists(), "nothing written for a refused analysis");
    }
}

#[test]
fn the_other_reading_of_dead_is_drawn_dashed_and_stated_where_it_differs() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    // As rendered, both readings agree on the planted model: one line.
    render(&request(vec![analysis.clone()], &out)).unwrap();
    let svg = std::fs::read_to_string(out.join("figures/fig1a-dead.svg")).unwrap();
    assert!(!svg.contains("other reading"), "no second reading drawn");

    // Two more neurons per layer dead outside </s>: dashed line and a second number.
    let layers = read(&analysis.join("layers.parquet"));
    let dead: Vec<u32> = layers
        .column_by_name("dead")
        .unwrap()
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec();
    planted::rewrite_column(&analysis.join("layers.parquet"), "dead_without_bos", |i| {
        f64::from(dead[i] + 2)
    });
    let summary_path = analysis.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let total = summary["dead"]["total"].as_u64().unwrap();
    summary["dead"]["other_reading"] = serde_json::json!({
        "total": total + 4, "max_layer_share": 0.5, "max_layer": 1
    });
    std::fs::write(&summary_path, summary.to_string()).unwrap();
    render(&request(vec![analysis], &out)).unwrap();
    let svg = std::fs::read_to_string(out.join("figures/fig1a-dead.svg")).unwrap();
    assert!(svg.contains("other reading"), "the dashed series is drawn");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let data = embedded_data(&html);
    let row = data["headlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["claim"] == "Largest share of dead neurons in one layer")
        .unwrap();
    let ours = row["ours"][0].as_str().unwrap();
    assert!(ours.contains("outside </s>: 50.0% (layer 1)"), "{ours}");
}

#[test]
fn figures_and_claims_are_drawn_and_cited_as_the_paper_does() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let model = census_report::analysis::ModelAnalysis::load(&analysis).unwrap();
    let half = model.model_layers().div_ceil(2);
    // The analysis covers every layer (n-grams in all of them) ...
    assert!(model.coverage.iter().any(|c| usize::from(c.layer) >= half));
    // ... but Figs. 2, 12 and 13 draw the first half of the network only.
    let figures = census_report::figures::build(std::slice::from_ref(&model));
    let coverage: Vec<_> = figures
        .iter()
        .filter(|f| {
            ["fig2-", "fig12-", "fig13-"]
                .iter()
                .any(|p| f.id.starts_with(p))
        })
        .collect();
    assert_eq!(
        coverage.len(),
        3,
        "{:?}",
        figures.iter().map(|f| &f.id).collect::<Vec<_>>()
    );
    for f in coverage {
        let census_charts::Figure::StackedBars { x, .. } = &f.figure else {
            panic!("{} is not a bar chart", f.id);
        };
        assert!(x.iter().all(|&l| (l as usize) < half), "{}: {x:?}", f.id);
        assert!(f.caption.contains("first half"), "{}", f.caption);
    }

    let headlines = census_report::paper::headlines(std::slice::from_ref(&model));
    let claim = |start: &str| {
        headlines
            .iter()
            .find(|h| h.claim.starts_with(start))
            .unwrap()
            .clone()
    };
    assert_eq!(
        claim("Dead neurons in the post-LN model").source,
        "§6, §4.1 fn. 7"
    );
    assert!(
        claim("Layers with oscillatory neurons")
            .paper
            .contains("our reading")
    );
    let new = claim("Detected tokens new to all lower layers");
    assert_eq!(
        new.ours[0],
        "mostly new in 1 of 1 layers (median 100.0%, lowest 100.0% in layer 1)"
    );
}

#[test]
fn a_run_coarser_than_its_checkpoint_is_flagged() {
    use census_extract::{ExtractOptions, extract};
    use census_format::corpus::CorpusSource;
    use census_format::run::SequenceOptions;
    let dir = tempfile::tempdir().unwrap();
    let plain = planted_analysis(&dir.path().join("f32"));
    let run = dir.path().join("bf16/run");
    extract::<census_model::CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(48),
            engine: census_format::run::Engine::Dense,
            dtype: census_format::model::FloatType::Bf16,
            ..ExtractOptions::new(
                census_testkit::fixtures_dir().join("opt/planted"),
                vec![CorpusSource::new(
                    census_testkit::fixtures_dir().join("corpus/planted.jsonl"),
                )],
                &run,
            )
        },
        &Default::default(),
        "cpu",
    )
    .unwrap();
    let analysis = dir.path().join("bf16/analysis");
    census_stats::analyze(&census_stats::AnalyzeRequest::new(
        vec![run],
        analysis.clone(),
    ))
    .unwrap();
    let out = dir.path().join("report");
    render(&request(vec![plain, analysis], &out)).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(
        html.matches("This run computed in BF16, coarser than the checkpoint's float32")
            .count(),
        1,
        "only the bf16 run is flagged"
    );
}

/// Each section states the data it rests on, and the positional section says how many
/// positional neurons keep their type across domains, as the summary counts them.
#[test]
fn sections_state_their_data_and_positional_neurons_their_domains() {
    const LEN: usize = 32;
    let dir = tempfile::tempdir().unwrap();
    let sequences: Vec<Vec<u32>> = (0..16)
        .map(|s| {
            let mut t = vec![2u32];
            t.extend((1..LEN).map(|p| 10 + (planted::mix((s * 100 + p) as u64) % 30) as u32));
            t
        })
        .collect();
    // In both layers, neuron 0 fires early in both domains; neuron 1 early in one and late in
    // the other.
    let fired = |_layer: usize, s: usize, p: usize| {
        let mut on = Vec::new();
        if p < 8 {
            on.push(0u16);
        }
        if (s.is_multiple_of(2) && p < 8) || (!s.is_multiple_of(2) && p >= 24) {
            on.push(1);
        }
        if sequences[s][p] == 15 {
            on.push(2);
        }
        on
    };
    let domain = |s: usize| if s.is_multiple_of(2) { "prose" } else { "code" };
    let run = dir.path().join("run");
    planted::SyntheticRun {
        config: planted::config(2, 6, LEN),
        sequences: sequences.clone(),
        seq_ids: (0..16).collect(),
        fired: &fired,
        domain: &domain,
        part_sequences: 4,
        full_length: true,
        shard: census_format::run::Shard::default(),
        complete: true,
    }
    .write(&run);
    let analysis = dir.path().join("analysis");
    let mut options = census_format::analysis::options::AnalysisOptions {
        ngram_data: Some(census_format::analysis::options::DataSelection {
            domains: vec!["prose".to_string()],
            token_budget: None,
        }),
        ..Default::default()
    };
    options.projection.enabled = false;
    let summary = census_stats::analyze(&census_stats::AnalyzeRequest {
        options,
        ..census_stats::AnalyzeRequest::new(vec![run.clone()], analysis.clone())
    })
    .unwrap();
    let out = dir.path().join("report");
    let mut req = request(vec![analysis], &out);
    req.png = false;
    let html = std::fs::read_to_string(render(&req).unwrap().index).unwrap();
    let section = |id: &str| {
        let start = html.find(&format!("<section id=\"{id}\">")).unwrap();
        let end = start + html[start..].find("</section>").unwrap();
        html[start..end].to_string()
    };
    let (all, prose) = (16 * LEN, 8 * LEN);
    assert!(
        section("dead").contains(&format!("{all} tokens in 16 sequences of code, prose")),
        "{}",
        section("dead")
    );
    assert!(section("detectors").contains(&format!("{prose} tokens in 8 sequences of prose")));
    assert!(section("positional").contains(&format!("{all} tokens in 16 sequences")));
    let d = summary.positional_domains.unwrap();
    assert_eq!(d.pooled, 4);
    assert_eq!(d.positional_in_every_domain, 4);
    assert_eq!(d.same_type_in_every_domain, 2);
    assert!(
        section("positional").contains(
            "Of 4 positional neurons, 4 are positional in every domain and 2 keep their type"
        ),
        "{}",
        section("positional")
    );
}

/// A report over the analysis of a `--record counts` run: its frequencies and positional
/// figures are drawn, and the neuron browser has no example contexts from it (it holds no fired
/// neurons per token), with no error; with the n-gram statistics taken from a shards run of the
/// first half of the layers, the contexts of those layers come from that run.
#[test]
fn a_counts_run_is_reported_with_contexts_only_from_shards_runs() {
    use census_extract::{ExtractOptions, extract};
    use census_format::analysis::options::LayerScope;
    use census_format::corpus::CorpusSource;
    use census_format::run::RecordMode;
    use census_format::run::SequenceOptions;
    let dir = tempfile::tempdir().unwrap();
    let extract_run = |run: &Path, record: RecordMode, layers: LayerScope| {
        extract::<census_model::CpuBackend>(
            &ExtractOptions {
                sequences: SequenceOptions {
                    full_length: true,
                    ..SequenceOptions::with_max_seq_len(12)
                },
                record,
                layers,
                ..ExtractOptions::new(
                    census_testkit::fixtures_dir().join("opt/planted"),
                    vec![CorpusSource::new(
                        census_testkit::fixtures_dir().join("corpus/planted.jsonl"),
                    )],
                    run,
                )
            },
            &Default::default(),
            "cpu",
        )
        .unwrap();
    };
    let (counts, shards) = (dir.path().join("counts"), dir.path().join("shards"));
    extract_run(&counts, RecordMode::Counts, LayerScope::All);
    extract_run(&shards, RecordMode::Shards, LayerScope::FirstHalf);
    let analyse = |name: &str, ngram_runs: Vec<std::path::PathBuf>| {
        let analysis = dir.path().join(name);
        let ngrams = if ngram_runs.is_empty() {
            LayerScope::None
        } else {
            LayerScope::FirstHalf
        };
        census_stats::analyze(&census_stats::AnalyzeRequest {
            options: census_format::analysis::options::AnalysisOptions {
                unigram_layers: ngrams,
                ngram_layers: ngrams,
                ..Default::default()
            },
            ngram_runs,
            ..census_stats::AnalyzeRequest::new(vec![counts.clone()], analysis.clone())
        })
        .unwrap();
        analysis
    };
    let layer_script = |out: &Path, layer: usize| {
        std::fs::read_to_string(out.join(format!("data/planted/layer-{layer:02}/neurons-000.js")))
            .unwrap()
    };
    let alone = dir.path().join("report-alone");
    render(&request(vec![analyse("alone", vec![])], &alone)).unwrap();
    assert!(alone.join("figures/fig1a-dead.svg").is_file());
    assert!(
        !layer_script(&alone, 0).contains("\"before\""),
        "contexts without a shards run"
    );

    let with = dir.path().join("report-with");
    render(&request(vec![analyse("with", vec![shards])], &with)).unwrap();
    let first = layer_script(&with, 0);
    let contexts = &first[first.find("\"contexts\":").unwrap()..];
    assert!(
        contexts.contains("\"before\""),
        "contexts of layer 0 from the shards run"
    );
    let last = layer_script(&with, 1);
    assert!(
        last.contains("\"contexts\":[]") && !last.contains("\"before\""),
        "layer 1 was not recorded as shards"
    );
}

#[test]
fn the_claims_read_the_analysis_tables_and_are_shown_with_their_verdicts() {
    use census_report::analysis::ModelAnalysis;
    use census_report::claims::{ModelFacts, Verdict, verdicts};

    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let facts = ModelFacts::of(&ModelAnalysis::load(&analysis).unwrap());

    // Each fact equals its table, read here with arrow.
    let layers = read(&analysis.join("layers.parquet"));
    let detectors: Vec<u64> = layers
        .column_by_name("token_detectors")
        .unwrap()
        .as_primitive::<UInt32Type>()
        .iter()
        .map(|d| u64::from(d.unwrap()))
        .collect();
    assert_eq!(facts.detectors_by_layer, detectors);
    let coverage = read(&analysis.join("coverage.parquet"));
    let (order, bin, neurons) = (
        coverage.column_by_name("order").unwrap().as_string::<i32>(),
        coverage
            .column_by_name("bin")
            .unwrap()
            .as_primitive::<UInt16Type>(),
        coverage
            .column_by_name("neurons")
            .unwrap()
            .as_primitive::<UInt64Type>(),
    );
    let unigram = (0..coverage.num_rows()).filter(|&i| order.value(i) == "unigram");
    let all: u64 = unigram.clone().map(|i| neurons.value(i)).sum();
    let first: u64 = unigram
        .filter(|&i| bin.value(i) == 0)
        .map(|i| neurons.value(i))
        .sum();
    let (label, share) = facts.few_token_share.clone().unwrap();
    assert_eq!(label, "1-5");
    assert!((share - first as f64 / all as f64).abs() < 1e-12);
    let positional = read(&analysis.join("positional.parquet"));
    let kinds = positional
        .column_by_name("type")
        .unwrap()
        .as_string::<i32>();
    let count = |name: &str| kinds.iter().filter(|k| *k == Some(name)).count() as u64;
    assert_eq!(
        facts.positional_types.unwrap(),
        ["oscillatory", "both-extremes", "one-extreme", "other"].map(count)
    );
    assert!(!facts.post_ln);

    // One model alone: the claims its one model allows are computed; across scale none is.
    let alone = verdicts(std::slice::from_ref(&facts), &Default::default());
    assert_eq!(alone.len(), 11);
    assert_eq!(alone[0].verdict, Verdict::NotComputable);
    let types = facts.positional_types.unwrap();
    let oscillatory = &alone[7];
    assert_eq!(
        oscillatory.verdict == Verdict::Holds,
        types[0] > types[1..].iter().copied().max().unwrap(),
        "{oscillatory:?}"
    );
    assert!(
        oscillatory
            .value
            .contains(&format!("oscillatory {} of", types[0]))
    );

    // The page and the summary show every claim with its verdict and value.
    let out = dir.path().join("report");
    let twin = dir.path().join("twin");
    copy_dir(&analysis, &twin);
    let summary = render(&request(vec![analysis, twin], &out)).unwrap();
    let html = std::fs::read_to_string(summary.index).unwrap();
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(html.contains("The paper's claims, tested"));
    assert!(markdown.contains("## The paper's claims, tested"));
    let shown = embedded_data(&html)["claims"].as_array().unwrap().clone();
    // The report tells the two copies apart by their directories.
    let named = |name: &str| ModelFacts {
        name: name.to_string(),
        ..facts.clone()
    };
    let expected = verdicts(
        &[named("planted (analysis)"), named("planted (twin)")],
        &Default::default(),
    );
    assert_eq!(shown.len(), expected.len());
    for (shown, expected) in shown.iter().zip(&expected) {
        assert_eq!(shown["claim"], expected.claim);
        assert_eq!(shown["value"], expected.value.as_str());
        let verdict = serde_json::to_value(expected.verdict).unwrap();
        assert_eq!(shown["verdict"], verdict);
        let row = format!(
            "<td>{}</td><td>{}</td>",
            census_report::html::esc(expected.claim),
            census_report::html::esc(expected.paper)
        );
        assert!(html.contains(&row), "{row}");
        assert!(markdown.contains(&format!(
            "| {} | {} |",
            expected.claim,
            expected.verdict.text()
        )));
    }
}

#[test]
fn the_browser_curves_and_projections_decode_to_the_tables() {
    use base64::Engine as _;
    use census_format::analysis::tables::{
        AnalysisTable, PositionCurveRow, PositionalRow, ProjectionRow,
    };
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    render(&request(vec![analysis.clone()], &out)).unwrap();
    let details: Vec<Vec<serde_json::Value>> = (0..2).map(|l| chunk_details(&out, l)).collect();

    // The spellings of every token the projections name, once each.
    let script = std::fs::read_to_string(out.join("data/planted/vocab.js")).unwrap();
    let json = &script[script.find('{').unwrap()..script.rfind(')').unwrap()];
    let vocab: serde_json::Value = serde_json::from_str(json).unwrap();
    let raw_of: std::collections::BTreeMap<u64, String> = vocab["ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(vocab["raw"].as_array().unwrap())
        .map(|(id, raw)| (id.as_u64().unwrap(), raw.as_str().unwrap().to_string()))
        .collect();
    let projections = ProjectionRow::read(&analysis).unwrap();
    assert!(!projections.is_empty());
    for p in &projections {
        let detail = &details[usize::from(p.layer)][usize::from(p.neuron)];
        for (side, tokens) in [("promoted", &p.promoted), ("suppressed", &p.suppressed)] {
            let ids: Vec<u64> = detail["projection"][format!("{side}_ids")]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap())
                .collect();
            let expected: Vec<u64> = tokens.iter().map(|t| u64::from(t.id)).collect();
            assert_eq!(ids, expected, "{side} of {}/{}", p.layer, p.neuron);
            for t in tokens.iter() {
                assert_eq!(raw_of[&u64::from(t.id)], t.name);
            }
        }
    }

    // Each curve, decoded as the page does, is the table's within half a 255th of its top:
    // a positional neuron's full curve, any other's binned one.
    let mut exact: std::collections::BTreeMap<(u16, u16), (u64, u64, Vec<f32>)> =
        PositionCurveRow::read(&analysis)
            .unwrap()
            .into_iter()
            .map(|c| {
                let key = (c.layer, c.neuron);
                let shape = (u64::from(c.first_position), u64::from(c.bin_width));
                (key, (shape.0, shape.1, c.frequency))
            })
            .collect();
    let positional = PositionalRow::read(&analysis).unwrap();
    for p in &positional {
        let full = (u64::from(p.first_position), 1, p.frequency.clone());
        exact.insert((p.layer, p.neuron), full);
    }
    assert!(!exact.is_empty() && !positional.is_empty());
    for ((layer, neuron), (first, width, values)) in &exact {
        let curve = &details[usize::from(*layer)][usize::from(*neuron)]["curve"];
        assert_eq!(
            (curve["first"].as_u64(), curve["width"].as_u64()),
            (Some(*first), Some(*width))
        );
        let top = curve["top"].as_f64().unwrap() as f32;
        assert_eq!(top, values.iter().copied().fold(0.0, f32::max));
        let levels = base64::engine::general_purpose::STANDARD
            .decode(curve["levels"].as_str().unwrap())
            .unwrap();
        assert_eq!(levels.len(), values.len());
        for (level, value) in levels.iter().zip(values) {
            let drawn = top * f32::from(*level) / 255.0;
            assert!(
                (drawn - value).abs() <= top / 510.0 * 1.001,
                "{layer}/{neuron}: {drawn} drawn for {value}"
            );
        }
    }
}
