//! The memory of counts by position (`--record counts` on full-length runs): one counter per
//! (position, neuron) of every recorded layer and domain, which grows with the context. At
//! 32,768 positions a Llama-3-70B layer's counters take 3.8 GB, so the whole model's would not
//! fit a host: the extraction states the figure and refuses a run whose counters cannot fit
//! before it touches anything.

use crate::error::{OptionsError, Result};

/// Host bytes a counter takes at most: the device's counters copied to the host (32 bits), the
/// part's totals (32 bits), and the previous part's totals still being written (32 bits).
pub const HOST_BYTES_PER_COUNTER: u64 = 12;

/// The counters of a run that counts by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionCounters {
    /// Recorded layers.
    pub layers: u64,
    /// Positions counted (the sequence length).
    pub positions: u64,
    /// Neurons per layer.
    pub ffn: u64,
}

impl PositionCounters {
    /// Host bytes of one domain's counters in a part, all recorded layers.
    pub fn host_bytes(&self) -> u64 {
        self.layers * self.positions * self.ffn * HOST_BYTES_PER_COUNTER
    }

    /// Refuses the run when one domain's counters take more than `available` bytes of host
    /// memory (each further domain of a part takes as much again).
    pub fn check(&self, available: u64) -> Result<()> {
        let needed = self.host_bytes();
        if needed <= available {
            return Ok(());
        }
        Err(OptionsError::CounterMemory {
            needed_mb: needed >> 20,
            layers: self.layers,
            positions: self.positions,
            neurons: self.ffn,
            bytes: HOST_BYTES_PER_COUNTER,
            available_mb: available >> 20,
        }
        .into())
    }
}

/// Bytes of memory the process can still take, where known: the host's `MemAvailable`
/// (`/proc/meminfo`), or less where a cgroup (a container, a Slurm job) limits it
/// (`memory.max` less `memory.current`, cgroup v2).
pub fn available_memory() -> Option<u64> {
    let host = parse_available(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let cgroup =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    Some(cgroup.map_or(host, |limit| limit.min(host)))
}

fn parse_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_of_a_long_context_are_refused_where_they_cannot_fit() {
        // Llama-3-70B at 32k positions: 80 layers of 28,672 neurons.
        let counters = PositionCounters {
            layers: 80,
            positions: 32_768,
            ffn: 28_672,
        };
        assert_eq!(counters.host_bytes(), 80 * 32_768 * 28_672 * 12);
        assert!(counters.check(1 << 40).is_ok(), "fits a host of 1 TiB");
        let e = counters.check(1 << 39).unwrap_err().to_string();
        assert!(e.contains("860160 MB of counters"), "{e}");
        assert!(
            e.contains("--layers") && e.contains("524288 MB available"),
            "{e}"
        );
        // One layer at the paper's 2,048 positions fits easily.
        let one = PositionCounters {
            layers: 1,
            positions: 2048,
            ffn: 28_672,
        };
        assert!(one.check(1 << 30).is_ok());
    }

    #[test]
    fn available_memory_is_read_from_meminfo() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_available(meminfo), Some(2048 << 10));
        assert_eq!(parse_available("MemTotal: 1 kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(available_memory().unwrap() > 0);
        }
    }
}
