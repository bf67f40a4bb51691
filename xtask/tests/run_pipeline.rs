//! `cargo xtask run` end to end on a fixture model: every stage runs once, is skipped when
//! nothing changed, reruns from the first stage whose request or inputs changed, and `--force`
//! redoes everything.

mod common;
use census_testkit::planted;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::strip_colours;

/// Runs `xtask run` with `args`; returns (success, stderr without colour codes).
/// What a neuron's view shows of it at one checkpoint.
struct NeuronState {
    layer: u16,
    frequency: f64,
    dead: bool,
    detector: Option<String>,
    positional: Option<String>,
}

/// Every neuron's state in an analysis, in table order.
fn neuron_states(analysis: &Path) -> Vec<NeuronState> {
    use census_format::analysis::tables::{AnalysisTable, DetectorRow, NeuronRow};
    let detectors = DetectorRow::read(analysis).unwrap();
    NeuronRow::read(analysis)
        .unwrap()
        .into_iter()
        .map(|n| NeuronState {
            layer: n.layer,
            frequency: n.frequency,
            dead: n.dead,
            // A neuron both a token and a trigram detector shows as the latter.
            detector: detectors
                .iter()
                .rev()
                .find(|d| d.layer == n.layer && d.neuron == n.neuron)
                .map(|d| d.kind.name().to_string()),
            positional: n.positional.map(|c| c.kind.name().to_string()),
        })
        .collect()
}

/// The steps of `model`'s table in `summary.md` of report `report`.
fn training_steps(report: &Path, model: &str) -> Vec<String> {
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    let table = &summary[summary
        .find(&format!("{model} during training"))
        .unwrap_or_else(|| panic!("no training table of {model}: {summary}"))..];
    table
        .lines()
        .skip(4)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap().trim().to_string())
        .collect()
}

/// `run`'s flags for pipeline file `pipeline` writing into `out`.
fn run_args<'a>(pipeline: &'a Path, out: &'a Path) -> [&'a str; 4] {
    [
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
}

fn xtask_run(args: &[&str]) -> (bool, String) {
    xtask_run_with(args, &[])
}

/// `xtask run ARGS` with environment variables `env` set.
fn xtask_run_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("run")
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), strip_colours(&stderr))
}

fn write_pipeline(path: &Path, corpus: &Path, analyze: &str) {
    let model = census_testkit::fixtures_dir().join("opt/pre-ln");
    std::fs::write(
        path,
        format!(
            "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = 48\n[analyze]\n{analyze}\n[report]\nno-png = true\n",
            model.display(),
            corpus.display()
        ),
    )
    .unwrap();
}

/// The `train` keys of the tiny model the training tests train in seconds.
const TINY_MODEL: &str = "vocab-size = 300\nhidden-size = 32\nlayers = 2\nheads = 2\nffn-dim = 64\nmax-positions = 32\nseq-len = 32\nbatch-size = 4\nsteps = 10\nwarmup-steps = 2\n";

/// The pre-LN fixture's pipeline (`p.toml`) on a copy of the sample corpus in `dir`; returns
/// both paths.
fn sample_pipeline(dir: &Path) -> (PathBuf, PathBuf) {
    let corpus = dir.join("corpus.jsonl");
    std::fs::copy(
        census_testkit::fixtures_dir().join("corpus/sample.jsonl"),
        &corpus,
    )
    .unwrap();
    let pipeline = dir.join("p.toml");
    write_pipeline(&pipeline, &corpus, "");
    (pipeline, corpus)
}

fn stages_run(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" running "))
        .filter_map(|l| l.split("stage=").nth(1))
        .map(|s| s.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn stages_run_once_and_rerun_only_when_something_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, corpus) = sample_pipeline(dir.path());
    let out = dir.path().join("out");
    let args = run_args(&pipeline, &out);

    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        ["extract/pre-ln", "analyze/pre-ln", "report"],
        "{log}"
    );
    let index = out.join("report/index.html");
    assert!(std::fs::metadata(&index).unwrap().len() > 10_000);
    for table in ["neurons", "layers", "coverage", "detectors"] {
        assert!(
            out.join(format!("pre-ln/analysis/{table}.parquet"))
                .is_file()
        );
    }
    let ledger: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stages.json")).unwrap()).unwrap();
    assert_eq!(ledger["stages"].as_object().unwrap().len(), 3);
    let report_time = std::fs::metadata(&index).unwrap().modified().unwrap();

    // Nothing changed: nothing runs, nothing is rewritten.
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert!(stages_run(&log).is_empty(), "{log}");
    assert_eq!(
        log.matches("skipped; --force redoes it").count(),
        3,
        "{log}"
    );
    assert_eq!(
        std::fs::metadata(&index).unwrap().modified().unwrap(),
        report_time
    );

    // An analysis flag changed: the extraction is kept, analysis and report rerun.
    write_pipeline(&pipeline, &corpus, "min-occurrences = 2");
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(stages_run(&log), ["analyze/pre-ln", "report"], "{log}");
    let manifest = std::fs::read_to_string(out.join("pre-ln/analysis/manifest.json")).unwrap();
    assert!(manifest.contains("\"min_occurrences\": 2"), "{manifest}");

    // The corpus changed under the same name: the extraction stage must rerun, and the run
    // directory refuses to mix corpora, so the pipeline stops and says how to go on.
    let mut text = std::fs::read_to_string(&corpus).unwrap();
    text.push_str("{\"text\": \"A new document about whales.\", \"domain\": \"prose\"}\n");
    std::fs::write(&corpus, text).unwrap();
    let (ok, log) = xtask_run(&args);
    assert!(!ok, "{log}");
    assert!(log.contains("extract/pre-ln"), "{log}");
    assert!(
        out.join("pre-ln/run/manifest.json").is_file(),
        "nothing deleted without --force"
    );

    // --force redoes every stage.
    let mut forced = args.to_vec();
    forced.push("--force");
    let (ok, log) = xtask_run(&forced);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        ["extract/pre-ln", "analyze/pre-ln", "report"],
        "{log}"
    );
    let (ok, log) = xtask_run(&args);
    assert!(ok && stages_run(&log).is_empty(), "{log}");
}

