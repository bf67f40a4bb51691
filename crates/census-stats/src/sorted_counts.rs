//! (neuron, n-gram) fire counts as sorted runs of packed keys, the analysis's largest tables.
//!
//! Every fire appends one key (the neuron above the n-gram's codes, [`KeyLayout`]) to a buffer; a full buffer is radix
//! sorted and run-length encoded into a run of distinct keys with their counts, and runs of
//! similar size are merged, so the table holds about two runs per doubling of its size.
//! Counting touches memory in order instead of at random (a hash table's cache miss per fire),
//! and a distinct entry takes 12 bytes. The result comes out sorted by neuron, then n-gram:
//! grouped by neuron for free.

/// Keys buffered before they are sorted into a run, at most (32 MiB).
pub const BUFFER_KEYS: usize = 1 << 22;

/// Distinct keys in ascending order, with their counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Run {
    keys: Vec<u64>,
    counts: Vec<u32>,
}

impl Run {
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Sorts `keys` and counts each distinct one.
    fn from_keys(keys: &mut [u64]) -> Self {
        radix_sort(keys);
        let mut run = Self::default();
        for &key in keys.iter() {
            match run.keys.last() {
                Some(&last) if last == key => *run.counts.last_mut().expect("a count") += 1,
                _ => {
                    run.keys.push(key);
                    run.counts.push(1);
                }
            }
        }
        run
    }

    /// The union of two runs, counts of equal keys added.
    fn merge(a: &Self, b: &Self) -> Self {
        let mut out = Self {
            keys: Vec::with_capacity(a.len() + b.len()),
            counts: Vec::with_capacity(a.len() + b.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (ka, kb) = (a.keys[i], b.keys[j]);
            if ka < kb {
                out.keys.push(ka);
                out.counts.push(a.counts[i]);
                i += 1;
            } else if kb < ka {
                out.keys.push(kb);
                out.counts.push(b.counts[j]);
                j += 1;
            } else {
                out.keys.push(ka);
                out.counts.push(
                    a.counts[i]
                        .checked_add(b.counts[j])
                        .expect("fewer than 2^32 fires of one neuron on one n-gram"),
                );
                i += 1;
                j += 1;
            }
        }
        out.keys.extend_from_slice(&a.keys[i..]);
        out.counts.extend_from_slice(&a.counts[i..]);
        out.keys.extend_from_slice(&b.keys[j..]);
        out.counts.extend_from_slice(&b.counts[j..]);
        out.keys.shrink_to_fit();
        out.counts.shrink_to_fit();
        out
    }
}

/// Sorts keys in place: least significant byte first, skipping the bytes every key shares.
fn radix_sort(keys: &mut [u64]) {
    if keys.len() < 64 {
        keys.sort_unstable();
        return;
    }
    let mut histograms = [[0usize; 256]; 8];
    for &key in keys.iter() {
        for (byte, histogram) in histograms.iter_mut().enumerate() {
            histogram[((key >> (8 * byte)) & 0xFF) as usize] += 1;
        }
    }
    let mut buffer = vec![0u64; keys.len()];
    let mut in_keys = true;
    for (byte, histogram) in histograms.iter().enumerate() {
        if histogram.contains(&keys.len()) {
            continue; // every key has the same byte here
        }
        let mut offsets = [0usize; 256];
        let mut total = 0;
        for (offset, &count) in offsets.iter_mut().zip(histogram.iter()) {
            *offset = total;
            total += count;
        }
        let (from, to): (&[u64], &mut [u64]) = if in_keys {
            (keys, &mut buffer)
        } else {
            (&buffer, keys)
        };
        for &key in from {
            let digit = ((key >> (8 * byte)) & 0xFF) as usize;
            to[offsets[digit]] = key;
            offsets[digit] += 1;
        }
        in_keys = !in_keys;
    }
    if !in_keys {
        keys.copy_from_slice(&buffer);
    }
}

/// How a (neuron, n-gram) pair packs into a key: the n-gram's codes in the low `gram_bits` bits,
/// the neuron's offset from `first_neuron` above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLayout {
    /// Bits of the n-gram's codes (at most 48 leaves the neuron 16 bits).
    pub gram_bits: u32,
    /// The lowest neuron the table counts.
    pub first_neuron: u16,
}

