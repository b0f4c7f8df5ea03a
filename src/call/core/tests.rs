//! `CallCore` in virtual time, without models or sockets (str0m's two-peer style): a
//! scripted caller sends real RTP (PCMU tone = speech, silence otherwise) every 20 ms, a
//! scripted recogniser answers `Recognize` with given texts, a synthetic voice answers
//! `Speak` with a tone, and the energy VAD stands in for Silero (what is speech must be
//! certain here). Assertions are on the RTP and the outputs the core produces.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_asr::{AsrConfig, EnergyVad, SpeechStream, VadRate};
use ivr_dialog::Flow;
use ivr_dialog::{LookupResult, TransferResult};
use ivr_dialog::{Outcome, Speaker};
use ivr_media::Codec;
use ivr_media::{RtpHeader, RtpPacket};
use serde_json::json;

use super::{CallCore, CoreConfig, Heard, Output, RtpSeeds};

const FRAME: Duration = Duration::from_millis(20);
/// The caller's packets arrive off the core's 20 ms grid.
const CALLER_PHASE: Duration = Duration::from_millis(7);
/// Bot "speech": this long per character of the prompt text.
const BOT_MS_PER_CHAR: u64 = 60;
const LOUD: i16 = 8000;

fn remote() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("address")
}

fn config() -> CoreConfig {
    CoreConfig {
        codec: Codec::Pcmu,
        telephone_event_pt: Some(101),
        remote_rtp: Some(remote()),
        jitter_min: Duration::from_millis(20),
        jitter_max: Duration::from_millis(200),
        speculative: true,
        max_call: Duration::from_secs(600),
        speed: 1.0,
        start_wallclock: Duration::from_secs(1_800_000_000),
        rtp_seeds: RtpSeeds {
            ssrc: 0x1234_5678,
            sequence: 1000,
            timestamp: 160_000,
        },
    }
}

/// What the caller does, span by span from the start of the call.
#[derive(Debug, Clone, Copy)]
enum Span {
    Silent(u64),
    Speak(u64),
}

/// One thing the core did, at the virtual instant it did it.
#[derive(Debug, Clone)]
enum Seen {
    Rtp { loud: bool },
    Recognize { id: u64, samples: usize },
    Speak { id: u64, text: String },
    CancelSpeak { id: u64 },
    Transfer { target: String },
    Hangup,
    Line { speaker: Speaker, interrupted: bool },
}

