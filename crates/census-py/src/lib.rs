//! `neuron_census._native`: the Python module's native half. It runs the `neuron-census`
//! command, and reads runs and analyses through census-format's own checked readers (the same
//! checks and messages as the command), handing tables to Python as Arrow through the C data
//! interface. The Python package (`python/neuron_census`) builds the user's API on it.

mod tables;

use std::path::PathBuf;
use std::sync::Once;

use arrow::array::RecordBatch;
use arrow_pyarrow::IntoPyArrow;
use clap::Parser;
use pyo3::create_exception;
use pyo3::prelude::*;

create_exception!(
    _native,
    CensusError,
    pyo3::exceptions::PyException,
    "A refusal of neuron-census: a damaged or missing file, a bad option; the message names the \
     file and the problem, as the command's does."
);

/// An error of ours as a Python `CensusError`, its causes joined as the command prints them.
fn census_error(error: anyhow::Error) -> PyErr {
    CensusError::new_err(format!("{error:#}"))
}

/// Hands a record batch to Python as a `pyarrow.RecordBatchReader` (no copy of the columns).
fn to_python(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyAny>> {
    let schema = batch.schema();
    let reader: Box<dyn arrow::record_batch::RecordBatchReader + Send> = Box::new(
        arrow::record_batch::RecordBatchIterator::new(vec![Ok(batch)], schema),
    );
    reader.into_pyarrow(py)
}

/// Runs the `neuron-census` command line `argv` (the program's name first), as the installed
/// command does; returns its exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let cli = match census_cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_logging(false);
    match py.detach(|| cli.command.run()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e:?}");
            1
        }
    }
}

/// Runs one `neuron-census` command line (the program's name first) through the same library
/// as the command; see [`run_stage`] for the thread, Ctrl-C and `progress`.
#[pyfunction]
#[pyo3(signature = (argv, progress = None))]
fn run_command(py: Python<'_>, argv: Vec<String>, progress: Option<Py<PyAny>>) -> PyResult<()> {
    let cli = parse(&argv)?;
    run_stage(py, progress, move || cli.command.run())
}

/// Runs the `neuron-census run` command line `argv` (the program's name first) as
/// [`run_command`] does; returns where the pipeline left its outputs (a `RunSummary`, as JSON).
#[pyfunction]
#[pyo3(signature = (argv, progress = None))]
fn run_pipeline(
    py: Python<'_>,
    argv: Vec<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let census_cli::Command::Run(args) = parse(&argv)?.command else {
        return Err(CensusError::new_err(
            "run_pipeline runs the `run` command only",
        ));
    };
    let summary = run_stage(py, progress, move || args.run())?;
    serde_json::to_string(&summary).map_err(|e| census_error(e.into()))
}

/// The command line `argv`, parsed as the command parses it; a bad flag raises `CensusError`
/// with clap's message.
fn parse(argv: &[String]) -> PyResult<census_cli::Cli> {
    census_cli::Cli::try_parse_from(argv).map_err(|e| CensusError::new_err(e.render().to_string()))
}

/// Runs `work` on a thread of its own with the GIL released; an error raises `CensusError` with
/// the command's message, and Ctrl-C stops the work where its outputs are whole before
/// `KeyboardInterrupt` is raised. With `progress`, the stage's bars are not drawn to the
/// terminal: `progress` is called with them instead, as a list of
/// `(id, label, unit, position, length, message, finished)`, every tenth of a second and once
/// at the end.
fn run_stage<T: Send + 'static>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> PyResult<T> {
    init_logging(progress.is_some());
    if progress.is_some() {
        census_format::progress::watch();
    }
    let report = |py: Python<'_>| -> PyResult<()> {
        if let Some(progress) = &progress {
            let bars: Vec<_> = census_format::progress::snapshot()
                .into_iter()
                .map(|b| {
                    (
                        b.id, b.label, b.unit, b.position, b.length, b.message, b.finished,
                    )
                })
                .collect();
            progress.call1(py, (bars,))?;
        }
        Ok(())
    };
    let work = std::thread::spawn(work);
    // Python's signal handlers run only on this thread with the GIL held: wait in short spans
    // without it, and between them let Python see a Ctrl-C.
    let mut waits = 0u32;
    while !work.is_finished() {
        py.detach(|| std::thread::sleep(std::time::Duration::from_millis(20)));
        waits += 1;
        let shown = if waits.is_multiple_of(5) {
            report(py)
        } else {
            Ok(())
        };
        if let Err(stop) = py.check_signals().and(shown) {
            // The work stops at its next point where its outputs are whole; then Python's
            // exception (KeyboardInterrupt, or the progress display's own) goes on.
            census_format::interrupt::request();
            let _ = py.detach(|| work.join());
            census_format::interrupt::clear();
            return Err(stop);
        }
    }
    let outcome = match work.join() {
        Ok(result) => result.map_err(census_error),
        Err(panic) => std::panic::resume_unwind(panic),
    };
    report(py)?;
    outcome
}