#[test]
fn a_bad_pipeline_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("bad.toml");
    std::fs::write(
        &pipeline,
        "name = \"t\"\nmodels = [\"m\"]\n[extract]\ndata = [\"c.jsonl\"]\nmax-seq-len = \"x\"\n",
    )
    .unwrap();
    let (ok, log) = xtask_run(&[
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(log.contains("[extract] flags are not valid"), "{log}");
    let (ok, log) = xtask_run(&["--pipeline", dir.path().join("none.toml").to_str().unwrap()]);
    assert!(!ok);
    assert!(log.contains("none.toml"), "{log}");
}

/// A pipeline that trains its own model (`[train.tiny]`, used as `trained:tiny`) runs the
/// training as a cached stage before the others.
#[test]
fn a_pipeline_trains_its_own_model_once() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = census_testkit::fixtures_dir().join("../../data/corpus/train.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"name = "t"
models = ["trained:tiny"]
[train.tiny]
data = ["{corpus},max_tokens=20000"]
eval-data = "none"
{shape}no-positions = true
[extract]
data = ["{sample}"]
max-seq-len = 32
[report]
no-png = true
"#,
            corpus = corpus.display(),
            sample = census_testkit::fixtures_dir()
                .join("corpus/sample.jsonl")
                .display(),
            shape = TINY_MODEL,
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = run_args(&pipeline, &out);
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        [
            "train/tiny",
            "extract/trained_tiny",
            "analyze/trained_tiny",
            "report"
        ],
        "{log}"
    );
    let config = std::fs::read_to_string(out.join("trained/tiny/config.json")).unwrap();
    assert!(config.contains("\"positions\": false"), "{config}");
    assert!(out.join("report/index.html").is_file());
    let (ok, log) = xtask_run(&args);
    assert!(ok && stages_run(&log).is_empty(), "{log}");
}

/// Every file under `dir` but the stage ledger, with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    common::snapshot(dir)
        .into_iter()
        .filter(|(path, _)| path.file_name().unwrap() != "stages.json")
        .collect()
}

/// `--force` checks everything before it replaces anything, and builds each output beside the
/// old one: a typo in the data path, a model that moved, a bad flag or a corpus that fails
/// halfway leave the complete run, its analysis and its report as they were.
#[test]
fn a_failed_force_leaves_every_earlier_output_intact() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(census_testkit::fixtures_dir().join("opt/pre-ln")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::copy(
        census_testkit::fixtures_dir().join("corpus/sample.jsonl"),
        &corpus,
    )
    .unwrap();
    let out = dir.path().join("out");
    let pipeline = dir.path().join("p.toml");
    let write = |data: &Path, extra: &str| {
        std::fs::write(
            &pipeline,
            format!(
                "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = {extra}\n[report]\nno-png = true\n",
                model.display(),
                data.display()
            ),
        )
        .unwrap();
    };
    let args = [
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ];
    write(&corpus, "48");
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    let before = snapshot(&out);
    assert!(before.len() > 10);
    let no_staging = || {
        for stage in [
            "model/run.partial",
            "model/analysis.partial",
            "report.partial",
        ] {
            assert!(!out.join(stage).exists(), "{stage} left behind");
        }
    };

    // A typo in the data path.
    write(&dir.path().join("corpsu.jsonl"), "48");
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(
        log.contains("corpsu.jsonl") && log.contains("nothing was changed"),
        "{log}"
    );
    assert_eq!(snapshot(&out), before, "typo: {log}");

    // A flag no run can have.
    write(&corpus, "0");
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(log.contains("--max-seq-len 0"), "{log}");
    assert_eq!(snapshot(&out), before, "max-seq-len: {log}");

    // The model directory moved away.
    write(&corpus, "48");
    let moved = dir.path().join("moved");
    std::fs::rename(&model, &moved).unwrap();
    let (ok, log) = xtask_run(&args);
    assert!(!ok, "{log}");
    assert_eq!(snapshot(&out), before, "moved model: {log}");
    std::fs::rename(&moved, &model).unwrap();

    // A corpus that fails halfway through the extraction itself.
    let mut text = std::fs::read_to_string(&corpus).unwrap();
    text.push_str("{\"text\": \"unterminated\n");
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, text).unwrap();
    write(&broken, "48");
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(log.contains("broken.jsonl"), "{log}");
    assert_eq!(snapshot(&out), before, "broken corpus: {log}");
    no_staging();

    // And a good --force still replaces everything.
    write(&corpus, "40");
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_ne!(snapshot(&out), before);
    no_staging();
}

/// A pipeline with several extractions of each model: the `[extract]` run for the frequencies,
/// `[runs.*]` runs for the n-gram and positional statistics, each a cached stage, and the
/// analysis records which run each section rests on.
#[test]
fn a_pipeline_gives_each_section_its_own_run() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::copy(
        census_testkit::fixtures_dir().join("corpus/sample.jsonl"),
        &corpus,
    )
    .unwrap();
    let model = census_testkit::fixtures_dir().join("opt/pre-ln");
    let pipeline = dir.path().join("p.toml");
    let write = |positional_run: &str| {
        std::fs::write(
            &pipeline,
            format!(
                "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = 48\n\
                 [runs.firsthalf]\nlayers = \"first-half\"\n\
                 [runs.positions]\nmax-seq-len = 16\nfull-length = true\n\
                 [analyze]\nngram-run = \"firsthalf\"\npositional-run = \"{positional_run}\"\n\
                 min-occurrences = 1\n[report]\nno-png = true\n",
                model.display(),
                corpus.display()
            ),
        )
        .unwrap()
    };
    write("positions");
    let out = dir.path().join("out");
    let args = run_args(&pipeline, &out);
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        [
            "extract/pre-ln",
            "extract/pre-ln/firsthalf",
            "extract/pre-ln/positions",
            "analyze/pre-ln",
            "report"
        ],
        "{log}"
    );
    let json = |path: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let depth = json(model.join("config.json"))["num_hidden_layers"]
        .as_u64()
        .unwrap();
    let firsthalf = json(out.join("pre-ln/run-firsthalf/manifest.json"));
    assert_eq!(
        firsthalf["config"]["layers"],
        serde_json::json!([0, depth / 2])
    );
    let positions = json(out.join("pre-ln/run-positions/manifest.json"));
    assert_eq!(positions["config"]["sequences"]["full_length"], true);

    let analysis = json(out.join("pre-ln/analysis/manifest.json"));
    let dir_of = |section: &str| {
        analysis["sections"][section]["runs"][0]["dir"]
            .as_str()
            .unwrap_or_else(|| panic!("{section}: {analysis}"))
            .to_string()
    };
    assert!(dir_of("frequency").ends_with("pre-ln/run"));
    assert!(dir_of("ngram").ends_with("pre-ln/run-firsthalf"));
    assert!(dir_of("positional").ends_with("pre-ln/run-positions"));
    // N-gram statistics only where the n-gram run recorded layers.
    let layers = planted::read_table(&out.join("pre-ln/analysis/layers.parquet"));
    let detectors = layers.column_by_name("token_detectors").unwrap();
    use arrow::array::Array;
    for layer in 0..depth as usize {
        assert_eq!(
            detectors.is_valid(layer),
            (layer as u64) < depth / 2,
            "layer {layer}"
        );
    }
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(
        html.contains("run-positions"),
        "the report names the positional run"
    );

    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert!(stages_run(&log).is_empty(), "{log}");

    write("nowhere");
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(
        log.contains("positional-run") && log.contains("nowhere") && log.contains("positions"),
        "{log}"
    );
}

