//! A stop asked of long work from outside its thread (the Python module's Ctrl-C). The work
//! checks it where everything it has written is whole (extraction between parts, the analysis
//! between parts of a layer) and stops there with [`Interrupted`], leaving its outputs as an
//! interrupted command does: an extraction resumes from its committed parts, and an analysis
//! leaves the earlier one in place.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running work to stop at its next check.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Forgets a request (once the work it stopped has returned).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Stops with [`Interrupted`] when a stop was asked; `what` names the work and what it keeps.
pub fn check(what: &'static str) -> Result<(), Interrupted> {
    if REQUESTED.load(Ordering::SeqCst) {
        Err(Interrupted(what))
    } else {
        Ok(())
    }
}

/// Work stopped on request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_stops_the_next_check_until_cleared() {
        check("work").unwrap();
        request();
        assert_eq!(check("work"), Err(Interrupted("work")));
        clear();
        check("work").unwrap();
    }
}
