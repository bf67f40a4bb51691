//! Measures how fast the host turns fired masks into neuron lists, at a real OPT width: the
//! packed words the device sends ([`FiredNeurons::from_packed`], one thread and every core) and,
//! for comparison, the one-byte-per-neuron boolean mask that used to cross instead, scanned
//! neuron by neuron on one thread. Prints a Markdown table and the projection to a 16-core host
//! (decoding is embarrassingly parallel: the projection scales the per-core rate).
//!
//! `cargo run --release -p census-model --example decode_rate -- [ffn] [tokens] [activity]`
//! (default: opt-13b's 20,480 neurons, 2,048 tokens, 5% activity)

use std::time::Instant;

use census_model::FiredNeurons;
use census_model::fired::WORD_BITS;
use census_testkit::SeededRng;

/// Seconds per call of `f`, best of `reps`.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ffn: usize = args.first().map_or(20_480, |a| a.parse().expect("ffn"));
    let tokens: usize = args.get(1).map_or(2_048, |a| a.parse().expect("tokens"));
    let activity: f64 = args.get(2).map_or(0.05, |a| a.parse().expect("activity"));
    let mut rng = SeededRng::new(7);
    let threshold = (activity * (1u64 << 53) as f64) as u64;
    let mask: Vec<bool> = (0..tokens * ffn)
        .map(|_| rng.next_u64() >> 11 < threshold)
        .collect();
    let per_token = ffn.div_ceil(WORD_BITS);
    let mut words = vec![0u32; tokens * per_token];
    for (t, token) in mask.chunks_exact(ffn).enumerate() {
        for (n, &fired) in token.iter().enumerate() {
            if fired {
                words[t * per_token + n / WORD_BITS] |= 1 << (n % WORD_BITS);
            }
        }
    }
    let fires = mask.iter().filter(|&&b| b).count();
    let scan_bools = || {
        let mut fired = FiredNeurons {
            offsets: vec![0],
            neurons: Vec::new(),
        };
        for token in mask.chunks_exact(ffn) {
            fired
                .neurons
                .extend((0..ffn).filter(|&n| token[n]).map(|n| n as u16));
            fired.offsets.push(fired.neurons.len());
        }
        fired
    };
    assert_eq!(FiredNeurons::from_packed(&words, tokens, ffn), scan_bools());
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool");
    let cores = rayon::current_num_threads();
    let reps = 5;
    let bools = best(reps, scan_bools);
    let packed_one =
        one_thread.install(|| best(reps, || FiredNeurons::from_packed(&words, tokens, ffn)));
    let packed_all = best(reps, || FiredNeurons::from_packed(&words, tokens, ffn));
    let rate = |seconds: f64| fires as f64 / seconds;
    println!(
        "{tokens} tokens x {ffn} neurons at {:.1}% activity ({fires} fires); {cores} cores\n",
        100.0 * fires as f64 / (tokens * ffn) as f64
    );
    println!("| decode | bytes to the host per token | fires/s | tokens/s (one layer) |");
    println!("|---|---|---|---|");
    for (name, bytes, seconds) in [
        ("boolean mask, one thread (before)", ffn, bools),
        ("packed words, one thread", per_token * 4, packed_one),
        ("packed words, every core", per_token * 4, packed_all),
    ] {
        println!(
            "| {name} | {bytes} | {:.0}M | {:.0}k |",
            rate(seconds) / 1e6,
            tokens as f64 / seconds / 1e3
        );
    }
    let per_core = rate(packed_one);
    println!(
        "\nprojection: 16 cores x {:.0}M fires/s per core = {:.1}G fires/s (decoding scales with \
         cores; an H100 at opt-13b and 15k tokens/s, 5% activity, produces about 0.6G fires/s)",
        per_core / 1e6,
        16.0 * per_core / 1e9
    );
}
