//! Headless Chromium for the report tests: found through `NEURON_CENSUS_CHROMIUM` (default
//! `chromium`); a test without it says so and passes, unless `NEURON_CENSUS_REQUIRE_CHROMIUM=1`
//! (CI sets it) makes that a failure.

use std::path::Path;
use std::process::Command;

/// Flags for a headless Chromium on a machine without network or display.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
];

/// The Chromium command, if it runs here.
pub fn chromium() -> Option<String> {
    let chromium = std::env::var("NEURON_CENSUS_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let required = std::env::var("NEURON_CENSUS_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    let probe = Command::new(&chromium).arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!required, "{chromium} does not run");
        eprintln!("SKIPPED: {chromium} does not run");
        return None;
    }
    Some(chromium)
}

/// Opens `url` with `extra` flags and a profile in `profile`; returns what it printed.
pub fn run_url(chromium: &str, profile: &Path, extra: &[&str], url: &str) -> String {
    let output = Command::new(chromium)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `<body ...>` tag of a DOM dump, where the report's page records its state
/// (`data-ready`, `data-error`).
pub fn body_tag(dom: &str) -> &str {
    let tag = &dom[dom.find("<body").expect("a body")..];
    &tag[..tag.find('>').expect("a whole tag")]
}
