//! The counting core of the analysis on its own, for `benches/analyze_vs_duckdb.py`.
//!
//! - `count_bench make-run DIR [--tokens N] [--layers L] [--ffn F] [--density D] [--seq-len S]`
//!   writes a synthetic run: Zipf-like tokens over OPT's vocabulary and about `D·F` fired neurons
//!   per token and layer, half of them the same for every occurrence of a token.
//! - `count_bench count DIR` computes, per layer, the per-neuron fire counts and the
//!   per-(neuron, token) counts (the `</s>` prefix left out), and prints a JSON line with the
//!   seconds taken and checksums of both tables. With `NO_VERIFY=1` the parts are not checked
//!   against the manifest (values still are).

use census_testkit::planted as common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use census_format::run::Shard;
use census_stats::counts::CountScope;
use census_stats::inputs::RunSet;
use common::{SyntheticRun, config, mix};
use rayon::prelude::*;

fn flag(args: &[String], name: &str, default: f64) -> Result<f64> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn make_run(dir: PathBuf, args: &[String]) -> Result<()> {
    let tokens = flag(args, "--tokens", 131_072.0)? as usize;
    let layers = flag(args, "--layers", 12.0)? as usize;
    let ffn = flag(args, "--ffn", 3072.0)? as usize;
    let density = flag(args, "--density", 0.05)?;
    let seq_len = flag(args, "--seq-len", 512.0)? as usize;
    let vocab = 50_265u64;
    let sequences: Vec<Vec<u32>> = (0..tokens.div_ceil(seq_len))
        .map(|s| {
            let mut seq = vec![2u32];
            for p in 1..seq_len {
                // Log-uniform ranks: a Zipf-like token distribution.
                let u = (mix((s * seq_len + p) as u64) >> 11) as f64 / (1u64 << 53) as f64;
                let rank = (vocab as f64).powf(u) as u64 - 1;
                seq.push((4 + mix(rank) % (vocab - 4)) as u32);
            }
            seq
        })
        .collect();
    let per_token = ((ffn as f64 * density) as usize).max(2);
    let fired = |layer: usize, s: usize, p: usize| -> Vec<u16> {
        let token = u64::from(sequences[s][p]);
        let mut on: Vec<u16> = (0..per_token as u64)
            .map(|j| {
                let key = if j % 2 == 0 {
                    // The same neurons for every occurrence of the token.
                    mix(token * 7919 + j + (layer as u64) * 1_000_003)
                } else {
                    mix(((s * seq_len + p) as u64) * 31 + j + (layer as u64) * 7_000_003)
                };
                (key % ffn as u64) as u16
            })
            .collect();
        on.sort_unstable();
        on.dedup();
        on
    };
    let mut config = config(layers, ffn, seq_len);
    // OPT's embedding rows: the real vocabulary and its padding.
    config.vocab_size = 50_272;
    SyntheticRun {
        config,
        sequences: sequences.clone(),
        seq_ids: (0..sequences.len() as u64).collect(),
        fired: &fired,
        domain: &|_| "synthetic",
        part_sequences: (16_384 / seq_len).max(1),
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(&dir);
    Ok(())
}

#[allow(clippy::print_stdout)]
fn count(dir: PathBuf) -> Result<()> {
    let started = Instant::now();
    let mut set = RunSet::open(&[dir], false)?;
    // NO_VERIFY=1 skips the checks of each part's size, checksum and footer (as
    // `--rewritten-parts` does), to measure what they cost.
    set.verify_parts = std::env::var("NO_VERIFY").is_err();
    let parts = set.parts();
    let scope = CountScope {
        unigrams: std::env::var("NO_TABLE").is_err(),
        ..Default::default()
    };
    let hidden = census_format::progress::Progress::hidden();
    let sums = set
        .layers()
        .into_par_iter()
        .map(|layer| {
            let counts = census_stats::analyze::counting::count_layer_uncapped(
                &set,
                &parts,
                layer,
                scope,
                Default::default(),
                &hidden,
            )?;
            let fires: u64 = counts.fires.iter().sum();
            let (mut pairs, mut squares) = (0u64, 0u64);
            for (_, _, c) in counts.table.iter().flat_map(|t| t.iter()) {
                pairs += 1;
                squares += c * c;
            }
            Ok((fires, pairs, squares))
        })
        .collect::<census_stats::Result<Vec<_>>>()?;
    let seconds = started.elapsed().as_secs_f64();
    let fires: u64 = sums.iter().map(|s| s.0).sum();
    let pairs: u64 = sums.iter().map(|s| s.1).sum();
    let squares: u64 = sums.iter().map(|s| s.2).sum();
    println!(
        "{{\"seconds\": {seconds}, \"fires\": {fires}, \"pairs\": {pairs}, \"pair_squares\": {squares}, \"rows\": {}}}",
        set.tokens()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("make-run"), Some(dir)) => make_run(PathBuf::from(dir), &args[2..]),
        (Some("count"), Some(dir)) => count(PathBuf::from(dir)),
        _ => bail!("usage: count_bench make-run DIR [--tokens N ...] | count_bench count DIR"),
    }
}
