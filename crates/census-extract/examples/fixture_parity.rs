//! The first step of the GPU check (`pipelines/gpu-check.sh`): the fired masks an extraction
//! records on the parity fixtures, on the device given and in each compute dtype, against the
//! Hugging Face goldens committed with the fixtures (fc1 pre-activations in f32) and the host
//! engine's. A fired bit may differ from HF's only where HF's pre-activation is within the
//! documented band of zero (1e-4 in f32, 1e-2 in f16). The dense path's fire counts, summed on
//! the device (`--record counts`), must equal the counts of its own fired lists. Prints a
//! Markdown table; exits non-zero when a bit differs outside the band or a count differs.
//!
//! The other families' fixtures (GPT-2, Pythia, Llama, Qwen2, Mistral: `--families
//! tests/fixtures/families`) run through the same engines.
//!
//! `fixture_parity [--device cpu|cuda] [--fixtures tests/fixtures/opt]
//! [--families tests/fixtures/families]`

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::Backend;
use census_extract::{ExtractOptions, extract};
use census_format::model::FloatType;
use census_format::run::Engine;
use census_format::run::RecordMode;
use census_format::run::SequenceOptions;
use census_format::run::counts::read_counts;
use census_format::run::manifest::Manifest;
use census_format::run::tables::{activations_path, read_activations};
use census_model::{BackendJob, Device};
use census_testkit::golden::{Golden, pretokenized_as_is, pretokenized_source, read_golden};

/// Fixtures checked: pre-LN, post-LN with projections (350m's layout), odd shapes, f16 weights.
const FIXTURES: [&str; 4] = ["pre-ln", "post-ln-proj", "odd", "f16"];

/// Fixtures of the other families: a GELU model without BOS, a parallel-residual rotary one in
/// f16, a gated grouped-query one with Llama 3's rope in bf16, q/k/v biases, a sliding window.
const FAMILY_FIXTURES: [&str; 5] = ["gpt2", "pythia", "llama", "qwen2", "mistral"];

/// One extraction of a fixture.
struct Extraction<'a> {
    options: &'a ExtractOptions,
}

impl BackendJob for Extraction<'_> {
    type Output = census_extract::Result<census_extract::ExtractSummary>;

    fn run<B: Backend>(self, device: &B::Device, label: &'static str) -> Self::Output {
        extract::<B>(self.options, device, label)
    }
}

/// Fired bits compared, differing, and differing outside the band.
#[derive(Default)]
struct Comparison {
    compared: usize,
    flips: usize,
    outside: usize,
}

