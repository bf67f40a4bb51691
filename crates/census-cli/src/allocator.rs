//! glibc's allocator told to keep freed memory for the next allocation.
//!
//! The analysis allocates and frees buffers of tens of megabytes layer after layer (row
//! buffers, count tables, each neuron's lists). By default glibc maps every allocation above a
//! threshold that adapts up to 32 MiB and returns it to the kernel when freed, so each new
//! buffer is faulted in again page by page; it also trims the heap's free top beyond twice that
//! threshold. Those page faults took a fifth of the analysis's time. Kept in the heap, a freed
//! buffer is reused as it is; BENCHMARKS.md gives the time and peak memory this saves and costs.

/// Allocations below this are taken from the heap rather than mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 256 << 20;

/// Free memory at the top of the heap beyond this is returned to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Extra memory the heap grows by when it must grow, so that the next allocations fit in it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 64 << 20;

/// Tunes glibc's allocator (on other platforms, does nothing). Call it first in `main`, before
/// any thread starts; a setting glibc refuses is logged and left at its default.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (name, parameter, value) in [
        ("M_MMAP_THRESHOLD", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("M_TRIM_THRESHOLD", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        ("M_TOP_PAD", libc::M_TOP_PAD, TOP_PAD),
    ] {
        // SAFETY: mallopt only sets a parameter of glibc's allocator; it is called before any
        // other thread exists, and the values are within the ranges its manual gives.
        #[allow(unsafe_code)]
        let accepted = unsafe { libc::mallopt(parameter, value) } == 1;
        if !accepted {
            tracing::debug!(name, value, "glibc refused an allocator setting");
        }
    }
}
