//! `cargo xtask bench`: builds what a benchmark needs (release) and runs it, ours beside the
//! Python peer in one invocation (see `benches/`).

use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// The repository `cargo xtask` runs in: xtask is a tool of the clone it sits in, never
/// installed.
fn repository_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository root")
        .to_path_buf()
}

/// Which benchmark.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Benchmark {
    /// Extraction against Hugging Face `transformers` + PyTorch (`benches/extract_vs_hf.py`).
    Extract,
    /// The analysis, its counting core and whole, against DuckDB (`benches/analyze_vs_duckdb.py`).
    Analyze,
    /// Fired bits that change when the dense path computes in f16 or bf16 instead of f32
    /// (`benches/dtype_flips.py`; a measurement, not a race).
    Dtype,
    /// A resumed extraction's start-up with its sequence table and tokenising again
    /// (`benches/resume_startup.py`; a measurement).
    Resume,
    /// The host's decoding of fired masks into neuron lists, packed and as booleans
    /// (`census-model`'s `decode_rate` example; a measurement).
    Decode,
    /// A rehearsal at real OPT shapes through each record mode, and its projection to every
    /// OPT size and experiment on a GPU (`benches/scale_rehearsal.py`; a measurement).
    Scale,
    /// The shard writer alone: fires/s per core by zstd level and row-group size, and every
    /// layer of a part at once (`census-extract`'s `writer_rate` example; a measurement).
    Writer,
    /// The report of an analysis of opt-66b's size: time to render, page weight, and with
    /// `-- --chromium chromium` the time to the first neuron shown (`census-report`'s
    /// `report_at_scale` example; a measurement against its targets).
    Report,
}

/// `bench` flags.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The benchmark to run.
    #[arg(value_enum)]
    pub benchmark: Benchmark,
    /// The Python that has the peer's packages [default: $NEURON_CENSUS_PYTHON, else python3].
    #[arg(long)]
    pub python: Option<String>,
    /// Build ours with the CUDA backend (for `bench extract -- --device cuda`).
    #[arg(long)]
    pub cuda: bool,
    /// Flags for the benchmark script, after `--` (for example `-- --tokens 8192`).
    #[arg(last = true)]
    pub script_args: Vec<String>,
}

impl BenchArgs {
    /// Builds and runs the benchmark; its table goes to standard output.
    pub fn run(&self) -> Result<()> {
        let root = repository_root();
        let (build, script): (&[&str], &str) = match self.benchmark {
            Benchmark::Extract => (
                &[
                    "-p",
                    "census-cli",
                    "--bin",
                    "neuron-census",
                    "-p",
                    "census-extract",
                    "--example",
                    "gemm_throughput",
                ],
                "benches/extract_vs_hf.py",
            ),
            Benchmark::Analyze => (
                &[
                    "-p",
                    "census-stats",
                    "--example",
                    "count_bench",
                    "-p",
                    "census-cli",
                    "--bin",
                    "neuron-census",
                ],
                "benches/analyze_vs_duckdb.py",
            ),
            Benchmark::Dtype => (
                &[
                    "-p",
                    "xtask",
                    "--bin",
                    "xtask",
                    "-p",
                    "census-train",
                    "--example",
                    "random_opt",
                ],
                "benches/dtype_flips.py",
            ),
            Benchmark::Scale => (
                &[
                    "-p",
                    "census-cli",
                    "--bin",
                    "neuron-census",
                    "-p",
                    "census-train",
                    "--example",
                    "random_opt",
                ],
                "benches/scale_rehearsal.py",
            ),
            Benchmark::Resume => (
                &["-p", "census-cli", "--bin", "neuron-census"],
                "benches/resume_startup.py",
            ),
            Benchmark::Decode => {
                return run_example(&root, "census-model", "decode_rate", &self.script_args);
            }
            Benchmark::Writer => {
                return run_example(&root, "census-extract", "writer_rate", &self.script_args);
            }
            Benchmark::Report => {
                return run_example(&root, "census-report", "report_at_scale", &self.script_args);
            }
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(&cargo);
        command
            .current_dir(&root)
            .args(["build", "--release"])
            .args(build);
        if self.cuda {
            command.args(["--features", "cuda"]);
        }
        tracing::info!(?command, "building the benchmark's binaries");
        let status = command
            .status()
            .with_context(|| format!("running {cargo}"))?;
        if !status.success() {
            bail!("building the benchmark failed ({status})");
        }
        let python = self
            .python
            .clone()
            .or_else(|| std::env::var("NEURON_CENSUS_PYTHON").ok())
            .unwrap_or_else(|| "python3".to_string());
        let status = Command::new(&python)
            .current_dir(&root)
            .arg(script)
            .args(&self.script_args)
            .status()
            .with_context(|| format!("running {python} {script}"))?;
        if !status.success() {
            bail!(
                "{script} failed ({status}); it needs the peer's packages: see the top of the script"
            );
        }
        Ok(())
    }
}

/// Builds and runs example `example` of `package` in release, with `args`.
fn run_example(
    root: &std::path::Path,
    package: &str,
    example: &str,
    args: &[String],
) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "run",
            "--release",
            "-p",
            package,
            "--example",
            example,
            "--",
        ])
        .args(args)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("the {example} example failed ({status})");
    }
    Ok(())
}