impl Default for KeyLayout {
    fn default() -> Self {
        Self {
            gram_bits: 48,
            first_neuron: 0,
        }
    }
}

impl KeyLayout {
    /// The key of (neuron, n-gram).
    #[inline]
    fn key(self, neuron: u16, gram: u64) -> u64 {
        debug_assert!(neuron >= self.first_neuron && gram < 1 << self.gram_bits);
        (u64::from(neuron - self.first_neuron) << self.gram_bits) | gram
    }

    /// Splits a key into (neuron, n-gram).
    #[inline]
    pub fn split(self, key: u64) -> (u16, u64) {
        (
            self.first_neuron + (key >> self.gram_bits) as u16,
            key & ((1 << self.gram_bits) - 1),
        )
    }
}

/// (neuron, n-gram) fire counts of one layer and order. Partial-mergeable.
#[derive(Debug, Clone)]
pub struct SortedCounts {
    /// How pairs pack into keys.
    layout: KeyLayout,
    /// Sorted runs, largest first.
    runs: Vec<Run>,
    /// Keys not yet sorted into a run.
    buffer: Vec<u64>,
    /// Keys buffered before they are sorted.
    buffer_keys: usize,
}

impl Default for SortedCounts {
    fn default() -> Self {
        Self {
            layout: KeyLayout::default(),
            runs: Vec::new(),
            buffer: Vec::new(),
            buffer_keys: BUFFER_KEYS,
        }
    }
}

impl PartialEq for SortedCounts {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SortedCounts {}

impl SortedCounts {
    /// Empty counts with 48-bit n-grams.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty counts whose keys pack as `layout` says.
    pub fn with_layout(layout: KeyLayout) -> Self {
        Self {
            layout,
            ..Self::default()
        }
    }

    /// Sorts buffered keys into a run once `keys` of them are waiting (at least 1,024), so the
    /// buffer stays small beside a tight memory cap.
    pub fn limit_buffer(&mut self, keys: usize) {
        self.buffer_keys = keys.clamp(1024, BUFFER_KEYS);
    }

    /// Counts one row: n-gram `gram` (its codes, in the layout's bits) with its fired `neurons`
    /// (from the layout's first neuron, as many as the bits above the n-gram key).
    #[inline]
    pub fn add_row(&mut self, gram: u64, neurons: impl IntoIterator<Item = u16>) {
        let layout = self.layout;
        self.buffer
            .extend(neurons.into_iter().map(|n| layout.key(n, gram)));
        if self.buffer.len() >= self.buffer_keys {
            self.flush();
        }
    }

    /// Sorts the buffered keys into a run and merges runs of similar size.
    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let run = Run::from_keys(&mut self.buffer);
        self.buffer.clear();
        self.push_run(run);
    }

    /// Adds a run, merging while the last run is at least half the size of the one before.
    fn push_run(&mut self, run: Run) {
        self.runs.push(run);
        while self.runs.len() >= 2 {
            let n = self.runs.len();
            if self.runs[n - 1].len() * 2 < self.runs[n - 2].len() {
                break;
            }
            let last = self.runs.pop().expect("two runs");
            let before = self.runs.pop().expect("two runs");
            self.runs.push(Run::merge(&before, &last));
        }
    }

    /// Merges everything into one run, and frees the buffer.
    pub fn compact(&mut self) {
        self.flush();
        self.buffer = Vec::new();
        while self.runs.len() >= 2 {
            let last = self.runs.pop().expect("two runs");
            let before = self.runs.pop().expect("two runs");
            self.runs.push(Run::merge(&before, &last));
        }
    }

    /// Adds the counts of disjoint parts.
    pub fn merge(&mut self, mut other: Self) {
        assert_eq!(
            self.layout, other.layout,
            "merging tables of different layouts"
        );
        other.flush();
        self.flush();
        for run in other.runs {
            self.push_run(run);
        }
        self.runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    }

