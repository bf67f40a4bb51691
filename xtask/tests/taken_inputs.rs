//! Every row of the second table of `docs/BAD-INPUTS.md` ("Inputs taken as meant"), run: the
//! input the row names is built, the command succeeds, and what the row says holds afterwards.

mod common;

use std::path::{Path, PathBuf};

use common::{
    bad_inputs_table, copy_dir, extract_args, sample, snapshot, strings, tiny_train_args, world,
    xtask_in,
};

/// The ids of the table's rows.
fn table() -> Vec<String> {
    bad_inputs_table(true)
        .into_iter()
        .map(|cells| cells[0].trim_matches('`').to_string())
        .collect()
}

/// Runs `args` in `dir` and requires success.
fn ok(dir: &Path, args: &[String]) {
    let outcome = xtask_in(dir, args, &[]);
    assert!(outcome.ok(), "{args:?}: {}", outcome.stderr);
}

/// The user's files put into `dir`: path → bytes.
fn users_files(dir: &Path, files: &[(&str, &str)]) -> Vec<(PathBuf, Vec<u8>)> {
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            (path, text.as_bytes().to_vec())
        })
        .collect()
}

fn assert_kept(files: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in files {
        assert_eq!(
            std::fs::read(path).ok().as_ref(),
            Some(bytes),
            "{}",
            path.display()
        );
    }
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_symlink()
}

fn tiny_train(dir: &Path, extra: &[&str]) {
    ok(dir, &tiny_train_args(extra));
}

