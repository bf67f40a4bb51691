//! `cargo xtask --help` lists the census commands of `neuron-census` and the developer tasks.

use std::process::Command;

#[test]
fn xtask_help_lists_the_commands_and_bench() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "run", "extract", "analyze", "report", "train", "fired", "bench",
    ] {
        assert!(
            help.lines()
                .any(|line| line.split_whitespace().next() == Some(command)),
            "`{command}` missing from:\n{help}"
        );
    }
}
