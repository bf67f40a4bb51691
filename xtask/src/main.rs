//! `cargo xtask <task>`: the project's commands during development. The census commands are
//! `neuron-census`'s own (called through the same library function); the rest are developer
//! tasks. Run with no task to list them.

mod bench;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "neuron-census tasks",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The census commands, as `neuron-census` offers them.
    #[command(flatten)]
    Census(census_cli::Command),
    /// Run a benchmark: ours and the Python peer side by side on this machine, with the ratio.
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    census_cli::logging::init_tracing();
    census_cli::allocator::keep_freed_memory();
    match Cli::parse().task {
        Task::Census(command) => command.run(),
        Task::Bench(args) => args.run(),
    }
}
