//! Example contexts for the neuron browser: the places each neuron fires that the analysis
//! recorded (`contexts.parquet`, `analyze --contexts`), spelled with the analysis's vocabulary.

use std::collections::BTreeMap;

use census_format::analysis::tables::{AnalysisTable, ContextRow};
use census_format::analysis::vocabulary::{VOCABULARY_FILE, Vocabulary};
use serde::Serialize;

use crate::analysis::{ModelAnalysis, check_layers};
use crate::error::Result;

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

/// Per layer, per neuron (by index), its contexts.
pub type Contexts = BTreeMap<usize, Vec<Vec<Context>>>;

/// The vocabulary the analysis named its tokens with, if it had a tokenizer; a warning says
/// when contexts show token ids instead.
fn analysis_vocabulary(model: &ModelAnalysis) -> Option<Vocabulary> {
    let path = model.dir.join(VOCABULARY_FILE);
    if !path.is_file() {
        tracing::warn!(
            analysis = %model.dir.display(),
            "the analysis holds no vocabulary.parquet (it had no tokenizer): example contexts \
             show token ids (#N)"
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

/// Up to `per_neuron` of the contexts the analysis of `model` recorded for each neuron (none
/// where it recorded none).
pub fn load(model: &ModelAnalysis, per_neuron: usize) -> Result<Contexts> {
    let recorded = model.manifest.tables.iter().any(|t| t == ContextRow::FILE);
    if per_neuron == 0 || !recorded {
        return Ok(Contexts::new());
    }
    let rows = ContextRow::read(&model.dir)?;
    check_layers(
        &model.dir,
        model.manifest.layers,
        ContextRow::FILE,
        rows.iter().map(|r| r.layer),
    )?;
    let vocabulary = analysis_vocabulary(model);
    let name = |ids: &[u32]| -> String {
        match &vocabulary {
            Some(v) => v.decode(ids),
            None => ids.iter().map(|i| format!("#{i} ")).collect(),
        }
    };
    let ffn = model.manifest.model.config.ffn_dim;
    let mut contexts = Contexts::new();
    for row in rows {
        let per = contexts
            .entry(usize::from(row.layer))
            .or_insert_with(|| vec![Vec::new(); ffn]);
        let Some(list) = per.get_mut(usize::from(row.neuron)) else {
            continue;
        };
        if list.len() < per_neuron {
            let at = usize::from(row.at);
            list.push(Context {
                before: name(&row.tokens[..at]),
                token: name(&row.tokens[at..=at]),
                after: name(&row.tokens[at + 1..]),
            });
        }
    }
    Ok(contexts)
}
