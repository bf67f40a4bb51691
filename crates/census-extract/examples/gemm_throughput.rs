//! Measures matrix-product throughput on this machine at an FFN's shapes (fc1: `[rows, hidden]`
//! by `[hidden, ffn]`; fc2: `[rows, ffn]` by `[ffn, hidden]`), for the extraction benchmark's
//! ceiling: the `gemm` kernel alone with the host engine's layout (weights `[in, out]`, all
//! threads), and burn's matmul (the dense path on the CPU). Prints one JSON line with GFLOP/s
//! over both shapes.
//!
//! `cargo run --release -p census-extract --example gemm_throughput -- [rows] [hidden] [ffn]`

use std::time::Instant;

use burn::prelude::*;
use census_model::CpuBackend;

/// Seconds per call of `f`, after warming up.
fn seconds_per_call(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let reps = 10;
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64() / reps as f64
}

/// The `gemm` kernel on `[m, k]` by `[k, n]`, both row-major, every rayon thread.
fn kernel(m: usize, k: usize, n: usize) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    seconds_per_call(|| {
        // SAFETY: `a`, `b` and `c` hold exactly the row-major `m × k`, `k × n` and `m × n`
        // matrices the strides describe, and `c` overlaps neither input.
        #[allow(unsafe_code)]
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            )
        }
    })
}

/// burn's matmul on `[m, k]` by `[k, n]`.
fn burn_matmul(m: usize, k: usize, n: usize) -> f64 {
    let device = Default::default();
    let a = Tensor::<CpuBackend, 2>::random([m, k], burn::tensor::Distribution::Default, &device);
    let b = Tensor::<CpuBackend, 2>::random([k, n], burn::tensor::Distribution::Default, &device);
    seconds_per_call(|| {
        let _ = a.clone().matmul(b.clone()).into_data();
    })
}

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
    let flops = 2.0 * 2.0 * rows as f64 * hidden as f64 * ffn as f64;
    let rate = |f: fn(usize, usize, usize) -> f64| {
        flops / (f(rows, hidden, ffn) + f(rows, ffn, hidden)) / 1e9
    };
    println!(
        "{}",
        serde_json::json!({
            "rows": rows, "hidden": hidden, "ffn": ffn,
            "kernel_gflops": rate(kernel), "burn_gflops": rate(burn_matmul),
        })
    );
}