struct Harness {
    core: CallCore,
    t0: Instant,
    now: Instant,
    /// Speaking (true) or silent, per 20 ms caller frame.
    caller: Vec<bool>,
    next_frame: usize,
    seq: u16,
    /// Texts the recogniser answers with, in the order of its requests.
    transcripts: VecDeque<&'static str>,
    /// How long a recognition takes.
    asr_delay: Duration,
    asr_due: Vec<(Instant, u64, &'static str)>,
    log: Vec<(Instant, Seen)>,
}

impl Harness {
    fn new(cfg: CoreConfig, caller: &[Span], transcripts: &[&'static str]) -> Self {
        let t0 = Instant::now();
        let ears = SpeechStream::new(EnergyVad::new(VadRate::Hz16000), &AsrConfig::default())
            .expect("speech stream");
        let today = ivr_dialog::Date::new(2026, 12, 7).expect("date");
        let core = CallCore::new(cfg, Arc::new(Flow::demo()), ears, today, t0).expect("core");
        let mut frames = Vec::new();
        for span in caller {
            let (ms, on) = match *span {
                Span::Silent(ms) => (ms, false),
                Span::Speak(ms) => (ms, true),
            };
            frames.extend(std::iter::repeat_n(on, (ms / 20) as usize));
        }
        let mut h = Self {
            core,
            t0,
            now: t0,
            caller: frames,
            next_frame: 0,
            seq: 0,
            transcripts: transcripts.iter().copied().collect(),
            asr_delay: Duration::ZERO,
            asr_due: Vec::new(),
            log: Vec::new(),
        };
        h.drain();
        h
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn ms(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.t0).as_secs_f64() * 1000.0
    }

    fn caller_packet(&mut self) -> Vec<u8> {
        let on = self.caller[self.next_frame];
        let pcm: Vec<i16> = (0..ivr_media::FRAME_SAMPLES)
            .map(|i| {
                let n = (self.next_frame * ivr_media::FRAME_SAMPLES + i) as f32;
                if on {
                    (f32::from(LOUD) * (n * 2.0 * std::f32::consts::PI * 300.0 / 8000.0).sin())
                        as i16
                } else {
                    0
                }
            })
            .collect();
        let mut payload = Vec::new();
        Codec::Pcmu.encode(&pcm, &mut payload);
        self.seq = self.seq.wrapping_add(1);
        RtpHeader {
            marker: self.next_frame == 0,
            payload_type: 0,
            sequence: self.seq,
            timestamp: (self.next_frame * ivr_media::FRAME_SAMPLES) as u32,
            ssrc: 0xCA11_E200,
        }
        .to_bytes(&payload)
    }

    /// Drive the call until `end` (or until it ends): the earliest of the core's timeout,
    /// the caller's next packet and a due recognition result happens next.
    fn run_until(&mut self, end: Instant) {
        while !self.core.is_ended() {
            let core_at = self.core.poll_timeout();
            let caller_at = (self.next_frame < self.caller.len())
                .then(|| self.t0 + CALLER_PHASE + FRAME * self.next_frame as u32);
            let asr_at = self.asr_due.iter().map(|(t, ..)| *t).min();
            let at = [Some(core_at), caller_at, asr_at]
                .into_iter()
                .flatten()
                .min()
                .expect("the core always has a timeout");
            if at > end {
                break;
            }
            assert!(at >= self.now, "time went backwards");
            self.now = at;
            if caller_at == Some(at) {
                let pkt = self.caller_packet();
                self.next_frame += 1;
                self.core.on_datagram(&pkt, remote(), at);
            } else if asr_at == Some(at) {
                let i = self
                    .asr_due
                    .iter()
                    .position(|(t, ..)| *t == at)
                    .expect("due result");
                let (_, id, text) = self.asr_due.remove(i);
                let heard = Heard {
                    text: text.into(),
                    confidence: 0.9,
                    words_per_sec: Some(2.5),
                    embedding: None,
                };
                self.core.on_transcript(id, Ok(heard), at);
            } else {
                self.core.handle_timeout(at);
            }
            self.drain();
        }
        self.now = self.now.max(end);
    }

    fn drain(&mut self) {
        let now = self.now;
        while let Some(out) = self.core.poll_output() {
            let seen = match out {
                Output::Transmit { to, data } => {
                    assert_eq!(to, remote());
                    let p = RtpPacket::parse(&data).expect("the core sends valid RTP");
                    assert_eq!(p.ssrc, 0x1234_5678, "SSRC from the seeds");
                    let mut pcm = Vec::new();
                    Codec::Pcmu.decode(p.payload, &mut pcm);
                    let level = pcm.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
                    Seen::Rtp {
                        loud: level > i32::from(LOUD) / 2,
                    }
                }
                Output::TransmitRtcp { .. } => continue,
                Output::Recognize { id, audio, .. } => {
                    let text = self.transcripts.pop_front().unwrap_or("");
                    self.asr_due.push((now + self.asr_delay, id, text));
                    Seen::Recognize {
                        id,
                        samples: audio.len(),
                    }
                }
                Output::Speak { id, text, .. } => {
                    let n = (text.chars().count() as u64 * BOT_MS_PER_CHAR * 8) as usize;
                    let pcm: Vec<i16> = (0..n)
                        .map(|i| if i % 16 < 8 { LOUD } else { -LOUD })
                        .collect();
                    self.core.on_speech_audio(id, &pcm, true, now);
                    self.core.on_speech_done(id, Ok(()), now);
                    Seen::Speak { id, text }
                }
                Output::CancelSpeak { id } => Seen::CancelSpeak { id },
                Output::Lookup { request, .. } => {
                    let status =
                        json!({"found": true, "status": "in transit", "eta": "2026-12-09"});
                    self.core.on_lookup(request, LookupResult::Ok(status), now);
                    continue;
                }
                Output::Transfer { target, .. } => Seen::Transfer { target },
                Output::Hangup => Seen::Hangup,
                Output::Transcript(line) => Seen::Line {
                    speaker: line.speaker,
                    interrupted: line.interrupted,
                },
            };
            self.log.push((now, seen));
        }
    }

    fn when(&self, pred: impl Fn(&Seen) -> bool) -> Vec<Instant> {
        self.log
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(t, _)| *t)
            .collect()
    }

    fn recognitions(&self) -> Vec<(Instant, u64, usize)> {
        self.log
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Recognize { id, samples } => Some((*t, *id, *samples)),
                _ => None,
            })
            .collect()
    }

    fn speaks(&self) -> Vec<(Instant, String)> {
        self.log
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Speak { text, .. } => Some((*t, text.clone())),
                _ => None,
            })
            .collect()
    }

    /// When the prompts queued so far have all played (the last loud frame sent).
    fn last_loud(&self) -> Option<Instant> {
        self.when(|s| matches!(s, Seen::Rtp { loud: true }))
            .last()
            .copied()
    }
}

