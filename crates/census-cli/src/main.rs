//! `neuron-census`: the census of a language model's FFN neurons, stage by stage or as a whole
//! pipeline. Run with no command to list the commands.

use anyhow::Result;
use census_cli::Command;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "neuron-census",
    version,
    about = "Dead, n-gram and positional neurons of OPT language models",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> Result<()> {
    census_cli::logging::init_tracing();
    Cli::parse().command.run()
}
