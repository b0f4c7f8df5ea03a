//! One call's speech front end: VAD + endpointer + the utterance's audio.
//!
//! The call loop pushes 16 kHz audio as it arrives (any chunk size, e.g. 20 ms = 320
//! samples) with the time it arrived; out come speech events carrying the audio to decode.
//! The VAD runs inline: ~0.1-0.2 ms per 32 ms window (see the bench) is cheaper than a
//! channel hop to another thread, and keeps the events in order with the audio.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::endpoint::{EndReason, EndpointEvent, Endpointer, Expectation};
use crate::vad::Vad;
use crate::{AsrConfig, AsrError, SAMPLE_RATE};

/// Audio of one utterance, ready for the recogniser.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Mono f32 at 16 kHz: pre-roll + speech + a short silence tail.
    pub audio: Arc<[f32]>,
    /// Identifies the speech content: the stream sample index where speech last ended.
    /// Equal revisions at `Pause` and `UtteranceEnded` mean identical audio.
    pub revision: u64,
}

#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The caller started speaking (barge-in). Raised after `min_speech_ms` of voice.
    SpeechStarted { at: Instant },
    /// First pause in the speech: decode `utterance` speculatively now.
    Pause { at: Instant, utterance: Utterance },
    /// Speech resumed after a pause: a speculative result is stale.
    SpeechResumed { at: Instant },
    /// End of the utterance: decode (or reuse the speculative result, see `Speculation`).
    UtteranceEnded {
        at: Instant,
        /// Where the caller stopped speaking (see `EndpointEvent::UtteranceEnded`).
        speech_end: Instant,
        reason: EndReason,
        utterance: Utterance,
    },
}

pub struct SpeechStream {
    vad: Box<dyn Vad>,
    endpointer: Endpointer,
    /// When idle: the last `preroll` samples. In an utterance: everything since its pre-roll.
    buffer: VecDeque<f32>,
    /// Stream sample index of `buffer[0]`.
    buffer_start: u64,
    /// Stream samples consumed so far (through the VAD).
    total: u64,
    preroll: usize,
    tail: usize,
    speech_end: u64,
    probs: Vec<f32>,
    last_prob: f32,
}

impl SpeechStream {
    /// `vad` must run at 16 kHz here (the stream's audio is what Whisper gets): Silero
    /// on real calls, the energy detector in tests that need no model.
    pub fn new(vad: impl Vad + 'static, cfg: &AsrConfig) -> Result<Self, AsrError> {
        if vad.rate().hz() != SAMPLE_RATE {
            return Err(AsrError::BadAudio(
                "SpeechStream takes 16 kHz audio; create the VAD with VadRate::Hz16000".into(),
            ));
        }
        let ms = |m: u64| (m as usize) * SAMPLE_RATE as usize / 1000;
        Ok(Self {
            vad: Box::new(vad),
            endpointer: Endpointer::new(cfg.endpoint.clone()),
            buffer: VecDeque::new(),
            buffer_start: 0,
            total: 0,
            preroll: ms(cfg.preroll_ms),
            // Whisper does better with a little silence after the last word; never more
            // than the pause, so Pause and UtteranceEnded cut the same audio.
            tail: ms(cfg.endpoint.pause_ms.min(150)),
            speech_end: 0,
            probs: Vec::with_capacity(4),
            last_prob: 0.0,
        })
    }

    pub fn set_expectation(&mut self, expectation: Expectation) {
        self.endpointer.set_expectation(expectation);
    }

    /// See [`Endpointer::hint_complete`].
    pub fn hint_complete(&mut self) {
        self.endpointer.hint_complete();
    }

    pub fn endpointer(&self) -> &Endpointer {
        &self.endpointer
    }

    /// Speech probability of the last VAD window (for metrics / debugging).
    pub fn last_probability(&self) -> f32 {
        self.last_prob
    }

    /// New call or a reset after the bot decided to ignore input.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.endpointer.reset();
        self.buffer.clear();
        self.buffer_start = self.total;
    }

    /// Feed 16 kHz samples that arrived at `now`. Returns the events they caused, in order.
    pub fn push(&mut self, samples: &[f32], now: Instant) -> Result<Vec<StreamEvent>, AsrError> {
        let mut events = Vec::new();
        let win = self.vad.rate().window();
        // Process window by window so each VAD result lines up with its samples.
        let mut rest = samples;
        while !rest.is_empty() {
            let pending = (self.total as usize) % win; // samples already in the VAD's buffer
            let take = (win - pending).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            self.buffer.extend(chunk.iter().copied());
            self.total += take as u64;
            self.probs.clear();
            self.vad.push(chunk, &mut self.probs)?;
            let Some(&prob) = self.probs.last() else {
                continue;
            };
            self.last_prob = prob;
            let event = self.endpointer.push_frame(prob, now);
            if self.endpointer.last_frame_in_speech() {
                self.speech_end = self.total;
            }
            match event {
                Some(EndpointEvent::SpeechStarted { at }) => {
                    events.push(StreamEvent::SpeechStarted { at })
                }
                Some(EndpointEvent::Pause { at }) => events.push(StreamEvent::Pause {
                    at,
                    utterance: self.utterance(),
                }),
                Some(EndpointEvent::SpeechResumed { at }) => {
                    events.push(StreamEvent::SpeechResumed { at })
                }
                Some(EndpointEvent::UtteranceEnded {
                    at,
                    speech_end,
                    reason,
                }) => {
                    let utterance = self.utterance();
                    events.push(StreamEvent::UtteranceEnded {
                        at,
                        speech_end,
                        reason,
                        utterance,
                    });
                    // Keep the end of this audio as the next utterance's pre-roll.
                }
                None => {}
            }
            if !self.endpointer.in_candidate_or_utterance() {
                let excess = self.buffer.len().saturating_sub(self.preroll);
                self.buffer.drain(..excess);
                self.buffer_start += excess as u64;
            }
        }
        Ok(events)
    }

    fn utterance(&self) -> Utterance {
        let end = (self.speech_end + self.tail as u64).min(self.total);
        let len = end.saturating_sub(self.buffer_start) as usize;
        let audio: Vec<f32> = self.buffer.iter().take(len).copied().collect();
        Utterance {
            audio: audio.into(),
            revision: self.speech_end,
        }
    }
}