/// A training series (`series:trained:NAME`): the pipeline trains a model with checkpoints at
/// steps 3 and 6, extracts and analyses each checkpoint and the trained model (step 10) on the
/// same data, each as its own cached stage, and the report's training view shows the three
/// steps. Each step's tables equal the analysis of that checkpoint alone.
#[test]
fn a_pipeline_runs_a_training_series_checkpoint_by_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_training_series(dir.path());
    let pipeline = dir.path().join("p.toml");
    let args = run_args(&pipeline, &out);
    each_step_equals_its_checkpoint_analysed_alone(dir.path(), &out);
    let report = out.join("report");
    the_training_view_shows_every_step(&report);
    let analyses = [
        out.join("trained_tiny/step-3/analysis"),
        out.join("trained_tiny/step-6/analysis"),
        out.join("trained_tiny/step-8/analysis"),
        out.join("trained_tiny/analysis"),
    ];
    let crossing = the_browser_follows_each_neuron(&report, &analyses);
    chromium_marks_the_crossings(dir.path(), &report, crossing);
    // Nothing changed: nothing runs again.
    let (ok, log) = xtask_run(&args);
    assert!(ok && stages_run(&log).is_empty(), "{log}");

    the_report_rests_on_the_analyses_alone(dir.path(), &out, &analyses);
}

/// The series pipeline trained, extracted, analysed and reported in `dir/out`, every stage run
/// once and in order (the pipeline is `dir/p.toml`); returns its output directory.
fn run_training_series(dir: &Path) -> PathBuf {
    let corpus = census_testkit::fixtures_dir().join("../../data/corpus/train.jsonl");
    let sample = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    let pipeline = dir.join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"name = "t"
models = ["series:trained:tiny"]
[train.tiny]
data = ["{corpus},max_tokens=20000"]
eval-data = "{corpus},max_tokens=3000"
{shape}save-steps = [3, 6, 8]
[extract]
data = ["{sample}"]
max-seq-len = 32
full-length = true
[report]
no-png = true
"#,
            corpus = corpus.display(),
            sample = sample.display(),
            shape = TINY_MODEL,
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let args = run_args(&pipeline, &out);
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        [
            "train/tiny",
            "extract/trained_tiny/step-3",
            "analyze/trained_tiny/step-3",
            "extract/trained_tiny/step-6",
            "analyze/trained_tiny/step-6",
            "extract/trained_tiny/step-8",
            "analyze/trained_tiny/step-8",
            "extract/trained_tiny",
            "analyze/trained_tiny",
            "report"
        ],
        "{log}"
    );

    out
}

/// Each step's analysis equals that checkpoint's analysis alone.
fn each_step_equals_its_checkpoint_analysed_alone(dir: &Path, out: &Path) {
    let sample = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    let model = out.join("trained/tiny");
    for (step, checkpoint) in [
        ("step-3", "checkpoint-3"),
        ("step-6", "checkpoint-6"),
        ("step-8", "checkpoint-8"),
    ] {
        let alone = dir.join(format!("alone-{step}"));
        let checkpoint = model.join(checkpoint);
        let run = |args: &[&str]| {
            let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args(args)
                .env("RUST_LOG", "warn")
                .status()
                .unwrap();
            assert!(status.success(), "{args:?}");
        };
        run(&[
            "extract",
            "--model",
            checkpoint.to_str().unwrap(),
            "--data",
            sample.to_str().unwrap(),
            "--max-seq-len",
            "32",
            "--full-length",
            "--out",
            alone.join("run").to_str().unwrap(),
            "--quiet",
        ]);
        run(&[
            "analyze",
            "--run",
            alone.join("run").to_str().unwrap(),
            "--model",
            checkpoint.to_str().unwrap(),
            "--out",
            alone.join("analysis").to_str().unwrap(),
            "--quiet",
        ]);
        let piped = out.join("trained_tiny").join(step).join("analysis");
        for table in ["neurons.parquet", "layers.parquet", "summary.json"] {
            assert!(
                std::fs::read(piped.join(table)).unwrap()
                    == std::fs::read(alone.join("analysis").join(table)).unwrap(),
                "{step}: {table} differs from the checkpoint's own analysis"
            );
        }
    }
}

/// The report's training view: every statistic against the four steps, and only the trained
/// model in the other sections and the browser.
fn the_training_view_shows_every_step(report: &Path) {
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("<section id=\"training\">"));
    for what in ["dead", "frequency", "detectors", "positional", "loss"] {
        let svg = report.join(format!("figures/training-{what}-neuron-census-tiny.svg"));
        assert!(svg.is_file(), "{} missing", svg.display());
    }
    assert_eq!(
        training_steps(report, "neuron-census-tiny"),
        ["3", "6", "8", "10"]
    );
    // Only the trained model appears in the other sections and the browser.
    assert_eq!(
        std::fs::read_dir(report.join("data")).unwrap().count(),
        1,
        "one model's browser data"
    );
}

