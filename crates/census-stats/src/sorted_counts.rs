//! (neuron, n-gram) fire counts as sorted runs of packed keys, the analysis's largest tables.
//!
//! Rows are buffered as their n-gram with their fired neurons (two bytes a fire). A full buffer
//! becomes a run of distinct keys (the neuron above the n-gram's codes, [`KeyLayout`]) with
//! their counts: its rows sorted by n-gram (a few per thousand fires), then each fire scattered
//! into its neuron's list in that order, so every neuron's list comes out sorted by n-gram and
//! its equal n-grams adjacent. Counting touches memory in order instead of at random (a hash
//! table's cache miss per fire), and a distinct entry takes 12 bytes. Runs of similar size are
//! merged, so the table holds about two runs per doubling of its size. The result comes out
//! sorted by neuron, then n-gram: grouped by neuron for free. A table whose rows all fit one
//! buffer is never made a run: its neurons' lists are walked as they come out of the sort
//! ([`SortedCounts::by_neuron`]).

/// Fires a buffer holds room for before it is sorted into a run, at most (8M fires: 48 MiB with
/// their rows and their sorting, [`SortedCounts::limit_buffer`]).
pub const BUFFER_FIRES: usize = 1 << 23;

/// Bytes a buffered fire takes: its neuron, and its place in its neuron's list while the buffer
/// is sorted.
const BYTES_PER_BUFFERED_FIRE: usize = 6;

/// Bytes a buffered row takes beside its fires: its n-gram and where its fires end, and while
/// the buffer is sorted its place in n-gram order, its rank and its distinct n-gram.
const BYTES_PER_BUFFERED_ROW: usize = 44;

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

/// Rows not yet sorted into a run.
#[derive(Debug, Clone, Default)]
struct RowBuffer {
    /// Each row's n-gram.
    grams: Vec<u64>,
    /// Where each row's neurons end in `neurons`.
    ends: Vec<u32>,
    /// Every row's fired neurons, as offsets from the layout's first neuron, row after row.
    neurons: Vec<u16>,
}

impl RowBuffer {
    fn is_empty(&self) -> bool {
        self.grams.is_empty()
    }

    fn bytes(&self) -> usize {
        self.neurons.capacity() * BYTES_PER_BUFFERED_FIRE
            + self.grams.capacity() * BYTES_PER_BUFFERED_ROW
    }

    /// Bytes the rows buffered take, sorting included.
    fn used(&self) -> usize {
        self.neurons.len() * BYTES_PER_BUFFERED_FIRE + self.grams.len() * BYTES_PER_BUFFERED_ROW
    }

    /// The buffered fires counted into a run of keys packed by `gram_bits`, the buffer emptied.
    fn take_run(&mut self, gram_bits: u32) -> Run {
        let lists = self.neuron_lists();
        // Each neuron's equal n-grams are adjacent: counted run by run, once to size the run and
        // once to fill it.
        let distinct_keys: usize = lists
            .iter()
            .map(|(_, list)| list.chunk_by(|a, b| a == b).count())
            .sum();
        let mut run = Run {
            keys: Vec::with_capacity(distinct_keys),
            counts: Vec::with_capacity(distinct_keys),
        };
        for (n, list) in lists.iter() {
            let high = (n as u64) << gram_bits;
            for same in list.chunk_by(|a, b| a == b) {
                run.keys.push(high | lists.distinct[same[0] as usize]);
                run.counts.push(same.len() as u32);
            }
        }
        self.grams.clear();
        self.ends.clear();
        self.neurons.clear();
        run
    }

    /// Each neuron's list of its fires' n-grams, sorted: the rows sorted by n-gram, then each
    /// fire's n-gram rank scattered into its neuron's list in that order.
    fn neuron_lists(&self) -> NeuronLists {
        let (order, distinct) = self.rows_by_gram();
        let (starts, ranks) = self.ranks_by_neuron(&order);
        NeuronLists {
            distinct,
            starts,
            ranks,
        }
    }

    /// The rows in n-gram order, each with its n-gram's rank among the distinct n-grams, and the
    /// distinct n-grams in order.
    fn rows_by_gram(&self) -> (Vec<(u32, u32)>, Vec<u64>) {
        let mut by_gram: Vec<(u64, u32)> = self.grams.iter().copied().zip(0..).collect();
        by_gram.sort_unstable();
        let mut distinct: Vec<u64> = Vec::new();
        let order = by_gram
            .into_iter()
            .map(|(gram, row)| {
                if distinct.last() != Some(&gram) {
                    distinct.push(gram);
                }
                (row, (distinct.len() - 1) as u32)
            })
            .collect();
        (order, distinct)
    }

