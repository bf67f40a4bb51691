//! Example contexts of every neuron (`contexts.parquet`): the first places it fires (outside
//! the `</s>` prefix), with the tokens around them, read from the runs that record fired neurons
//! while they are at hand, so the report needs no run. The places are gathered as the layers are
//! counted where the counting reads every row of the same parts in the same order
//! ([`FirstPlaces`]), and read again otherwise.

use std::collections::BTreeMap;
use std::ops::Range;

use rayon::prelude::*;

use census_format::analysis::tables::ContextRow;
use census_format::run::RecordMode;
use census_format::run::checked::{PartLimits, read_token_ids};
use census_format::run::tables::{
    ActivationRows, PartCheck, activations_path, read_activations, tokens_path,
};

use crate::error::Result;
use crate::inputs::RunInput;

/// Tokens kept before and after the one a neuron fires on.
const BEFORE: usize = 10;
const AFTER: usize = 10;

/// Where a neuron fired: (run index, part, sequence, position).
pub type Place = (usize, u32, u64, u16);

/// The first places each neuron of a layer fires outside the prefix, part by part in run, part
/// and row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPlaces {
    per_neuron: usize,
    /// Each neuron's places so far, by neuron.
    places: Vec<Vec<Place>>,
    /// Neurons with `per_neuron` places.
    complete: usize,
}

impl FirstPlaces {
    /// None yet, for up to `per_neuron` places of each of `ffn` neurons.
    pub fn new(ffn: usize, per_neuron: usize) -> Self {
        Self {
            per_neuron,
            places: vec![Vec::new(); ffn],
            complete: 0,
        }
    }

    /// Adds the places of the next part, `part` of run `run` (its rows at positions from
    /// `text_start` on); neurons beyond the layer are left to the counting to refuse.
    pub fn add(&mut self, run: usize, part: u32, rows: &ActivationRows, text_start: u16) {
        if self.complete == self.places.len() {
            return;
        }
        for i in 0..rows.len() {
            if rows.pos[i] < text_start {
                continue;
            }
            for &n in rows.neurons_of(i) {
                let Some(list) = self.places.get_mut(usize::from(n)) else {
                    continue;
                };
                if list.len() < self.per_neuron {
                    list.push((run, part, rows.seq[i], rows.pos[i]));
                    if list.len() == self.per_neuron {
                        self.complete += 1;
                    }
                }
            }
        }
    }

    /// Neurons with all their places.
    fn complete(&self) -> usize {
        self.complete
    }

    /// Each neuron's places, by neuron.
    pub fn into_places(self) -> Vec<Vec<Place>> {
        self.places
    }
}

/// Up to `per_neuron` contexts of every neuron of `layers` (`ffn` neurons each, `alive` of them
/// not dead, by layer): the places `gathered` while counting (by layer), or else those found by
/// scanning `runs` part by part (the layers each recorded, skipping counts runs) until every
/// alive neuron has enough; `vocab` bounds the token ids read, and each part read is checked
/// against its run's manifest when `verify_parts` (off for runs another tool rewrote,
/// `--rewritten-parts`).
#[allow(clippy::too_many_arguments)]
pub fn collect(
    runs: &[&RunInput],
    verify_parts: bool,
    layers: Range<usize>,
    ffn: usize,
    vocab: usize,
    per_neuron: usize,
    alive: &BTreeMap<usize, usize>,
    gathered: Option<BTreeMap<usize, Vec<Vec<Place>>>>,
) -> Result<Vec<ContextRow>> {
    let found = match gathered {
        Some(found) => found,
        None => find_places(runs, verify_parts, &layers, ffn, per_neuron, alive)?,
    };
    let windows = read_windows(runs, verify_parts, ffn, vocab, &found)?;
    Ok(context_rows(found, &windows))
}

/// Up to `per_neuron` places each neuron of `layers` fires, in run, part and row order, each
/// layer reading activation parts (layers side by side) until every alive neuron has enough.
fn find_places(
    runs: &[&RunInput],
    verify_parts: bool,
    layers: &Range<usize>,
    ffn: usize,
    per_neuron: usize,
    alive: &BTreeMap<usize, usize>,
) -> Result<BTreeMap<usize, Vec<Vec<Place>>>> {
    layers
        .clone()
        .into_par_iter()
        .map(|layer| {
            let needed = alive.get(&layer).copied().unwrap_or(ffn);
            let places = places_in_layer(runs, verify_parts, layer, ffn, per_neuron, needed)?;
            Ok((layer, places))
        })
        .collect()
}

