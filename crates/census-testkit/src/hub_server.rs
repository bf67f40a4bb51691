//! A local HTTP server that serves fixture models and datasets the way the Hugging Face hub
//! does (`/api/models/{id}/revision/{rev}` or `/api/datasets/{id}/revision/{rev}`,
//! `/{id}/resolve/{rev}/{file}` or `/datasets/{id}/resolve/{rev}/{file}` with `x-repo-commit`,
//! `etag` and ranged responses), one fixture directory per revision, so the hub path
//! (`org/name`, `org/name@revision`, dataset files) can be tested offline.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One revision of the served repository: its name (`main`, a branch, a tag), its commit, and
/// the directory whose files it serves.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The revision's name.
    pub name: String,
    /// Its commit (40 hex digits).
    pub commit: String,
    /// The files served.
    pub dir: PathBuf,
}

impl Revision {
    /// Revision `name` at `commit`, serving `dir`.
    pub fn new(name: &str, commit: &str, dir: PathBuf) -> Self {
        Self {
            name: name.to_string(),
            commit: commit.to_string(),
            dir,
        }
    }
}

/// A running server: its endpoint (`http://127.0.0.1:PORT`) and the count of files downloaded
/// whole (hf-hub's one-byte metadata probes left aside).
#[derive(Debug, Clone)]
pub struct HubServer {
    /// The endpoint, for `HF_ENDPOINT` or `HubOptions::endpoint`.
    pub endpoint: String,
    /// Whole-file downloads so far.
    pub downloads: Arc<AtomicUsize>,
}

impl HubServer {
    /// Serves repository `repo` at `revisions` (the first is the default, asked for as `main`)
    /// on a local port, until the process ends.
    pub fn serve(repo: &str, revisions: Vec<Revision>) -> Self {
        Self::serve_repos(vec![(repo.to_string(), revisions)])
    }

    /// Serves several repositories, each at its revisions; a dataset repository is named
    /// `datasets/org/name`, as the hub's addresses name it.
    pub fn serve_repos(repos: Vec<(String, Vec<Revision>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let downloads = Arc::new(AtomicUsize::new(0));
        let counter = downloads.clone();
        let repos = Arc::new(repos);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (repos, counter) = (repos.clone(), counter.clone());
                std::thread::spawn(move || answer(stream.unwrap(), &repos, &counter));
            }
        });
        Self {
            endpoint,
            downloads,
        }
    }

    /// Whole-file downloads so far.
    pub fn downloaded(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]) {
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
}

/// Answers one request.
fn answer(mut stream: TcpStream, repos: &[(String, Vec<Revision>)], downloads: &AtomicUsize) {
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
    // The repository asked for: `/api/models/ID/…` or `/api/datasets/ID/…` for its listing,
    // `/ID/resolve/…` or `/datasets/ID/resolve/…` for a file.
    let Some((repo, revisions)) = repos.iter().find(|(repo, _)| {
        let api = match repo.strip_prefix("datasets/") {
            Some(id) => format!("/api/datasets/{id}/revision/"),
            None => format!("/api/models/{repo}/revision/"),
        };
        path.starts_with(&api) || path.starts_with(&format!("/{repo}/resolve/"))
    }) else {
        respond(&mut stream, "404 Not Found", &[], b"Repository not found");
        return;
    };
    let api_prefix = match repo.strip_prefix("datasets/") {
        Some(id) => format!("/api/datasets/{id}/revision/"),
        None => format!("/api/models/{repo}/revision/"),
    };
    let asked = |prefix: &str| -> Option<(&Revision, String)> {
        let rest = path.strip_prefix(prefix)?;
        let (name, file) = rest.split_once('/').unwrap_or((rest, ""));
        let revision = revisions
            .iter()
            .enumerate()
            .find(|(i, r)| r.name == name || r.commit == name || (*i == 0 && name == "main"))?
            .1;
        Some((revision, file.to_string()))
    };
    let files = |revision: &Revision| -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&revision.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "golden.safetensors")
            .collect();
        files.sort();
        files
    };
    if let Some((revision, _)) = asked(&api_prefix) {
        let siblings: Vec<_> = files(revision)
            .iter()
            .map(|f| serde_json::json!({"rfilename": f}))
            .collect();
        let body = serde_json::json!({"sha": revision.commit, "siblings": siblings}).to_string();
        let json = [("Content-Type".into(), "application/json".into())];
        respond(&mut stream, "200 OK", &json, body.as_bytes());
        return;
    }
    let Some((revision, name)) = asked(&format!("/{repo}/resolve/"))
        .filter(|(revision, name)| files(revision).iter().any(|f| f == name))
    else {
        respond(&mut stream, "404 Not Found", &[], b"Entry not found");
        return;
    };
    let bytes = std::fs::read(revision.dir.join(&name)).unwrap();
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
        ("x-repo-commit".to_string(), revision.commit.clone()),
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
