//! Two extractions into one run directory at once: the second is refused while the first
//! holds the directory, and the first finishes to exactly the files of a run made alone.

mod common;

use std::process::Stdio;

use census_format::run::manifest::Manifest;

#[test]
fn a_second_extraction_into_a_run_being_written_is_refused_and_the_first_is_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("ids.jsonl");
    // 3000 documents of 60 ids: about 360k tokens in 180 parts.
    common::write_random_ids(&corpus, 3000, 60, 777);
    let shared = tmp.path().join("shared");

    let mut first = common::extract_command(&corpus, &shared)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_parts(&mut first, &shared, 2);
    // Other settings, same directory, while the first is still writing.
    let second = common::extract_command(&corpus, &shared)
        .args(["--max-tokens", "50000"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{message}");
    assert!(
        message.contains("being written by another neuron-census command")
            && message.contains(&format!("pid {}: extract", first.id())),
        "{message}"
    );
    assert!(first.wait().unwrap().success());

    let alone = tmp.path().join("alone");
    let made = common::extract_command(&corpus, &alone).status().unwrap();
    assert!(made.success());
    let (shared_manifest, alone_manifest) = (
        Manifest::load(&shared).unwrap().unwrap(),
        Manifest::load(&alone).unwrap().unwrap(),
    );
    assert!(shared_manifest.complete);
    assert_eq!(shared_manifest.parts, alone_manifest.parts);
    assert_eq!(common::files(&shared), common::files(&alone));
    // The lock went with its holder.
    assert!(!tmp.path().join(".shared.neuron-census-lock").exists());
}
