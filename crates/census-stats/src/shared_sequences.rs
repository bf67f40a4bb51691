//! Runs analysed together must not hold the same text twice: two runs that read the same corpus
//! file (by content, whatever its name) are refused, unless they are disjoint shards of one cut
//! of that corpus.

use census_format::corpus::CorpusSource;
use census_format::run::Manifest;

use crate::error::{Result, StatsError};
use crate::inputs::RunInput;

/// The corpus files a run read, by content (size and SHA-256), or by path for runs written
/// before the sequence table recorded them.
fn corpus_content(manifest: &Manifest) -> Vec<(String, String)> {
    match &manifest.sequence_table {
        Some(table) => table
            .corpus_files
            .iter()
            .map(|f| {
                (
                    format!("{}:{}", f.bytes, f.sha256),
                    f.path.display().to_string(),
                )
            })
            .collect(),
        None => manifest
            .config
            .corpus
            .iter()
            .map(|s| {
                let path = s.path.canonicalize().unwrap_or_else(|_| s.path.clone());
                (path.display().to_string(), s.path.display().to_string())
            })
            .collect(),
    }
}

/// Whether two runs cut their corpus into the same numbered sequences: the same files in the
/// same order, read the same way, with the same sequence settings.
fn same_cut(a: &Manifest, b: &Manifest) -> bool {
    let keys =
        |m: &Manifest| -> Vec<String> { corpus_content(m).into_iter().map(|(k, _)| k).collect() };
    let readings = |m: &Manifest| -> Vec<CorpusSource> {
        m.config
            .corpus
            .iter()
            .map(|s| CorpusSource {
                path: Default::default(),
                ..s.clone()
            })
            .collect()
    };
    keys(a) == keys(b) && readings(a) == readings(b) && a.config.sequences == b.config.sequences
}

/// Refuses run `dir` (manifest `manifest`) when it holds text one of `runs` holds too.
pub fn check_disjoint(runs: &[RunInput], dir: &std::path::Path, manifest: &Manifest) -> Result<()> {
    let mine = corpus_content(manifest);
    for other in runs {
        let theirs = corpus_content(&other.manifest);
        let Some((_, file)) = mine
            .iter()
            .find(|(key, _)| theirs.iter().any(|(k, _)| k == key))
        else {
            continue;
        };
        let (a, b) = (other.manifest.config.shard, manifest.config.shard);
        if same_cut(&other.manifest, manifest) {
            let Some(seq) = a.first_shared(&b) else {
                continue;
            };
            return Err(StatsError::run(
                dir,
                format!(
                    "shares sequences with {}: both cut {file} the same way, and their shards \
                     ({}/{} and {}/{}) both hold sequence {seq}, so its tokens would count twice; \
                     analyse one of them, or shards that do not overlap",
                    other.dir.display(),
                    a.index,
                    a.count,
                    b.index,
                    b.count
                ),
            ));
        }
        return Err(StatsError::run(
            dir,
            format!(
                "read {file}, which {} read too (cut into other sequences), so its documents \
                 would count twice; analyse one of them",
                other.dir.display()
            ),
        ));
    }
    Ok(())
}
