//! The tiny model every training test trains.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use census_train::cli::TrainArgs;
use clap::Parser;

/// The bundled corpus.
pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/corpus")
}

#[derive(Parser)]
struct Command {
    #[command(flatten)]
    args: TrainArgs,
}

/// A tiny model's flags: 2 layers of 64 neurons, 32 positions, on part of the bundled corpus.
pub fn tiny(out: &Path, extra: &[&str]) -> TrainArgs {
    let train = format!(
        "{},max_tokens=60000",
        corpus().join("train.jsonl").display()
    );
    let eval = format!(
        "{},max_tokens=4000",
        corpus().join("census.jsonl").display()
    );
    let mut argv = vec![
        "train".to_string(),
        "--data".into(),
        train,
        "--eval-data".into(),
        eval,
        "--out".into(),
        out.display().to_string(),
    ];
    let mut flags: Vec<(String, Option<String>)> = [
        ("--vocab-size", "400"),
        ("--hidden-size", "32"),
        ("--layers", "2"),
        ("--heads", "2"),
        ("--ffn-dim", "64"),
        ("--max-positions", "32"),
        ("--seq-len", "32"),
        ("--batch-size", "8"),
        ("--steps", "60"),
        ("--warmup-steps", "5"),
        ("--lr", "5e-3"),
        ("--eval-every", "20"),
        ("--eval-blocks", "16"),
        ("--save-dtype", "f32"),
    ]
    .into_iter()
    .map(|(f, v)| (f.to_string(), Some(v.to_string())))
    .collect();
    // `extra` overrides a default flag of the same name; a flag without a value is a switch.
    let mut extra = extra.iter().peekable();
    while let Some(flag) = extra.next() {
        let value = extra
            .next_if(|v| !v.starts_with("--"))
            .map(|v| v.to_string());
        flags.retain(|(f, _)| f != flag);
        flags.push((flag.to_string(), value));
    }
    for (flag, value) in flags {
        argv.push(flag);
        argv.extend(value);
    }
    Command::parse_from(argv).args
}
