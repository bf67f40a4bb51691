//! The one logging and progress setup of the command line: `tracing` to stderr, filtered by
//! `RUST_LOG` (default `info`), with colour codes only when stderr is a terminal; the spans the
//! libraries mark with `indicatif.pb_show` are drawn as progress bars (`tracing-indicatif`), and
//! log lines are written around the bars, so neither tears the other.

use std::io::IsTerminal;

use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the subscriber; call once, first thing in `main`.
pub fn init_tracing() {
    let bars = IndicatifLayer::new()
        .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()));
    let log_lines = tracing_subscriber::fmt::layer()
        .with_writer(bars.get_stderr_writer())
        // Colour codes only for a terminal, so logs written to files and pipes stay plain text.
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with(log_lines)
        .with(bars.with_filter(IndicatifFilter::new(false)))
        .init();
}

/// Installs the subscriber without progress bars, for a host that draws progress itself (the
/// Python module, from [`census_format::progress::snapshot`]); does nothing where a subscriber
/// is already installed.
pub fn init_log_lines() {
    let log_lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with(log_lines)
        .try_init();
}
