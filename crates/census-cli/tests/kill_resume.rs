//! A run killed with SIGKILL in the middle resumes to exactly the files of an uninterrupted run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use census_format::run::manifest::Manifest;

/// [`common::extract_command`] with stderr discarded too.
fn extract_command(corpus: &Path, out: &Path) -> Command {
    let mut cmd = common::extract_command(corpus, out);
    cmd.stderr(Stdio::null());
    cmd
}

#[test]
fn sigkill_in_the_middle_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("ids.jsonl");
    // 6000 documents of 60 ids: about 720k tokens in 360 parts.
    common::write_random_ids(&corpus, 6000, 60, 12345);

    let killed = tmp.path().join("killed");
    let mut child = extract_command(&corpus, &killed).spawn().unwrap();
    common::wait_for_parts(&mut child, &killed, 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let interrupted = Manifest::load(&killed).unwrap().unwrap();
    assert!(!interrupted.complete, "killed before the end");
    let committed_before = interrupted.parts.clone();

    common::assert_resumes_to_whole(
        &killed,
        &tmp.path().join("whole"),
        &committed_before,
        |dir| extract_command(&corpus, dir).status().unwrap().success(),
    );
}

#[test]
fn two_workers_killed_then_resumed_equal_a_one_device_run() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("ids.jsonl");
    common::write_random_ids(&corpus, 3000, 60, 777);
    let two_workers = |dir: &Path| {
        let mut cmd = extract_command(&corpus, dir);
        cmd.args(["--devices", "cpu,cpu"]);
        cmd
    };

    let killed = tmp.path().join("killed");
    let mut child = two_workers(&killed).spawn().unwrap();
    common::wait_for_parts(&mut child, &killed, 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let interrupted = Manifest::load(&killed).unwrap().unwrap();
    assert!(!interrupted.complete, "killed before the end");
    // Committed in order, whichever worker finished first.
    let indices: Vec<u32> = interrupted.parts.iter().map(|p| p.index).collect();
    assert_eq!(indices, (0..indices.len() as u32).collect::<Vec<_>>());

    assert!(two_workers(&killed).status().unwrap().success());
    let whole = tmp.path().join("whole");
    assert!(extract_command(&corpus, &whole).status().unwrap().success());
    let strip = |dir: &Path| {
        let mut parts = Manifest::load(dir).unwrap().unwrap().parts;
        for part in &mut parts {
            assert!(part.device.is_none() || dir == killed.as_path());
            part.device = None;
        }
        parts
    };
    let resumed = Manifest::load(&killed).unwrap().unwrap();
    assert!(resumed.complete);
    assert!(resumed.parts.iter().all(|p| p.device.is_some()));
    assert_eq!(strip(&killed), strip(&whole));
    for part in &interrupted.parts {
        assert!(resumed.parts.contains(part), "committed parts are kept");
    }
    assert_eq!(common::files(&killed), common::files(&whole));
}
