//! Every row of `docs/BAD-INPUTS.md`, run: the input the row names is built, the command runs,
//! and it must fail without panicking, with a message holding every fragment of the row's last
//! column, leaving every file that existed before byte for byte as it was.

mod common;
use census_testkit::planted;

use std::path::{Path, PathBuf};

use common::{
    Outcome, bad_inputs_table, changed, copy_dir, extract_args, extract_model_args, model, sample,
    snapshot, strings, tiny_train_args, world, xtask_in,
};

/// The table's rows: id and the fragments the message must hold.
fn table() -> Vec<(String, Vec<String>)> {
    bad_inputs_table(false)
        .into_iter()
        .map(|cells| {
            let id = cells[0].trim_matches('`').to_string();
            let fragments = cells[3]
                .split(" · ")
                .map(|f| f.trim().trim_matches('`').to_string())
                .collect();
            (id, fragments)
        })
        .collect()
}

fn foreign(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join("notes.txt"), "mine").unwrap();
}

fn model_copy(dir: &Path) -> PathBuf {
    let m = dir.join("m");
    copy_dir(&census_testkit::fixtures_dir().join("opt/pre-ln"), &m);
    m
}

/// `run` of a pipeline `p.toml` in `dir` of `model` (default: the pre-LN fixture) with the
/// stage tables `tables`, into `dir/out`.
fn pipeline_case(dir: &Path, tables: &str, models: Option<&str>) -> Vec<String> {
    let model = models.map_or_else(model, str::to_string);
    std::fs::write(
        dir.join("p.toml"),
        format!("name = \"t\"\nmodels = [\"{model}\"]\n{tables}"),
    )
    .unwrap();
    strings(&[
        "run",
        "--pipeline",
        dir.join("p.toml").to_str().unwrap(),
        "--out",
        dir.join("out").to_str().unwrap(),
    ])
}

/// Runs `args` in `dir` to make a case's input; it must succeed.
fn made(dir: &Path, args: &[String]) {
    let outcome = xtask_in(dir, args, &[]);
    assert!(outcome.ok(), "{args:?}: {}", outcome.stderr);
}

