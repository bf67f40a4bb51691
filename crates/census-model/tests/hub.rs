//! The hub download path against a local HTTP server that serves a fixture model the way the
//! Hugging Face hub does (`/api/models/{id}/revision/{rev}`, `/{id}/resolve/{rev}/{file}` with
//! `x-repo-commit`, `etag` and ranged responses): files land in the cache layout, the model loads
//! from there, a second resolve works offline from the cache, and failures name the model.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::DType;
use census_model::hub::resolve;
use census_model::{CpuBackend, HubOptions, load_pretrained};

const REPO: &str = "test-org/opt-tiny";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// A second revision of the repository (as a training run's checkpoint would be), served from
/// another fixture.
const REVISION: &str = "step-100";
const REVISION_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn fixture_dir() -> PathBuf {
    common::fixtures().join("opt/pre-ln")
}

/// Answers one request from the files of `dir`, served as repository `REPO` at `main`, or from
/// those of the `odd` fixture at revision `REVISION`.
fn answer(mut stream: TcpStream, main: &Path, downloads: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut range: Option<(usize, Option<usize>)> = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("range: bytes=") {
            let (a, b) = r.trim().split_once('-').unwrap_or((r.trim(), ""));
            range = Some((a.parse().unwrap_or(0), b.parse().ok()));
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let at_revision = path.contains(&format!("/{REVISION}"));
    let (dir, rev, commit) = if at_revision {
        (
            common::fixtures().join("opt/odd"),
            REVISION,
            REVISION_COMMIT,
        )
    } else {
        (main.to_path_buf(), "main", COMMIT)
    };
    let dir = dir.as_path();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "golden.safetensors")
        .collect();
    files.sort();
    let respond =
        |stream: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]| {
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body).unwrap();
        };
    if path == format!("/api/models/{REPO}/revision/{rev}") {
        let siblings: Vec<_> = files
            .iter()
            .map(|f| serde_json::json!({"rfilename": f}))
            .collect();
        let body = serde_json::json!({"sha": commit, "siblings": siblings}).to_string();
        respond(
            &mut stream,
            "200 OK",
            &[("Content-Type".into(), "application/json".into())],
            body.as_bytes(),
        );
        return;
    }
    let prefix = format!("/{REPO}/resolve/{rev}/");
    let Some(name) = path
        .strip_prefix(&prefix)
        .filter(|n| files.iter().any(|f| f == n))
    else {
        respond(&mut stream, "404 Not Found", &[], b"Entry not found");
        return;
    };
    let bytes = std::fs::read(dir.join(name)).unwrap();
    // `bytes=0-0` is hf-hub's metadata probe; `bytes=N-` a download (or its resumption).
    let (start, last) = range.unwrap_or((0, None));
    let start = start.min(bytes.len());
    let end = last
        .map_or(bytes.len(), |l| l + 1)
        .min(bytes.len())
        .max(start);
    if last.is_none() {
        downloads.fetch_add(1, Ordering::SeqCst);
    }
    let etag = format!(
        "\"{:016x}{:016x}\"",
        bytes.len(),
        bytes
            .iter()
            .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    );
    let headers = vec![
        ("x-repo-commit".to_string(), commit.to_string()),
        ("etag".to_string(), etag),
        (
            "Content-Range".to_string(),
            format!("bytes {start}-{}/{}", end.saturating_sub(1), bytes.len()),
        ),
    ];
    respond(
        &mut stream,
        "206 Partial Content",
        &headers,
        &bytes[start..end],
    );
}

/// Serves the fixture on a local port; returns the endpoint and the count of file downloads.
fn serve(dir: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (dir, counter) = (dir.clone(), counter.clone());
            std::thread::spawn(move || answer(stream.unwrap(), &dir, &counter));
        }
    });
    (endpoint, downloads)
}

/// Options that reach the test server at `endpoint` with the cache in `cache`.
fn online(endpoint: String, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: Some(endpoint),
        cache_dir: Some(cache.to_path_buf()),
        offline: false,
        progress: false,
    }
}

#[test]
fn a_hub_model_downloads_into_the_cache_and_loads() {
    let (endpoint, downloads) = serve(fixture_dir());
    let cache = tempfile::tempdir().unwrap();
    let options = online(endpoint, cache.path());
    let dir = resolve(REPO, &options).unwrap();
    assert!(
        dir.starts_with(
            cache
                .path()
                .join("models--test-org--opt-tiny/snapshots")
                .join(COMMIT)
        ),
        "{}",
        dir.display()
    );
    for name in [
        "config.json",
        "model.safetensors",
        "vocab.json",
        "merges.txt",
    ] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(fixture_dir().join(name)).unwrap(),
            "{name}"
        );
    }
    // config, model, vocab, merges, tokenizer_config: one download each.
    let fetched = downloads.load(Ordering::SeqCst);
    assert_eq!(fetched, 5, "{fetched} downloads");
    let model = load_pretrained::<CpuBackend>(&dir, &Default::default(), DType::F32).unwrap();
    assert_eq!(model.config().num_hidden_layers, 2);

    // Cached files are not fetched again, and offline mode finds them without a server.
    let again = resolve(REPO, &options).unwrap();
    assert_eq!(again, dir);
    assert_eq!(downloads.load(Ordering::SeqCst), fetched);
    let offline = HubOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        offline: true,
        ..options.clone()
    };
    assert_eq!(resolve(REPO, &offline).unwrap(), dir);
}

/// `id@revision` downloads that revision's files into their own snapshot; the cache finds it
/// offline, beside `main`.
#[test]
fn a_hub_revision_resolves_to_its_own_snapshot() {
    let (endpoint, _) = serve(fixture_dir());
    let cache = tempfile::tempdir().unwrap();
    let options = online(endpoint, cache.path());
    let spec = format!("{REPO}@{REVISION}");
    let at_revision = resolve(&spec, &options).unwrap();
    let main = resolve(REPO, &options).unwrap();
    let snapshots = cache.path().join("models--test-org--opt-tiny/snapshots");
    assert_eq!(at_revision, snapshots.join(REVISION_COMMIT));
    assert_eq!(main, snapshots.join(COMMIT));
    let layers = |dir: &Path| {
        load_pretrained::<CpuBackend>(dir, &Default::default(), DType::F32)
            .unwrap()
            .config()
            .num_hidden_layers
    };
    assert_eq!(layers(&at_revision), 3, "the odd fixture's 3 layers");
    assert_eq!(layers(&main), 2);
    let offline = HubOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        offline: true,
        ..options.clone()
    };
    assert_eq!(resolve(&spec, &offline).unwrap(), at_revision);
    let e = resolve(&format!("{REPO}@nowhere"), &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("@nowhere"), "{e}");
}

#[test]
fn hub_failures_name_the_model() {
    let (endpoint, _) = serve(fixture_dir());
    let cache = tempfile::tempdir().unwrap();
    let options = online(endpoint, cache.path());
    let e = resolve("test-org/missing", &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("test-org/missing"), "{e}");
    let offline = HubOptions {
        offline: true,
        ..options.clone()
    };
    let e = resolve("opt-125m", &offline).unwrap_err().to_string();
    assert!(
        e.contains("facebook/opt-125m") && e.contains("offline"),
        "{e}"
    );
    let e = resolve("no such model", &options).unwrap_err().to_string();
    assert!(e.contains("preset") && e.contains("hub id"), "{e}");
}