    /// Each neuron's list of n-gram ranks, filled with the rows in `order` (row, rank): a
    /// counting sort on the neuron, stable in that order. Neuron `n`'s list is
    /// `ranks[starts[n]..starts[n + 1]]`.
    fn ranks_by_neuron(&self, order: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>) {
        let width = self
            .neurons
            .iter()
            .copied()
            .max()
            .map_or(0, |n| n as usize + 1);
        let mut next = vec![0u32; width + 1];
        for &n in &self.neurons {
            next[n as usize + 1] += 1;
        }
        for n in 1..=width {
            next[n] += next[n - 1];
        }
        let starts = next.clone();
        let mut ranks = vec![0u32; self.neurons.len()];
        for &(row, rank) in order {
            let row = row as usize;
            let begin = if row == 0 {
                0
            } else {
                self.ends[row - 1] as usize
            };
            for &n in &self.neurons[begin..self.ends[row] as usize] {
                let at = &mut next[n as usize];
                ranks[*at as usize] = rank;
                *at += 1;
            }
        }
        (starts, ranks)
    }
}

/// Every neuron's fires in a buffer, by n-gram: neuron `n`'s n-gram ranks are
/// `ranks[starts[n]..starts[n + 1]]`, ascending, the n-gram of rank `r` being `distinct[r]`.
struct NeuronLists {
    distinct: Vec<u64>,
    starts: Vec<u32>,
    ranks: Vec<u32>,
}