/// Writes `value` over element `index` of the f32 tensor `name` in a safetensors file.
fn poke_f32(path: &Path, name: &str, index: usize, value: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header[name]["dtype"], "F32");
    let begin = header[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + header_len + begin + 4 * index;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// Builds case `id`'s input in `dir`; returns the command's arguments (run in `dir`).
fn case(id: &str, dir: &Path) -> Vec<String> {
    let w = world();
    let copy_run = || copy_dir(&w.run, &dir.join("run"));
    let analyze = |extra: &[&str]| {
        let mut args = strings(&["analyze", "--run", "run", "--out", "a"]);
        args.extend(strings(extra));
        args
    };
    match id {
        "extract-missing-data" => extract_args("run", "48", "typo.jsonl"),
        "extract-missing-data-over-run" => {
            copy_run();
            extract_args("run", "48", "typo.jsonl")
        }
        "extract-malformed-jsonl" => {
            std::fs::write(
                dir.join("bad.jsonl"),
                "{\"text\": \"ok\"}\n{\"text\": broken\n",
            )
            .unwrap();
            extract_args("run", "48", "bad.jsonl")
        }
        "extract-truncated-checkpoint" => {
            let m = model_copy(dir);
            let bytes = std::fs::read(m.join("model.safetensors")).unwrap();
            std::fs::write(m.join("model.safetensors"), &bytes[..1000]).unwrap();
            extract_model_args("m", "run", "48", &sample())
        }
        "extract-config-mismatch" => {
            let m = model_copy(dir);
            let config = std::fs::read_to_string(m.join("config.json")).unwrap();
            let config = config.replace("\"ffn_dim\": 128", "\"ffn_dim\": 256");
            std::fs::write(m.join("config.json"), config).unwrap();
            extract_model_args("m", "run", "48", &sample())
        }
        "extract-unknown-family" => {
            let m = model_copy(dir);
            let config = std::fs::read_to_string(m.join("config.json")).unwrap();
            let config = config.replace("\"model_type\": \"opt\"", "\"model_type\": \"bloom\"");
            std::fs::write(m.join("config.json"), config).unwrap();
            extract_model_args("m", "run", "48", &sample())
        }
        "extract-sentencepiece-only" => {
            let m = dir.join("m");
            copy_dir(&census_testkit::family_fixture("llama"), &m);
            std::fs::remove_file(m.join("tokenizer.json")).unwrap();
            std::fs::write(m.join("tokenizer.model"), b"sentencepiece").unwrap();
            extract_model_args("m", "run", "32", &sample())
        }
        "extract-malformed-tokenizer-config" => {
            let m = dir.join("m");
            copy_dir(&census_testkit::family_fixture("llama"), &m);
            std::fs::write(m.join("tokenizer_config.json"), b"{\"tokenizer_class\": ").unwrap();
            extract_model_args("m", "run", "32", &sample())
        }
        "extract-devices-mixed" => {
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--devices", "cpu,cuda"]));
            args
        }
        "extract-devices-and-device" => {
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--devices", "cpu,cpu", "--device", "cpu"]));
            args
        }
        "analyze-exclude-bos-without-bos" => {
            let gpt2 = census_testkit::family_fixture("gpt2");
            made(
                dir,
                &extract_model_args(gpt2.to_str().unwrap(), "run", "32", &sample()),
            );
            analyze(&["--exclude-bos", "--no-projection"])
        }
        "extract-sequence-too-long" => extract_args("run", "4096", &sample()),
        "extract-empty-sequences" => extract_args("run", "0", &sample()),
        "extract-foreign-out" => {
            foreign(dir, "run");
            extract_args("run", "48", &sample())
        }
        "extract-changed-config" => {
            copy_run();
            extract_args("run", "40", &sample())
        }
        "analyze-not-a-run" => {
            foreign(dir, "run");
            analyze(&[])
        }
        "analyze-truncated-manifest" => {
            copy_run();
            let manifest = dir.join("run/manifest.json");
            let text = std::fs::read(&manifest).unwrap();
            std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
            analyze(&[])
        }
        "analyze-layer-part-copied" => {
            copy_run();
            std::fs::copy(
                dir.join("run/activations/layer=00/part-00000.parquet"),
                dir.join("run/activations/layer=01/part-00000.parquet"),
            )
            .unwrap();
            analyze(&[])
        }
        "analyze-part-of-another-run" => {
            copy_run();
            let made = xtask_in(dir, &extract_args("other", "40", &sample()), &[]);
            assert!(made.ok(), "{}", made.stderr);
            std::fs::copy(
                dir.join("other/activations/layer=01/part-00000.parquet"),
                dir.join("run/activations/layer=01/part-00000.parquet"),
            )
            .unwrap();
            std::fs::remove_dir_all(dir.join("other")).unwrap();
            analyze(&[])
        }
        "analyze-duplicate-neurons" => {
            copy_run();
            planted::edit_activations(
                &dir.join("run/activations/layer=01/part-00000.parquet"),
                |lists| {
                    let row = lists.iter().position(|l| !l.is_empty()).unwrap();
                    let first = lists[row][0];
                    lists[row].push(first);
                },
            );
            analyze(&["--rewritten-parts"])
        }
        "analyze-token-beyond-vocabulary" => {
            copy_run();
            planted::edit_tokens(&dir.join("run/tokens/part-00000.parquet"), |rows| {
                rows.token[5] = 600
            });
            analyze(&["--rewritten-parts"])
        }
        "analyze-corrupt-part" => {
            copy_run();
            std::fs::write(dir.join("run/tokens/part-00000.parquet"), "not parquet").unwrap();
            analyze(&[])
        }
        "analyze-out-is-a-run" => {
            copy_run();
            copy_dir(&w.run, &dir.join("other-run"));
            strings(&["analyze", "--run", "run", "--out", "other-run"])
        }
        "analyze-out-foreign" => {
            copy_run();
            foreign(dir, "a");
            analyze(&[])
        }
        "analyze-bad-option" => {
            copy_run();
            analyze(&["--coverage-share", "1.5"])
        }
        "analyze-unknown-domain" => {
            copy_run();
            analyze(&["--domains", "poetry"])
        }
        "report-missing-table" => {
            copy_dir(&w.analysis, &dir.join("a"));
            copy_dir(&w.report, &dir.join("report"));
            std::fs::remove_file(dir.join("a/positional.parquet")).unwrap();
            strings(&["report", "--analysis", "a", "--out", "report", "--no-png"])
        }
        "report-share-out-of-range" => {
            copy_dir(&w.analysis, &dir.join("a"));
            planted::rewrite_column(&dir.join("a/layers.parquet"), "dead_share", |_| 1.5);
            strings(&["report", "--analysis", "a", "--out", "report", "--no-png"])
        }
        "report-same-analysis-twice" => {
            copy_dir(&w.analysis, &dir.join("a"));
            strings(&[
                "report",
                "--analysis",
                "a",
                "--analysis",
                "./a",
                "--out",
                "report",
            ])
        }
        "report-claim-rule-out-of-range" => {
            copy_dir(&w.analysis, &dir.join("a"));
            strings(&[
                "report",
                "--analysis",
                "a",
                "--out",
                "report",
                "--no-png",
                "--claim-split-min",
                "0.6",
                "--claim-split-max",
                "0.4",
            ])
        }
        "report-out-foreign" => {
            copy_dir(&w.analysis, &dir.join("a"));
            foreign(dir, "report");
            strings(&["report", "--analysis", "a", "--out", "report", "--no-png"])
        }
        "run-force-data-typo" => {
            let pipeline = |data: &str| {
                let text = format!(
                    "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{data}\"]\nmax-seq-len = 48\n[report]\nno-png = true\n",
                    model()
                );
                std::fs::write(dir.join("p.toml"), text).unwrap();
            };
            pipeline(&sample());
            let args = strings(&[
                "run",
                "--pipeline",
                dir.join("p.toml").to_str().unwrap(),
                "--out",
                dir.join("out").to_str().unwrap(),
            ]);
            let done = xtask_in(dir, &args, &[]);
            assert!(done.ok(), "{}", done.stderr);
            pipeline(&dir.join("corpsu.jsonl").display().to_string());
            let mut forced = args;
            forced.push("--force".to_string());
            forced
        }
        "run-unknown-key" => {
            std::fs::write(
                dir.join("p.toml"),
                format!(
                    "name = \"t\"\nmodels = [\"{}\"]\n[extract]\nbogus = 1\n",
                    model()
                ),
            )
            .unwrap();
            strings(&[
                "run",
                "--pipeline",
                dir.join("p.toml").to_str().unwrap(),
                "--out",
                dir.join("out").to_str().unwrap(),
            ])
        }
        "run-unknown-key-in-runs" => pipeline_case(
            dir,
            &format!(
                "[extract]\ndata = [\"{}\"]\n[runs.x]\nbogus = 1\n",
                sample()
            ),
            None,
        ),
        "run-switch-given-a-string" => pipeline_case(
            dir,
            &format!(
                "[extract]\ndata = [\"{}\"]\nfull-length = \"yes\"\n",
                sample()
            ),
            None,
        ),
        "run-missing-series" => pipeline_case(
            dir,
            &format!("[extract]\ndata = [\"{}\"]\n", sample()),
            Some("series:no-such-dir"),
        ),
        "run-empty-series" => pipeline_case(
            dir,
            &format!("[extract]\ndata = [\"{}\"]\n", sample()),
            Some("series:"),
        ),
        "run-out-inside-model" => {
            let m = model_copy(dir);
            let mut args = pipeline_case(
                dir,
                &format!("[extract]\ndata = [\"{}\"]\n", sample()),
                Some(m.to_str().unwrap()),
            );
            let out = args.len() - 1;
            args[out] = m.join("out").display().to_string();
            args
        }
        "run-missing-pipeline" => {
            strings(&["run", "--pipeline", dir.join("none.toml").to_str().unwrap()])
        }
        "train-foreign-out" => {
            foreign(dir, "thesis");
            let corpus = census_testkit::fixtures_dir().join("../../data/corpus/train.jsonl");
            strings(&[
                "train",
                "--data",
                corpus.to_str().unwrap(),
                "--eval-data",
                "none",
                "--out",
                "thesis",
                "--force",
            ])
        }
        "train-empty-corpus" => {
            std::fs::write(dir.join("empty.jsonl"), "").unwrap();
            strings(&[
                "train",
                "--data",
                "empty.jsonl",
                "--eval-data",
                "none",
                "--out",
                "m",
            ])
        }
        "fired-missing-model" => strings(&["fired", "--model", "no-model", "hello"]),
        "extract-data-twice" => {
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--data", &sample()]));
            args
        }
        "analyze-counts-beside-shards" => {
            copy_run();
            let mut counts = extract_args("counts", "48", &sample());
            counts.extend(strings(&["--record", "counts"]));
            made(dir, &counts);
            strings(&["analyze", "--run", "run", "--run", "counts", "--out", "a"])
        }
        "analyze-parts-differ" => {
            copy_run();
            let mut other = extract_args("other", "48", &sample());
            other.extend(strings(&["--part-tokens", "500"]));
            made(dir, &other);
            strings(&["analyze", "--run", "run", "--run", "other", "--out", "a"])
        }
        "analyze-shards-beside-whole" => {
            copy_run();
            for shard in ["0/2", "1/2"] {
                let out = format!("shard-{}", &shard[..1]);
                let mut args = extract_args(&out, "48", &sample());
                args.extend(strings(&["--shard", shard]));
                made(dir, &args);
            }
            strings(&[
                "analyze", "--run", "shard-0", "--run", "shard-1", "--run", "run", "--out", "a",
            ])
        }
        "analyze-shards-overlap" => {
            for (out, shard) in [("half", "0/2"), ("third", "1/3")] {
                let mut args = extract_args(out, "48", &sample());
                args.extend(strings(&["--shard", shard]));
                made(dir, &args);
            }
            strings(&["analyze", "--run", "half", "--run", "third", "--out", "a"])
        }
        "analyze-same-corpus-other-cut" => {
            copy_run();
            made(dir, &extract_args("short", "40", &sample()));
            strings(&["analyze", "--run", "run", "--run", "short", "--out", "a"])
        }
        "merge-part-of-other-layers" => {
            copy_run();
            made(dir, &analyze(&["--layers", "0..1"]));
            std::fs::rename(dir.join("a"), dir.join("low")).unwrap();
            made(dir, &analyze(&["--layers", "1..2"]));
            std::fs::rename(dir.join("a"), dir.join("high")).unwrap();
            for table in ["neurons", "layers", "coverage", "detectors", "positional"] {
                let name = format!("{table}.parquet");
                std::fs::copy(dir.join("low").join(&name), dir.join("high").join(&name)).unwrap();
            }
            strings(&["merge-analyses", "low", "high", "--out", "merged"])
        }
        "report-tables-of-other-layers" => {
            copy_run();
            made(dir, &analyze(&["--layers", "0..1"]));
            std::fs::rename(dir.join("a"), dir.join("low")).unwrap();
            made(dir, &analyze(&["--layers", "1..2"]));
            std::fs::copy(dir.join("low/layers.parquet"), dir.join("a/layers.parquet")).unwrap();
            strings(&["report", "--analysis", "a", "--out", "report", "--no-png"])
        }
        "report-same-checkpoint-twice" => {
            let m = model_copy(dir);
            std::fs::write(m.join("trainer_state.json"), "{\"global_step\": 700}").unwrap();
            made(dir, &extract_model_args("m", "run", "48", &sample()));
            for out in ["a", "b"] {
                made(dir, &strings(&["analyze", "--run", "run", "--out", out]));
            }
            strings(&[
                "report",
                "--analysis",
                "a",
                "--analysis",
                "b",
                "--out",
                "report",
                "--no-png",
            ])
        }
        "fired-hub-model-offline" => strings(&["fired", "--model", "org/absent", "hello"]),
        "run-model-twice" => {
            let args = pipeline_case(
                dir,
                &format!("[extract]\ndata = [\"{}\"]\n", sample()),
                None,
            );
            let text = std::fs::read_to_string(dir.join("p.toml")).unwrap();
            let listed = format!("\"{}\"", model());
            let text = text.replacen(&listed, &format!("{listed}, {listed}"), 1);
            std::fs::write(dir.join("p.toml"), text).unwrap();
            args
        }
        "extract-data-copied" => {
            std::fs::copy(sample(), dir.join("copy.jsonl")).unwrap();
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--data", "copy.jsonl"]));
            args
        }
        "lock-place-taken" => {
            std::fs::write(dir.join(".run.neuron-census-lock"), "my notes").unwrap();
            extract_args("run", "48", &sample())
        }
        "run-outputs-inside-model" => {
            let m = model_copy(dir);
            let mut args = pipeline_case(
                dir,
                &format!("[extract]\ndata = [\"{}\"]\n", sample()),
                Some(m.to_str().unwrap()),
            );
            let out = args.len() - 1;
            args[out] = dir.display().to_string();
            args
        }
        "fired-file-model" => strings(&["fired", "--model", &sample(), "hello"]),
        "extract-vocab-below-weights" => {
            let m = model_copy(dir);
            let config = std::fs::read_to_string(m.join("config.json")).unwrap();
            let config = config.replace("\"vocab_size\": 512", "\"vocab_size\": 100");
            std::fs::write(m.join("config.json"), config).unwrap();
            extract_model_args("m", "run", "48", &sample())
        }
        "extract-max-tokens-zero" => {
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--max-tokens", "0"]));
            args
        }
        "extract-data-a-pipe" => {
            let made = std::process::Command::new("mkfifo")
                .arg(dir.join("fifo"))
                .status()
                .unwrap();
            assert!(made.success());
            extract_args("run", "48", "fifo")
        }
        "analyze-moved-model" => {
            let m = dir.join("sub/m");
            copy_dir(&census_testkit::fixtures_dir().join("opt/pre-ln"), &m);
            made(dir, &extract_model_args("sub/m", "run", "48", &sample()));
            std::fs::rename(&m, dir.join("sub/moved")).unwrap();
            analyze(&[])
        }
        "train-out-a-file" => {
            std::fs::write(dir.join("model"), "a file").unwrap();
            let mut args = tiny_train_args(&["--steps", "1"]);
            let out = args.iter().position(|a| a == "--out").unwrap();
            args[out + 1] = "model".to_string();
            args
        }
        "run-train-name-escapes" => {
            let victim = dir.join("victim/model");
            std::fs::create_dir_all(&victim).unwrap();
            std::fs::write(victim.join("model.safetensors"), "weights").unwrap();
            let name = "x/../../../victim/model";
            std::fs::write(
                dir.join("p.toml"),
                format!(
                    "name = \"t\"\nmodels = [\"trained:{name}\"]\n[train.\"{name}\"]\nsteps = 1\n"
                ),
            )
            .unwrap();
            let out = dir.join("out/inner");
            strings(&[
                "run",
                "--pipeline",
                dir.join("p.toml").to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
        }
        "run-float-nan" => {
            std::fs::write(
                dir.join("p.toml"),
                format!(
                    "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\n[analyze]\nmi-threshold = nan\n",
                    model(),
                    sample()
                ),
            )
            .unwrap();
            strings(&[
                "run",
                "--pipeline",
                dir.join("p.toml").to_str().unwrap(),
                "--out",
                dir.join("out").to_str().unwrap(),
            ])
        }
        "analyze-mi-threshold-nan" => {
            copy_run();
            analyze(&["--mi-threshold", "NaN"])
        }
        "analyze-mi-threshold-negative" => {
            copy_run();
            analyze(&["--mi-threshold=-1"])
        }
        "analyze-weak-epsilon-inf" => {
            copy_run();
            analyze(&["--weak-epsilon", "inf"])
        }
        "analyze-second-writer" => {
            copy_run();
            copy_dir(&w.analysis, &dir.join("a"));
            // Another command writes the analysis: its lock is held for the rest of the test.
            let held = census_format::OutputLock::acquire(&dir.join("a"), "analyze").unwrap();
            Box::leak(Box::new(held));
            analyze(&[])
        }
        "extract-pad-id" => {
            std::fs::write(dir.join("ids.jsonl"), "{\"input_ids\": [5, 6, 1, 1]}\n").unwrap();
            extract_args("run", "48", "ids.jsonl")
        }
        "extract-nan-weights" => {
            let m = model_copy(dir);
            poke_f32(
                &m.join("model.safetensors"),
                "model.decoder.layers.1.fc1.weight",
                10,
                f32::NAN,
            );
            extract_model_args("m", "run", "48", &sample())
        }
        "train-lr-nan" => tiny_train_args(&["--lr", "NaN"]),
        "train-lr-negative" => tiny_train_args(&["--lr=-1"]),
        "train-weight-decay-nan" => tiny_train_args(&["--weight-decay", "NaN"]),
        "train-batch-size-zero" => tiny_train_args(&["--batch-size", "0"]),
        "train-diverges" => tiny_train_args(&["--lr", "1e6"]),
        other => panic!("docs/BAD-INPUTS.md names {other}, which has no test here"),
    }
}

/// Checks one outcome against its row.
fn check(id: &str, fragments: &[String], outcome: &Outcome, changed: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    if outcome.ok() {
        problems.push(format!("{id}: succeeded"));
    }
    if outcome.panicked() {
        problems.push(format!("{id}: panicked\n{}", outcome.stderr));
    }
    for fragment in fragments {
        if !outcome.stderr.contains(fragment.as_str()) {
            problems.push(format!(
                "{id}: the message lacks `{fragment}`\n{}",
                outcome.stderr
            ));
        }
    }
    if !changed.is_empty() {
        problems.push(format!("{id}: changed {changed:?}"));
    }
    problems
}

#[test]
fn every_bad_input_of_the_table_is_refused_by_name_and_changes_nothing() {
    let rows = table();
    assert!(rows.len() >= 25, "{} rows", rows.len());
    let mut problems = Vec::new();
    for (id, fragments) in &rows {
        let dir = tempfile::tempdir().unwrap();
        let args = case(id, dir.path());
        let before = snapshot(dir.path());
        // No case needs the hub: a model looked up there fails at once, from the cache.
        let outcome = xtask_in(dir.path(), &args, &[("HF_HUB_OFFLINE", "1")]);
        let after = snapshot(dir.path());
        problems.extend(check(id, fragments, &outcome, &changed(&before, &after)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_table_ids_are_unique() {
    let rows = table();
    let mut ids: Vec<&String> = rows.iter().map(|(id, _)| id).collect();
    ids.sort();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count);
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(extract_args("run", "48", &sample()))
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run directory ready"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}
