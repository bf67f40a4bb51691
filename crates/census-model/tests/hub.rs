//! The hub download path against a local HTTP server that serves a fixture model the way the
//! Hugging Face hub does (`/api/models/{id}/revision/{rev}`, `/{id}/resolve/{rev}/{file}` with
//! `x-repo-commit`, `etag` and ranged responses): files land in the cache layout, the model loads
//! from there, a second resolve works offline from the cache, and failures name the model.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::DType;
use census_model::hub::resolve;
use census_model::{CpuBackend, HubOptions, load_pretrained};
use census_testkit::hub_server::{HubServer, Revision};

const REPO: &str = "test-org/opt-tiny";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// A second revision of the repository (as a training run's checkpoint would be), served from
/// another fixture.
const REVISION: &str = "step-100";
const REVISION_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn fixture_dir() -> PathBuf {
    census_testkit::fixtures_dir().join("opt/pre-ln")
}

/// Serves the pre-LN fixture as repository `REPO` at `main`, and the odd fixture at revision
/// `REVISION`.
fn serve() -> HubServer {
    HubServer::serve(
        REPO,
        vec![
            Revision::new("main", COMMIT, fixture_dir()),
            Revision::new(
                REVISION,
                REVISION_COMMIT,
                census_testkit::fixtures_dir().join("opt/odd"),
            ),
        ],
    )
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
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let options = online(server.endpoint.clone(), cache.path());
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
    // config, model, vocab, merges: one download each (an OPT tokenizer reads no
    // tokenizer_config.json, so the repository's is left on the hub).
    let fetched = server.downloaded();
    assert_eq!(fetched, 4, "{fetched} downloads");
    let model = load_pretrained::<CpuBackend>(&dir, &Default::default(), DType::F32).unwrap();
    assert_eq!(model.config().num_hidden_layers, 2);

    // Cached files are not fetched again, and offline mode finds them without a server.
    let again = resolve(REPO, &options).unwrap();
    assert_eq!(again, dir);
    assert_eq!(server.downloaded(), fetched);
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
    let cache = tempfile::tempdir().unwrap();
    let options = online(serve().endpoint, cache.path());
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
    let cache = tempfile::tempdir().unwrap();
    let options = online(serve().endpoint, cache.path());
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