/// When the demo's greeting has played out in this harness, in ms from the answer.
fn greeting_ms() -> u64 {
    let mut h = Harness::new(config(), &[], &[]);
    // Well before the no-input reprompt (6 s after the greeting).
    h.run_until(h.at(5000));
    let end = h.last_loud().expect("a greeting played");
    h.ms(end) as u64 + 20
}

#[test]
fn barge_in_flushes_the_prompt_within_one_frame() {
    let greeting = greeting_ms();
    assert!(greeting > 1500, "the greeting is long enough to talk over");
    let mut h = Harness::new(config(), &[Span::Silent(600), Span::Speak(900)], &[""]);
    h.run_until(h.at(2500));
    let cancels: Vec<(Instant, u64)> = h
        .log
        .iter()
        .filter_map(|(t, s)| match s {
            Seen::CancelSpeak { id } => Some((*t, *id)),
            _ => None,
        })
        .collect();
    let greeting_id = h.log.iter().find_map(|(_, s)| match s {
        Seen::Speak { id, .. } => Some(*id),
        _ => None,
    });
    assert_eq!(cancels.len(), 1, "{:?}", h.log);
    let (cut, cancelled) = cancels[0];
    assert_eq!(
        Some(cancelled),
        greeting_id,
        "the greeting's synthesis is cancelled"
    );
    // Speech onset at 600 ms: jitter buffer, VAD windows and min_speech_ms (150) later.
    let after_onset = h.ms(cut) - 600.0;
    assert!(
        (150.0..300.0).contains(&after_onset),
        "barge-in {after_onset} ms after the caller started"
    );
    let loud_after: Vec<f64> = h
        .log
        .iter()
        .filter(|(t, s)| *t > cut && matches!(s, Seen::Rtp { loud: true }))
        .map(|(t, _)| h.ms(*t))
        .collect();
    assert!(
        loud_after.is_empty(),
        "bot audio after the barge-in at {loud_after:?}"
    );
    assert!(
        h.log.iter().any(|(_, s)| matches!(
            s,
            Seen::Line {
                speaker: Speaker::Bot,
                interrupted: true
            }
        )),
        "the cut prompt is marked interrupted"
    );
    // The RTP clock goes on: silence frames every 20 ms after the cut.
    let frames_after = h
        .log
        .iter()
        .filter(|(t, s)| *t > cut && matches!(s, Seen::Rtp { .. }))
        .count();
    let expected = ((h.ms(h.at(2500)) - h.ms(cut)) / 20.0) as usize;
    assert!(
        frames_after + 1 >= expected,
        "{frames_after} frames, {expected} expected"
    );
}

#[test]
fn a_speculative_result_is_reused_when_the_caller_stays_silent() {
    let g = greeting_ms();
    let mut h = Harness::new(
        config(),
        &[Span::Silent(g + 200), Span::Speak(800), Span::Silent(3000)],
        &["track my parcel"],
    );
    h.run_until(h.at(g + 2500));
    let recs = h.recognitions();
    assert_eq!(recs.len(), 1, "one decode, at the first pause: {recs:?}");
    let (at, ..) = recs[0];
    let speech_end = g as f64 + 200.0 + 800.0;
    let pause = h.ms(at) - speech_end;
    assert!(
        pause < 300.0,
        "speculative decode {pause} ms after the speech, before the end of the turn"
    );
    let asks = h.speaks();
    assert!(
        asks.iter().any(|(_, t)| t.contains("tracking number")),
        "the dialog took the speculative text: {asks:?}"
    );
}

#[test]
fn a_stale_speculative_result_is_redone_on_the_whole_utterance() {
    let g = greeting_ms();
    let mut h = Harness::new(
        config(),
        &[
            Span::Silent(g + 200),
            Span::Speak(600),
            Span::Silent(200), // a pause (> 150 ms), not the end of the turn (350 ms)
            Span::Speak(600),
            Span::Silent(3000),
        ],
        &["track my", "track my parcel"],
    );
    // A slow recogniser: the first decode is still running when the caller resumes.
    h.asr_delay = Duration::from_millis(1500);
    h.run_until(h.at(g + 4000));
    let recs = h.recognitions();
    assert_eq!(recs.len(), 2, "speculative + redo: {recs:?}");
    assert!(
        recs[1].2 > recs[0].2 + 8000,
        "the redo decodes the whole utterance: {recs:?}"
    );
    let caller_lines = h.when(|s| {
        matches!(
            s,
            Seen::Line {
                speaker: Speaker::Caller,
                ..
            }
        )
    });
    assert_eq!(caller_lines.len(), 1, "one caller turn, from the redo");
    // Delivered when the redo came back.
    assert_eq!(caller_lines[0], recs[1].0 + Duration::from_millis(1500));
}

