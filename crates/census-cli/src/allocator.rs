//! glibc's allocator told to keep freed memory for the next allocation.
//!
//! The analysis allocates and frees buffers of a few megabytes to tens of megabytes layer after
//! layer (row buffers, each neuron's lists, each token's pairs). By default glibc maps every
//! allocation above a threshold that starts at 128 KiB and grows (up to 32 MiB) only as such
//! buffers are freed, returns each mapped buffer to the kernel when it is freed, and trims the
//! heap's free top beyond twice that threshold: each new buffer is faulted in again page by page.
//! Here buffers below 32 MiB come from the heap from the start and up to 64 MiB free at its top is
//! kept for the next ones. Larger buffers are still mapped on their own and returned when freed:
//! keeping those too made the analysis of a 131,072-token run 10% faster but its peak 40% higher,
//! where this costs it 4-9%. BENCHMARKS.md gives what it saves.

/// Allocations below this are taken from the heap rather than mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Free memory at the top of the heap beyond this is returned to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 << 20;

/// Tunes glibc's allocator (on other platforms, does nothing). Call it at the start of `main`,
/// before any thread starts; a setting glibc refuses is logged and left at its default.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (name, parameter, value) in [
        ("M_MMAP_THRESHOLD", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("M_TRIM_THRESHOLD", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
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
