//! Example contexts for the neuron browser: for every neuron, the first few tokens it fires on
//! (the `</s>` prefix left out), with the text around them, read from the run's token shards.

use std::collections::BTreeMap;
use std::path::PathBuf;

use census_format::analysis::vocabulary::{VOCABULARY_FILE, Vocabulary};
use census_format::run::Manifest;
use census_format::run::RecordMode;
use census_format::run::checked::{PartLimits, read_token_ids};
use census_format::run::tables::{PartCheck, activations_path, read_activations, tokens_path};
use serde::Serialize;

use crate::analysis::ModelAnalysis;
use crate::error::Result;

/// Tokens shown before and after the one a neuron fires on.
const BEFORE: usize = 10;
const AFTER: usize = 10;

/// One place a neuron fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// Text before the token.
    pub before: String,
    /// The token.
    pub token: String,
    /// Text after it.
    pub after: String,
}

/// Where a neuron fired: (run index, part, sequence, position).
type Place = (usize, u32, u64, u16);

/// Per layer, per neuron (by index), up to `per_neuron` contexts.
pub type Contexts = BTreeMap<usize, Vec<Vec<Context>>>;

/// The vocabulary the analysis named its tokens with, if it had a tokenizer; a warning says
/// when contexts show token ids instead.
fn analysis_vocabulary(model: &ModelAnalysis) -> Option<Vocabulary> {
    let path = model.dir.join(VOCABULARY_FILE);
    if !path.is_file() {
        tracing::warn!(
            analysis = %model.dir.display(),
            "the analysis holds no vocabulary.parquet (it had no tokenizer, or an older version \
             wrote it): example contexts show token ids (#N)"
        );
        return None;
    }
    match Vocabulary::read(&path) {
        Ok(vocabulary) => Some(vocabulary),
        Err(e) => {
            tracing::warn!(
                analysis = %model.dir.display(),
                "the analysis's vocabulary cannot be read ({e}): example contexts show token ids (#N)"
            );
            None
        }
    }
}

/// A run the analysis read: its directory and the run id it had then.
struct AnalysedRun {
    dir: PathBuf,
    run_id: String,
}

/// The runs the analysis read, each once: its `--run` inputs, then the runs its n-gram and
/// positional sections rest on (a counts run's analysis may take them from shards runs).
fn context_runs(model: &ModelAnalysis) -> Vec<AnalysedRun> {
    let mut runs: Vec<AnalysedRun> = model
        .manifest
        .inputs
        .iter()
        .map(|i| AnalysedRun {
            dir: i.dir.clone(),
            run_id: i.run_id.clone(),
        })
        .collect();
    let sections = model.manifest.sections.iter().flat_map(|s| {
        [Some(&s.frequency), s.ngram.as_ref(), s.positional.as_ref()]
            .into_iter()
            .flatten()
    });
    for basis in sections {
        for run in &basis.runs {
            if !runs
                .iter()
                .any(|r| r.dir == run.dir && r.run_id == run.run_id)
            {
                runs.push(AnalysedRun {
                    dir: run.dir.clone(),
                    run_id: run.run_id.clone(),
                });
            }
        }
    }
    runs
}

