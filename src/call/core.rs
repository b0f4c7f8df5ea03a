//! `CallCore`: one call's pipeline as a sans-IO state machine, shared by `serve` (real
//! sockets, wall clock) and `replay` (virtual clock). Like str0m's `Rtc` and quinn-proto's
//! `Connection`: the shell feeds datagrams and results in through the `on_*` calls, calls
//! `handle_timeout(now)` when `poll_timeout()` is reached, and drains `poll_output()`
//! after each of these calls. The core reads no clock, draws no random number and
//! touches no global metric: time comes in as `now`, RTP seeds in `CoreConfig`, and the
//! shell publishes `stats()` and `turn_latencies()`.
//!
//! RTP in -> jitter buffer -> 8 kHz frames -> 16 kHz -> VAD -> endpointer -> (Recognize)
//! -> transcript -> dialog -> Say -> (Speak) -> 8 kHz audio -> pacer -> RTP out.
//! Recognition and synthesis run elsewhere (worker pools): the core asks for them with an
//! `Output` and gets their results back through `on_*` calls.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_asr::{
    AsrError, Expectation as EarExpectation, Speculation, SpeculativeOutcome, SpeechStream,
    StreamEvent, Utterance,
};
use ivr_dialog::Flow;
use ivr_dialog::{Action, Dialog, Event, Expect, HandoffContext, LookupResult, TransferResult};
use ivr_media::{
    Codec, Frame, FrameKind, Inbound, JitterBuffer, Pacer, RtpSender, RtpSession, RtpSessionConfig,
    StreamResampler,
};

use ivr_dialog::Speaker;
use ivr_tts::TtsError;

use super::{TranscriptLine, TurnLatency};

/// Caller frames quieter than this (mean |sample|, about -40 dBFS) never barge in: echo
/// and line noise must not cut the bot off.
const BARGE_IN_MIN_LEVEL: i32 = 300;

/// One 20 ms frame of 8 kHz audio.
pub type RecFrame = [i16; ivr_media::FRAME_SAMPLES];

/// How a call's media was negotiated, plus per-call settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub codec: Codec,
    pub telephone_event_pt: Option<u8>,
    pub remote_rtp: Option<SocketAddr>,
    pub jitter_min: Duration,
    pub jitter_max: Duration,
    /// Decode at the first pause and reuse the result when the caller stays silent.
    pub speculative: bool,
    /// The call is ended after this long whatever happens.
    pub max_call: Duration,
    /// TTS speaking rate at the start of the call.
    pub speed: f32,
    /// Wall-clock time of the call's start (since the Unix epoch), for the NTP timestamp
    /// of RTCP sender reports. The shell reads the clock; the core only adds `now - start`.
    pub start_wallclock: Duration,
    /// Random starting values of our RTP stream (RFC 3550 §5.1), drawn by the shell.
    pub rtp_seeds: RtpSeeds,
}

/// The random parts of an outgoing RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpSeeds {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
}

impl RtpSeeds {
    pub fn random() -> Self {
        Self {
            ssrc: ivr_media::random_u32(),
            sequence: ivr_media::random_u32() as u16,
            timestamp: ivr_media::random_u32(),
        }
    }
}

/// Counters of one call, read by the shell (which publishes them as metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Turns ended early because a speculative transcript was already a complete answer.
    pub early_endpoints: u64,
}

/// What the shell must do.
#[derive(Debug)]
pub enum Output {
    /// Send an RTP datagram.
    Transmit { to: SocketAddr, data: Vec<u8> },
    /// Send an RTCP compound packet (SR/RR + SDES), from the RTCP socket (RTP port + 1).
    TransmitRtcp { to: SocketAddr, data: Vec<u8> },
    /// Recognise this utterance (16 kHz mono); answer with `on_transcript(id, ..)`.
    Recognize {
        id: u64,
        audio: Arc<[f32]>,
        hints: Vec<String>,
    },
    /// Synthesize (or fetch from the prompt cache) 8 kHz speech; answer with `on_speech_audio`
    /// and `on_speech_done`.
    Speak {
        id: u64,
        text: String,
        cacheable: bool,
        speed: f32,
    },
    /// Stop synthesizing request `id` (barge-in).
    CancelSpeak { id: u64 },
    /// Run an integration; answer with `on_lookup`.
    Lookup {
        request: u64,
        integration: String,
        params: serde_json::Map<String, serde_json::Value>,
    },
    /// Hand the call to a human; answer with `on_transfer`.
    Transfer {
        target: String,
        reason: String,
        context: Box<HandoffContext>,
    },
    /// End the call (send BYE).
    Hangup,
    /// One line for the transcript file.
    Transcript(TranscriptLine),
}

