//! A disk that fills up in the middle of a run: the run stops with an error naming the place and
//! the problem, every committed part stays intact, and once space is freed the same command
//! resumes to exactly the files of an uninterrupted run.
//!
//! The run writes to a small tmpfs mounted for the test (which needs root). Where mounting is
//! not allowed the test says so and passes, unless `NEURON_CENSUS_REQUIRE_SMALL_FS` is set, as
//! CI sets it where it can mount.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use census_format::run::manifest::Manifest;
use common::{extract_command, write_random_ids};

/// A tmpfs of `megabytes`, unmounted on drop.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: &Path, megabytes: u64) -> Result<Self, String> {
        std::fs::create_dir_all(dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Sends a signal (`STOP`, `CONT`) to a process.
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Fills the file system holding `path` with one file, until it refuses another byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 1 << 16];
    loop {
        if file.write_all(&block).is_err() || file.sync_all().is_err() {
            break;
        }
    }
    // The last partial block may have been taken byte by byte: leave nothing free.
    while file.write_all(&[0]).is_ok() && file.flush().is_ok() {}
}

#[test]
fn a_disk_that_fills_mid_run_keeps_committed_parts_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let small = match SmallFs::mount(&tmp.path().join("small"), 64) {
        Ok(small) => small,
        Err(reason) => {
            assert!(
                std::env::var_os("NEURON_CENSUS_REQUIRE_SMALL_FS").is_none(),
                "cannot mount a tmpfs: {reason}"
            );
            eprintln!("skipped: cannot mount a small file system here ({reason})");
            return;
        }
    };
    let corpus = tmp.path().join("ids.jsonl");
    // About 720k tokens in 360 parts; the finished run needs about 10 MB.
    write_random_ids(&corpus, 6000, 60, 777);
    let out = small.dir.join("run");

    // Freeze the run once a few parts are committed, fill the disk, let it go on.
    let mut child = extract_command(&corpus, &out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for_parts(&mut child, &out, 3);
    signal(child.id(), "STOP");
    let ballast = small.dir.join("ballast");
    fill(&ballast);
    signal(child.id(), "CONT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a full disk must stop the run");
    eprintln!("the full disk stopped the run with: {}", stderr.trim());
    assert!(
        stderr.contains(&*small.dir.to_string_lossy()),
        "the error names where: {stderr}"
    );
    assert!(
        stderr.contains("not enough disk space") || stderr.contains("No space left on device"),
        "the error says what: {stderr}"
    );

    // What was committed is intact: the manifest reads, and names only finished parts.
    let interrupted = Manifest::load(&out).unwrap().unwrap();
    assert!(!interrupted.complete);
    assert!(interrupted.parts.len() >= 3);
    let committed_before = interrupted.parts.clone();

    // Space freed, the same command resumes; the result equals an uninterrupted run.
    std::fs::remove_file(&ballast).unwrap();
    common::assert_resumes_to_whole(&out, &tmp.path().join("whole"), &committed_before, |dir| {
        extract_command(&corpus, dir).status().unwrap().success()
    });
}