    /// Every (neuron, n-gram, fires) with fires > 0, by neuron, then n-gram (a copy of the
    /// table is merged first when it holds more than one run).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (u16, u64, u64)> + '_> {
        let layout = self.layout;
        let split = move |(key, count): (u64, u32)| {
            let (neuron, gram) = layout.split(key);
            (neuron, gram, u64::from(count))
        };
        match (self.runs.as_slice(), self.buffer.is_empty()) {
            ([], true) => Box::new(std::iter::empty()),
            ([run], true) => Box::new(
                run.keys
                    .iter()
                    .copied()
                    .zip(run.counts.iter().copied())
                    .map(split),
            ),
            _ => Box::new(self.clone().into_sorted()),
        }
    }

    /// The counts sorted by neuron, then n-gram, consuming the table.
    pub fn into_sorted(mut self) -> impl Iterator<Item = (u16, u64, u64)> {
        self.compact();
        let layout = self.layout;
        let run = self.runs.pop().unwrap_or_default();
        run.keys
            .into_iter()
            .zip(run.counts)
            .map(move |(key, count)| {
                let (neuron, gram) = layout.split(key);
                (neuron, gram, u64::from(count))
            })
    }

    /// The counts merged into one run: its keys, ascending, with their counts, and how the keys
    /// pack (neuron, n-gram).
    pub fn compacted(&mut self) -> (&[u64], &[u32], KeyLayout) {
        self.compact();
        match self.runs.first() {
            Some(run) => (&run.keys, &run.counts, self.layout),
            None => (&[], &[], self.layout),
        }
    }

    /// Distinct (neuron, n-gram) pairs held, counting a pair once per run it is in.
    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum::<usize>() + self.buffer.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held, with room for the merge of the runs into one (which holds the old runs
    /// and the merged one at once).
    pub fn bytes(&self) -> usize {
        let held: usize = self
            .runs
            .iter()
            .map(|r| r.keys.capacity() * 8 + r.counts.capacity() * 4)
            .sum();
        let merged = self.runs.iter().map(Run::len).sum::<usize>() * 12;
        held + self.buffer.capacity() * 8 + if self.runs.len() > 1 { merged } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(x: u64) -> u64 {
        let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    #[test]
    fn radix_sort_sorts() {
        for len in [0, 5, 63, 64, 1000, 100_000] {
            let mut keys: Vec<u64> = (0..len as u64).map(|i| mix(i) >> (i % 40)).collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            radix_sort(&mut keys);
            assert_eq!(keys, expected, "{len} keys");
        }
    }

    #[test]
    fn runs_merged_in_any_grouping_count_like_a_map() {
        let rows: Vec<(u64, Vec<u16>)> = (0..50_000u64)
            .map(|i| {
                let gram = (mix(i) % 300) << 20 | (i % 7);
                let fired: Vec<u16> = (0..(mix(i + 1) % 6) as u16).map(|n| n * 3).collect();
                (gram, fired)
            })
            .collect();
        let mut map = std::collections::BTreeMap::new();
        for (gram, fired) in &rows {
            for &n in fired {
                *map.entry((n, *gram)).or_insert(0u64) += 1;
            }
        }
        let expected: Vec<(u16, u64, u64)> = map.into_iter().map(|((n, g), c)| (n, g, c)).collect();

        let mut whole = SortedCounts::new();
        let (mut a, mut b) = (SortedCounts::new(), SortedCounts::new());
        for (i, (gram, fired)) in rows.iter().enumerate() {
            whole.add_row(*gram, fired.iter().copied());
            if i % 3 == 0 { &mut a } else { &mut b }.add_row(*gram, fired.iter().copied());
            // Small runs along the way, as full buffers make them.
            if i % 997 == 0 {
                a.flush();
                whole.flush();
            }
        }
        assert_eq!(whole.iter().collect::<Vec<_>>(), expected);
        a.merge(b);
        assert_eq!(a, whole);
        assert_eq!(a.into_sorted().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_layout_of_wide_grams_and_a_neuron_range_round_trips() {
        // 17-bit codes: trigrams of 51 bits, 13 bits left for neurons 8192..16384.
        let layout = KeyLayout {
            gram_bits: 51,
            first_neuron: 8192,
        };
        let mut table = SortedCounts::with_layout(layout);
        let top = (1u64 << 51) - 1;
        table.add_row(top, [8192, 16_383]);
        table.add_row(5, [16_383, 9000]);
        table.add_row(top, [16_383]);
        assert_eq!(
            table.into_sorted().collect::<Vec<_>>(),
            vec![
                (8192, top, 1),
                (9000, 5, 1),
                (16_383, 5, 1),
                (16_383, top, 2)
            ]
        );
    }
}
