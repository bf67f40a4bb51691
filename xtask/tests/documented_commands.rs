//! Every command the README and the docs show in a shell block parses as the command line it
//! is (its flags and their values), and every pipeline a command names loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;

/// The census commands, as `neuron-census` parses them.
#[derive(Parser)]
struct Census {
    #[command(subcommand)]
    command: census_cli::Command,
}

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The command lines of the ```sh blocks of `file`: continuation lines joined, comments cut.
fn shell_commands(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim_start() == "```sh" && !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None => line,
        };
        let (line, continued) = match line.trim_end().strip_suffix('\\') {
            Some(head) => (head, true),
            None => (line, false),
        };
        pending.push_str(line.trim());
        pending.push(' ');
        if !continued {
            if !pending.trim().is_empty() {
                commands.push(pending.trim().to_string());
            }
            pending.clear();
        }
    }
    commands
}

/// Words of a command line, with simple quoting.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_documented_command_parses_and_its_pipelines_load() {
    let files = ["README.md", "docs/GUIDE.md", "docs/BENCHMARKS.md"];
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in files {
        for line in shell_commands(&root().join(file)) {
            let words = words(&line);
            let args: Vec<String> = match words.as_slice() {
                [cargo, xtask, rest @ ..] if cargo == "cargo" && xtask == "xtask" => rest.to_vec(),
                [command, rest @ ..] if command == "neuron-census" => rest.to_vec(),
                _ => continue,
            };
            checked += 1;
            if args.first().map(String::as_str) == Some("bench") {
                // Developer tasks: their flags, through the binary's own parser.
                let mut with_help = args.clone();
                with_help.retain(|a| a != "--");
                with_help.truncate(2);
                with_help.push("--help".to_string());
                let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
                    .args(&with_help)
                    .output()
                    .unwrap()
                    .status;
                if !status.success() {
                    problems.push(format!("{file}: `{line}` does not parse"));
                }
                continue;
            }
            let argv = std::iter::once("neuron-census".to_string()).chain(args.iter().cloned());
            if let Err(e) = Census::try_parse_from(argv) {
                problems.push(format!("{file}: `{line}` does not parse: {e}"));
            }
            if let Some(at) = args.iter().position(|a| a == "--pipeline") {
                let pipeline = root().join(&args[at + 1]);
                if let Err(e) = census_cli::pipeline::Pipeline::load(&pipeline) {
                    problems.push(format!("{file}: `{line}`: {e:#}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 8, "only {checked} documented commands found");
}

#[test]
fn the_shell_blocks_are_read_as_commands() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.md");
    std::fs::write(
        &file,
        "text\n```sh\ncargo xtask extract --model m \\\n    --data 'a b.jsonl'   # a comment\n```\n```toml\nname = 1\n```\n",
    )
    .unwrap();
    let commands = shell_commands(&file);
    assert_eq!(
        commands,
        ["cargo xtask extract --model m --data 'a b.jsonl'"]
    );
    assert_eq!(
        words(&commands[0]),
        [
            "cargo",
            "xtask",
            "extract",
            "--model",
            "m",
            "--data",
            "a b.jsonl"
        ]
    );
}
