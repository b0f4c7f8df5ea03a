//! Quality inspection (质检) of every call: rules from `[qa]` (or the embedded default),
//! a score of 100 minus the weights of the rules a call broke, and the flags that say
//! why. Computed when the record is written, after the call's media has ended, and again
//! by `ivr qa rescore` when the rules change.

mod inspect;
mod rules;

#[cfg(test)]
mod tests;

pub use inspect::Scorecard;
pub use rules::{QaConfig, QaRules, Severity};
#[cfg(test)]
pub use {
    inspect::Flag,
    rules::{Check, Rule},
};

use crate::records::{CallRecord, RecordStore};

/// Score `r` with its stored transcript; a missing or damaged transcript scores the
/// record alone (and says so in the log).
pub fn inspect_stored(rules: &QaRules, store: &RecordStore, r: &CallRecord) -> Scorecard {
    let lines = store.transcript(r).unwrap_or_else(|e| {
        tracing::warn!(call = %r.id, error = %format!("{e:#}"), "QA without the transcript");
        Vec::new()
    });
    rules.inspect(r, &lines)
}
