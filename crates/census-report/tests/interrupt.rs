//! A stop asked from outside (the Python module's Ctrl-C) ends a report between figures or
//! layers: the partial directory is removed and the earlier report stays as it was. In a test
//! binary of its own, since the stop flag is the process's.

mod common;

use census_format::interrupt;
use census_report::{ReportRequest, render};
use census_testkit::snapshot;
use common::planted_analysis;

#[test]
fn a_stopped_report_keeps_the_earlier_report() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    let request = ReportRequest {
        analyses: vec![analysis],
        out: out.clone(),
        png: false,
        contexts: 3,
        claim_rules: Default::default(),
    };
    render(&request).unwrap();
    let before = snapshot(&out);

    interrupt::request();
    let err = render(&request).unwrap_err().to_string();
    interrupt::clear();
    assert!(err.contains("interrupted: report stopped"), "{err}");
    assert_eq!(snapshot(&out), before, "the earlier report changed");
    assert!(!dir.path().join("report.partial").exists());
    // Once the stop is cleared, the same request renders.
    render(&request).unwrap();
    assert!(census_report::is_complete(&out));
}