/// Up to `per_neuron` places each neuron of `layer` fires, in run, part and row order, reading
/// activation parts until `needed` neurons have enough.
fn places_in_layer(
    runs: &[&RunInput],
    verify_parts: bool,
    layer: usize,
    ffn: usize,
    per_neuron: usize,
    needed: usize,
) -> Result<Vec<Vec<Place>>> {
    let mut places = FirstPlaces::new(ffn, per_neuron);
    for (r, run) in runs.iter().enumerate() {
        let manifest = &run.manifest;
        let [recorded_start, recorded_end] = manifest.config.layers;
        if manifest.config.record == RecordMode::Counts
            || !(recorded_start..recorded_end).contains(&layer)
        {
            continue;
        }
        let text_start = manifest.config.sequence_start.text_start();
        for part in &manifest.parts {
            if places.complete() >= needed {
                return Ok(places.into_places());
            }
            let path = activations_path(&run.dir, layer, part.index);
            let check = verify_parts.then(|| PartCheck::of(manifest, part, Some(layer)));
            let rows = read_activations(&path, check.as_ref())?;
            places.add(r, part.index, &rows, text_start);
        }
    }
    Ok(places.into_places())
}

/// The tokens around every place in `found` (up to [`BEFORE`] before and [`AFTER`] after,
/// within its sequence) and the place's index among them, reading each token part once.
fn read_windows(
    runs: &[&RunInput],
    verify_parts: bool,
    ffn: usize,
    vocab: usize,
    found: &BTreeMap<usize, Vec<Vec<Place>>>,
) -> Result<BTreeMap<Place, (Vec<u32>, u16)>> {
    let mut wanted: BTreeMap<(usize, u32), Vec<(u64, u16)>> = BTreeMap::new();
    for per in found.values() {
        for &(run, part, seq, pos) in per.iter().flatten() {
            wanted.entry((run, part)).or_default().push((seq, pos));
        }
    }
    let mut windows: BTreeMap<Place, (Vec<u32>, u16)> = BTreeMap::new();
    for ((r, part), places) in wanted {
        let run = runs[r];
        let committed = run
            .manifest
            .parts
            .iter()
            .find(|p| p.index == part)
            .expect("places come from committed parts");
        let limits = PartLimits {
            vocab,
            positions: run.manifest.config.sequences.max_seq_len,
            neurons: ffn,
        };
        let check = verify_parts.then(|| PartCheck::of(&run.manifest, committed, None));
        let tokens = read_token_ids(&tokens_path(&run.dir, part), check.as_ref(), &limits)?;
        let index: BTreeMap<(u64, u16), usize> = (0..tokens.len())
            .map(|i| ((tokens.seq[i], tokens.pos[i]), i))
            .collect();
        for (seq, pos) in places {
            let Some(&row) = index.get(&(seq, pos)) else {
                continue;
            };
            let first = (0..=BEFORE)
                .rev()
                .map(|k| row.saturating_sub(k))
                .find(|&i| tokens.seq[i] == seq)
                .unwrap_or(row);
            let mut last = row;
            while last + 1 < tokens.len() && last < row + AFTER && tokens.seq[last + 1] == seq {
                last += 1;
            }
            windows.insert(
                (r, part, seq, pos),
                (tokens.token[first..=last].to_vec(), (row - first) as u16),
            );
        }
    }
    Ok(windows)
}

/// The context rows of every place whose window was read, by layer and neuron.
fn context_rows(
    found: BTreeMap<usize, Vec<Vec<Place>>>,
    windows: &BTreeMap<Place, (Vec<u32>, u16)>,
) -> Vec<ContextRow> {
    found
        .into_iter()
        .flat_map(|(layer, per)| {
            per.into_iter().enumerate().flat_map(move |(neuron, list)| {
                list.into_iter().filter_map(move |place| {
                    windows.get(&place).map(|(tokens, at)| ContextRow {
                        layer: layer as u16,
                        neuron: neuron as u16,
                        seq: place.2,
                        pos: place.3,
                        tokens: tokens.clone(),
                        at: *at,
                    })
                })
            })
        })
        .collect()
}
