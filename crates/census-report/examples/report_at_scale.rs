//! The report of an opt-66b-sized analysis: 64 layers of 36,864 neurons, synthetic. A small real
//! analysis (the planted fixture) gives the manifest and summary; its tables are replaced by
//! tables of that size (frequencies, dead neurons, detectors with triggers, positional neurons
//! with 2,048-position curves, projections and 128-bin position curves of every neuron, 20
//! neurons for each of 50,000 tokens). Prints the time to render, the page weight (the page
//! itself, what the first view loads, everything), and, with Chromium, the time until the
//! page's script is set up with its first neuron shown.
//!
//! `cargo xtask bench report [-- --chromium chromium]`, or
//! `cargo run --release -p census-report --example report_at_scale [-- --chromium chromium]`

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use census_format::analysis::tables::{
    AnalysisTable, Classification, CoverageRow, DetectedCoverage, DetectorKind, DetectorRow,
    LayerRow, NeuronRow, Order, PositionCurveRow, PositionalRow, PositionalType, ProjectionRow,
    RankedToken, TokenNeuronRow,
};
use census_testkit::SeededRng;

const LAYERS: usize = 64;
const FFN: usize = 36_864;
const POSITIONS: usize = 2_048;
const VOCAB: u32 = 50_000;

fn size(path: &Path) -> u64 {
    if path.is_file() {
        return path.metadata().map_or(0, |m| m.len());
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}

fn token(rng: &mut SeededRng, score: f32) -> RankedToken {
    let id = rng.below(50_000) as u32;
    RankedToken {
        id,
        name: format!("Ġtok{id}"),
        score,
    }
}

/// Writes synthetic tables of an opt-66b-sized model into analysis `dir`, and widens its
/// manifest to that shape.
fn write_tables(dir: &Path) -> Result<()> {
    let mut rng = SeededRng::new(66);
    let mut neurons = Vec::with_capacity(LAYERS * FFN);
    let mut layers = Vec::new();
    let mut detectors = Vec::new();
    let mut positional = Vec::new();
    let mut projections = Vec::new();
    let mut curves = Vec::new();
    for layer in 0..LAYERS {
        let mut dead = 0;
        for neuron in 0..FFN {
            let is_dead = layer < LAYERS / 2 && rng.below(100) < 20;
            dead += usize::from(is_dead);
            let frequency = if is_dead {
                0.0
            } else {
                rng.below(1000) as f64 / 10_000.0
            };
            let detector = !is_dead && layer < LAYERS / 2 && rng.below(1000) < 3;
            let is_positional = !is_dead && rng.below(10_000) < 5;
            let class = is_positional.then(|| Classification {
                kind: PositionalType::ALL[rng.below(4)],
                strong: rng.below(2) == 0,
            });
            neurons.push(NeuronRow {
                layer: layer as u16,
                neuron: neuron as u16,
                fires: (frequency * 20e6) as u64,
                fires_bos: 0,
                frequency,
                dead: is_dead,
                coverage: [Some(rng.below(500) as u32), None, None],
                token_detector: detector,
                trigram_detector: false,
                position_mi: Some(if is_positional { 0.1 } else { 0.001 }),
                positional: class,
            });
            if detector {
                let triggers: Vec<Vec<u32>> =
                    (0..3).map(|_| vec![rng.below(50_000) as u32]).collect();
                detectors.push(DetectorRow {
                    layer: layer as u16,
                    neuron: neuron as u16,
                    kind: DetectorKind::Token,
                    triggers: triggers.iter().map(|t| format!("Ġtok{}", t[0])).collect(),
                    trigger_ids: triggers,
                    trigger_fires: vec![100, 80, 50],
                    trigger_occurrences: vec![101, 81, 52],
                    activations: 240,
                    coverage: 0.96,
                    coverage_count: 3,
                    projection: None,
                });
            }
            if let Some(class) = class {
                positional.push(PositionalRow {
                    layer: layer as u16,
                    neuron: neuron as u16,
                    mi: 0.1,
                    class,
                    first_position: 1,
                    frequency: (0..POSITIONS - 1)
                        .map(|p| ((p as f32 / 64.0).sin() + 1.0) / 2.0)
                        .collect(),
                    ranges: vec![(1, 100)],
                });
            }
            if !is_dead {
                curves.push(PositionCurveRow {
                    layer: layer as u16,
                    neuron: neuron as u16,
                    first_position: 0,
                    bin_width: (POSITIONS / 128) as u16,
                    frequency: (0..128).map(|_| rng.below(1000) as f32 / 1000.0).collect(),
                });
                projections.push(ProjectionRow {
                    layer: layer as u16,
                    neuron: neuron as u16,
                    promoted: (0..10)
                        .map(|i| token(&mut rng, 1.0 - i as f32 / 10.0))
                        .collect(),
                    suppressed: (0..10)
                        .map(|i| token(&mut rng, -1.0 + i as f32 / 10.0))
                        .collect(),
                });
            }
        }
        layers.push(LayerRow {
            layer: layer as u16,
            tokens: 20_000_000,
            neurons: FFN as u32,
            dead: dead as u32,
            dead_share: dead as f64 / FFN as f64,
            dead_with_bos: dead as u32,
            dead_without_bos: dead as u32,
            mean_frequency_alive: Some(0.05),
            token_detectors: (layer < LAYERS / 2).then_some(110),
            trigram_detectors: None,
            tokens_detected: (layer < LAYERS / 2).then_some(DetectedCoverage {
                detected: 300,
                cumulative: 300 * (layer as u64 + 1),
                new_overall: 100,
                new_vs_previous: 200,
            }),
            trigrams_detected: None,
            positional: Some([[2, 2], [3, 3], [2, 2], [1, 1]]),
        });
    }
    let coverage: Vec<CoverageRow> = (0..LAYERS / 2)
        .flat_map(|layer| {
            (0..9).map(move |bin| CoverageRow {
                layer: layer as u16,
                order: Order::Unigram,
                bin: bin as u16,
                label: format!("bin {bin}"),
                neurons: 1000,
            })
        })
        .collect();
    NeuronRow::write(dir, &neurons, &[])?;
    LayerRow::write(dir, &layers, &[])?;
    CoverageRow::write(dir, &coverage, &[])?;
    DetectorRow::write(dir, &detectors, &[])?;
    PositionalRow::write(dir, &positional, &[])?;
    ProjectionRow::write(dir, &projections, &[])?;
    PositionCurveRow::write(dir, &curves, &[])?;
    let token_neurons: Vec<TokenNeuronRow> = (0..VOCAB)
        .flat_map(|token| {
            let fires: Vec<u64> = (0..20).map(|i| 1000 - i * 10).collect();
            fires
                .into_iter()
                .map(|f| TokenNeuronRow {
                    token_id: token,
                    token: format!("Ġtok{token}"),
                    layer: rng.below(LAYERS) as u16,
                    neuron: rng.below(FFN) as u16,
                    fires: f,
                    occurrences: 2000,
                    neuron_fires: 100_000,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    TokenNeuronRow::write(dir, &token_neurons, &[])?;
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path)?)?;
    let config = &mut manifest["model"]["config"];
    config["num_hidden_layers"] = LAYERS.into();
    config["ffn_dim"] = FFN.into();
    config["hidden_size"] = 9216.into();
    manifest["model"]["source"] = "facebook/opt-66b".into();
    manifest["layers"] = serde_json::json!([0, LAYERS]);
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chromium = args
        .iter()
        .position(|a| a == "--chromium")
        .and_then(|i| args.get(i + 1).cloned());
    let work = tempfile::tempdir()?;
    let run = work.path().join("run");
    let analysis = work.path().join("analysis");
    census_testkit::planted::extract_planted(&run);
    census_stats::analyze(&census_stats::AnalyzeRequest {
        model: Some(census_testkit::opt_fixture("planted")),
        ..census_stats::AnalyzeRequest::new(vec![run], analysis.clone())
    })?;
    let start = Instant::now();
    write_tables(&analysis).context("writing the synthetic tables")?;
    println!(
        "synthetic analysis: {LAYERS} layers x {FFN} neurons, {:.1} MB of tables, written in {:.1} s",
        size(&analysis) as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let out = work.path().join("report");
    let start = Instant::now();
    census_report::render(&census_report::ReportRequest {
        analyses: vec![analysis],
        out: out.clone(),
        png: false,
        contexts: 0,
        claim_rules: Default::default(),
    })?;
    let render = start.elapsed().as_secs_f64();
    // The one model's browser data.
    let data = std::fs::read_dir(out.join("data"))?
        .flatten()
        .map(|e| e.path())
        .next()
        .context("no browser data")?;
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&data)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("layer-"))
        })
        .collect();
    scripts.sort();
    let largest = scripts.iter().map(|p| size(p)).max().unwrap_or(0);
    let chunk = data.join("layer-00").join("neurons-000.js");
    let chunks = (0..LAYERS)
        .map(|l| std::fs::read_dir(data.join(format!("layer-{l:02}"))).map_or(0, |d| d.count()))
        .sum::<usize>();
    let page = size(&out.join("index.html"));
    let vocab = size(&data.join("vocab.js"));
    let details = (0..LAYERS)
        .map(|l| size(&data.join(format!("layer-{l:02}"))))
        .sum::<u64>();
    println!("render: {render:.1} s (target <= 15 s)");
    println!(
        "neuron details: {:.0} MB (target <= 1000 MB)",
        details as f64 / 1e6
    );
    println!(
        "page weight: index.html {:.2} MB; first view (page, one layer's table, one chunk of \
         neuron details, the projections' vocabulary) {:.2} MB; every layer table {:.1} MB ({} \
         scripts, the largest {:.2} MB); neuron details {:.1} MB in {chunks} chunks of {:.2} MB; \
         vocabulary {:.1} MB; token index {:.1} MB; everything {:.1} MB",
        page as f64 / 1e6,
        (page + size(&scripts[0]) + size(&chunk) + vocab) as f64 / 1e6,
        scripts.iter().map(|p| size(p)).sum::<u64>() as f64 / 1e6,
        scripts.len(),
        largest as f64 / 1e6,
        details as f64 / 1e6,
        size(&chunk) as f64 / 1e6,
        vocab as f64 / 1e6,
        size(&data.join("tokens").join("index.js")) as f64 / 1e6,
        size(&out) as f64 / 1e6
    );
    if let Some(chromium) = chromium {
        let profile = work.path().join("profile");
        let started = Instant::now();
        let output = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--virtual-time-budget=30000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("file://{}", out.join("index.html").display()))
            .output()?;
        let wall = started.elapsed().as_secs_f64();
        let dom = String::from_utf8_lossy(&output.stdout);
        let ready = dom
            .split("data-ready-ms=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .context("the page never got ready")?;
        let body = &dom[dom.find("<body").unwrap_or(0)..];
        let body = &body[..body.find('>').unwrap_or(0)];
        anyhow::ensure!(
            !body.contains("data-error"),
            "the page reported errors: {body}"
        );
        println!(
            "Chromium: script set up, first neuron shown, {ready} ms after navigation \
             ({wall:.1} s wall, browser start included)"
        );
    }
    Ok(())
}