#[test]
fn no_rtp_is_sent_while_the_caller_holds_the_call() {
    let mut h = Harness::new(config(), &[], &[]);
    h.run_until(h.at(1000));
    let hold = h.now;
    h.core.on_media_change(remote(), true, hold);
    h.run_until(h.at(3000));
    let unhold = h.now;
    h.core.on_media_change(remote(), false, unhold);
    h.run_until(h.at(3500));
    let sent = h.when(|s| matches!(s, Seen::Rtp { .. }));
    let during: Vec<_> = sent
        .iter()
        .filter(|t| **t > hold && **t <= unhold)
        .collect();
    assert!(during.is_empty(), "{} packets while held", during.len());
    let before = sent.iter().filter(|t| **t <= hold).count();
    assert!(before >= 49, "{before} packets in the first second");
    let resumed = sent
        .iter()
        .find(|t| **t > unhold)
        .expect("RTP after unhold");
    assert!(*resumed - unhold <= FRAME, "RTP resumes within a frame");
}

#[test]
fn max_call_ends_the_call_at_its_instant() {
    let mut cfg = config();
    // Off the 20 ms grid: the call must end at 2.010 s, not at the next frame.
    cfg.max_call = Duration::from_millis(2010);
    let mut h = Harness::new(cfg, &[], &[]);
    h.run_until(h.at(5000));
    assert!(h.core.is_ended());
    let hangups = h.when(|s| matches!(s, Seen::Hangup));
    assert_eq!(hangups, vec![h.at(2010)]);
    assert!(
        h.when(|s| matches!(s, Seen::Rtp { .. }))
            .iter()
            .all(|t| *t <= h.at(2010)),
        "no RTP after the end"
    );
}

#[test]
fn a_completed_transfer_ends_the_call_after_the_prompt() {
    let g = greeting_ms();
    let mut h = Harness::new(
        config(),
        &[Span::Silent(g + 200), Span::Speak(600), Span::Silent(8000)],
        &["agent"],
    );
    h.run_until(h.at(g + 8000));
    let transfers: Vec<(Instant, String)> = h
        .log
        .iter()
        .filter_map(|(t, s)| match s {
            Seen::Transfer { target } => Some((*t, target.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(transfers.len(), 1, "{:?}", h.log);
    let (at, _) = &transfers[0];
    let prompt_end = h.last_loud().expect("a hand-off prompt played");
    assert!(
        *at >= prompt_end,
        "the transfer waits for the prompt to play out"
    );
    assert!(!h.core.is_ended(), "still ours until the transfer succeeds");
    let now = h.now;
    h.core.on_transfer(TransferResult::Ok, now);
    h.drain();
    assert!(h.core.is_ended());
    assert!(matches!(h.log.last(), Some((_, Seen::Hangup))));
    assert_eq!(
        h.core.dialog().summary().outcome,
        Some(Outcome::Transferred)
    );
}

#[test]
fn the_inter_digit_timer_fires_at_its_instant() {
    let g = greeting_ms();
    let mut h = Harness::new(
        config(),
        &[
            Span::Silent(g + 200),
            Span::Speak(800),
            Span::Silent(20_000),
        ],
        &["track my parcel"],
    );
    h.run_until(h.at(g + 2000));
    let asked = h.speaks().len();
    // Four keys (of eight), 213 ms apart, off the 20 ms grid.
    let first_key = h.now + Duration::from_millis(3);
    for (i, d) in ['4', '0', '7', '1'].into_iter().enumerate() {
        let at = first_key + Duration::from_millis(213 * i as u64);
        h.run_until(at);
        h.now = at;
        h.core.on_digit(d, at);
        h.drain();
    }
    let last_key = h.now;
    let due = last_key + Duration::from_millis(3000); // the flow's inter_digit_timeout_ms
    assert_eq!(h.core.dialog().poll_timeout(), Some(due));
    h.run_until(due + Duration::from_millis(100));
    let reprompts: Vec<Instant> = h.speaks()[asked..].iter().map(|(t, _)| *t).collect();
    assert_eq!(
        reprompts.first(),
        Some(&due),
        "the reply to the incomplete number comes at the timer's instant"
    );
}

#[test]
fn noise_without_words_does_not_stop_the_wait_for_input() {
    let g = greeting_ms();
    // A cough after the greeting that the recogniser turns into no words, then silence.
    let mut h = Harness::new(
        config(),
        &[
            Span::Silent(g + 500),
            Span::Speak(400),
            Span::Silent(12_000),
        ],
        &[""],
    );
    h.run_until(h.at(g + 10_000));
    assert_eq!(h.recognitions().len(), 1, "the noise was decoded");
    let asks = h.speaks();
    assert!(
        asks.iter().any(|(_, t)| t.contains("didn't hear anything")),
        "no reprompt after the noise: {asks:?}"
    );
}