/// Builds case `id`'s input in `dir`, runs its command and checks what it says.
fn case(id: &str, dir: &Path) {
    let w = world();
    let analyze = |out: &str| strings(&["analyze", "--run", "run", "--out", out]);
    let report = |out: &str| strings(&["report", "--analysis", "a", "--out", out, "--no-png"]);
    match id {
        "analyze-keeps-users-files" => {
            copy_dir(&w.run, &dir.join("run"));
            copy_dir(&w.analysis, &dir.join("a"));
            let mut mine = users_files(
                &dir.join("a"),
                &[("NOTES.txt", "my notes"), ("plots/p.png", "a plot")],
            );
            copy_dir(&w.report, &dir.join("a/report"));
            let report = dir.join("a/report");
            mine.extend(
                snapshot(&report)
                    .into_iter()
                    .map(|(p, b)| (report.join(p), b)),
            );
            std::fs::write(dir.join("a/neurons.parquet"), "stale").unwrap();
            ok(dir, &analyze("a"));
            assert_kept(&mine);
            assert_ne!(
                std::fs::read(dir.join("a/neurons.parquet")).unwrap(),
                b"stale"
            );
        }
        "report-keeps-users-files" => {
            copy_dir(&w.analysis, &dir.join("a"));
            copy_dir(&w.report, &dir.join("r"));
            let mine = users_files(
                &dir.join("r"),
                &[("NOTES.txt", "my notes"), ("figures/mine.svg", "<svg/>")],
            );
            ok(dir, &report("r"));
            assert_kept(&mine);
            assert!(dir.join("r/index.html").is_file());
        }
        "train-force-keeps-users-files" => {
            tiny_train(dir, &[]);
            let mine = users_files(&dir.join("m"), &[("NOTES.txt", "my notes")]);
            let weights = std::fs::read(dir.join("m/model.safetensors")).unwrap();
            tiny_train(dir, &["--force", "--seed", "7"]);
            assert_kept(&mine);
            assert_ne!(
                std::fs::read(dir.join("m/model.safetensors")).unwrap(),
                weights
            );
        }
        "train-force-over-unlisted-model" => {
            tiny_train(dir, &[]);
            std::fs::remove_file(dir.join("m/.neuron-census-files")).unwrap();
            copy_dir(&dir.join("m"), &dir.join("earlier"));
            std::fs::rename(dir.join("earlier"), dir.join("m/checkpoint-99")).unwrap();
            let mine = users_files(&dir.join("m"), &[("README.md", "how I made it")]);
            tiny_train(dir, &["--force", "--seed", "7"]);
            assert_kept(&mine);
            assert!(!dir.join("m/checkpoint-99").exists());
        }
        "run-force-replaces-whole-run" => {
            let pipeline = |part_tokens: u64| {
                std::fs::write(
                    dir.join("p.toml"),
                    format!(
                        "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = 48\npart-tokens = {part_tokens}\n[report]\nno-png = true\n",
                        common::model(),
                        sample()
                    ),
                )
                .unwrap();
            };
            let run = |force: bool| {
                let mut args = strings(&["run", "--pipeline", "p.toml", "--out", "out"]);
                if force {
                    args.push("--force".to_string());
                }
                ok(dir, &args);
            };
            pipeline(100);
            run(false);
            pipeline(65_536);
            run(true);
            let run_dir = dir.join("out/pre-ln/run");
            let parts = std::fs::read_dir(run_dir.join("tokens")).unwrap().count();
            assert_eq!(parts, 1, "stale parts left in the replaced run");
        }
        "extract-resume-edited-manifest" => {
            copy_dir(&w.run, &dir.join("run"));
            let path = dir.join("run/manifest.json");
            let mut manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let original = manifest["parts"].clone();
            let last = manifest["parts"][0]["last_seq"].as_u64().unwrap();
            manifest["parts"][0]["last_seq"] = serde_json::json!(last + 7);
            std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
            ok(dir, &extract_args("run", "48", &sample()));
            let redone: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(redone["parts"], original);
        }
        "analyze-out-symlink" => {
            copy_dir(&w.run, &dir.join("run"));
            std::fs::create_dir_all(dir.join("disk")).unwrap();
            std::os::unix::fs::symlink(dir.join("disk/a"), dir.join("a")).unwrap();
            ok(dir, &analyze("a"));
            assert!(is_link(&dir.join("a")));
            assert!(dir.join("disk/a/neurons.parquet").is_file());
        }
        "report-out-symlink" => {
            copy_dir(&w.analysis, &dir.join("a"));
            copy_dir(&w.report, &dir.join("disk/r"));
            std::fs::remove_file(dir.join("disk/r/index.html")).unwrap();
            std::os::unix::fs::symlink("disk/r", dir.join("r")).unwrap();
            ok(dir, &report("r"));
            assert!(is_link(&dir.join("r")));
            assert!(dir.join("disk/r/index.html").is_file());
        }
        "extract-ids-with-bos" => {
            std::fs::write(
                dir.join("with.jsonl"),
                "{\"input_ids\": [2, 50, 51, 52], \"domain\": \"d\"}\n{\"input_ids\": [2, 60, 61], \"domain\": \"d\"}\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("without.jsonl"),
                "{\"input_ids\": [50, 51, 52], \"domain\": \"d\"}\n{\"input_ids\": [60, 61], \"domain\": \"d\"}\n",
            )
            .unwrap();
            ok(dir, &extract_args("with", "48", "with.jsonl"));
            ok(dir, &extract_args("without", "48", "without.jsonl"));
            let manifest = |run: &str| -> serde_json::Value {
                serde_json::from_slice(&std::fs::read(dir.join(run).join("manifest.json")).unwrap())
                    .unwrap()
            };
            let (with, without) = (manifest("with"), manifest("without"));
            assert_eq!(with["counts"]["tokens"], 7);
            // The digest of every sequence's token ids.
            assert_eq!(with["corpus_digest"], without["corpus_digest"]);
        }
        "extract-resume-damaged-part" => {
            copy_dir(&w.run, &dir.join("run"));
            let part = "run/activations/layer=01/part-00000.parquet";
            let mut bytes = std::fs::read(dir.join(part)).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(dir.join(part), &bytes).unwrap();
            ok(dir, &extract_args("run", "48", &sample()));
            assert_eq!(
                std::fs::read(dir.join(part)).unwrap(),
                std::fs::read(w.run.join("activations/layer=01/part-00000.parquet")).unwrap()
            );
        }
        "extract-jsonl-bom" => {
            let line =
                "{\"text\": \"Neurons in large language models fire.\", \"domain\": \"d\"}\n";
            std::fs::write(dir.join("plain.jsonl"), line).unwrap();
            std::fs::write(dir.join("marked.jsonl"), format!("\u{feff}{line}")).unwrap();
            ok(dir, &extract_args("plain", "48", "plain.jsonl"));
            ok(dir, &extract_args("marked", "48", "marked.jsonl"));
            let manifest = |run: &str| -> serde_json::Value {
                serde_json::from_slice(&std::fs::read(dir.join(run).join("manifest.json")).unwrap())
                    .unwrap()
            };
            let (plain, marked) = (manifest("plain"), manifest("marked"));
            assert_eq!(marked["counts"]["documents"], 1);
            assert_eq!(plain["corpus_digest"], marked["corpus_digest"]);
        }
        "analyze-counts-run" => {
            let mut args = extract_args("run", "48", &sample());
            args.extend(strings(&["--record", "counts"]));
            ok(dir, &args);
            let outcome = xtask_in(dir, &analyze("a"), &[]);
            assert!(outcome.ok(), "{}", outcome.stderr);
            assert!(
                outcome.stderr.contains("n-gram statistics skipped"),
                "{}",
                outcome.stderr
            );
            assert!(dir.join("a/neurons.parquet").is_file());
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("a/manifest.json")).unwrap())
                    .unwrap();
            assert_eq!(manifest["options"]["ngram_layers"], "none", "{manifest}");
        }
        "report-same-slug" => {
            copy_dir(&w.analysis, &dir.join("aF"));
            copy_dir(&w.analysis, &dir.join("af"));
            let args = [
                "report",
                "--analysis",
                "aF",
                "--analysis",
                "af",
                "--out",
                "r",
            ];
            ok(dir, &strings(&[&args[..], &["--no-png"]].concat()));
            let marker: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("r/report.json")).unwrap()).unwrap();
            let ids: Vec<&str> = marker["figures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{ids:?}");
            for id in &ids {
                assert!(dir.join(format!("r/figures/{id}.svg")).is_file(), "{id}");
            }
            // Each model's own figures, once per model.
            let per_model = ids.iter().filter(|id| id.starts_with("fig2-")).count();
            assert!(per_model >= 2, "{ids:?}");
        }
        "report-same-model-twice" => {
            copy_dir(&w.analysis, &dir.join("a"));
            copy_dir(&w.analysis, &dir.join("b"));
            ok(
                dir,
                &strings(&[
                    "report",
                    "--analysis",
                    "a",
                    "--analysis",
                    "b",
                    "--out",
                    "r",
                    "--no-png",
                ]),
            );
            let summary = std::fs::read_to_string(dir.join("r/summary.md")).unwrap();
            assert!(
                summary.contains("(a)") && summary.contains("(b)"),
                "{summary}"
            );
        }
        other => panic!("docs/BAD-INPUTS.md names {other}, which has no test here"),
    }
}

#[test]
fn every_input_taken_as_meant_gives_what_its_row_says() {
    let rows = table();
    assert!(rows.len() >= 7, "{} rows", rows.len());
    for id in &rows {
        let dir = tempfile::tempdir().unwrap();
        case(id, dir.path());
    }
}
