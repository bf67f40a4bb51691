//! `neuron-census --help` and `cargo xtask --help` both list the census commands.

use std::process::Command;

const COMMANDS: [&str; 7] = [
    "run",
    "extract",
    "analyze",
    "merge-analyses",
    "report",
    "train",
    "fired",
];

fn help_of(program: &str) -> String {
    let output = Command::new(program).arg("--help").output().unwrap();
    assert!(output.status.success(), "{program} --help fails");
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `help` lists `command` as a subcommand (a line starting with its name).
fn lists(help: &str, command: &str) -> bool {
    help.lines()
        .any(|line| line.split_whitespace().next() == Some(command))
}

#[test]
fn neuron_census_help_lists_every_command() {
    let help = help_of(env!("CARGO_BIN_EXE_neuron-census"));
    for command in COMMANDS {
        assert!(lists(&help, command), "`{command}` missing from:\n{help}");
    }
    assert!(!lists(&help, "bench"), "bench is a developer task:\n{help}");
}
