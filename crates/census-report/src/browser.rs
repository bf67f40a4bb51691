//! The neuron browser's data, as scripts the page loads only when it needs them, so a report of
//! OPT-66b (2.4M neurons) opens fast:
//! - `data/<model>/layer-LL.js`: the layer's table (one column per statistic) and its detectors;
//! - `data/<model>/layer-LL/neurons-CCC.js`: for [`NEURON_CHUNK`] neurons, their projections
//!   (token ids), example contexts, frequency-by-position curve (a byte per value) and, for the
//!   trained model of a training run, their statistics at each checkpoint;
//! - `data/<model>/vocab.js`: the spellings of the tokens the projections name, each once;
//! - `data/<model>/tokens/index.js` and `tokens/part-CCC.js`: the neurons of each token.

use std::collections::BTreeMap;
use std::path::Path;

use census_format::analysis::tables::{
    AnalysisTable, NeuronRow, PositionCurveRow, ProjectionRow, TokenNeuronRow,
};
use census_format::analysis::vocabulary::display_ngram;
use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::{ModelAnalysis, check_layers};
use crate::error::{ReportError, Result};
use crate::page_data::{
    Curve, IndexedToken, LayerTable, NeuronDetail, NeuronState, ProjectionData, TokenNames,
    TokenNeuron, TokenSpellings,
};

/// Neurons per neuron-detail script.
pub const NEURON_CHUNK: usize = 256;
/// Token ids per token script.
pub const TOKEN_CHUNK: usize = 1024;
/// Most values of a checkpoint's position curve in a neuron's history.
const HISTORY_CURVE_POINTS: usize = 32;
/// Triggers of a checkpoint's detector listed in a neuron's history.
const HISTORY_TRIGGERS: usize = 3;

/// The table script of a layer, relative to the report directory.
pub fn layer_script(model_slug: &str, layer: usize) -> String {
    format!("data/{model_slug}/layer-{layer:02}.js")
}

/// The detail script of the chunk of neurons holding `neuron`, relative to the report directory.
pub fn chunk_script(model_slug: &str, layer: usize, neuron: usize) -> String {
    format!(
        "data/{model_slug}/layer-{layer:02}/neurons-{:03}.js",
        neuron / NEURON_CHUNK
    )
}

/// The script spelling the tokens of a model's projections, relative to the report directory.
pub fn vocab_script(model_slug: &str) -> String {
    format!("data/{model_slug}/vocab.js")
}

/// The token scripts of a model: the index, and the part holding `token`.
pub fn token_scripts(model_slug: &str, token: u32) -> [String; 2] {
    [
        format!("data/{model_slug}/tokens/index.js"),
        format!(
            "data/{model_slug}/tokens/part-{:03}.js",
            token as usize / TOKEN_CHUNK
        ),
    ]
}

/// JSON for a `<script>` body: `</` cannot end the element early.
pub fn script_json(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).expect("the page's data serialises");
    if json.contains("</") {
        json.replace("</", "<\\/")
    } else {
        json
    }
}

fn write_script(out: &Path, relative: &str, body: String) -> Result<()> {
    let path = out.join(relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::io("cannot create", dir, e))?;
    }
    std::fs::write(&path, body).map_err(|e| ReportError::io("cannot write", &path, e))
}

/// Every neuron's curve, by (layer, neuron): a positional neuron's full curve, else its binned
/// one from `position_curves.parquet` (where the analysis wrote it); at most `points` values
/// each, in groups averaged, where given.
fn curves(model: &ModelAnalysis, points: Option<usize>) -> Result<BTreeMap<(usize, usize), Curve>> {
    let curve = |first: u16, width: u16, values: &[f32]| {
        let (first, width) = (usize::from(first), usize::from(width));
        match points {
            Some(points) => Curve::coarsened(first, width, values, points),
            None => Curve::new(first, width, values),
        }
    };
    let mut curves = BTreeMap::new();
    if model.dir.join(PositionCurveRow::FILE).exists() {
        for c in PositionCurveRow::read(&model.dir)? {
            curves.insert(
                (usize::from(c.layer), usize::from(c.neuron)),
                curve(c.first_position, c.bin_width, &c.frequency),
            );
        }
    }
    for p in &model.positional {
        curves.insert(
            (usize::from(p.layer), usize::from(p.neuron)),
            curve(p.first_position, 1, &p.frequency),
        );
    }
    Ok(curves)
}

