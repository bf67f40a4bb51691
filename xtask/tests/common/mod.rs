//! Helpers shared by the command-line tests: fixtures, running xtask, and snapshots of
//! directories to prove that a failed command changed nothing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What a finished command left: exit code, and stderr without colour codes.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (none when killed by a signal).
    pub code: Option<i32>,
    /// Standard error, colour codes removed.
    pub stderr: String,
}

impl Outcome {
    /// Whether the command succeeded.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Whether it panicked (Rust's panic exit code, or the panic message).
    pub fn panicked(&self) -> bool {
        self.code == Some(101) || self.stderr.contains("panicked at")
    }
}

/// Runs xtask with `args` in `cwd`, with `env` added.
pub fn xtask_in(cwd: &Path, args: &[String], env: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "info");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("xtask runs");
    Outcome {
        code: output.status.code(),
        stderr: strip_colours(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// `text` without ANSI escape sequences.
pub fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[allow(unused_imports)] // Not every test crate that shares this module copies directories.
pub use census_testkit::{copy_dir, snapshot};

/// Paths of `before` whose bytes differ in `after`, or that are gone.
pub fn changed(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<PathBuf> {
    before
        .iter()
        .filter(|(path, bytes)| after.get(*path) != Some(*bytes))
        .map(|(path, _)| path.clone())
        .collect()
}

/// A finished run, analysis and report of the pre-LN fixture, made once for every case.
pub struct World {
    _dir: tempfile::TempDir,
    /// The run directory.
    pub run: PathBuf,
    /// The analysis directory.
    pub analysis: PathBuf,
    /// The report directory.
    pub report: PathBuf,
}

/// The world, made on first use.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ok = |args: &[String]| {
            let outcome = xtask_in(root, args, &[]);
            assert!(outcome.ok(), "{args:?}: {}", outcome.stderr);
        };
        ok(&extract_args("run", "48", &sample()));
        ok(&strings(&["analyze", "--run", "run", "--out", "analysis"]));
        ok(&strings(&[
            "report",
            "--analysis",
            "analysis",
            "--out",
            "report",
            "--no-png",
        ]));
        World {
            run: root.join("run"),
            analysis: root.join("analysis"),
            report: root.join("report"),
            _dir: dir,
        }
    })
}

/// Owned arguments.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The sample corpus.
pub fn sample() -> String {
    census_testkit::fixtures_dir()
        .join("corpus/sample.jsonl")
        .display()
        .to_string()
}

/// The pre-LN fixture model.
pub fn model() -> String {
    census_testkit::fixtures_dir()
        .join("opt/pre-ln")
        .display()
        .to_string()
}

/// `extract` of the pre-LN fixture over `data` into `out`.
pub fn extract_args(out: &str, max_seq_len: &str, data: &str) -> Vec<String> {
    extract_model_args(&model(), out, max_seq_len, data)
}

/// `extract` of `model` over `data` into `out`.
pub fn extract_model_args(model: &str, out: &str, max_seq_len: &str, data: &str) -> Vec<String> {
    strings(&[
        "extract",
        "--model",
        model,
        "--data",
        data,
        "--out",
        out,
        "--max-seq-len",
        max_seq_len,
        "--quiet",
    ])
}

/// The cells of the rows of one table of `docs/BAD-INPUTS.md`: the refused inputs, or (with
/// `taken`) the inputs taken as meant that follow them. Every row has four cells.
pub fn bad_inputs_table(taken: bool) -> Vec<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/BAD-INPUTS.md");
    let text = std::fs::read_to_string(path).unwrap();
    let (refused, rest) = text
        .split_once("## Inputs taken as meant")
        .expect("the table of inputs taken as meant");
    let table = if taken { rest } else { refused };
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            assert_eq!(cells.len(), 4, "{line}");
            cells
        })
        .collect()
}

/// `train` of a tiny model (one layer of 32 neurons, 20 steps, no checkpoints) on the training
/// corpus into `m`. Each flag of `extra` given a value above takes the new value; the others
/// are added.
pub fn tiny_train_args(extra: &[&str]) -> Vec<String> {
    let corpus = census_testkit::fixtures_dir().join("../../data/corpus/train.jsonl");
    let mut args = strings(&[
        "train",
        "--data",
        corpus.to_str().unwrap(),
        "--eval-data",
        "none",
        "--out",
        "m",
        "--vocab-size",
        "300",
        "--hidden-size",
        "16",
        "--layers",
        "1",
        "--heads",
        "1",
        "--ffn-dim",
        "32",
        "--max-positions",
        "32",
        "--seq-len",
        "32",
        "--batch-size",
        "2",
        "--steps",
        "20",
        "--no-checkpoints",
    ]);
    let mut i = 0;
    while i < extra.len() {
        let value = extra.get(i + 1).filter(|v| !v.starts_with("--"));
        match (args.iter().position(|a| a == extra[i]), value) {
            (Some(at), Some(value)) => {
                args[at + 1] = value.to_string();
                i += 2;
            }
            _ => {
                args.push(extra[i].to_string());
                i += 1;
            }
        }
    }
    args
}
