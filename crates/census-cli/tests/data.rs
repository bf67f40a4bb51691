//! `neuron-census data` against the local hub server, with small stand-ins of the Pile's
//! validation and test files and of CodeParrot's gzipped files: the domain files hold exactly
//! the documents of their domain in order, a second call downloads and writes nothing, a file
//! deleted is made again from the cache (offline too), the user's files are never touched, and a
//! malformed line is refused with its file and line.

use std::io::Write;
use std::path::{Path, PathBuf};

use census_cli::data::recipe::PAPER;
use census_cli::data::{DATA_MANIFEST, prepare};
use census_format::checksum::FileDigest;
use census_model::HubOptions;
use census_testkit::hub_server::{HubServer, Revision};

const PILE: &str = "EleutherAI/pile_val_test";
const CODE: &str = "codeparrot/codeparrot-clean";

fn pile_line(domain: &str, text: &str) -> String {
    serde_json::json!({"text": text, "meta": {"pile_set_name": domain}}).to_string()
}

/// The stand-in datasets: `val.jsonl` and `test.jsonl` with documents of every kept domain and
/// one left out; two gzipped CodeParrot files (the recipe reads the first) and a README.
fn datasets(dir: &Path) -> (PathBuf, PathBuf) {
    let (pile, code) = (dir.join("pile"), dir.join("code"));
    std::fs::create_dir_all(&pile).unwrap();
    std::fs::create_dir_all(&code).unwrap();
    let domains = [
        "Wikipedia (en)",
        "DM Mathematics",
        "HackerNews",
        "EuroParl",
        "FreeLaw",
        "PubMed Abstracts",
        "StackExchange",
        "Github",
    ];
    for (file, part) in [("val.jsonl", "val"), ("test.jsonl", "test")] {
        let lines: Vec<String> = (0..3)
            .flat_map(|i| {
                domains
                    .iter()
                    .map(move |d| pile_line(d, &format!("{d} {part} {i}\n\"quoted\" ünïcode")))
            })
            .collect();
        std::fs::write(pile.join(file), lines.join("\n") + "\n").unwrap();
    }
    for (file, first) in [
        ("file-000000000001.json.gz", 0),
        ("file-000000000002.json.gz", 100),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in first..first + 4 {
            let line = serde_json::json!({"content": format!("def f{i}():\n    return {i}\n"), "repo_name": "x"});
            writeln!(gz, "{line}").unwrap();
        }
        std::fs::write(code.join(file), gz.finish().unwrap()).unwrap();
    }
    std::fs::write(code.join("README.md"), "CodeParrot, cleaned\n").unwrap();
    (pile, code)
}

fn serve(pile: &Path, code: &Path) -> HubServer {
    let commit = |c: char| std::iter::repeat_n(c, 40).collect::<String>();
    HubServer::serve_repos(vec![
        (
            format!("datasets/{PILE}"),
            vec![Revision::new("main", &commit('a'), pile.to_path_buf())],
        ),
        (
            format!("datasets/{CODE}"),
            vec![Revision::new("main", &commit('b'), code.to_path_buf())],
        ),
    ])
}

fn hub(server: &HubServer, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: Some(server.endpoint.clone()),
        cache_dir: Some(cache.to_path_buf()),
        offline: false,
        progress: false,
    }
}