/// Finds up to `per_neuron` contexts for every neuron of every analysed layer, scanning the
/// analysis's runs part by part (the layers each recorded, skipping counts runs) and stopping
/// once every neuron that fires has enough.
/// Runs that are no longer on disk are skipped with a warning.
pub fn collect(
    model: &ModelAnalysis,
    per_neuron: usize,
    alive: &BTreeMap<usize, usize>,
) -> Result<Contexts> {
    let ffn = model.manifest.model.config.ffn_dim;
    let [start, end] = model.manifest.layers;
    let mut found: BTreeMap<usize, Vec<Vec<Place>>> =
        (start..end).map(|l| (l, vec![Vec::new(); ffn])).collect();
    let mut complete: BTreeMap<usize, usize> = (start..end).map(|l| (l, 0)).collect();
    let mut runs: Vec<(PathBuf, Manifest)> = Vec::new();
    let vocabulary = analysis_vocabulary(model);
    'runs: for input in context_runs(model) {
        let Ok(Some(manifest)) = Manifest::load(&input.dir) else {
            tracing::warn!(run = %input.dir.display(), "run not found: no example contexts from it");
            continue;
        };
        if manifest.run_id != input.run_id {
            tracing::warn!(
                run = %input.dir.display(),
                "the run directory now holds another run than the one analysed: no example \
                 contexts from it"
            );
            continue;
        }
        if manifest.config.record == RecordMode::Counts {
            tracing::info!(
                run = %input.dir.display(),
                "the run records counts (--record counts), not the fired neurons of each token: \
                 no example contexts from it"
            );
            continue;
        }
        runs.push((input.dir.clone(), manifest));
        let run = runs.len() - 1;
        let manifest = &runs[run].1;
        let [recorded_start, recorded_end] = manifest.config.layers;
        let layers = start.max(recorded_start)..end.min(recorded_end);
        for part in &manifest.parts {
            for layer in layers.clone() {
                let needed = alive.get(&layer).copied().unwrap_or(ffn);
                if complete[&layer] >= needed {
                    continue;
                }
                let path = activations_path(&input.dir, layer, part.index);
                let check = PartCheck::of(manifest, part, Some(layer));
                let rows = read_activations(&path, Some(&check))?;
                let per = found.get_mut(&layer).expect("every layer");
                let text_start = manifest.config.sequence_start.text_start();
                for i in 0..rows.len() {
                    if rows.pos[i] < text_start {
                        continue;
                    }
                    for &n in rows.neurons_of(i) {
                        let list = &mut per[usize::from(n)];
                        if list.len() < per_neuron {
                            list.push((run, part.index, rows.seq[i], rows.pos[i]));
                            if list.len() == per_neuron {
                                *complete.get_mut(&layer).expect("every layer") += 1;
                            }
                        }
                    }
                }
            }
            if (start..end).all(|l| complete[&l] >= alive.get(&l).copied().unwrap_or(ffn)) {
                break 'runs;
            }
        }
    }
    // The token windows, reading each needed token part once.
    let mut wanted: BTreeMap<(usize, u32), Vec<(u64, u16)>> = BTreeMap::new();
    for per in found.values() {
        for list in per {
            for &(run, part, seq, pos) in list {
                wanted.entry((run, part)).or_default().push((seq, pos));
            }
        }
    }
    let mut windows: BTreeMap<Place, Context> = BTreeMap::new();
    let name = |ids: &[u32]| -> String {
        match &vocabulary {
            Some(v) => v.decode(ids),
            None => ids.iter().map(|i| format!("#{i} ")).collect(),
        }
    };
    for ((run, part), places) in wanted {
        let (dir, manifest) = &runs[run];
        let path = tokens_path(dir, part);
        let committed = manifest
            .parts
            .iter()
            .find(|p| p.index == part)
            .expect("places come from committed parts");
        let limits = PartLimits {
            vocab: model.manifest.model.config.vocab_size,
            positions: manifest.config.sequences.max_seq_len,
            neurons: ffn,
        };
        let check = PartCheck::of(manifest, committed, None);
        let tokens = read_token_ids(&path, Some(&check), &limits)?;
        let index: BTreeMap<(u64, u16), usize> = (0..tokens.len())
            .map(|i| ((tokens.seq[i], tokens.pos[i]), i))
            .collect();
        for (seq, pos) in places {
            let Some(&row) = index.get(&(seq, pos)) else {
                continue;
            };
            let first = (0..=BEFORE)
                .rev()
                .map(|k| row.saturating_sub(k))
                .find(|&r| tokens.seq[r] == seq)
                .unwrap_or(row);
            let mut last = row;
            while last + 1 < tokens.len() && last < row + AFTER && tokens.seq[last + 1] == seq {
                last += 1;
            }
            windows.insert(
                (run, part, seq, pos),
                Context {
                    before: name(&tokens.token[first..row]),
                    token: name(&tokens.token[row..=row]),
                    after: name(&tokens.token[row + 1..=last]),
                },
            );
        }
    }
    Ok(found
        .into_iter()
        .map(|(layer, per)| {
            let contexts = per
                .into_iter()
                .map(|list| {
                    list.into_iter()
                        .filter_map(|key| windows.get(&key).cloned())
                        .collect()
                })
                .collect();
            (layer, contexts)
        })
        .collect())
}
