//! Speculative decoding bookkeeping (sans-IO, generic over the ticket type).
//!
//! At `Pause` the call loop submits the utterance so far and hands the ticket here; if
//! speech resumes the ticket is dropped (which cancels a job not yet started); at
//! `UtteranceEnded` the ticket is reused when the audio is unchanged since the pause
//! (same `revision`), else the caller must decode the final audio.

use crate::stream::Utterance;

pub struct Speculation<T> {
    pending: Option<(u64, T)>,
    reused: u64,
    redone: u64,
}

pub enum SpeculativeOutcome<T> {
    /// The speculative decode covered exactly this audio: await this ticket.
    Reuse(T),
    /// No usable speculation: submit the final utterance.
    Redo,
}

impl<T> Default for Speculation<T> {
    fn default() -> Self {
        Self {
            pending: None,
            reused: 0,
            redone: 0,
        }
    }
}

impl<T> Speculation<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A speculative decode of `utterance` was submitted at a pause.
    pub fn started(&mut self, utterance: &Utterance, ticket: T) {
        self.pending = Some((utterance.revision, ticket));
    }

    /// Speech resumed: the speculative result is stale. Returns the ticket (drop it).
    pub fn resumed(&mut self) -> Option<T> {
        self.pending.take().map(|(_, t)| t)
    }

    /// The utterance ended: reuse the speculative ticket if it decoded this same audio.
    pub fn ended(&mut self, utterance: &Utterance) -> SpeculativeOutcome<T> {
        match self.pending.take() {
            Some((rev, ticket)) if rev == utterance.revision => {
                self.reused += 1;
                SpeculativeOutcome::Reuse(ticket)
            }
            _ => {
                self.redone += 1;
                SpeculativeOutcome::Redo
            }
        }
    }

    /// Whether a speculative decode is in flight.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// (reused, redone) counts, for metrics.
    pub fn counts(&self) -> (u64, u64) {
        (self.reused, self.redone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utt(rev: u64) -> Utterance {
        Utterance {
            audio: vec![0.0; 10].into(),
            revision: rev,
        }
    }

    #[test]
    fn reuse_when_unchanged_redo_when_resumed() {
        let mut s = Speculation::new();
        s.started(&utt(100), "ticket-a");
        assert!(matches!(
            s.ended(&utt(100)),
            SpeculativeOutcome::Reuse("ticket-a")
        ));
        s.started(&utt(200), "ticket-b");
        assert_eq!(s.resumed(), Some("ticket-b"));
        assert!(matches!(s.ended(&utt(300)), SpeculativeOutcome::Redo));
        // A pause whose audio then grew (speech between pause and end) is not reused.
        s.started(&utt(400), "ticket-c");
        assert!(matches!(s.ended(&utt(450)), SpeculativeOutcome::Redo));
        assert_eq!(s.counts(), (1, 2));
    }
}
