//! The neuron browser's data: one script per (model, layer) under `data/`, loaded by the page
//! only when a neuron of that layer is shown, so a report of OPT-66b (2.4M neurons) opens fast.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::analysis::ModelAnalysis;
use crate::error::{ReportError, Result};
use census_format::analysis::tables::{AnalysisTable, NeuronRow, ProjectionRow, RankedToken};
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
    let neurons = NeuronRow::read(&model.dir)?;
    let mut layers: BTreeMap<usize, Vec<&NeuronRow>> = BTreeMap::new();
    let mut alive: BTreeMap<usize, usize> = BTreeMap::new();
    for n in &neurons {
        let l = usize::from(n.layer);
        layers.entry(l).or_default().push(n);
        if !n.dead {
            *alive.entry(l).or_insert(0) += 1;
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
    if model.dir.join(ProjectionRow::FILE).exists() {
        let names = |t: &[RankedToken]| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        let ids = |t: &[RankedToken]| t.iter().map(|t| t.id).collect::<Vec<_>>();
        for p in ProjectionRow::read(&model.dir)? {
            projections.entry(usize::from(p.layer)).or_default().insert(
                p.neuron.to_string(),
                shown_tokens(json!({
                    "promoted": names(&p.promoted),
                    "suppressed": names(&p.suppressed),
                    "promoted_ids": ids(&p.promoted),
                    "suppressed_ids": ids(&p.suppressed),
                })),
            );
        }
    }
    let dir = out.join("data").join(slug);
    std::fs::create_dir_all(&dir).map_err(|e| ReportError::io("cannot create", &dir, e))?;
    for (&l, rows) in &layers {
        let mut rows = rows.clone();
        rows.sort_by_key(|n| n.neuron);
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
        let column =
            |f: &dyn Fn(&NeuronRow) -> Value| rows.iter().map(|n| f(n)).collect::<Vec<_>>();
        let data = json!({
            "neuron": column(&|n| json!(n.neuron)),
            "fires": column(&|n| json!(n.fires)),
            "fires_bos": column(&|n| json!(n.fires_bos)),
            "frequency": column(&|n| json!(n.frequency)),
            "dead": column(&|n| json!(n.dead)),
            "coverage": column(&|n| json!(n.coverage)),
            "mi": column(&|n| json!(n.position_mi)),
            "type": column(&|n| json!(n.positional.map(|c| c.kind.name()))),
            "strong": column(&|n| json!(n.positional.map(|c| c.strong))),
            "detectors": detectors,
            "positional": curves,
            "projections": projections.remove(&l).unwrap_or_default(),
            "contexts": rows.iter().map(|n| {
                examples.get(&l).and_then(|per| per.get(usize::from(n.neuron))).cloned().unwrap_or_default()
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
