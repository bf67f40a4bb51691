//! Measures the shard writer alone: one layer's activation part (fired neuron lists, Parquet,
//! zstd) built and written from memory, at several zstd levels and row-group sizes, on one
//! thread; then every layer of a part written at once on every core, as extraction writes
//! them. Prints fires/s, bytes per fire and the cores a writer needs to keep up with a GPU.
//!
//! The neurons are drawn uniformly at the given activity, so they compress worse than a real
//! model's, whose fires repeat from token to token: the bytes per fire are an upper bound.
//!
//! `cargo run --release -p census-extract --example writer_rate -- [ffn] [tokens] [activity] [layers]`
//! (default: opt-13b's 20,480 neurons, 8,192 tokens, 5% activity, 8 layers)

use std::fs::File;
use std::time::Instant;

use census_format::run::tables::{ActivationRows, activations_batch};
use census_testkit::SeededRng;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

/// One layer's rows of `tokens` tokens (sequences of 2,048) at `activity`.
fn rows(tokens: usize, ffn: usize, activity: f64, seed: u64) -> ActivationRows {
    let mut rng = SeededRng::new(seed);
    let threshold = (activity * (1u64 << 32) as f64) as u64;
    let mut rows = ActivationRows::default();
    for t in 0..tokens {
        rows.seq.push((t / 2048) as u64);
        rows.pos.push((t % 2048) as u16);
        for n in 0..ffn {
            if rng.next_u64() >> 32 < threshold {
                rows.neurons.push(n as u16);
            }
        }
        rows.offsets.push(rows.neurons.len() as i32);
    }
    rows
}

/// Builds and writes `rows` to `path`; returns the file's bytes.
fn write(rows: ActivationRows, path: &std::path::Path, level: i32, row_group: usize) -> u64 {
    let batch = activations_batch(rows).expect("a batch");
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(level).expect("a level"),
        ))
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let file = File::create(path).expect("a file");
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties)).expect("a writer");
    writer.write(&batch).expect("written");
    writer.close().expect("closed");
    std::fs::metadata(path).expect("metadata").len()
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ffn: usize = args.first().map_or(20_480, |a| a.parse().expect("ffn"));
    let tokens: usize = args.get(1).map_or(8_192, |a| a.parse().expect("tokens"));
    let activity: f64 = args.get(2).map_or(0.05, |a| a.parse().expect("activity"));
    let layers: usize = args.get(3).map_or(8, |a| a.parse().expect("layers"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sample = rows(tokens, ffn, activity, 1);
    let fires = sample.neurons.len();
    println!(
        "{tokens} tokens x {ffn} neurons at {:.1}% activity: {fires} fires per layer\n",
        100.0 * fires as f64 / (tokens * ffn) as f64
    );
    println!("| zstd level | row group (rows) | fires/s, one thread | bytes per fire |");
    println!("|---|---|---|---|");
    let mut per_core = 0.0;
    for (level, row_group) in [
        (1, 1 << 20),
        (3, 1 << 20),
        (3, 8192),
        (6, 1 << 20),
        (9, 1 << 20),
    ] {
        let path = dir.path().join(format!("z{level}-{row_group}.parquet"));
        let best = (0..3)
            .map(|_| {
                let rows = sample.clone();
                let start = Instant::now();
                let bytes = write(rows, &path, level, row_group);
                (start.elapsed().as_secs_f64(), bytes)
            })
            .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
        let rate = fires as f64 / best.0;
        if level == 3 && row_group == 1 << 20 {
            per_core = rate;
        }
        println!(
            "| {level} | {row_group} | {:.0}M | {:.2} |",
            rate / 1e6,
            best.1 as f64 / fires as f64
        );
    }
    let cores = rayon::current_num_threads();
    let parts: Vec<ActivationRows> = (0..layers)
        .map(|l| rows(tokens, ffn, activity, 100 + l as u64))
        .collect();
    let total: usize = parts.iter().map(|r| r.neurons.len()).sum();
    let start = Instant::now();
    parts.into_par_iter().enumerate().for_each(|(l, rows)| {
        write(
            rows,
            &dir.path().join(format!("layer-{l}.parquet")),
            3,
            1 << 20,
        );
    });
    let parallel = total as f64 / start.elapsed().as_secs_f64();
    println!(
        "\n{layers} layers written at once (zstd 3, as extraction writes): {:.0}M fires/s on {cores} cores",
        parallel / 1e6
    );
    let needed = 600e6 / per_core;
    println!(
        "one core writes {:.0}M fires/s at zstd 3: keeping up with an H100 at opt-13b (about 0.6G \
         fires/s at 5% activity) takes about {:.1} cores",
        per_core / 1e6,
        needed
    );
}