/// The browser follows each neuron along the checkpoints: its statistics at every step, as each
/// step's own analysis gives them. Returns a neuron of layer 0 that crosses a threshold along the
/// run, and how many crossings the page must mark for it.
fn the_browser_follows_each_neuron(report: &Path, analyses: &[PathBuf]) -> (usize, usize) {
    let states: Vec<Vec<NeuronState>> = analyses.iter().map(|a| neuron_states(a)).collect();
    let chunk = report.join("data/neuron-census-tiny/layer-00/neurons-000.js");
    let chunk = std::fs::read_to_string(&chunk).unwrap();
    let details: serde_json::Value =
        serde_json::from_str(&chunk[chunk.find('[').unwrap()..chunk.rfind(')').unwrap()]).unwrap();
    for (n, detail) in details.as_array().unwrap().iter().enumerate() {
        let history = detail["history"].as_array().unwrap();
        let steps: Vec<u64> = history
            .iter()
            .map(|h| h["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [3, 6, 8, 10]);
        for (h, step) in history.iter().zip(&states) {
            let want = &step[n];
            assert_eq!(h["frequency"].as_f64().unwrap(), want.frequency);
            assert_eq!(h["dead"].as_bool().unwrap(), want.dead);
            assert_eq!(h["detector"].as_str(), want.detector.as_deref());
            assert_eq!(h["type"].as_str(), want.positional.as_deref());
        }
    }
    let crossed = |n: usize| -> usize {
        states
            .windows(2)
            .map(|w| {
                let (a, b) = (&w[0][n], &w[1][n]);
                usize::from(a.dead != b.dead)
                    + usize::from(a.detector != b.detector)
                        * (usize::from(a.detector.is_some()) + usize::from(b.detector.is_some()))
                    + usize::from(a.positional != b.positional)
            })
            .sum()
    };
    let layer0 = states[0].iter().filter(|s| s.layer == 0).count();
    let neuron = (0..layer0)
        .find(|&n| crossed(n) > 0)
        .expect("a neuron of layer 0 crosses a threshold along the run");

    (neuron, crossed(neuron))
}

/// The page, training view included, sets up in Chromium without an error, and the neuron's
/// view marks its crossings.
fn chromium_marks_the_crossings(dir: &Path, report: &Path, (neuron, crossings): (usize, usize)) {
    if let Some(chromium) = census_testkit::chromium::chromium() {
        let dom = census_testkit::chromium::run_url(
            &chromium,
            &dir.join("chromium-profile"),
            &["--dump-dom"],
            &format!(
                "file://{}#m=neuron-census-tiny&l=0&n={neuron}",
                report.join("index.html").display()
            ),
        );
        let body = census_testkit::chromium::body_tag(&dom);
        assert!(
            body.contains("data-ready=\"1\"") && !body.contains("data-error"),
            "{body}"
        );
        assert!(body.contains(&format!("data-browser=\"neuron-census-tiny/0/{neuron}\"")));
        assert!(dom.contains("id=\"training-dead-neuron-census-tiny\""));
        assert!(
            dom.contains(&format!(
                "<div class=\"history\" data-crossings=\"{}\">",
                crossings
            )),
            "neuron {neuron} should show {} crossings",
            crossings
        );
    }
}

/// The report rests on the analyses alone: with the models and runs moved away, the same
/// analyses render the same report, byte for byte (training view, names, provenance and example
/// contexts included).
fn the_report_rests_on_the_analyses_alone(dir: &Path, out: &Path, analyses: &[PathBuf]) {
    let render = |to: &Path| {
        let mut args: Vec<String> = vec!["report".into(), "--out".into(), to.display().to_string()];
        for a in analyses {
            args.extend(["--analysis".to_string(), a.display().to_string()]);
        }
        args.push("--no-png".to_string());
        let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    };
    let (before, after) = (dir.join("before"), dir.join("after"));
    render(&before);
    let away = dir.join("away");
    std::fs::create_dir_all(&away).unwrap();
    std::fs::rename(out.join("trained"), away.join("trained")).unwrap();
    for (i, analysis) in analyses.iter().enumerate() {
        let run = analysis.parent().unwrap().join("run");
        std::fs::rename(&run, away.join(format!("run-{i}"))).unwrap();
    }
    render(&after);
    let (before, after) = (
        census_testkit::snapshot(&before),
        census_testkit::snapshot(&after),
    );
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (file, bytes) in &before {
        assert!(after[file] == *bytes, "{} differs", file.display());
    }
    assert!(
        std::str::from_utf8(&before[Path::new("index.html")])
            .unwrap()
            .contains("<section id=\"training\">")
    );
    let contexts = before
        .iter()
        .filter(|(file, _)| file.starts_with("data"))
        .filter(|(_, bytes)| std::str::from_utf8(bytes).unwrap().contains("\"before\":"))
        .count();
    assert!(contexts > 0, "no example contexts in the browser's data");
}

#[test]
fn a_pipeline_runs_a_series_of_hub_revisions() {
    use census_testkit::hub_server::{HubServer, Revision};
    let fixture = census_testkit::fixtures_dir().join("opt/pre-ln");
    let server = HubServer::serve(
        "test-org/opt-tiny",
        vec![
            Revision::new("main", &"0".repeat(40), fixture.clone()),
            Revision::new("step-50", &"5".repeat(40), fixture.clone()),
            Revision::new("step-100", &"a".repeat(40), fixture),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hf");
    let sample = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    let pipeline = dir.path().join("p.toml");
    let write = |models: &str| {
        std::fs::write(
            &pipeline,
            format!(
                "name = \"t\"\nmodels = [\"{models}\"]\n[extract]\ndata = [\"{}\"]\n\
                 max-seq-len = 32\nfull-length = true\n[report]\nno-png = true\n",
                sample.display()
            ),
        )
        .unwrap();
    };
    let out = dir.path().join("out");
    let args = run_args(&pipeline, &out);
    let env = [
        ("HF_ENDPOINT", server.endpoint.as_str()),
        ("HF_HOME", cache.to_str().unwrap()),
    ];

    // A revision whose name gives no step is refused before anything runs.
    write("series:test-org/opt-tiny@main,step-50");
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(
        !ok && log.contains("`main`") && log.contains("names no step"),
        "{log}"
    );
    assert!(!out.exists());

    // Revisions in any order run in step order, each its own stage.
    write("series:test-org/opt-tiny@step-100,step-50");
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        [
            "extract/opt-tiny/step-50",
            "analyze/opt-tiny/step-50",
            "extract/opt-tiny/step-100",
            "analyze/opt-tiny/step-100",
            "report"
        ],
        "{log}"
    );
    for step in [50, 100] {
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("opt-tiny/step-{step}/run/manifest.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            manifest["config"]["model"]["source"],
            format!("test-org/opt-tiny@step-{step}")
        );
    }
    // The report follows the repository along its revisions, named after it.
    let report = out.join("report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("<section id=\"training\">"));
    assert_eq!(training_steps(&report, "test-org/opt-tiny"), ["50", "100"]);
    assert_eq!(std::fs::read_dir(report.join("data")).unwrap().count(), 1);
    // From the cache, offline, nothing runs again.
    let offline = [env[1], ("HF_HUB_OFFLINE", "1")];
    let (ok, log) = xtask_run_with(&args, &offline);
    assert!(ok && stages_run(&log).is_empty(), "{log}");
}

/// A preset's hub revisions as a series (`series:pythia-160m@…`), served by the local hub: a
/// GPT-NeoX model (rotary, parallel residual, no BOS) along its checkpoints, end to end.
#[test]
fn a_pipeline_runs_a_pythia_presets_checkpoints_from_the_hub() {
    use census_testkit::hub_server::{HubServer, Revision};
    let fixture = census_testkit::family_fixture("pythia");
    let server = HubServer::serve(
        "EleutherAI/pythia-160m",
        vec![
            Revision::new("step1000", &"1".repeat(40), fixture.clone()),
            Revision::new("step2000", &"2".repeat(40), fixture),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hf");
    let sample = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "name = \"t\"\nmodels = [\"series:pythia-160m@step2000,step1000\"]\n[extract]\n\
             data = [\"{}\"]\nmax-seq-len = 32\nfull-length = true\n[report]\nno-png = true\n",
            sample.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let env = [
        ("HF_ENDPOINT", server.endpoint.as_str()),
        ("HF_HOME", cache.to_str().unwrap()),
    ];
    let (ok, log) = xtask_run_with(&run_args(&pipeline, &out), &env);
    assert!(ok, "{log}");
    assert_eq!(
        stages_run(&log),
        [
            "extract/pythia-160m/step-1000",
            "analyze/pythia-160m/step-1000",
            "extract/pythia-160m/step-2000",
            "analyze/pythia-160m/step-2000",
            "report"
        ],
        "{log}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("pythia-160m/step-1000/run/manifest.json")).unwrap(),
    )
    .unwrap();
    let config = &manifest["config"];
    assert_eq!(config["model"]["source"], "EleutherAI/pythia-160m@step1000");
    assert_eq!(config["model"]["config"]["model_type"], "gpt_neox");
    assert_eq!(config["sequence_start"], "text");
    assert_eq!(
        config["ffn"], "host",
        "the CPU's default engine runs every family"
    );
    let report = out.join("report");
    assert_eq!(
        training_steps(&report, "EleutherAI/pythia-160m"),
        ["1000", "2000"]
    );
    // The report names the family beside each model, and its fired rule in the provenance.
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        html.contains("<br><span class=\"muted\">gpt_neox</span></th>"),
        "no family in the headline table"
    );
    assert!(
        html.contains("dense_h_to_4h"),
        "no fired rule in the provenance"
    );
}

#[test]
fn a_pipeline_spreads_its_extractions_over_devices_and_keeps_its_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _) = sample_pipeline(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let (ok, _) = xtask_run(&run_args(&pipeline, &one));
    assert!(ok);
    let mut args = run_args(&pipeline, &two).to_vec();
    args.extend(["--devices", "cpu,cpu"]);
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    // The log says where each stage runs.
    let placed = |stage: &str| {
        log.lines()
            .find(|l| l.contains(" running ") && l.contains(&format!("stage={stage} ")))
            .and_then(|l| l.split("on=").nth(1))
            .map(|s| s.split_whitespace().next().unwrap().to_string())
    };
    assert_eq!(
        placed("extract/pre-ln").as_deref(),
        Some("cpu:0,cpu:1"),
        "{log}"
    );
    assert_eq!(placed("analyze/pre-ln").as_deref(), Some("host"), "{log}");
    // The same run, analysis and report as on one device, the parts' devices aside.
    let (run_one, run_two) = (one.join("pre-ln/run"), two.join("pre-ln/run"));
    assert_eq!(
        census_testkit::files_except(&run_two, "manifest.json"),
        census_testkit::files_except(&run_one, "manifest.json")
    );
    let manifest = census_format::run::Manifest::load(&run_two)
        .unwrap()
        .unwrap();
    assert!(manifest.parts.iter().all(|p| p.device.is_some()));
    for table in ["neurons", "layers", "detectors"] {
        let file = format!("pre-ln/analysis/{table}.parquet");
        assert_eq!(
            std::fs::read(two.join(&file)).unwrap(),
            std::fs::read(one.join(&file)).unwrap(),
            "{table}"
        );
    }
    // Where a run was computed is not part of its request: without --devices, or with others,
    // every stage is up to date.
    let (ok, log) = xtask_run(&run_args(&pipeline, &two));
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");
    let mut args = run_args(&pipeline, &one).to_vec();
    args.extend(["--devices", "cpu,cpu,cpu"]);
    let (ok, log) = xtask_run(&args);
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");
}

/// A stand-in for Slurm's `sbatch` on `PATH`: it records each call, runs the job script at
/// once (in order, so a job's dependencies have run before it; a job array's script once per
/// task of its `#SBATCH --array=` list, with `SLURM_ARRAY_TASK_ID` set) and prints a job id.
fn fake_sbatch(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        r#"#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$FAKE_SBATCH_LOG"
n=$(wc -l < "$FAKE_SBATCH_LOG")
script="${@: -1}"
tasks=$(sed -n 's/^#SBATCH --array=//p' "$script")
if [ -z "$tasks" ]; then
  bash "$script" > "$FAKE_SBATCH_LOG.job-$n" 2>&1 || { echo "job $script failed" >&2; exit 1; }
else
  for task in ${tasks//,/ }; do
    SLURM_ARRAY_TASK_ID=$task bash "$script" > "$FAKE_SBATCH_LOG.job-$n-$task" 2>&1 \
      || { echo "task $task of $script failed" >&2; exit 1; }
  done
fi
echo "$((1000 + n));cluster"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `PATH` with [`fake_sbatch`] first, and the log it records its calls in.
fn fake_sbatch_path(dir: &Path) -> (String, PathBuf) {
    let bin = fake_sbatch(dir);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (path, dir.join("sbatch.log"))
}

/// The job scripts `run --slurm` wrote into `out/slurm`, by name.
fn job_scripts(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("slurm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sh"))
        .collect();
    names.sort();
    names
}

/// Asserts that `tables` of the analysis of model `slug` are the same files in outputs `a` and
/// `b`.
fn assert_same_tables(a: &Path, b: &Path, slug: &str, tables: &[&str]) {
    for table in tables {
        let file = format!("{slug}/analysis/{table}.parquet");
        assert_eq!(
            std::fs::read(a.join(&file)).unwrap(),
            std::fs::read(b.join(&file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_pipeline_submitted_to_slurm_equals_the_pipeline_run() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _) = sample_pipeline(dir.path());
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    text.push_str("[slurm]\npartition = \"gpu\"\ntime = \"01:00:00\"\ngpus = 1\n");
    std::fs::write(&pipeline, &text).unwrap();
    let (plain, jobs) = (dir.path().join("plain"), dir.path().join("jobs"));
    assert!(xtask_run(&run_args(&pipeline, &plain)).0);

    // --slurm alone writes a script per stage and runs nothing.
    let mut args = run_args(&pipeline, &jobs).to_vec();
    args.push("--slurm");
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    assert_eq!(
        job_scripts(&jobs),
        [
            "001-census-extract-pre-ln.sh",
            "002-census-analyze-pre-ln.sh",
            "003-census-report.sh"
        ]
    );
    let extract = std::fs::read_to_string(jobs.join("slurm/001-census-extract-pre-ln.sh")).unwrap();
    for line in [
        "#SBATCH --partition=gpu",
        "#SBATCH --time=01:00:00",
        "#SBATCH --gpus=1",
        "--stage 'extract/pre-ln'",
    ] {
        assert!(extract.contains(line), "{line}: {extract}");
    }
    let report = std::fs::read_to_string(jobs.join("slurm/003-census-report.sh")).unwrap();
    assert!(!report.contains("--gpus"), "{report}");
    assert!(!jobs.join("pre-ln/run").exists(), "nothing ran");

    // --submit: each job after those it reads, and the outputs of the plain run.
    let (path, sbatch_log) = fake_sbatch_path(dir.path());
    let env = [
        ("PATH", path.as_str()),
        ("FAKE_SBATCH_LOG", sbatch_log.to_str().unwrap()),
    ];
    args.push("--submit");
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    let calls = std::fs::read_to_string(&sbatch_log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[0].starts_with("--parsable ") && !calls[0].contains("--dependency"));
    assert!(
        calls[1].contains("--dependency=afterok:1001 "),
        "{}",
        calls[1]
    );
    assert!(
        calls[2].contains("--dependency=afterok:1002 "),
        "{}",
        calls[2]
    );
    assert_eq!(
        census_testkit::files_except(&jobs.join("pre-ln/run"), "manifest.json"),
        census_testkit::files_except(&plain.join("pre-ln/run"), "manifest.json")
    );
    assert_same_tables(
        &jobs,
        &plain,
        "pre-ln",
        &["neurons", "layers", "detectors", "coverage"],
    );
    assert!(jobs.join("report/index.html").is_file());
    // The jobs kept the ledger: a plain run finds every stage up to date.
    let (ok, log) = xtask_run(&run_args(&pipeline, &jobs));
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");

    // A rerun submits nothing; a changed report submits the report alone.
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    assert_eq!(
        std::fs::read_to_string(&sbatch_log)
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert!(job_scripts(&jobs).is_empty());
    std::fs::write(
        &pipeline,
        text.replace("no-png = true", "no-png = true\ncontexts = 2"),
    )
    .unwrap();
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    let calls = std::fs::read_to_string(&sbatch_log).unwrap();
    let last: Vec<&str> = calls.lines().skip(3).collect();
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(last[0].ends_with("003-census-report.sh") || last[0].ends_with("001-census-report.sh"));
    assert!(!last[0].contains("--dependency"), "{}", last[0]);

    // A stage that is not the pipeline's is named with the pipeline's stages.
    let mut args = run_args(&pipeline, &jobs).to_vec();
    args.extend(["--stage", "extract/nothing"]);
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(
        log.contains("--stage extract/nothing") && log.contains("analyze/pre-ln"),
        "{log}"
    );
}

/// `[split]`: each extraction as shards and each analysis as layer ranges merged into one. The
/// shards hold every sequence of the whole run once; the analysis of the shards equals the
/// analysis of the whole run; submitted to Slurm, the shards and the ranges are job arrays, and
/// the outputs equal the plain run's.
#[test]
fn a_split_pipeline_runs_as_job_arrays_and_equals_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _) = sample_pipeline(dir.path());
    let whole_text = std::fs::read_to_string(&pipeline).unwrap();
    let (whole, plain, jobs) = (
        dir.path().join("whole"),
        dir.path().join("plain"),
        dir.path().join("jobs"),
    );
    assert!(xtask_run(&run_args(&pipeline, &whole)).0);
    let text = format!("{whole_text}[split]\nextract = 3\nanalyze = 2\n");
    std::fs::write(&pipeline, &text).unwrap();

    let (ok, log) = xtask_run(&run_args(&pipeline, &plain));
    assert!(ok, "{log}");
    let mut ran = stages_run(&log);
    ran.sort();
    assert_eq!(
        ran,
        [
            "analyze/pre-ln/part-0-of-2",
            "analyze/pre-ln/part-1-of-2",
            "extract/pre-ln/shard-0-of-3",
            "extract/pre-ln/shard-1-of-3",
            "extract/pre-ln/shard-2-of-3",
            "merge/pre-ln",
            "report"
        ],
        "{log}"
    );
    // Every sequence of the whole run, in exactly one shard.
    let sequences = |run: &Path| -> u64 {
        let manifest = census_format::run::Manifest::load(run).unwrap().unwrap();
        assert!(manifest.complete);
        manifest.parts.iter().map(|p| p.sequences).sum()
    };
    let shards: u64 = (0..3)
        .map(|i| sequences(&plain.join(format!("pre-ln/run/shard-{i}-of-3"))))
        .sum();
    assert_eq!(shards, sequences(&whole.join("pre-ln/run")));
    for table in [
        "neurons",
        "layers",
        "detectors",
        "coverage",
        "token_detectors",
    ] {
        let file = format!("pre-ln/analysis/{table}.parquet");
        let (split, one) = (plain.join(&file), whole.join(&file));
        if !one.exists() {
            continue;
        }
        assert_eq!(
            std::fs::read(split).unwrap(),
            std::fs::read(one).unwrap(),
            "{table}: the split analysis differs from the whole one"
        );
    }
    // Up to date on a rerun.
    let (ok, log) = xtask_run(&run_args(&pipeline, &plain));
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");

    // As Slurm jobs: one array of shards, one of layer ranges, the merge, the report.
    let (path, sbatch_log) = fake_sbatch_path(dir.path());
    let env = [
        ("PATH", path.as_str()),
        ("FAKE_SBATCH_LOG", sbatch_log.to_str().unwrap()),
    ];
    let mut args = run_args(&pipeline, &jobs).to_vec();
    args.extend(["--slurm", "--submit", "--slurm-time", "02:00:00"]);
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    let scripts = job_scripts(&jobs);
    assert_eq!(
        scripts,
        [
            "001-census-extract-pre-ln-shards-of-3.sh",
            "002-census-analyze-pre-ln-parts-of-2.sh",
            "003-census-merge-pre-ln.sh",
            "004-census-report.sh"
        ]
    );
    let shards_script = std::fs::read_to_string(jobs.join("slurm").join(&scripts[0])).unwrap();
    assert!(
        shards_script.contains("#SBATCH --array=0,1,2\n"),
        "{shards_script}"
    );
    assert!(
        shards_script.contains("#SBATCH --time=02:00:00\n"),
        "{shards_script}"
    );
    let calls = std::fs::read_to_string(&sbatch_log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(!calls[0].contains("--dependency"), "{}", calls[0]);
    for (call, after) in calls[1..].iter().zip(["1001", "1002", "1003"]) {
        assert!(
            call.contains(&format!("--dependency=afterok:{after} ")),
            "{call}"
        );
    }
    for i in 0..3 {
        let run = format!("pre-ln/run/shard-{i}-of-3");
        assert_eq!(
            census_testkit::files_except(&jobs.join(&run), "manifest.json"),
            census_testkit::files_except(&plain.join(&run), "manifest.json")
        );
    }
    assert_same_tables(
        &jobs,
        &plain,
        "pre-ln",
        &["neurons", "layers", "detectors", "coverage"],
    );
    assert!(jobs.join("report/index.html").is_file());
    let (ok, log) = xtask_run(&run_args(&pipeline, &jobs));
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");

    // One shard lost: the rerun submits an array of that shard alone, then what reads it.
    std::fs::remove_dir_all(jobs.join("pre-ln/run/shard-1-of-3")).unwrap();
    let (ok, log) = xtask_run_with(&args, &env);
    assert!(ok, "{log}");
    let script =
        std::fs::read_to_string(jobs.join("slurm/001-census-extract-pre-ln-shards-of-3.sh"))
            .unwrap();
    assert!(script.contains("#SBATCH --array=1\n"), "{script}");
    let calls = std::fs::read_to_string(&sbatch_log).unwrap();
    assert_eq!(calls.lines().count(), 8, "{calls}");

    // A whole run where the split puts shards is refused, and kept.
    let mut args = run_args(&pipeline, &whole).to_vec();
    args.push("--force");
    let (ok, log) = xtask_run(&args);
    assert!(!ok);
    assert!(log.contains("holds a whole run"), "{log}");
    assert!(whole.join("pre-ln/run/manifest.json").is_file());
}

/// `--devices-per-extraction 1`: the extractions of different models run side by side, one on
/// each device, and give what one device gives model by model; the report keeps the pipeline's
/// order, and the ledger holds every stage.
#[test]
fn independent_models_run_side_by_side_on_their_own_devices() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _) = sample_pipeline(dir.path());
    let text = std::fs::read_to_string(&pipeline).unwrap();
    // Three models of one tokenizer: the pre-LN fixture's, given to the others.
    let fixtures = census_testkit::fixtures_dir().join("opt");
    let models = ["pre-ln", "f16", "post-ln-proj"].map(|m| {
        let copy = dir.path().join(m);
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(fixtures.join(m)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
        for file in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
            std::fs::copy(fixtures.join("pre-ln").join(file), copy.join(file)).unwrap();
        }
        format!("\"{}\"", copy.display())
    });
    let models = models.join(", ");
    let (first, rest) = text.split_once('\n').unwrap();
    let (_, rest) = rest.split_once('\n').unwrap();
    std::fs::write(&pipeline, format!("{first}\nmodels = [{models}]\n{rest}")).unwrap();
    let (one, side) = (dir.path().join("one"), dir.path().join("side"));
    let (ok, log) = xtask_run(&run_args(&pipeline, &one));
    assert!(ok, "{log}");
    let mut args = run_args(&pipeline, &side).to_vec();
    args.extend(["--devices", "cpu,cpu", "--devices-per-extraction", "1"]);
    let (ok, log) = xtask_run(&args);
    assert!(ok, "{log}");
    let mut placed: Vec<String> = log
        .lines()
        .filter(|l| l.contains(" running ") && l.contains("stage=extract/"))
        .filter_map(|l| l.split("on=").nth(1))
        .map(|s| s.split_whitespace().next().unwrap().to_string())
        .collect();
    placed.sort();
    placed.dedup();
    assert_eq!(placed, ["cpu:0", "cpu:1"], "{log}");
    for model in ["pre-ln", "f16", "post-ln-proj"] {
        assert_eq!(
            census_testkit::files_except(&side.join(model).join("run"), "manifest.json"),
            census_testkit::files_except(&one.join(model).join("run"), "manifest.json"),
            "{model}"
        );
        for table in ["neurons", "layers", "detectors", "coverage"] {
            let file = format!("{model}/analysis/{table}.parquet");
            assert_eq!(
                std::fs::read(side.join(&file)).unwrap(),
                std::fs::read(one.join(&file)).unwrap(),
                "{file}"
            );
        }
    }
    let report = std::fs::read_to_string(side.join("report/index.html")).unwrap();
    let at = |model: &str| {
        report
            .find(model)
            .unwrap_or_else(|| panic!("{model} not in the report"))
    };
    assert!(at("pre-ln") < at("f16") && at("f16") < at("post-ln-proj"));
    let (ok, log) = xtask_run(&run_args(&pipeline, &side));
    assert!(ok);
    assert_eq!(stages_run(&log), Vec::<String>::new(), "{log}");

    let mut args = run_args(&pipeline, &side).to_vec();
    args.extend(["--devices-per-extraction", "1"]);
    let (ok, log) = xtask_run(&args);
    assert!(!ok && log.contains("--devices"), "{log}");
}

#[test]
fn a_pipeline_makes_its_data_from_the_hub_first_and_runs_without_an_optional_source() {
    use census_testkit::hub_server::{HubServer, Revision};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // Stand-ins of the Pile's validation and test parts (the sample corpus as Wikipedia and
    // DM Mathematics documents) and of a CodeParrot file.
    let (pile, code) = (dir.path().join("pile"), dir.path().join("code"));
    std::fs::create_dir_all(&pile).unwrap();
    std::fs::create_dir_all(&code).unwrap();
    let sample =
        std::fs::read_to_string(census_testkit::fixtures_dir().join("corpus/sample.jsonl"))
            .unwrap();
    let texts: Vec<String> = sample
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for (file, domain) in [
        ("val.jsonl", "Wikipedia (en)"),
        ("test.jsonl", "DM Mathematics"),
    ] {
        let lines: Vec<String> = texts
            .iter()
            .map(|t| serde_json::json!({"text": t, "meta": {"pile_set_name": domain}}).to_string())
            .collect();
        std::fs::write(pile.join(file), lines.join("\n") + "\n").unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for t in &texts {
        let code = format!("# {t}\nprint(len({t:?}))\n");
        writeln!(gz, "{}", serde_json::json!({ "content": code })).unwrap();
    }
    std::fs::write(code.join("file-000000000001.json.gz"), gz.finish().unwrap()).unwrap();
    let server = HubServer::serve_repos(vec![
        (
            "datasets/EleutherAI/pile_val_test".to_string(),
            vec![Revision::new("main", &"1".repeat(40), pile)],
        ),
        (
            "datasets/codeparrot/codeparrot-clean".to_string(),
            vec![Revision::new("main", &"2".repeat(40), code)],
        ),
    ]);
    let model = census_testkit::fixtures_dir().join("opt/pre-ln");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "name = \"t\"\nmodels = [\"{}\"]\n[data]\nrecipe = \"paper\"\nout = \"data\"\n\
             [extract]\ndata = [\"data/wikipedia.jsonl,domain=Wikipedia,max_tokens=600\", \
             \"data/codeparrot.jsonl,domain=CodeParrot,max_tokens=600\", \
             \"data/reddit.jsonl,domain=Reddit,optional\"]\nmax-seq-len = 32\n\
             [report]\nno-png = true\n",
            model.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let cache = dir.path().join("hf");
    let env = [
        ("HF_ENDPOINT", server.endpoint.as_str()),
        ("HF_HOME", cache.to_str().unwrap()),
    ];
    let (ok, log) = xtask_run_with(&run_args(&pipeline, &out), &env);
    assert!(ok, "{log}");
    assert!(log.contains("domain file written"), "{log}");
    assert!(
        log.contains("reddit.jsonl") && log.contains("runs without it"),
        "{log}"
    );
    let manifest = census_format::run::Manifest::load(&out.join("pre-ln/run"))
        .unwrap()
        .unwrap();
    assert_eq!(manifest.domains, ["Wikipedia", "CodeParrot"]);
    assert!(out.join("report/index.html").is_file());
    let downloads = server.downloaded();

    // A second run finds the data and every stage up to date; nothing is downloaded.
    let (ok, log) = xtask_run_with(&run_args(&pipeline, &out), &env);
    assert!(ok, "{log}");
    assert!(stages_run(&log).is_empty(), "{log}");
    assert!(!log.contains("domain file written"), "{log}");
    assert_eq!(server.downloaded(), downloads);

    // Reddit put in place: the extraction runs again, now with it.
    let comments: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({ "text": format!("> {t}\nagreed") }).to_string())
        .collect();
    std::fs::write(
        dir.path().join("data/reddit.jsonl"),
        comments.join("\n") + "\n",
    )
    .unwrap();
    // Its run holds other data now: replaced only when asked.
    let (ok, log) = xtask_run_with(&run_args(&pipeline, &out), &env);
    assert!(!ok && log.contains("different configuration"), "{log}");
    let mut forced = run_args(&pipeline, &out).to_vec();
    forced.push("--force");
    let (ok, log) = xtask_run_with(&forced, &env);
    assert!(ok, "{log}");
    let manifest = census_format::run::Manifest::load(&out.join("pre-ln/run"))
        .unwrap()
        .unwrap();
    assert_eq!(manifest.domains, ["Wikipedia", "CodeParrot", "Reddit"]);
}
