//! Sans-IO endpointer: VAD probabilities + caller-supplied time -> speech events.
//!
//! No clock, no I/O: `push_frame(prob, now)` is all it sees, so replay with a virtual
//! clock and unit tests are exact. Hysteresis as in Silero's reference segmenter: a frame
//! is voice at `prob >= threshold`, silence below `neg_threshold`, and in between it
//! changes nothing.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What the dialog expects the caller to say this turn; sets the trailing silence that
/// ends an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// Nothing specific.
    #[default]
    Default,
    /// "yes", "no", "correct": short answers, end quickly.
    YesNo,
    /// A digit string: people pause between groups, so wait longer until the string looks
    /// complete (see [`Endpointer::hint_complete`]).
    Digits,
    /// A free-form request: medium.
    FreeText,
}

/// Endpointer settings (`[asr.endpoint]`). Times in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    /// VAD probability at or above which a frame is voice.
    pub threshold: f32,
    /// VAD probability below which a frame is silence (hysteresis).
    pub neg_threshold: f32,
    /// Voice needed before `SpeechStarted` (barge-in); shorter bursts are ignored.
    pub min_speech_ms: u64,
    /// A gap in a not-yet-started burst longer than this discards it (clicks, coughs).
    pub max_gap_before_start_ms: u64,
    /// Silence that raises `Pause` (speculative decoding starts there).
    pub pause_ms: u64,
    /// Trailing silence that ends an utterance, per expectation.
    pub trailing_default_ms: u64,
    pub trailing_yes_no_ms: u64,
    pub trailing_digits_ms: u64,
    pub trailing_free_text_ms: u64,
    /// Trailing silence once the answer looks complete (`hint_complete`).
    pub trailing_complete_ms: u64,
    /// Longest utterance; ended (reason `MaxLength`) after this much.
    pub max_utterance_ms: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_speech_ms: 150,
            max_gap_before_start_ms: 100,
            pause_ms: 150,
            // DESIGN.md §5 budgets 250-300 ms for the end-of-utterance decision; menus get
            // a little more (callers pause between "I'd like to" and the request).
            trailing_default_ms: 350,
            trailing_yes_no_ms: 250,
            trailing_digits_ms: 700,
            trailing_free_text_ms: 450,
            trailing_complete_ms: 250,
            max_utterance_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Trailing silence reached.
    Silence,
    /// `max_utterance_ms` reached while the caller was still talking.
    MaxLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Voice lasted `min_speech_ms`: the caller is speaking (barge-in). `at` = first voice.
    SpeechStarted { at: Instant },
    /// First `pause_ms` of silence in this stretch: a good moment to decode speculatively.
    Pause { at: Instant },
    /// Voice again after a `Pause`: a speculative result is stale.
    SpeechResumed { at: Instant },
    /// The utterance is over. `speech_end`: where the caller stopped (the start of the
    /// trailing silence; `at` itself when the maximum length cut the speech).
    UtteranceEnded {
        at: Instant,
        speech_end: Instant,
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    /// Voice seen, not long enough yet for `SpeechStarted`.
    Candidate {
        first_voice: Instant,
        last_voice: Instant,
    },
    Speaking {
        started: Instant,
        silence_since: Option<Instant>,
        paused: bool,
    },
}

/// Per-stream endpointer. Feed every VAD frame in order, with the time it ended.
#[derive(Debug, Clone)]
pub struct Endpointer {
    cfg: EndpointConfig,
    expectation: Expectation,
    complete: bool,
    state: State,
    last_frame_in_speech: bool,
    /// End time of the previous frame: where a silence that starts now began.
    prev_frame_at: Option<Instant>,
}