impl NeuronLists {
    /// Each neuron (as an offset) with its ranks.
    fn iter(&self) -> impl Iterator<Item = (usize, &[u32])> {
        self.starts
            .windows(2)
            .map(|w| &self.ranks[w[0] as usize..w[1] as usize])
            .enumerate()
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
    /// Rows not yet sorted into a run.
    buffer: RowBuffer,
    /// Bytes the buffered rows may take (sorting included) before they are sorted.
    buffer_bytes: usize,
}

impl Default for SortedCounts {
    fn default() -> Self {
        Self {
            layout: KeyLayout::default(),
            runs: Vec::new(),
            buffer: RowBuffer::default(),
            buffer_bytes: BUFFER_FIRES * BYTES_PER_BUFFERED_FIRE,
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

    /// Sorts buffered rows into a run before they take more than `bytes` (sorting included;
    /// room for at least 1,024 fires), so the buffer stays small beside a tight memory cap.
    pub fn limit_buffer(&mut self, bytes: usize) {
        self.buffer_bytes = bytes.clamp(
            1024 * BYTES_PER_BUFFERED_FIRE,
            BUFFER_FIRES * BYTES_PER_BUFFERED_FIRE,
        );
    }

    /// Makes room for `rows` rows with `fires` fires in all before the buffer is next sorted.
    pub fn reserve(&mut self, rows: usize, fires: usize) {
        let room = self.buffer_bytes.saturating_sub(self.buffer.used()) / BYTES_PER_BUFFERED_FIRE;
        let fires = fires.min(room);
        let rows = rows.min(fires.max(1));
        self.buffer.neurons.reserve(fires);
        self.buffer.grams.reserve(rows);
        self.buffer.ends.reserve(rows);
    }

    /// Counts one row: n-gram `gram` (its codes, in the layout's bits) with its fired `neurons`
    /// (from the layout's first neuron, as many as the bits above the n-gram key). A row with
    /// none is not buffered.
    #[inline]
    pub fn add_row(&mut self, gram: u64, neurons: impl IntoIterator<Item = u16>) {
        let first = self.layout.first_neuron;
        debug_assert!(gram < 1 << self.layout.gram_bits);
        let buffer = &mut self.buffer;
        let before = buffer.neurons.len();
        buffer.neurons.extend(neurons.into_iter().map(|n| {
            debug_assert!(n >= first);
            n - first
        }));
        if buffer.neurons.len() == before {
            return;
        }
        buffer.grams.push(gram);
        buffer
            .ends
            .push(u32::try_from(buffer.neurons.len()).expect("fewer than 2^32 buffered fires"));
        if buffer.used() >= self.buffer_bytes {
            self.flush();
        }
    }

    /// Sorts the buffered rows into a run and merges runs of similar size.
    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let run = self.buffer.take_run(self.layout.gram_bits);
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
        self.buffer = RowBuffer::default();
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

    /// Merges the runs into one, adding the buffered rows to them; rows that no run was made of
    /// stay buffered, for [`Self::by_neuron`] to walk as they are sorted (their bytes, sorting
    /// included, are counted as before).
    pub fn finish(&mut self) {
        if !self.runs.is_empty() {
            self.compact();
        }
    }

    /// Visits every neuron that fired, in order, with its n-grams (their codes), ascending, and
    /// their counts, consuming the table. The rows of a table that never made a run are sorted
    /// into their neurons' lists and walked from there, without packing keys.
    pub fn by_neuron(mut self, mut visit: impl FnMut(u16, &[u64], &[u32])) {
        let first = self.layout.first_neuron;
        let (mut grams, mut counts) = (Vec::new(), Vec::new());
        if self.runs.is_empty() {
            let lists = self.buffer.neuron_lists();
            self.buffer = RowBuffer::default();
            for (n, list) in lists.iter().filter(|(_, list)| !list.is_empty()) {
                grams.clear();
                counts.clear();
                for same in list.chunk_by(|a, b| a == b) {
                    grams.push(lists.distinct[same[0] as usize]);
                    counts.push(same.len() as u32);
                }
                visit(first + n as u16, &grams, &counts);
            }
            return;
        }
        self.compact();
        let run = &self.runs[0];
        let bits = self.layout.gram_bits;
        let mut start = 0;
        while start < run.keys.len() {
            let high = run.keys[start] >> bits;
            let end = start + end_of_run(&run.keys[start..], |k| k >> bits == high);
            grams.clear();
            grams.extend(run.keys[start..end].iter().map(|&k| k & ((1 << bits) - 1)));
            visit(first + high as u16, &grams, &run.counts[start..end]);
            start = end;
        }
    }

    /// Distinct (neuron, n-gram) pairs held, counting a pair once per run it is in.
    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum::<usize>() + self.buffer.neurons.len()
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
        held + self.buffer.bytes() + if self.runs.len() > 1 { merged } else { 0 }
    }
}

/// The length of the prefix of `sorted` where `within` holds (it holds on a prefix), found by
/// galloping from the start: a short prefix costs a few reads near it, not a search of the
/// whole slice.
fn end_of_run(sorted: &[u64], within: impl Fn(u64) -> bool) -> usize {
    let (mut inside, mut step) = (0, 1);
    if sorted.first().is_none_or(|&k| !within(k)) {
        return 0;
    }
    while inside + step < sorted.len() && within(sorted[inside + step]) {
        inside += step;
        step *= 2;
    }
    let beyond = (inside + step).min(sorted.len());
    inside + 1 + sorted[inside + 1..beyond].partition_point(|&k| within(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(x: u64) -> u64 {
        let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    #[test]
    fn a_run_s_end_is_found_by_galloping() {
        let sorted: Vec<u64> = (0..1000).map(|i| i / 7).collect();
        for value in [0, 1, 5, 142] {
            let start = sorted.iter().position(|&k| k == value).unwrap();
            let end = end_of_run(&sorted[start..], |k| k == value) + start;
            assert_eq!(end, sorted.iter().rposition(|&k| k == value).unwrap() + 1);
        }
        assert_eq!(end_of_run(&sorted, |k| k < 1000), 1000);
        assert_eq!(end_of_run(&sorted, |_| false), 0);
        assert_eq!(end_of_run(&[], |_| true), 0);
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
    fn a_table_walked_from_its_buffer_equals_one_walked_from_its_runs() {
        let layout = KeyLayout {
            gram_bits: 40,
            first_neuron: 100,
        };
        let (mut buffered, mut sorted) = (
            SortedCounts::with_layout(layout),
            SortedCounts::with_layout(layout),
        );
        // Rows of few bytes' budget: the second table makes runs every few rows.
        sorted.limit_buffer(0);
        let mut map = std::collections::BTreeMap::new();
        for i in 0..20_000u64 {
            let gram = mix(i) % 500 + ((i % 3) << 30);
            let fired: Vec<u16> = (0..(mix(i + 7) % 5) as u16).map(|n| 100 + n * 11).collect();
            for &n in &fired {
                *map.entry(n)
                    .or_insert_with(std::collections::BTreeMap::new)
                    .entry(gram)
                    .or_insert(0u32) += 1;
            }
            buffered.add_row(gram, fired.iter().copied());
            sorted.add_row(gram, fired.iter().copied());
        }
        assert!(buffered.runs.is_empty() && sorted.runs.len() > 1);
        // Rows without a fire are not buffered.
        assert!(buffered.buffer.grams.len() < 20_000);
        let walk = |table: SortedCounts| {
            let mut seen = std::collections::BTreeMap::new();
            table.by_neuron(|neuron, grams, counts| {
                assert!(grams.is_sorted() && !grams.is_empty());
                let list: std::collections::BTreeMap<u64, u32> =
                    grams.iter().copied().zip(counts.iter().copied()).collect();
                assert_eq!(list.len(), grams.len(), "each n-gram once");
                assert!(seen.insert(neuron, list).is_none(), "each neuron once");
            });
            seen
        };
        sorted.finish();
        assert_eq!(walk(buffered), map);
        assert_eq!(walk(sorted), map);
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
