//! A stop asked from outside (the Python module's Ctrl-C) ends training between two steps: the
//! staging directory is removed and the model trained earlier in `--out` stays as it was. In
//! a test binary of its own, since the stop flag is the process's.

mod common;
use common::tiny;

use std::time::{Duration, Instant};

use census_format::{interrupt, progress};
use census_testkit::snapshot;

#[test]
fn a_stop_mid_training_keeps_the_earlier_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    tiny(&out, &["--steps", "5", "--eval-every", "5"])
        .run()
        .unwrap();
    let before = snapshot(&out);

    // A run far too long to finish: stopped once its progress shows a few steps done.
    progress::watch();
    let stopper = std::thread::spawn(|| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let steps = progress::snapshot()
                .into_iter()
                .filter(|b| b.label == "training" && !b.finished)
                .map(|b| (b.position, b.length))
                .max();
            if let Some((done, total)) = steps.filter(|&(done, _)| done >= 3) {
                interrupt::request();
                return Some((done, total));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    });
    let err = tiny(&out, &["--force", "--steps", "1000000"])
        .run()
        .unwrap_err()
        .to_string();
    let (done, total) = stopper.join().unwrap().expect("the training made progress");
    interrupt::clear();
    assert!(
        err.contains("interrupted: training stopped between steps"),
        "{err}"
    );
    assert_eq!(total, 1_000_000);
    assert!(done >= 3);
    assert_eq!(snapshot(&out), before, "the earlier model changed");
    assert!(!dir.path().join("model.partial").exists());
}