impl Endpointer {
    pub fn new(cfg: EndpointConfig) -> Self {
        Self {
            cfg,
            expectation: Expectation::Default,
            complete: false,
            state: State::Idle,
            last_frame_in_speech: false,
            prev_frame_at: None,
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Set per turn by the dialog. Applies from the next frame (also to an utterance in
    /// progress) and clears any earlier `hint_complete`.
    pub fn set_expectation(&mut self, expectation: Expectation) {
        self.expectation = expectation;
        self.complete = false;
    }

    pub fn expectation(&self) -> Expectation {
        self.expectation
    }

    /// The partial (speculative) transcript already holds a complete answer, e.g. all
    /// digits of an account number: end on a short silence. Cleared when speech resumes.
    pub fn hint_complete(&mut self) {
        self.complete = true;
    }

    /// Trailing silence that currently ends an utterance.
    pub fn trailing_silence(&self) -> Duration {
        let ms = if self.complete {
            self.cfg.trailing_complete_ms
        } else {
            match self.expectation {
                Expectation::Default => self.cfg.trailing_default_ms,
                Expectation::YesNo => self.cfg.trailing_yes_no_ms,
                Expectation::Digits => self.cfg.trailing_digits_ms,
                Expectation::FreeText => self.cfg.trailing_free_text_ms,
            }
        };
        Duration::from_millis(ms)
    }

    /// Whether the frame just pushed belongs to speech (voice, or an in-between frame
    /// before any silence): the stream uses it to mark where speech ends in its audio.
    pub fn last_frame_in_speech(&self) -> bool {
        self.last_frame_in_speech
    }

    /// Inside an utterance (after `SpeechStarted`, before `UtteranceEnded`).
    pub fn in_utterance(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Voice seen (possibly not yet `SpeechStarted`): the stream keeps audio from here.
    pub fn in_candidate_or_utterance(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Drop any utterance in progress (e.g. the call loop decided to ignore it).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.complete = false;
        self.last_frame_in_speech = false;
    }

    /// One VAD frame: its speech probability and the time the frame ended.
    pub fn push_frame(&mut self, prob: f32, now: Instant) -> Option<EndpointEvent> {
        let voice = prob >= self.cfg.threshold;
        let silence = prob < self.cfg.neg_threshold;
        self.last_frame_in_speech = false;
        let ms = Duration::from_millis;
        let prev = self.prev_frame_at.replace(now).unwrap_or(now);
        match self.state {
            State::Idle => {
                if voice {
                    self.last_frame_in_speech = true;
                    self.state = State::Candidate {
                        first_voice: now,
                        last_voice: now,
                    };
                    return self.check_started(now);
                }
                None
            }
            State::Candidate {
                first_voice,
                last_voice,
            } => {
                if voice {
                    self.last_frame_in_speech = true;
                    self.state = State::Candidate {
                        first_voice,
                        last_voice: now,
                    };
                    return self.check_started(now);
                }
                if silence
                    && now.saturating_duration_since(last_voice)
                        > ms(self.cfg.max_gap_before_start_ms)
                {
                    self.state = State::Idle;
                }
                None
            }
            State::Speaking {
                started,
                silence_since,
                paused,
            } => {
                if now.saturating_duration_since(started) >= ms(self.cfg.max_utterance_ms) {
                    self.end();
                    return Some(EndpointEvent::UtteranceEnded {
                        at: now,
                        speech_end: now,
                        reason: EndReason::MaxLength,
                    });
                }
                if voice {
                    self.last_frame_in_speech = true;
                    self.state = State::Speaking {
                        started,
                        silence_since: None,
                        paused: false,
                    };
                    if paused {
                        self.complete = false;
                        return Some(EndpointEvent::SpeechResumed { at: now });
                    }
                    return None;
                }
                // Silence starts at the end of the last frame that was not silent.
                let since = match silence_since {
                    Some(t) => t,
                    None if silence => {
                        self.state = State::Speaking {
                            started,
                            silence_since: Some(prev),
                            paused,
                        };
                        prev
                    }
                    None => {
                        // In-between probability and no silence yet: speech goes on.
                        self.last_frame_in_speech = true;
                        return None;
                    }
                };
                let quiet = now.saturating_duration_since(since);
                if quiet >= self.trailing_silence() {
                    self.end();
                    return Some(EndpointEvent::UtteranceEnded {
                        at: now,
                        speech_end: since,
                        reason: EndReason::Silence,
                    });
                }
                if !paused && quiet >= ms(self.cfg.pause_ms) {
                    self.state = State::Speaking {
                        started,
                        silence_since: Some(since),
                        paused: true,
                    };
                    return Some(EndpointEvent::Pause { at: now });
                }
                None
            }
        }
    }

    fn check_started(&mut self, now: Instant) -> Option<EndpointEvent> {
        if let State::Candidate { first_voice, .. } = self.state
            && now.saturating_duration_since(first_voice)
                >= Duration::from_millis(self.cfg.min_speech_ms)
        {
            self.state = State::Speaking {
                started: first_voice,
                silence_since: None,
                paused: false,
            };
            return Some(EndpointEvent::SpeechStarted { at: first_voice });
        }
        None
    }

    fn end(&mut self) {
        self.state = State::Idle;
        self.complete = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(32);

    /// Feed `probs` one 32 ms frame each, starting at `t0`; collect (frame index, event).
    fn run(ep: &mut Endpointer, t0: Instant, probs: &[f32]) -> Vec<(usize, EndpointEvent)> {
        probs
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| {
                ep.push_frame(p, t0 + FRAME * (i as u32 + 1))
                    .map(|e| (i, e))
            })
            .collect()
    }

    fn frames(spec: &[(f32, usize)]) -> Vec<f32> {
        spec.iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    fn kinds(ev: &[(usize, EndpointEvent)]) -> Vec<&'static str> {
        ev.iter()
            .map(|(_, e)| match e {
                EndpointEvent::SpeechStarted { .. } => "start",
                EndpointEvent::Pause { .. } => "pause",
                EndpointEvent::SpeechResumed { .. } => "resume",
                EndpointEvent::UtteranceEnded {
                    reason: EndReason::Silence,
                    ..
                } => "end",
                EndpointEvent::UtteranceEnded {
                    reason: EndReason::MaxLength,
                    ..
                } => "max",
            })
            .collect()
    }

    #[test]
    fn short_click_is_ignored() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run(
            &mut ep,
            Instant::now(),
            &frames(&[(0.0, 5), (0.9, 2), (0.0, 40)]),
        );
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn start_pause_resume_end() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let t0 = Instant::now();
        let probs = frames(&[(0.0, 3), (0.9, 20), (0.1, 6), (0.9, 10), (0.1, 30)]);
        let ev = run(&mut ep, t0, &probs);
        assert_eq!(kinds(&ev), ["start", "pause", "resume", "pause", "end"]);
        // SpeechStarted reports the first voiced frame's time, after min_speech_ms of voice.
        let EndpointEvent::SpeechStarted { at } = ev[0].1 else {
            panic!()
        };
        assert_eq!(at, t0 + FRAME * 4);
        assert!(ev[0].0 >= 3 + 4, "started only after ~150 ms of voice");
    }

    #[test]
    fn hysteresis_middle_values_keep_state() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // 0.4 is between neg_threshold and threshold: it neither starts nor ends speech.
        let probs = frames(&[(0.4, 10), (0.9, 10), (0.4, 10), (0.1, 30)]);
        let ev = run(&mut ep, Instant::now(), &probs);
        assert_eq!(kinds(&ev), ["start", "pause", "end"]);
        // silence counted from the last non-silent frame (index 29): the default trailing
        let end_frame = ev[2].0;
        let trailing = EndpointConfig::default().trailing_default_ms as usize;
        assert_eq!(end_frame, 29 + trailing.div_ceil(32));
    }

    fn end_after_silence(exp: Expectation, complete: bool) -> usize {
        let mut ep = Endpointer::new(EndpointConfig::default());
        ep.set_expectation(exp);
        let mut probs = frames(&[(0.9, 15)]);
        if complete {
            let t0 = Instant::now();
            run(&mut ep, t0, &probs);
            ep.hint_complete();
            let rest = frames(&[(0.0, 60)]);
            let ev: Vec<_> = rest
                .iter()
                .enumerate()
                .filter_map(|(i, &p)| {
                    ep.push_frame(p, t0 + FRAME * (16 + i as u32))
                        .map(|e| (i, e))
                })
                .collect();
            return ev
                .iter()
                .find(|(_, e)| matches!(e, EndpointEvent::UtteranceEnded { .. }))
                .unwrap()
                .0
                + 1;
        }
        probs.extend(frames(&[(0.0, 60)]));
        let ev = run(&mut ep, Instant::now(), &probs);
        let (i, _) = ev
            .iter()
            .find(|(_, e)| matches!(e, EndpointEvent::UtteranceEnded { .. }))
            .unwrap();
        i - 14
    }

    #[test]
    fn trailing_silence_adapts_to_expectation() {
        let yes_no = end_after_silence(Expectation::YesNo, false);
        let free = end_after_silence(Expectation::FreeText, false);
        let digits = end_after_silence(Expectation::Digits, false);
        let digits_done = end_after_silence(Expectation::Digits, true);
        // frames of silence before the end: each expectation's own trailing silence
        let c = EndpointConfig::default();
        let frames_of = |ms: u64| (ms as usize).div_ceil(32);
        assert_eq!(yes_no, frames_of(c.trailing_yes_no_ms));
        assert_eq!(free, frames_of(c.trailing_free_text_ms));
        assert_eq!(digits, frames_of(c.trailing_digits_ms));
        assert!(yes_no < free && free < digits);
        assert!(digits_done < digits / 2, "{digits_done} vs {digits}");
    }

    #[test]
    fn resumed_speech_clears_complete_hint() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        ep.set_expectation(Expectation::Digits);
        ep.hint_complete();
        assert_eq!(ep.trailing_silence(), Duration::from_millis(250));
        let t0 = Instant::now();
        run(&mut ep, t0, &frames(&[(0.9, 10), (0.0, 5), (0.9, 1)]));
        let digits = EndpointConfig::default().trailing_digits_ms;
        assert_eq!(ep.trailing_silence(), Duration::from_millis(digits));
    }

    #[test]
    fn utterance_end_reports_where_speech_stopped() {
        // Ten frames of voice, then silence: the speech ended with the tenth frame,
        // whichever trailing silence (a complete hint changes it) ended the utterance.
        for complete in [false, true] {
            let mut ep = Endpointer::new(EndpointConfig::default());
            ep.set_expectation(Expectation::Digits);
            let t0 = Instant::now();
            let ev = run(&mut ep, t0, &frames(&[(0.9, 10)]));
            assert_eq!(kinds(&ev), ["start"]);
            if complete {
                ep.hint_complete();
            }
            let trailing = ep.trailing_silence();
            let ev = run(&mut ep, t0 + FRAME * 10, &frames(&[(0.0, 40)]));
            let (_, end) = ev
                .iter()
                .find(|(_, e)| matches!(e, EndpointEvent::UtteranceEnded { .. }))
                .expect("an end");
            let EndpointEvent::UtteranceEnded { at, speech_end, .. } = *end else {
                unreachable!()
            };
            assert_eq!(speech_end, t0 + FRAME * 10, "complete: {complete}");
            assert!(at - speech_end >= trailing && at - speech_end < trailing + FRAME);
        }
    }

    #[test]
    fn max_length_cuts_a_monologue() {
        let cfg = EndpointConfig {
            max_utterance_ms: 2000,
            ..Default::default()
        };
        let mut ep = Endpointer::new(cfg);
        let ev = run(&mut ep, Instant::now(), &frames(&[(0.9, 200)]));
        // start, then max length every ~2 s of continuous speech
        assert_eq!(kinds(&ev)[..3], ["start", "max", "start"]);
    }

    #[test]
    fn time_not_frame_count_drives_decisions() {
        // Frames arriving late (jitter) still end the utterance on elapsed time.
        let mut ep = Endpointer::new(EndpointConfig::default());
        let t0 = Instant::now();
        for i in 0..10u32 {
            ep.push_frame(0.9, t0 + FRAME * i);
        }
        assert!(ep.in_utterance());
        let ev = ep.push_frame(0.0, t0 + FRAME * 9 + Duration::from_millis(460));
        assert!(matches!(
            ev,
            Some(EndpointEvent::UtteranceEnded {
                reason: EndReason::Silence,
                ..
            })
        ));
    }
}
