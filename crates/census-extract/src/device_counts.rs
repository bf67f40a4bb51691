//! Fire counts summed on the device (`--record counts` on the dense path): each batch's fired
//! mask is summed over its domains' tokens (and, on full-length runs, by position) where it was
//! computed, the sums accumulate there over the part, and only the counters are copied to the
//! host at the end of the part, instead of one bit per neuron and token.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use census_format::run::counts::{DomainCounts, PartCounts};
use census_model::fired::{count_fired, count_fired_by_position};

use census_format::run::sequence_table::Sequence;

/// One recorded layer's counters of one domain, on the device: `[2, ffn]` (fires on the `</s>`
/// prefix, then elsewhere), or `[positions, ffn]` by position on full-length runs.
type Counters<B> = Tensor<B, 2, Int>;

/// A part's counters on the device, by (recorded layer, domain index).
pub struct DeviceCounts<B: Backend> {
    counters: BTreeMap<(usize, u32), Counters<B>>,
    /// Counters already copied to the host, as [`DeviceCounts::counters`] held them (32 bits
    /// each: a part counts fewer than 2^32 tokens).
    copied: Vec<((usize, u32), Vec<u32>)>,
    ffn: usize,
    /// Sequence length of full-length runs (counts by position), none otherwise.
    positions: Option<usize>,
    /// Layers come one after the other (streamed engines): a layer's counters are copied to the
    /// host when the next layer starts, so the device holds one layer's at a time.
    layer_by_layer: bool,
}

impl<B: Backend> DeviceCounts<B> {
    /// Empty counters for layers of `ffn` neurons, by position over `positions` when given;
    /// `layer_by_layer` when the engine runs every batch through a layer before the next.
    pub fn new(ffn: usize, positions: Option<usize>, layer_by_layer: bool) -> Self {
        Self {
            counters: BTreeMap::new(),
            copied: Vec::new(),
            ffn,
            positions,
            layer_by_layer,
        }
    }

    /// Copies the counters of the layers below `layer` to the host.
    fn copy_below(&mut self, layer: usize) {
        let below: Vec<(usize, u32)> = self
            .counters
            .range(..(layer, 0))
            .map(|(&key, _)| key)
            .collect();
        for key in below {
            let counters = self.counters.remove(&key).expect("a listed key");
            self.copied.push((key, to_host(counters)));
        }
    }

    /// Whether a batch of `width` columns holding `batch` (sequence indices into `sequences`)
    /// can be counted by position on the device: every sequence fills the batch's width.
    pub fn fits(&self, batch: &[usize], width: usize, sequences: &[Sequence]) -> bool {
        match self.positions {
            Some(positions) => {
                width == positions && batch.iter().all(|&i| sequences[i].tokens.len() == width)
            }
            None => true,
        }
    }

    /// Adds the fires of recorded layer `layer` in one batch: its pre-activations `fc1`, the
    /// sequences it holds (`batch`, indices into `sequences`, left-padded to `width`).
    ///
    /// # Shapes
    /// - `fc1`: `[batch, width, ffn]`
    pub fn add(
        &mut self,
        layer: usize,
        fc1: Tensor<B, 3>,
        batch: &[usize],
        width: usize,
        sequences: &[Sequence],
    ) {
        if self.layer_by_layer {
            self.copy_below(layer);
        }
        let device = fc1.device();
        let mut domains: Vec<u32> = batch.iter().map(|&i| sequences[i].domain).collect();
        domains.sort_unstable();
        domains.dedup();
        let slot = |domain: u32| domains.binary_search(&domain).expect("a batch domain");
        let sums = match self.positions {
            Some(_) => {
                // One row per domain: which sequences are of it.
                let mut groups = vec![0f32; domains.len() * batch.len()];
                for (row, &i) in batch.iter().enumerate() {
                    groups[slot(sequences[i].domain) * batch.len() + row] = 1.0;
                }
                let groups = f32_matrix(groups, [domains.len(), batch.len()], &device);
                count_fired_by_position(fc1, groups)
            }
            None => {
                // Two rows per domain: its sequences' `</s>` tokens, and their other tokens.
                let tokens = batch.len() * width;
                let mut groups = vec![0f32; 2 * domains.len() * tokens];
                for (row, &i) in batch.iter().enumerate() {
                    let length = sequences[i].tokens.len();
                    let first = row * width + width - length;
                    let bos = 2 * slot(sequences[i].domain) * tokens;
                    groups[bos + first] = 1.0;
                    groups[bos + tokens + first + 1..bos + tokens + first + length].fill(1.0);
                }
                let groups = f32_matrix(groups, [2 * domains.len(), tokens], &device);
                count_fired(fc1, groups)
            }
        };
        // Each domain's sums: one row by position, or two rows.
        let (sum_rows, rows) = match self.positions {
            Some(positions) => (1, positions),
            None => (2, 2),
        };
        let columns = sums.dims()[1];
        for (j, &domain) in domains.iter().enumerate() {
            let sum = sums
                .clone()
                .slice([j * sum_rows..(j + 1) * sum_rows, 0..columns])
                .reshape([rows, self.ffn]);
            let counters = self
                .counters
                .entry((layer, domain))
                .or_insert_with(|| Tensor::zeros([rows, self.ffn], &device));
            *counters = counters.clone().add(sum);
        }
    }

    /// Copies the counters to the host: each recorded layer's counts by domain name
    /// (`domains[d]` names domain index `d`), added to `into`.
    pub fn into_host(self, domains: &[String], into: &mut [PartCounts]) {
        let ffn = self.ffn;
        let on_device = self
            .counters
            .into_iter()
            .map(|(key, counters)| (key, to_host(counters)));
        for ((layer, domain), values) in self.copied.into_iter().chain(on_device) {
            let counts = into[layer]
                .entry(domains[domain as usize].clone())
                .or_insert_with(|| DomainCounts::new(ffn, self.positions));
            let (bos, rest) = values.split_at(ffn);
            add_to(&mut counts.fires_bos, bos);
            match &mut counts.positions {
                Some(by_position) => {
                    for (total, &c) in by_position.iter_mut().zip(&values) {
                        *total += c;
                    }
                    rest.chunks_exact(ffn)
                        .for_each(|row| add_to(&mut counts.fires, row));
                }
                None => add_to(&mut counts.fires, rest),
            }
        }
    }
}

/// Adds copied counters to host totals.
fn add_to(totals: &mut [u64], counters: &[u32]) {
    for (total, &c) in totals.iter_mut().zip(counters) {
        *total += u64::from(c);
    }
}

/// Counters copied to the host, converted to 32 bits as they are read (a part holds fewer than
/// 2^31 tokens, `--part-tokens`).
fn to_host<B: Backend>(counters: Counters<B>) -> Vec<u32> {
    counters
        .into_data()
        .convert::<u32>()
        .to_vec()
        .expect("integer counters")
}

/// An f32 matrix on `device`.
///
/// # Shapes
/// - returns `shape`
fn f32_matrix<B: Backend>(values: Vec<f32>, shape: [usize; 2], device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(values, shape), (device, DType::F32))
}
