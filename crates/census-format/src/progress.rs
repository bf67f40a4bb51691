//! The progress of every long stage, in one style. A [`Progress`] is a `tracing` span that the
//! command line draws as a bar (through `tracing-indicatif`, where it installed its layer) and,
//! once [`watch`] was called, the same counts kept where another thread reads them with
//! [`snapshot`] (the Python module draws them in a notebook, where a terminal bar cannot be
//! drawn).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing_indicatif::span_ext::IndicatifSpanExt;
use tracing_indicatif::style::ProgressStyle;

/// Whether bars are kept for [`snapshot`] (off for the command line: nothing is kept).
static WATCHED: AtomicBool = AtomicBool::new(false);
/// The bars kept since the last [`snapshot`] that reported them finished.
static BARS: Mutex<Vec<Arc<BarState>>> = Mutex::new(Vec::new());
/// The number the next bar gets.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A long stage's progress: `total` units of work, advanced as they are done.
pub struct Progress {
    span: tracing::Span,
    /// The counts kept for [`snapshot`], when watched.
    kept: Option<Kept>,
}

impl Progress {
    /// No bar: nothing is drawn or kept (`--quiet`).
    pub fn hidden() -> Self {
        Self {
            span: tracing::Span::none(),
            kept: None,
        }
    }

    /// A bar over `span` (made with an `indicatif.pb_show` field) of `total` `unit`s labelled
    /// `label`, drawn with its elapsed time, position, rate and the time left.
    pub fn new(span: tracing::Span, label: &str, unit: &str, total: u64) -> Self {
        let template = format!(
            "{{spinner}} {label} [{{elapsed_precise}}] [{{wide_bar}}] {{human_pos}}/{{human_len}} \
             {unit} ({{per_sec}}, eta {{eta}})"
        );
        span.pb_set_style(
            &ProgressStyle::with_template(&template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        span.pb_set_length(total);
        let kept = WATCHED.load(Ordering::SeqCst).then(|| {
            let state = Arc::new(BarState {
                id: NEXT_ID.fetch_add(1, Ordering::SeqCst),
                label: label.to_string(),
                unit: unit.to_string(),
                position: AtomicU64::new(0),
                length: AtomicU64::new(total),
                message: Mutex::new(String::new()),
                finished: AtomicBool::new(false),
            });
            BARS.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(state.clone());
            Kept(state)
        });
        Self { span, kept }
    }

    /// The span, to enter while the work runs (its log lines are then drawn under the bar).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// `done` more units are done.
    pub fn inc(&self, done: u64) {
        self.span.pb_inc(done);
        if let Some(Kept(state)) = &self.kept {
            state.position.fetch_add(done, Ordering::SeqCst);
        }
    }

    /// The work turned out `more` units longer.
    pub fn inc_length(&self, more: u64) {
        self.span.pb_inc_length(more);
        if let Some(Kept(state)) = &self.kept {
            state.length.fetch_add(more, Ordering::SeqCst);
        }
    }

    /// Shows `message` beside the bar (a training loss, say).
    pub fn set_message(&self, message: &str) {
        self.span.pb_set_message(message);
        if let Some(Kept(state)) = &self.kept {
            *state.message.lock().unwrap_or_else(PoisonError::into_inner) = message.to_string();
        }
    }
}

/// A kept bar, marked finished when its [`Progress`] is dropped.
struct Kept(Arc<BarState>);

impl Drop for Kept {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::SeqCst);
    }
}

/// The counts of one kept bar.
struct BarState {
    id: u64,
    label: String,
    unit: String,
    position: AtomicU64,
    length: AtomicU64,
    message: Mutex<String>,
    finished: AtomicBool,
}

/// One bar as [`snapshot`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarSnapshot {
    /// Tells this bar from every other of the process.
    pub id: u64,
    /// What the work is (`extracting`, `counting`, `training`).
    pub label: String,
    /// What it counts (`tokens`, `token-layers`, `steps`).
    pub unit: String,
    /// Units done.
    pub position: u64,
    /// Units in all, as known now.
    pub length: u64,
    /// The message beside the bar (empty for none).
    pub message: String,
    /// Whether the work is over; a finished bar is reported once, then forgotten.
    pub finished: bool,
}

/// Keeps every bar made from now on for [`snapshot`].
pub fn watch() {
    WATCHED.store(true, Ordering::SeqCst);
}

/// The bars kept, in the order they were made; those finished are forgotten once reported.
pub fn snapshot() -> Vec<BarSnapshot> {
    let mut bars = BARS.lock().unwrap_or_else(PoisonError::into_inner);
    let read: Vec<BarSnapshot> = bars
        .iter()
        .map(|s| BarSnapshot {
            id: s.id,
            label: s.label.clone(),
            unit: s.unit.clone(),
            position: s.position.load(Ordering::SeqCst),
            length: s.length.load(Ordering::SeqCst),
            message: s
                .message
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            finished: s.finished.load(Ordering::SeqCst),
        })
        .collect();
    let reported_finished: Vec<u64> = read.iter().filter(|b| b.finished).map(|b| b.id).collect();
    bars.retain(|s| !reported_finished.contains(&s.id));
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_and_unit_makes_a_valid_bar() {
        for (label, unit) in [
            ("extract", "tokens"),
            ("count", "token-layers"),
            ("train", "steps"),
        ] {
            let bar = Progress::new(tracing::Span::none(), label, unit, 10);
            bar.inc(1);
            bar.inc_length(2);
            bar.set_message("on the way");
        }
        Progress::hidden().inc(1);
    }

    #[test]
    fn a_watched_bar_reports_its_counts_then_its_end_once() {
        watch();
        let bar = Progress::new(tracing::Span::none(), "counting", "token-layers", 10);
        bar.inc(3);
        bar.inc_length(5);
        bar.set_message("layer 2");
        let find = |bars: Vec<BarSnapshot>, id| bars.into_iter().find(|b| b.id == id);
        let id = snapshot()
            .into_iter()
            .find(|b| b.label == "counting" && b.position == 3)
            .expect("the bar is kept")
            .id;
        bar.inc(4);
        let seen = find(snapshot(), id).expect("still kept while running");
        assert_eq!(
            (
                seen.position,
                seen.length,
                seen.message.as_str(),
                seen.finished
            ),
            (7, 15, "layer 2", false)
        );
        drop(bar);
        let last = find(snapshot(), id).expect("reported once finished");
        assert!(last.finished);
        assert_eq!(find(snapshot(), id), None, "then forgotten");
    }
}
