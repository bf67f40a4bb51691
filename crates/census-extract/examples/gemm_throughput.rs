//! Measures burn's matmul throughput on this machine at an OPT FFN's shapes, for the
//! benchmark's GEMM-bound ceiling. Prints one JSON line.
//!
//! `cargo run --release -p census-extract --example gemm_throughput -- [rows] [hidden] [ffn]`

use std::time::Instant;

use burn::prelude::*;
use census_model::CpuBackend;

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let (rows, hidden, ffn) = (
        args.first().copied().unwrap_or(2048),
        args.get(1).copied().unwrap_or(768),
        args.get(2).copied().unwrap_or(3072),
    );
    let device = Default::default();
    let a = Tensor::<CpuBackend, 2>::random(
        [rows, hidden],
        burn::tensor::Distribution::Default,
        &device,
    );
    let b = Tensor::<CpuBackend, 2>::random(
        [hidden, ffn],
        burn::tensor::Distribution::Default,
        &device,
    );
    let _ = a.clone().matmul(b.clone()).into_data();
    let reps = 10;
    let start = Instant::now();
    for _ in 0..reps {
        let _ = a.clone().matmul(b.clone()).into_data();
    }
    let seconds = start.elapsed().as_secs_f64() / reps as f64;
    let flops = 2.0 * rows as f64 * hidden as f64 * ffn as f64;
    println!(
        "{}",
        serde_json::json!({ "rows": rows, "hidden": hidden, "ffn": ffn, "gflops": flops / seconds / 1e9 })
    );
}