/// Logs as the command does (to standard error, `RUST_LOG` applies), set up once: with the
/// command's progress bars, or `without_bars` where Python draws them.
fn init_logging(without_bars: bool) {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(|| {
        if without_bars {
            census_cli::logging::init_log_lines();
        } else {
            census_cli::logging::init_tracing();
        }
    });
}

/// The names of the tables an analysis may hold (`docs/SCHEMA.md`).
#[pyfunction]
fn table_names() -> Vec<&'static str> {
    tables::TABLES.iter().map(|t| t.name).collect()
}

/// The analysis's `summary.json`, checked, as JSON text.
#[pyfunction]
fn analysis_summary(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
    py.detach(|| tables::summary_json(&dir))
        .map_err(census_error)
}

/// The tables the analysis's manifest lists, by name.
#[pyfunction]
fn analysis_tables(py: Python<'_>, dir: PathBuf) -> PyResult<Vec<String>> {
    py.detach(|| tables::listed_tables(&dir))
        .map_err(census_error)
}

/// Table `name` of the analysis, read and checked by its census-format reader.
#[pyfunction]
fn analysis_table(py: Python<'_>, dir: PathBuf, name: String) -> PyResult<Bound<'_, PyAny>> {
    let batch = py
        .detach(|| tables::analysis_table(&dir, &name))
        .map_err(census_error)?;
    to_python(py, batch)
}

/// The rows of one neuron (`layer`, `neuron`) of table `name` of the analysis, read without
/// the rest of the table and checked by its census-format reader.
#[pyfunction]
fn analysis_neuron(
    py: Python<'_>,
    dir: PathBuf,
    name: String,
    layer: usize,
    neuron: usize,
) -> PyResult<Bound<'_, PyAny>> {
    let batch = py
        .detach(|| tables::analysis_neuron_rows(&dir, &name, layer, neuron))
        .map_err(census_error)?;
    to_python(py, batch)
}

/// The run's `manifest.json`, checked, as JSON text.
#[pyfunction]
fn run_manifest(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
    py.detach(|| tables::run_manifest_json(&dir))
        .map_err(census_error)
}

/// The token rows of committed part `part` of the run, checked against its manifest.
#[pyfunction]
fn run_tokens(py: Python<'_>, dir: PathBuf, part: u32) -> PyResult<Bound<'_, PyAny>> {
    let batch = py
        .detach(|| tables::tokens_part(&dir, part))
        .map_err(census_error)?;
    to_python(py, batch)
}

/// The fired neurons of layer `layer` in committed part `part` of a shards run, checked.
#[pyfunction]
fn run_activations(
    py: Python<'_>,
    dir: PathBuf,
    layer: usize,
    part: u32,
) -> PyResult<Bound<'_, PyAny>> {
    let batch = py
        .detach(|| tables::activations_part(&dir, layer, part))
        .map_err(census_error)?;
    to_python(py, batch)
}

/// The fire counts of layer `layer` in committed part `part` of a counts run, checked.
#[pyfunction]
fn run_counts(py: Python<'_>, dir: PathBuf, layer: usize, part: u32) -> PyResult<Bound<'_, PyAny>> {
    let batch = py
        .detach(|| tables::counts_part(&dir, layer, part))
        .map_err(census_error)?;
    to_python(py, batch)
}

/// The neurons that fire on each token of `text` in `model` (a directory, preset or hub id),
/// computed on the CPU in `dtype`: `(ids, tokens, ffn_dim, neurons[layer][position])`.
#[pyfunction]
#[pyo3(signature = (model, text, dtype = "f32"))]
#[allow(clippy::type_complexity)]
fn fired(
    py: Python<'_>,
    model: String,
    text: String,
    dtype: &str,
) -> PyResult<(Vec<u32>, Vec<String>, usize, Vec<Vec<Vec<u16>>>)> {
    let dtype = census_format::model::FloatType::from_flag(dtype)
        .ok_or_else(|| CensusError::new_err(format!("dtype '{dtype}': f32, f16 or bf16")))?;
    let fired = py
        .detach(|| -> anyhow::Result<_> {
            let dir =
                census_model::hub::resolve(&model, &census_model::HubOptions::from_env(false))?;
            census_cli::fired::fired_neurons(&dir, dtype, &text)
        })
        .map_err(census_error)?;
    Ok((fired.ids, fired.tokens, fired.ffn_dim, fired.neurons))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CensusError", m.py().get_type::<CensusError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(run_command, m)?)?;
    m.add_function(wrap_pyfunction!(run_pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(table_names, m)?)?;
    m.add_function(wrap_pyfunction!(analysis_summary, m)?)?;
    m.add_function(wrap_pyfunction!(analysis_tables, m)?)?;
    m.add_function(wrap_pyfunction!(analysis_table, m)?)?;
    m.add_function(wrap_pyfunction!(analysis_neuron, m)?)?;
    m.add_function(wrap_pyfunction!(run_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(run_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(run_activations, m)?)?;
    m.add_function(wrap_pyfunction!(run_counts, m)?)?;
    m.add_function(wrap_pyfunction!(fired, m)?)?;
    Ok(())
}