/// One checkpoint's statistics of every neuron, by (layer, neuron), for the neurons' histories.
fn checkpoint_states(
    step: u64,
    model: &ModelAnalysis,
) -> Result<BTreeMap<(usize, usize), NeuronState>> {
    let detectors: BTreeMap<(usize, usize), (&'static str, Vec<String>)> = model
        .detectors
        .iter()
        .map(|d| {
            (
                (usize::from(d.layer), usize::from(d.neuron)),
                (
                    d.kind.name(),
                    d.triggers
                        .iter()
                        .take(HISTORY_TRIGGERS)
                        .map(|t| display_ngram(t))
                        .collect(),
                ),
            )
        })
        .collect();
    let mut curves = curves(model, Some(HISTORY_CURVE_POINTS))?;
    NeuronRow::read(&model.dir)?
        .into_iter()
        .map(|n| {
            let key = (usize::from(n.layer), usize::from(n.neuron));
            let detector = detectors.get(&key);
            let curve = curves.remove(&key);
            Ok((
                key,
                NeuronState {
                    step,
                    frequency: n.frequency,
                    dead: n.dead,
                    detector: detector.map(|d| d.0),
                    triggers: detector.map(|d| d.1.clone()).unwrap_or_default(),
                    kind: n.positional.map(|c| c.kind.name()),
                    strong: n.positional.map(|c| c.strong),
                    mi: n.position_mi,
                    curve,
                },
            ))
        })
        .collect()
}

/// Writes the browser's scripts of `model` under `out`: its layers' tables, its neurons'
/// details with up to `contexts` of the example contexts the analysis recorded and, when
/// `history` lists the model's training checkpoints (step and analysis, in step order, the
/// model itself last), each neuron's statistics along them; and its tokens' neurons. Returns
/// how many layer scripts were written.
pub fn write_layers(
    model: &ModelAnalysis,
    slug: &str,
    out: &Path,
    contexts: usize,
    history: &[(u64, &ModelAnalysis)],
) -> Result<usize> {
    let layers = neurons_by_layer(model)?;
    let mut details = DetailSources::read(model, contexts, history)?;
    let count = layers.len();
    // Each layer's details handed out, then the layers written side by side.
    let work: Vec<(usize, Vec<NeuronRow>, DetailSources)> = layers
        .into_iter()
        .map(|(l, rows)| {
            let layer = details.take_layer(l);
            (l, rows, layer)
        })
        .collect();
    work.into_par_iter()
        .try_for_each(|(l, rows, mut layer)| -> Result<()> {
            crate::stop_point()?;
            let detectors = model.detectors.iter().filter(|d| usize::from(d.layer) == l);
            let rows: Vec<&NeuronRow> = rows.iter().collect();
            let data = LayerTable::new(&rows, detectors);
            write_script(
                out,
                &layer_script(slug, l),
                format!(
                    "censusLayer({}, {l}, {});\n",
                    script_json(&slug),
                    script_json(&data)
                ),
            )?;
            for chunk in rows.chunks(NEURON_CHUNK) {
                let first = usize::from(chunk[0].neuron);
                let chunk_details: Vec<NeuronDetail> = chunk
                    .iter()
                    .map(|n| layer.take(l, usize::from(n.neuron)))
                    .collect();
                write_script(
                    out,
                    &chunk_script(slug, l, first),
                    format!(
                        "censusChunk({}, {l}, {}, {});\n",
                        script_json(&slug),
                        first / NEURON_CHUNK,
                        script_json(&chunk_details)
                    ),
                )?;
            }
            Ok(())
        })?;
    if details.names.iter().any(Option::is_some) {
        let spellings = TokenSpellings::from(std::mem::take(&mut details.names));
        write_script(
            out,
            &vocab_script(slug),
            format!(
                "censusVocab({}, {});\n",
                script_json(&slug),
                script_json(&spellings)
            ),
        )?;
    }
    write_tokens(model, slug, out)?;
    Ok(count)
}

/// The neurons of each layer the analysis declares, in neuron order.
fn neurons_by_layer(model: &ModelAnalysis) -> Result<BTreeMap<usize, Vec<NeuronRow>>> {
    let neurons = NeuronRow::read(&model.dir)?;
    check_layers(
        &model.dir,
        model.manifest.layers,
        NeuronRow::FILE,
        neurons.iter().map(|n| n.layer),
    )?;
    let mut layers: BTreeMap<usize, Vec<NeuronRow>> = BTreeMap::new();
    for n in neurons {
        layers.entry(usize::from(n.layer)).or_default().push(n);
    }
    for rows in layers.values_mut() {
        rows.sort_by_key(|n| n.neuron);
    }
    Ok(layers)
}

/// What a neuron's details are made of, read once for the whole model and handed out neuron
/// by neuron: its example contexts, its vocabulary projection and position curve (when the
/// analysis computed them), and its states along the training checkpoints.
struct DetailSources {
    /// Example contexts, by layer, then neuron.
    contexts: crate::contexts::Contexts,
    /// Projections by (layer, neuron).
    projections: BTreeMap<(usize, usize), ProjectionData>,
    /// The names of the tokens the projections hold.
    names: TokenNames,
    /// Frequency-by-position curves by (layer, neuron).
    curves: BTreeMap<(usize, usize), Curve>,
    /// Each checkpoint's states by (layer, neuron), in step order.
    states: Vec<BTreeMap<(usize, usize), NeuronState>>,
}

impl DetailSources {
    fn read(
        model: &ModelAnalysis,
        contexts: usize,
        history: &[(u64, &ModelAnalysis)],
    ) -> Result<Self> {
        let mut projections = BTreeMap::new();
        let mut names = TokenNames::new();
        if model.dir.join(ProjectionRow::FILE).exists() {
            let vocab = model.manifest.model.config.vocab_size;
            let (rows, held) = ProjectionRow::read_ids(&model.dir, vocab)?;
            names = held;
            for p in rows {
                let key = (usize::from(p.layer), usize::from(p.neuron));
                projections.insert(key, ProjectionData::from(p));
            }
        }
        Ok(Self {
            contexts: crate::contexts::load(model, contexts)?,
            projections,
            names,
            curves: curves(model, None)?,
            states: history
                .iter()
                .map(|&(step, m)| checkpoint_states(step, m))
                .collect::<Result<_>>()?,
        })
    }

    /// The sources of layer `l` and the layers below it still held, taken out (layers are taken
    /// in ascending order).
    fn take_layer(&mut self, l: usize) -> Self {
        /// The entries of `map` below layer `l + 1`, taken out.
        fn below<T>(
            map: &mut BTreeMap<(usize, usize), T>,
            l: usize,
        ) -> BTreeMap<(usize, usize), T> {
            let rest = map.split_off(&(l + 1, 0));
            std::mem::replace(map, rest)
        }
        let mut contexts = crate::contexts::Contexts::new();
        if let Some(per_neuron) = self.contexts.remove(&l) {
            contexts.insert(l, per_neuron);
        }
        Self {
            contexts,
            projections: below(&mut self.projections, l),
            names: TokenNames::new(),
            curves: below(&mut self.curves, l),
            states: self.states.iter_mut().map(|s| below(s, l)).collect(),
        }
    }

    /// The details of neuron `neuron` of layer `l` (each neuron's are taken once).
    fn take(&mut self, l: usize, neuron: usize) -> NeuronDetail {
        let key = (l, neuron);
        NeuronDetail {
            projection: self.projections.remove(&key),
            contexts: self
                .contexts
                .get(&l)
                .and_then(|per| per.get(neuron))
                .cloned()
                .unwrap_or_default(),
            curve: self.curves.remove(&key),
            history: (!self.states.is_empty()).then(|| {
                self.states
                    .iter_mut()
                    .filter_map(|s| s.remove(&key))
                    .collect()
            }),
        }
    }
}

/// Writes the token scripts of `model`, when its analysis lists the neurons of each token:
/// the index (`[id, shown, raw, occurrences]` per token with neurons) and the parts
/// (`{id: [[layer, neuron, fires, neuron_fires], …]}`, most fires first).
fn write_tokens(model: &ModelAnalysis, slug: &str, out: &Path) -> Result<bool> {
    if !model.dir.join(TokenNeuronRow::FILE).exists() {
        return Ok(false);
    }
    let rows = TokenNeuronRow::read(&model.dir)?;
    let mut index: Vec<IndexedToken> = Vec::new();
    let mut parts: BTreeMap<usize, BTreeMap<String, Vec<TokenNeuron>>> = BTreeMap::new();
    for r in &rows {
        let part = parts.entry(r.token_id as usize / TOKEN_CHUNK).or_default();
        let list = part.entry(r.token_id.to_string()).or_insert_with(|| {
            index.push(IndexedToken::from(r));
            Vec::new()
        });
        list.push(TokenNeuron::from(r));
    }
    let model_json = script_json(&slug);
    let [index_script, _] = token_scripts(slug, 0);
    write_script(
        out,
        &index_script,
        format!("censusTokenIndex({model_json}, {});\n", script_json(&index)),
    )?;
    for (part, tokens) in parts {
        let [_, part_script] = token_scripts(slug, (part * TOKEN_CHUNK) as u32);
        write_script(
            out,
            &part_script,
            format!(
                "censusTokenPart({model_json}, {part}, {});\n",
                script_json(&tokens)
            ),
        )?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_named_by_chunk() {
        assert_eq!(chunk_script("m", 3, 0), "data/m/layer-03/neurons-000.js");
        assert_eq!(chunk_script("m", 3, 255), "data/m/layer-03/neurons-000.js");
        assert_eq!(chunk_script("m", 3, 256), "data/m/layer-03/neurons-001.js");
        assert_eq!(token_scripts("m", 2047)[1], "data/m/tokens/part-001.js");
    }
}