fn compare(run: &Path, golden: &Golden, band: f32) -> Result<Comparison> {
    let manifest = Manifest::load(run)?.context("no manifest")?;
    let [start, end] = manifest.config.layers;
    let mut cmp = Comparison::default();
    for layer in start..end {
        for part in &manifest.parts {
            let rows = read_activations(&activations_path(run, layer, part.index), None)?;
            for i in 0..rows.len() {
                let pre = &golden.fc1[rows.seq[i] as usize][layer][usize::from(rows.pos[i])];
                let mut fired = vec![false; pre.len()];
                for &n in rows.neurons_of(i) {
                    fired[usize::from(n)] = true;
                }
                for (n, &value) in pre.iter().enumerate() {
                    cmp.compared += 1;
                    if fired[n] != (value > 0.0) {
                        cmp.flips += 1;
                        if value.abs() >= band {
                            cmp.outside += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(cmp)
}

/// Whether the counts run `counts` holds, layer by layer, the fires the shards run `shards`
/// (the same engine and dtype) recorded, on the `</s>` prefix and elsewhere.
fn counts_agree(shards: &Path, counts: &Path, ffn: usize) -> Result<bool> {
    let manifest = Manifest::load(shards)?.context("no manifest")?;
    let counted = Manifest::load(counts)?.context("no manifest")?;
    let [start, end] = manifest.config.layers;
    for layer in start..end {
        let mut expected = (vec![0u64; ffn], vec![0u64; ffn]);
        for part in &manifest.parts {
            let rows = read_activations(&activations_path(shards, layer, part.index), None)?;
            for i in 0..rows.len() {
                let into = if rows.pos[i] == 0 {
                    &mut expected.0
                } else {
                    &mut expected.1
                };
                for &n in rows.neurons_of(i) {
                    into[usize::from(n)] += 1;
                }
            }
        }
        let mut found = (vec![0u64; ffn], vec![0u64; ffn]);
        for part in &counted.parts {
            let path = census_format::run::counts::counts_path(counts, layer, part.index);
            for c in read_counts(&path, None, ffn, None)?.values() {
                for n in 0..ffn {
                    found.0[n] += c.fires_bos[n];
                    found.1[n] += c.fires[n];
                }
            }
        }
        if found != expected {
            return Ok(false);
        }
    }
    Ok(true)
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[allow(clippy::print_stdout)]
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = match flag(&args, "--device").as_deref() {
        None | Some("cpu") => Device::Cpu,
        Some("cuda") => Device::Cuda,
        Some(other) => bail!("--device {other}: cpu or cuda"),
    };
    let fixtures = flag(&args, "--fixtures").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/opt"),
        PathBuf::from,
    );
    let families = flag(&args, "--families").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/families"),
        PathBuf::from,
    );
    let work = tempfile::tempdir()?;
    println!(
        "| fixture | engine | dtype | fired bits | differ | outside the band | counts on the \
         device |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut failed = false;
    let opt = FIXTURES.iter().map(|name| (fixtures.join(name), true));
    let others = FAMILY_FIXTURES
        .iter()
        .map(|name| (families.join(name), false));
    for (dir, is_opt) in opt.chain(others) {
        let name = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let golden = read_golden(&dir);
        let source = if is_opt {
            pretokenized_source(work.path(), &golden.sequences)
        } else {
            pretokenized_as_is(work.path(), &golden.sequences)
        };
        let positions =
            census_model::family::read_config(dir.join("config.json"))?.max_position_embeddings;
        let host = (Device::Cpu, Engine::Host, FloatType::F32, 1e-4);
        let dense = [
            (device, Engine::Dense, FloatType::F32, 1e-4),
            (device, Engine::Dense, FloatType::F16, 1e-2),
        ];
        for (on, engine, dtype, band) in std::iter::once(host).chain(dense) {
            let out = work
                .path()
                .join(format!("{name}-{}-{dtype}", engine.name()));
            let options = ExtractOptions {
                sequences: SequenceOptions::with_max_seq_len(positions),
                engine,
                dtype,
                ..ExtractOptions::new(&dir, vec![source.clone()], &out)
            };
            on.run(Extraction { options: &options })??;
            let cmp = compare(&out, &golden, band)?;
            failed |= cmp.outside > 0;
            let counts = if engine == Engine::Dense {
                let counts_out = out.with_extension("counts");
                let options = ExtractOptions {
                    record: RecordMode::Counts,
                    out: counts_out.clone(),
                    ..options.clone()
                };
                on.run(Extraction { options: &options })??;
                let ffn = Manifest::load(&out)?
                    .context("no manifest")?
                    .config
                    .model
                    .config
                    .ffn_dim;
                let agree = counts_agree(&out, &counts_out, ffn)?;
                failed |= !agree;
                if agree { "equal" } else { "DIFFER" }
            } else {
                "-"
            };
            println!(
                "| {name} | {} on {} | {dtype} | {} | {} | {} (band ±{band}) | {counts} |",
                engine.name(),
                on.name(),
                cmp.compared,
                cmp.flips,
                cmp.outside
            );
        }
    }
    if failed {
        bail!("fired bits differ from HF's outside the band, or counts from their fired lists");
    }
    println!(
        "\nevery fired bit agrees with HF's outside the near-zero band, and every count summed \
         on the device with the fired lists"
    );
    Ok(())
}