/// A recognised utterance, as the core needs it.
#[derive(Debug, Clone)]
pub struct Heard {
    pub text: String,
    pub confidence: f32,
    pub words_per_sec: Option<f32>,
    /// The text's sentence embedding (for the flow's semantic stage), if computed.
    pub embedding: Option<Arc<[f32]>>,
}

#[derive(Debug)]
struct Speech {
    id: u64,
    text: String,
    barge_in: bool,
    cached: bool,
    synth_done: bool,
    /// When the first frame of it was sent.
    started: Option<Instant>,
    /// Samples handed to the pacer for it.
    queued: u64,
    /// Pacer's played-sample count when it started.
    played_at_start: u64,
}

#[derive(Debug)]
struct PendingSay {
    text: String,
    barge_in: bool,
    cacheable: bool,
}

#[derive(Debug)]
struct PendingUtterance {
    id: u64,
    start: Instant,
    end: Instant,
}

/// Per-turn timestamps, from the end of the caller's speech.
#[derive(Debug, Default)]
struct TurnClock {
    speech_end: Option<Instant>,
    latency: TurnLatency,
}

pub struct CallCore {
    cfg: CoreConfig,
    start: Instant,
    // Inbound media.
    rtp: RtpSession,
    jitter: JitterBuffer,
    up16: StreamResampler,
    /// VAD + endpointer + the current utterance's audio.
    ears: SpeechStream,
    speculation: Speculation<u64>,
    /// The speculative decode submitted and not answered yet (maybe stale). At most one
    /// per call: a digit string pauses after every digit, and a pile of stale decodes
    /// would delay the final one. It is not cancelled when speech resumes (a worker may
    /// already run it); the next pause may speculate again once it has come back.
    spec_in_flight: Option<u64>,
    /// The speculative decode that still matches the audio (until speech resumes).
    spec_valid: Option<u64>,
    /// Recognition results that arrived, by request id (speculative ones included).
    results: HashMap<u64, Result<Heard, AsrError>>,
    /// Utterances waiting for their transcript, in the order they were spoken: each is
    /// a turn, delivered to the dialog in order even if results arrive out of order.
    pending: VecDeque<PendingUtterance>,
    /// When the caller's current utterance started.
    speech_start: Option<Instant>,
    /// The caller spoke over a prompt that may not be interrupted: ignore that utterance.
    ignore_utterance: bool,
    last_frame_level: i32,
    // Dialog.
    dialog: Dialog,
    hints: Vec<String>,
    // Outbound.
    pacer: Pacer,
    sender: RtpSender,
    speech: Option<Speech>,
    says: VecDeque<PendingSay>,
    /// Transfer / hang-up, performed once queued speech has played.
    deferred: VecDeque<Action>,
    speed: f32,
    next_id: u64,
    turn: TurnClock,
    turns: Vec<TurnLatency>,
    turn_no: u32,
    out: VecDeque<Output>,
    ended: bool,
    /// The caller holds the call: send no RTP.
    on_hold: bool,
    /// A hang-up is queued behind the speech still playing.
    ending: bool,
    /// (caller, bot) frame pairs since the last `take_recorded`, for the stereo recorder.
    recorded: Vec<(RecFrame, RecFrame)>,
    speech_rate: Vec<f32>,
    stats: CoreStats,
}