/// The texts of a domain file.
fn texts(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1, "only the text: {l}");
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn the_paper_data_is_made_from_the_hub_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (pile, code) = datasets(dir.path());
    let server = serve(&pile, &code);
    let (cache, out) = (dir.path().join("cache"), dir.path().join("data"));
    let options = hub(&server, &cache);

    let summary = prepare(&PAPER, &out, &options, false).unwrap();
    let mut written = summary.written.clone();
    written.sort();
    assert_eq!(
        written,
        [
            "codeparrot",
            "dm_mathematics",
            "europarl",
            "freelaw",
            "hackernews",
            "pubmed",
            "stackexchange",
            "wikipedia"
        ]
    );
    assert_eq!(summary.missing, ["reddit"]);
    // Each domain file holds its domain's documents, the validation part's then the test
    // part's; the documents of other domains are left out.
    for (domain, stem) in [
        ("Wikipedia (en)", "wikipedia"),
        ("PubMed Abstracts", "pubmed"),
    ] {
        let expected: Vec<String> = ["val", "test"]
            .iter()
            .flat_map(|part| {
                (0..3).map(move |i| format!("{domain} {part} {i}\n\"quoted\" ünïcode"))
            })
            .collect();
        assert_eq!(texts(&out.join(format!("{stem}.jsonl"))), expected);
    }
    assert!(
        !std::fs::read_to_string(out.join("hackernews.jsonl"))
            .unwrap()
            .contains("Github")
    );
    // CodeParrot: the first gzipped file only.
    let code_texts = texts(&out.join("codeparrot.jsonl"));
    assert_eq!(code_texts.len(), 4);
    assert_eq!(code_texts[3], "def f3():\n    return 3\n");
    // The manifest records the commits, the files read and each written file's digest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(DATA_MANIFEST)).unwrap()).unwrap();
    let datasets = manifest["datasets"].as_array().unwrap();
    assert_eq!(
        datasets[0]["files"],
        serde_json::json!(["val.jsonl", "test.jsonl"])
    );
    assert_eq!(
        datasets[1]["files"],
        serde_json::json!(["file-000000000001.json.gz"])
    );
    assert_eq!(datasets[1]["commit"], "b".repeat(40));
    for output in manifest["outputs"].as_array().unwrap() {
        let digest: FileDigest = serde_json::from_value(output["digest"].clone()).unwrap();
        let file = out.join(output["file"].as_str().unwrap());
        assert_eq!(
            FileDigest::of_file(&file).unwrap(),
            digest,
            "{}",
            file.display()
        );
    }
    let downloads = server.downloaded();
    assert_eq!(downloads, 3);
    let no_temporaries = |out: &Path| {
        let names: Vec<String> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
    };
    no_temporaries(&out);

    // A second call finds every file as recorded: nothing is downloaded or written.
    let again = prepare(&PAPER, &out, &options, false).unwrap();
    assert!(again.written.is_empty());
    assert_eq!(server.downloaded(), downloads);

    // The user adds Reddit: it is theirs, and no longer missing.
    std::fs::write(out.join("reddit.jsonl"), "{\"text\": \"mine\"}\n").unwrap();
    // A file deleted is made again from the cache, with its dataset's other files.
    let wikipedia = std::fs::read(out.join("wikipedia.jsonl")).unwrap();
    std::fs::remove_file(out.join("dm_mathematics.jsonl")).unwrap();
    let remade = prepare(&PAPER, &out, &options, false).unwrap();
    assert_eq!(remade.written.len(), 7);
    assert!(remade.missing.is_empty());
    assert_eq!(server.downloaded(), downloads, "from the cache");
    assert_eq!(
        std::fs::read(out.join("wikipedia.jsonl")).unwrap(),
        wikipedia
    );
    assert_eq!(
        std::fs::read_to_string(out.join("reddit.jsonl")).unwrap(),
        "{\"text\": \"mine\"}\n"
    );
    // Offline, the files recorded are taken from the cache.
    std::fs::remove_file(out.join("codeparrot.jsonl")).unwrap();
    let offline = HubOptions {
        offline: true,
        endpoint: None,
        ..options.clone()
    };
    let remade = prepare(&PAPER, &out, &offline, false).unwrap();
    assert_eq!(remade.written, ["codeparrot"]);
    assert_eq!(texts(&out.join("codeparrot.jsonl")), code_texts);
    no_temporaries(&out);
}

#[test]
fn a_file_data_did_not_write_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (pile, code) = datasets(dir.path());
    let server = serve(&pile, &code);
    let out = dir.path().join("data");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("hackernews.jsonl"), "mine\n").unwrap();
    let error = prepare(
        &PAPER,
        &out,
        &hub(&server, &dir.path().join("cache")),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("hackernews.jsonl") && error.contains("did not write it"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("hackernews.jsonl")).unwrap(),
        "mine\n"
    );
    assert_eq!(server.downloaded(), 0, "refused before any download");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn a_malformed_line_is_refused_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (pile, code) = datasets(dir.path());
    let val = pile.join("val.jsonl");
    let mut text = std::fs::read_to_string(&val).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "{\"text\": \"cut\n");
    std::fs::write(&val, text).unwrap();
    let server = serve(&pile, &code);
    let out = dir.path().join("data");
    let error = prepare(
        &PAPER,
        &out,
        &hub(&server, &dir.path().join("cache")),
        false,
    )
    .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("val.jsonl") && message.contains("line 2"),
        "{message}"
    );
    assert!(message.contains(PILE), "{message}");
    // Nothing of that dataset is left: no domain file, no temporary, no manifest.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}
