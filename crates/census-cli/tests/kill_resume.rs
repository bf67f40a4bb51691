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
