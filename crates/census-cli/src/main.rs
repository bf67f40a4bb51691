//! `neuron-census`: the census of a language model's FFN neurons, stage by stage or as a whole
//! pipeline. Run with no command to list the commands.

use anyhow::Result;
use census_cli::Cli;
use clap::Parser;

fn main() -> Result<()> {
    census_cli::logging::init_tracing();
    census_cli::allocator::keep_freed_memory();
    Cli::parse().command.run()
}
