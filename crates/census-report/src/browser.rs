//! The neuron browser's data: one script per (model, layer) under `data/`, loaded by the page
//! only when a neuron of that layer is shown, so a report of OPT-66b (2.4M neurons) opens fast.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::analysis::ModelAnalysis;
use crate::error::{ReportError, Result};
use crate::table::Table;
use census_format::analysis::vocabulary::display_ngram;

/// The script file of a layer, relative to the report directory.
pub fn layer_script(model_slug: &str, layer: usize) -> String {
    format!("data/{model_slug}/layer-{layer:02}.js")
}

/// JSON for a `<script>` body: `</` cannot end the element early.
pub fn script_json(value: &Value) -> String {
    value.to_string().replace("</", "<\\/")
}

/// `value` with its token lists (`triggers`, `promoted`, `suppressed`) shown readably
/// ([`display_ngram`]), the raw token strings kept beside them as `<name>_raw` for the title a
/// reader sees on hover (with the ids, `<name>_ids` or `trigger_ids`, where recorded).
fn shown_tokens(mut value: Value) -> Value {
    for name in ["triggers", "promoted", "suppressed"] {
        let Some(Value::Array(raw)) = value.get(name).cloned() else {
            continue;
        };
        let shown: Vec<Value> = raw
            .iter()
            .map(|t| json!(display_ngram(t.as_str().unwrap_or_default())))
            .collect();
        value[format!("{name}_raw")] = Value::Array(raw);
        value[name] = Value::Array(shown);
    }
    value
}

/// Writes the layer scripts of `model` under `out`, with up to `contexts` example contexts per
/// neuron from the runs' token shards, and returns how many were written.
pub fn write_layers(
    model: &ModelAnalysis,
    slug: &str,
    out: &Path,
    contexts: usize,
) -> Result<usize> {
    let t = Table::read(&model.dir.join("neurons.parquet"))?;
    let layer = t.counts_required("layer")?;
    let neuron = t.counts_required("neuron")?;
    let fires = t.counts_required("fires")?;
    let fires_bos = t.counts_required("fires_bos")?;
    let frequency = t.shares_required("frequency")?;
    let dead = t.bools("dead")?;
    let coverage = [
        t.counts("unigram_coverage")?,
        t.counts("bigram_coverage")?,
        t.counts("trigram_coverage")?,
    ];
    let mi = t.counts("position_mi")?;
    let kind = t.strings("positional_type")?;
    let strong = t.bools("positional_strong")?;
    let mut layers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (row, &l) in layer.iter().enumerate() {
        layers.entry(l as usize).or_default().push(row);
    }
    let mut alive: BTreeMap<usize, usize> = BTreeMap::new();
    for (row, &l) in layer.iter().enumerate() {
        if dead[row] == Some(false) {
            *alive.entry(l as usize).or_insert(0) += 1;
        }
    }
    let examples = if contexts > 0 {
        let _span = tracing::info_span!("contexts", model = %model.name).entered();
        crate::contexts::collect(model, contexts, &alive)?
    } else {
        Default::default()
    };
    // Every alive neuron's projection, when the analysis computed them.
    let mut projections: BTreeMap<usize, BTreeMap<String, Value>> = BTreeMap::new();
    let projections_path = model.dir.join("projections.parquet");
    if projections_path.exists() {
        let p = Table::read(&projections_path)?;
        let (pl, pn) = (p.counts_required("layer")?, p.counts_required("neuron")?);
        let (promoted, suppressed) = (p.string_lists("promoted")?, p.string_lists("suppressed")?);
        let ids = |name: &str| -> Result<Vec<Option<Vec<f64>>>> {
            if p.has(name) {
                p.count_lists(name)
            } else {
                Ok(vec![None; p.len()])
            }
        };
        let (promoted_ids, suppressed_ids) = (ids("promoted_ids")?, ids("suppressed_ids")?);
        for i in 0..pl.len() {
            projections.entry(pl[i] as usize).or_default().insert(
                (pn[i] as usize).to_string(),
                shown_tokens(json!({
                    "promoted": promoted[i],
                    "suppressed": suppressed[i],
                    "promoted_ids": promoted_ids[i],
                    "suppressed_ids": suppressed_ids[i],
                })),
            );
        }
    }
    let dir = out.join("data").join(slug);
    std::fs::create_dir_all(&dir).map_err(|e| ReportError::io("cannot create", &dir, e))?;
    for (&l, rows) in &layers {
        let mut rows = rows.clone();
        rows.sort_by_key(|&r| neuron[r] as usize);
        let detectors: BTreeMap<String, Value> = model
            .detectors
            .iter()
            .filter(|d| d.layer == l)
            .map(|d| (d.neuron.to_string(), shown_tokens(json!(d))))
            .collect();
        let curves: BTreeMap<String, Value> = model
            .positional
            .iter()
            .filter(|p| p.layer == l)
            .map(|p| (p.neuron.to_string(), json!(p)))
            .collect();
        let column = |f: &dyn Fn(usize) -> Value| rows.iter().map(|&r| f(r)).collect::<Vec<_>>();
        let data = json!({
            "neuron": column(&|r| json!(neuron[r])),
            "fires": column(&|r| json!(fires[r])),
            "fires_bos": column(&|r| json!(fires_bos[r])),
            "frequency": column(&|r| json!(frequency[r])),
            "dead": column(&|r| json!(dead[r])),
            "coverage": column(&|r| json!([coverage[0][r], coverage[1][r], coverage[2][r]])),
            "mi": column(&|r| json!(mi[r])),
            "type": column(&|r| json!(kind[r])),
            "strong": column(&|r| json!(strong[r])),
            "detectors": detectors,
            "positional": curves,
            "projections": projections.remove(&l).unwrap_or_default(),
            "contexts": rows.iter().map(|&r| {
                examples.get(&l).and_then(|per| per.get(neuron[r] as usize)).cloned().unwrap_or_default()
            }).collect::<Vec<_>>(),
        });
        let path = out.join(layer_script(slug, l));
        let script = format!(
            "censusLayer({}, {l}, {});\n",
            script_json(&json!(slug)),
            script_json(&data)
        );
        std::fs::write(&path, script).map_err(|e| ReportError::io("cannot write", &path, e))?;
    }
    Ok(layers.len())
}