impl CallCore {
    pub fn new(
        cfg: CoreConfig,
        flow: Arc<Flow>,
        ears: SpeechStream,
        today: ivr_dialog::Date,
        now: Instant,
    ) -> anyhow::Result<Self> {
        let seeds = cfg.rtp_seeds;
        let rtp = RtpSession::new(RtpSessionConfig {
            codec: cfg.codec,
            telephone_event_pt: cfg.telephone_event_pt,
            remote: cfg.remote_rtp,
            local_ssrc: seeds.ssrc,
        });
        let sender = RtpSender::new(
            cfg.codec,
            cfg.telephone_event_pt,
            seeds.ssrc,
            seeds.sequence,
            seeds.timestamp,
        );
        let mut core = Self {
            jitter: JitterBuffer::new(cfg.jitter_min, cfg.jitter_max),
            up16: StreamResampler::caller_8k_to_16k()?,
            ears,
            speculation: Speculation::new(),
            spec_in_flight: None,
            spec_valid: None,
            results: HashMap::new(),
            pending: VecDeque::new(),
            speech_start: None,
            ignore_utterance: false,
            last_frame_level: 0,
            dialog: Dialog::new(flow, today, now),
            hints: Vec::new(),
            pacer: Pacer::new(now),
            sender,
            speech: None,
            says: VecDeque::new(),
            deferred: VecDeque::new(),
            speed: cfg.speed,
            next_id: 1,
            turn: TurnClock::default(),
            turns: Vec::new(),
            turn_no: 0,
            out: VecDeque::new(),
            ended: false,
            on_hold: false,
            ending: false,
            recorded: Vec::new(),
            speech_rate: Vec::new(),
            stats: CoreStats::default(),
            rtp,
            start: now,
            cfg,
        };
        let actions = core.dialog.start(now);
        core.run_actions(actions, now);
        Ok(core)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timeout` must next be called: the earliest of the next 20 ms frame,
    /// the dialog's timers and the end of the maximum call duration.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.pacer.next_deadline();
        if let Some(t) = self.dialog.poll_timeout() {
            at = at.min(t);
        }
        if !self.ended {
            at = at.min(self.start + self.cfg.max_call);
        }
        at
    }

    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn dialog(&self) -> &Dialog {
        &self.dialog
    }

    pub fn turn_latencies(&self) -> &[TurnLatency] {
        &self.turns
    }

    pub fn rtp_stats(&self) -> serde_json::Value {
        serde_json::json!({
            "receive": self.rtp.stats(),
            "jitter_buffer": self.jitter.stats(),
            "send": self.pacer.stats(),
        })
    }

    /// Mean speaking rate of the caller (words/s) over the call.
    pub fn speech_rate(&self) -> Option<f32> {
        (!self.speech_rate.is_empty())
            .then(|| self.speech_rate.iter().sum::<f32>() / self.speech_rate.len() as f32)
    }

    /// Caller and bot frames played since the last call, time-aligned (for the recorder).
    pub fn take_recorded(&mut self) -> Vec<(RecFrame, RecFrame)> {
        std::mem::take(&mut self.recorded)
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn secs(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }

    // ---- inputs ----

    /// A datagram arrived on the call's RTP socket.
    pub fn on_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        match self.rtp.on_datagram(data, from, now) {
            Inbound::Audio(pkt) => self.jitter.push(pkt, now),
            Inbound::Dtmf(d) => self.on_digit(d.digit, now),
            Inbound::Ignored(reason) => tracing::trace!(?reason, "RTP datagram ignored"),
        }
    }

    /// A digit from SIP INFO or RFC 4733.
    pub fn on_digit(&mut self, digit: char, now: Instant) {
        // A key press is a turn too: the reply's latency counts from the last key.
        self.turn = TurnClock {
            speech_end: Some(now),
            latency: TurnLatency::default(),
        };
        if self.speech.as_ref().is_some_and(|s| s.barge_in) {
            self.barge_in(now);
        }
        self.dialog_event(Event::Digit(digit), now);
    }

    /// The recogniser finished request `id`.
    pub fn on_transcript(&mut self, id: u64, heard: Result<Heard, AsrError>, now: Instant) {
        if self.spec_in_flight == Some(id) {
            self.spec_in_flight = None;
        }
        let wanted = self.pending.iter().any(|p| p.id == id) || self.spec_valid == Some(id);
        // A speculative result while the caller pauses in a digit string: if the dialog
        // would already accept it (all digits there), a short silence ends the turn
        // instead of the long one that lets callers pause between digit groups. Not for
        // sentences: "I won't be home tomorrow, ... can you deliver another day?" would be
        // cut in two, the first half already matching an intent (replay fixture
        // reschedule.pcap).
        if self.spec_valid == Some(id)
            && self.ears.endpointer().expectation() == EarExpectation::Digits
            && self.ears.endpointer().in_utterance()
            && let Ok(h) = &heard
            && self
                .dialog
                .would_accept(&h.text, h.confidence, h.embedding.clone(), now)
        {
            tracing::debug!(text = %h.text, "speculative transcript is a complete answer");
            self.stats.early_endpoints += 1;
            self.ears.hint_complete();
        }
        if wanted {
            self.results.insert(id, heard);
            self.deliver_transcripts(now);
        }
    }

    /// Hand finished utterances to the dialog, oldest first.
    fn deliver_transcripts(&mut self, now: Instant) {
        while let Some(front) = self.pending.front() {
            let Some(heard) = self.results.remove(&front.id) else {
                break;
            };
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.caller_turn(p, heard, now);
        }
    }

    fn caller_turn(&mut self, p: PendingUtterance, heard: Result<Heard, AsrError>, now: Instant) {
        self.turn = TurnClock {
            speech_end: Some(p.end),
            latency: TurnLatency::default(),
        };
        self.turn.latency.asr_ms = Some(ms_between(p.end, now));
        let heard = match heard {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "recognition failed; treated as no match");
                Heard {
                    text: String::new(),
                    confidence: 0.0,
                    words_per_sec: None,
                    embedding: None,
                }
            }
        };
        if let Some(r) = heard.words_per_sec {
            self.speech_rate.push(r);
        }
        let text = heard.text.trim().to_string();
        if text.is_empty() {
            // Noise or a hallucination the recogniser dropped: not a turn. The dialog
            // stopped waiting for input when the VAD heard "speech" start; with nothing
            // playing, the wait starts again, or a caller who only coughed would never
            // be prompted again.
            self.turn = TurnClock::default();
            if self.speech.is_none() && self.says.is_empty() && !self.ended {
                self.dialog_event(Event::PromptFinished, now);
            }
            return;
        }
        self.out.push_back(Output::Transcript(TranscriptLine {
            speaker: Speaker::Caller,
            text: text.clone(),
            start: self.secs(p.start),
            end: self.secs(p.end),
            confidence: Some(heard.confidence),
            intent: None,
            interrupted: false,
        }));
        tracing::debug!(%text, confidence = heard.confidence, "caller said");
        self.dialog_event(
            Event::Speech {
                text,
                confidence: heard.confidence,
                embedding: heard.embedding,
            },
            now,
        );
        if let Some(end) = self.turn.speech_end {
            self.turn.latency.dialog_ms = Some(ms_between(end, now));
        }
    }

    /// Synthesized (or cached) 8 kHz audio for speech request `id`. It plays from the
    /// next 20 ms frame on, so `now` changes nothing yet; taken for the call order's sake.
    pub fn on_speech_audio(&mut self, id: u64, pcm: &[i16], cached: bool, _now: Instant) {
        if let Some(s) = self.speech.as_mut().filter(|s| s.id == id) {
            s.cached |= cached;
            s.queued += pcm.len() as u64;
            self.pacer.push(pcm);
        }
    }

    /// Speech request `id` has delivered all its audio (or failed): the prompt ends once
    /// what was queued has played.
    pub fn on_speech_done(&mut self, id: u64, result: Result<(), TtsError>, _now: Instant) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "speech synthesis failed");
        }
        if let Some(s) = self.speech.as_mut().filter(|s| s.id == id) {
            s.synth_done = true;
        }
    }

    pub fn on_lookup(&mut self, request: u64, result: LookupResult, now: Instant) {
        self.dialog_event(Event::LookupResult { request, result }, now);
    }

    pub fn on_transfer(&mut self, result: TransferResult, now: Instant) {
        self.dialog_event(Event::TransferResult(result), now);
    }

    /// The caller hung up (BYE) or the call was lost.
    pub fn on_remote_hangup(&mut self, now: Instant) {
        if !self.ended {
            self.dialog_event(Event::Hangup, now);
            self.ended = true;
        }
    }

    /// A datagram arrived on the call's RTCP socket (RTP port + 1).
    pub fn on_rtcp_datagram(&mut self, data: &[u8], now: Instant) {
        if let Err(e) = self.rtp.on_rtcp(data, now) {
            tracing::debug!(error = %e, "RTCP datagram ignored");
        }
    }

    /// A re-INVITE changed the media. `on_hold`: the caller put us on hold (we answered
    /// recvonly/inactive), so no RTP goes out until it takes us off hold (RFC 3264 §8.4);
    /// the 20 ms clock and RTCP go on.
    pub fn on_media_change(&mut self, remote: SocketAddr, on_hold: bool, _now: Instant) {
        self.rtp.relatch(Some(remote));
        if on_hold != self.on_hold {
            tracing::debug!(on_hold, "media direction changed");
        }
        self.on_hold = on_hold;
    }

    // ---- time ----

    /// Advance to `now`: play out the 20 ms frames due in both directions, fire the
    /// dialog's timers that are due, end the call at its maximum duration.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.ended && now.saturating_duration_since(self.start) >= self.cfg.max_call {
            tracing::info!("maximum call duration reached");
            self.out.push_back(Output::Hangup);
            self.ended = true;
        }
        while let Some(frame) = self.pacer.poll(now) {
            // One caller frame per bot frame: both directions run on the same 20 ms grid.
            let caller = self.jitter.pop_frame(now);
            self.caller_frame(&caller, now);
            self.recorded.push((caller.samples, frame.samples));
            if let Some(s) = self.speech.as_mut()
                && !frame.is_silence
                && s.started.is_none()
            {
                s.started = Some(now);
                if let Some(end) = self.turn.speech_end.take() {
                    self.turn.latency.first_audio_ms = Some(ms_between(end, now));
                    self.turn.latency.cached = s.cached;
                    self.finish_turn();
                }
            }
            if let Some(to) = self.rtp.remote().filter(|_| !self.on_hold) {
                let ts = self.sender.timestamp_of(&frame);
                let data = self.sender.packetize(&frame);
                self.rtp.on_sent(data.len(), ts, now);
                self.out.push_back(Output::Transmit { to, data });
            }
        }
        // RTCP on the next port up (RFC 3550 §11), a report about every 5 s: SR while we
        // send, with loss and jitter of what we receive; the peer's reports give the RTT.
        if let Some(to) = self.rtp.remote().and_then(rtcp_address) {
            let wall = self.cfg.start_wallclock + now.saturating_duration_since(self.start);
            let ntp = ivr_media::ntp_from_unix(wall);
            if let Some(data) = self.rtp.poll_rtcp(now, ntp, "ivr") {
                self.out.push_back(Output::TransmitRtcp { to, data });
            }
        }
        let actions = self.dialog.handle_timeout(now);
        if !actions.is_empty() {
            self.apply_dialog(actions, now);
        }
        self.check_speech_finished(now);
    }

    fn finish_turn(&mut self) {
        self.turn_no += 1;
        let mut l = std::mem::take(&mut self.turn.latency);
        l.turn = self.turn_no;
        self.turns.push(l);
    }

    fn caller_frame(&mut self, frame: &Frame, now: Instant) {
        self.last_frame_level = if frame.kind == FrameKind::Silence {
            0
        } else {
            frame.samples.iter().map(|s| (*s as i32).abs()).sum::<i32>()
                / frame.samples.len() as i32
        };
        let mut up = Vec::with_capacity(320);
        if let Err(e) = self.up16.process_i16(&frame.samples, &mut up) {
            tracing::warn!(error = %e, "resampler failed on a caller frame");
            return;
        }
        let events = match self.ears.push(&up, now) {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "VAD failed; frame skipped");
                return;
            }
        };
        for ev in events {
            self.on_ear_event(ev, now);
        }
    }

    fn on_ear_event(&mut self, ev: StreamEvent, now: Instant) {
        match ev {
            StreamEvent::SpeechStarted { at } => {
                self.speech_start = Some(at);
                let speaking = self.speech.is_some();
                let may_interrupt = self.speech.as_ref().is_none_or(|s| s.barge_in);
                self.ignore_utterance = !may_interrupt;
                if speaking && may_interrupt && self.last_frame_level >= BARGE_IN_MIN_LEVEL {
                    self.barge_in(now);
                }
                if may_interrupt {
                    self.dialog_event(Event::SpeechStarted, now);
                }
            }
            StreamEvent::Pause { utterance, .. } => {
                if self.cfg.speculative && !self.ignore_utterance && self.spec_in_flight.is_none() {
                    let id = self.recognize(&utterance);
                    self.speculation.started(&utterance, id);
                    self.spec_in_flight = Some(id);
                    self.spec_valid = Some(id);
                }
            }
            StreamEvent::SpeechResumed { .. } => {
                // Stale now; its answer will be dropped when it comes.
                self.speculation.resumed();
                self.spec_valid = None;
            }
            StreamEvent::UtteranceEnded {
                speech_end,
                utterance,
                ..
            } => {
                let start = self.speech_start.take().unwrap_or(speech_end);
                if std::mem::take(&mut self.ignore_utterance) {
                    // The caller talked over a prompt that may not be interrupted.
                    self.speculation.resumed();
                    if let Some(id) = self.spec_valid.take() {
                        self.results.remove(&id);
                    }
                    return;
                }
                let id = match self.speculation.ended(&utterance) {
                    SpeculativeOutcome::Reuse(id) => id,
                    SpeculativeOutcome::Redo => {
                        if let Some(old) = self.spec_valid {
                            self.results.remove(&old);
                        }
                        self.recognize(&utterance)
                    }
                };
                self.spec_valid = None;
                self.pending.push_back(PendingUtterance {
                    id,
                    start,
                    end: speech_end,
                });
                self.deliver_transcripts(now);
            }
        }
    }

    fn recognize(&mut self, utterance: &Utterance) -> u64 {
        let id = self.next_id();
        self.out.push_back(Output::Recognize {
            id,
            audio: utterance.audio.clone(),
            hints: self.hints.clone(),
        });
        id
    }

    fn barge_in(&mut self, now: Instant) {
        let Some(s) = self.speech.take() else { return };
        let played = self
            .pacer
            .played_samples()
            .saturating_sub(s.played_at_start);
        self.pacer.flush();
        self.says.clear();
        self.out.push_back(Output::CancelSpeak { id: s.id });
        let offset_ms = played * 1000 / ivr_media::SAMPLE_RATE as u64;
        tracing::debug!(offset_ms, "barge-in");
        let line = self.bot_line(s, now, true);
        self.out.push_back(Output::Transcript(line));
        self.dialog_event(Event::BargeIn { offset_ms }, now);
    }

    /// The transcript line of a prompt that ended (played out, or cut by barge-in).
    fn bot_line(&self, s: Speech, now: Instant, interrupted: bool) -> TranscriptLine {
        TranscriptLine {
            speaker: Speaker::Bot,
            text: s.text,
            start: s.started.map_or(self.secs(now), |t| self.secs(t)),
            end: self.secs(now),
            confidence: None,
            intent: None,
            interrupted,
        }
    }

    fn check_speech_finished(&mut self, now: Instant) {
        let finished = self
            .speech
            .as_ref()
            .is_some_and(|s| s.synth_done && self.pacer.queued_samples() == 0);
        if finished && let Some(s) = self.speech.take() {
            let line = self.bot_line(s, now, false);
            self.out.push_back(Output::Transcript(line));
            self.start_next_say(now);
        }
    }

    /// Start the next queued prompt; when none is left, tell the dialog and run what waited.
    fn start_next_say(&mut self, now: Instant) {
        if self.speech.is_some() {
            return;
        }
        if let Some(say) = self.says.pop_front() {
            let id = self.next_id();
            self.speech = Some(Speech {
                id,
                text: say.text.clone(),
                barge_in: say.barge_in,
                cached: false,
                synth_done: false,
                started: None,
                queued: 0,
                played_at_start: self.pacer.played_samples() + self.pacer.queued_samples() as u64,
            });
            self.out.push_back(Output::Speak {
                id,
                text: say.text,
                cacheable: say.cacheable,
                speed: self.speed,
            });
            return;
        }
        while let Some(a) = self.deferred.pop_front() {
            self.perform_now(a);
        }
        if !self.ended {
            self.dialog_event(Event::PromptFinished, now);
        }
    }

    // ---- dialog ----

    fn dialog_event(&mut self, ev: Event, now: Instant) {
        let actions = self.dialog.handle(ev, now);
        self.apply_dialog(actions, now);
    }

    /// Perform what the dialog decided (after an event or a timer).
    fn apply_dialog(&mut self, actions: Vec<Action>, now: Instant) {
        let hangs_up = actions.iter().any(|a| matches!(a, Action::Hangup { .. }));
        self.run_actions(actions, now);
        // A dialog can end without a hang-up of its own (after a successful blind
        // transfer the caller is the agent's now): end our leg once speech has played.
        if self.dialog.is_ended() && !hangs_up && !self.ended && !self.ending {
            self.ending = true;
            let outcome = self
                .dialog
                .summary()
                .outcome
                .unwrap_or(ivr_dialog::Outcome::Contained);
            if self.speech.is_none() && self.says.is_empty() {
                self.perform_now(Action::Hangup { outcome });
            } else {
                self.deferred.push_back(Action::Hangup { outcome });
            }
        }
    }

    fn run_actions(&mut self, actions: Vec<Action>, now: Instant) {
        let mut said = false;
        for a in actions {
            match a {
                Action::Say {
                    text,
                    barge_in,
                    cacheable,
                } => {
                    self.says.push_back(PendingSay {
                        text,
                        barge_in,
                        cacheable,
                    });
                    said = true;
                }
                Action::Listen(exp) => {
                    self.hints = exp.hints.clone();
                    self.ears.set_expectation(ear_expectation(&exp.expect));
                }
                Action::Lookup {
                    request,
                    integration,
                    params,
                } => self.out.push_back(Output::Lookup {
                    request,
                    integration,
                    params,
                }),
                Action::SetSpeakingRate { rate } => self.speed = rate,
                a @ (Action::Transfer { .. } | Action::Hangup { .. }) => {
                    if self.speech.is_none() && self.says.is_empty() {
                        self.perform_now(a);
                    } else {
                        self.deferred.push_back(a);
                    }
                }
            }
        }
        if said {
            self.start_next_say(now);
        }
    }

    fn perform_now(&mut self, a: Action) {
        match a {
            Action::Transfer {
                target,
                reason,
                context,
            } => self.out.push_back(Output::Transfer {
                target,
                reason,
                context: Box::new(context),
            }),
            Action::Hangup { .. } => {
                self.out.push_back(Output::Hangup);
                self.ended = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;

fn ms_between(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1000.0
}

/// What the dialog expects, in the endpointer's terms.
/// Where the peer listens for RTCP: its RTP port + 1 (`a=rtcp` is not read yet).
fn rtcp_address(rtp: SocketAddr) -> Option<SocketAddr> {
    rtp.port()
        .checked_add(1)
        .map(|port| SocketAddr::new(rtp.ip(), port))
}

fn ear_expectation(e: &Expect) -> EarExpectation {
    match e {
        Expect::YesNo => EarExpectation::YesNo,
        Expect::Digits { .. } => EarExpectation::Digits,
        Expect::Intent | Expect::Choice { .. } => EarExpectation::Default,
        Expect::Date | Expect::Time | Expect::Amount | Expect::FreeText => EarExpectation::FreeText,
    }
}
