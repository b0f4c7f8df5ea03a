//! Replay: a recorded caller (WAV, stereo call recording, or pcap) driven through the
//! live call pipeline (`CallCore`) in virtual time. The virtual-time twin of
//! `call::live`: same core, same engines, but the clock is `t0 + offset` and never
//! sleeps, every recognition and synthesis is run to completion and delivered at the
//! virtual instant it was asked for. Results therefore don't depend on machine speed;
//! the compute time is measured and reported on the side.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use ivr_dialog::engine::{LookupResult, Speaker, TransferFailure, TransferResult};
use ivr_dialog::integrations::{Backend, SqliteBackend};
use ivr_media::Codec;
use ivr_media::rtp::{RtpHeader, RtpPacket};
use serde::{Deserialize, Serialize};

use crate::call::core::{CallCore, Output};
use crate::call::live::{fill_record, heard_from};
use crate::call::{Engines, core_config};
use crate::records::{CallRecord, RecordStore, TranscriptLine, TranscriptWriter, TurnLatency};

/// Where the simulated caller's RTP comes from when the fixture doesn't say (WAV input).
const WAV_CALLER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000);
/// RTP payload type used for telephone-events when a WAV fixture has none.
const DEFAULT_EVENT_PT: u8 = 101;

/// One RTP datagram of the caller, at its offset from the start of the call.
#[derive(Debug, Clone)]
pub struct TimedDatagram {
    pub at: Duration,
    pub data: Vec<u8>,
}

/// The caller side of a call, ready to be fed to the core.
#[derive(Debug, Clone)]
pub struct CallerMedia {
    pub codec: Codec,
    pub telephone_event_pt: Option<u8>,
    pub from: SocketAddr,
    pub datagrams: Vec<TimedDatagram>,
    /// What the fixture was, for the report ("wav mono 16000 Hz", "pcap ssrc 0x1234").
    pub description: String,
}

impl CallerMedia {
    pub fn duration(&self) -> Duration {
        self.datagrams.last().map_or(Duration::ZERO, |d| d.at)
    }
}

/// Loads a fixture: `.wav` (mono, or stereo with the caller on the left) or
/// `.pcap`/`.pcapng` (the caller's RTP stream with its captured timing).
pub fn load_fixture(path: &Path, ssrc: Option<u32>) -> Result<CallerMedia> {
    if !path.is_file() {
        bail!(
            "fixture {} does not exist (or is not a file)",
            path.display()
        );
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "wav" => wav_fixture(path),
        "pcap" | "pcapng" | "cap" => pcap_fixture(path, ssrc),
        _ => bail!(
            "fixture {}: unknown type (want .wav, .pcap or .pcapng)",
            path.display()
        ),
    }
}

/// Caller audio of a WAV: mono as is, stereo's left channel (a call recording: caller
/// left, bot right), resampled to 8 kHz.
fn read_caller_wav(path: &Path) -> Result<(Vec<i16>, String)> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| anyhow!("fixture {}: not a readable WAV: {e}", path.display()))?;
    let spec = reader.spec();
    drop(reader);
    if spec.channels == 2 {
        // ivr_media::read_wav mixes stereo down; a call recording wants the left channel
        // only, so split it out here and hand it to the common resampler.
        let left = read_left_channel(path)?;
        let audio = ivr_media::WavAudio {
            sample_rate: spec.sample_rate,
            samples: left,
        };
        if !(8000..=48000).contains(&spec.sample_rate) {
            bail!(
                "fixture {}: sample rate {} Hz is outside 8-48 kHz",
                path.display(),
                spec.sample_rate
            );
        }
        let a = audio.resampled(ivr_media::SAMPLE_RATE)?;
        return Ok((
            a.samples,
            format!("wav stereo {} Hz (caller = left channel)", spec.sample_rate),
        ));
    }
    let audio = ivr_media::read_wav(path)?;
    let rate = audio.sample_rate;
    let a = audio.resampled(ivr_media::SAMPLE_RATE)?;
    Ok((a.samples, format!("wav mono {rate} Hz")))
}

fn read_left_channel(path: &Path) -> Result<Vec<i16>> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| anyhow!("fixture {}: not a readable WAV: {e}", path.display()))?;
    let spec = reader.spec();
    let err = |e: hound::Error| anyhow!("fixture {}: {e}", path.display());
    let all: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(ivr_media::resample::f32_to_i16))
            .collect::<Result<_, _>>()
            .map_err(err)?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let shift = bits as i32 - 16;
            reader
                .into_samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        let v = if shift >= 0 { v >> shift } else { v << -shift };
                        v.clamp(i16::MIN as i32, i16::MAX as i32) as i16
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(err)?
        }
        (f, b) => bail!(
            "fixture {}: unsupported sample format {f:?} {b}-bit",
            path.display()
        ),
    };
    Ok(all.chunks(2).map(|c| c[0]).collect())
}

fn wav_fixture(path: &Path) -> Result<CallerMedia> {
    let (pcm, description) = read_caller_wav(path)?;
    if pcm.is_empty() {
        bail!("fixture {}: the WAV has no audio", path.display());
    }
    let codec = Codec::Pcmu;
    let ssrc = 0x5EED_CA11;
    let mut datagrams = Vec::with_capacity(pcm.len() / ivr_media::FRAME_SAMPLES + 1);
    let mut payload = Vec::with_capacity(ivr_media::FRAME_SAMPLES);
    for (i, frame) in pcm.chunks(ivr_media::FRAME_SAMPLES).enumerate() {
        let mut f = [0i16; ivr_media::FRAME_SAMPLES];
        f[..frame.len()].copy_from_slice(frame);
        payload.clear();
        codec.encode(&f, &mut payload);
        let header = RtpHeader {
            marker: i == 0,
            payload_type: codec.payload_type(),
            sequence: i as u16,
            timestamp: (i * ivr_media::FRAME_SAMPLES) as u32,
            ssrc,
        };
        datagrams.push(TimedDatagram {
            at: ivr_media::FRAME_DURATION * i as u32,
            data: header.to_bytes(&payload),
        });
    }
    Ok(CallerMedia {
        codec,
        telephone_event_pt: Some(DEFAULT_EVENT_PT),
        from: WAV_CALLER,
        datagrams,
        description: format!("{description}, G.711 PCMU, 20 ms packets"),
    })
}

fn pcap_fixture(path: &Path, ssrc: Option<u32>) -> Result<CallerMedia> {
    let streams = ivr_media::pcap::read_rtp_streams(path)?;
    // Audio streams, and keypad-only ones (telephone-events without G.711).
    let audio: Vec<_> = streams
        .iter()
        .filter(|s| s.codec().is_some() || s.event_packets().next().is_some())
        .collect();
    if audio.is_empty() {
        bail!(
            "fixture {}: no G.711 or telephone-event RTP stream in the capture ({} RTP streams of other kinds)",
            path.display(),
            streams.len()
        );
    }
    // The caller's stream: the given SSRC, else the first one to appear (a capture made
    // at the caller's side, or of one direction only, starts with it).
    let stream = match ssrc {
        Some(x) => audio.iter().find(|s| s.ssrc == x).ok_or_else(|| {
            anyhow!(
                "fixture {}: no audio stream with SSRC {x:#x}",
                path.display()
            )
        })?,
        None => audio[0],
    };
    // A keypad-only stream has no audio codec of its own: PCMU is as good as any.
    let codec = stream.codec().unwrap_or(Codec::Pcmu);
    let event_pt = stream.event_packets().next().map(|p| p.payload_type);
    // Raw datagrams of that source and SSRC, in capture order, with capture times.
    let first = stream
        .packets
        .first()
        .map(|p| p.time)
        .unwrap_or(Duration::ZERO);
    let mut datagrams = Vec::new();
    for d in ivr_media::pcap::read_udp(path)? {
        if d.src != stream.src {
            continue;
        }
        let Ok(p) = RtpPacket::parse(&d.payload) else {
            continue;
        };
        if p.ssrc != stream.ssrc || d.time < first {
            continue;
        }
        datagrams.push(TimedDatagram {
            at: d.time - first,
            data: d.payload,
        });
    }
    datagrams.sort_by_key(|d| d.at);
    let others = audio.len() - 1;
    Ok(CallerMedia {
        codec,
        telephone_event_pt: event_pt.or(Some(DEFAULT_EVENT_PT)),
        from: stream.src,
        description: format!(
            "pcap stream ssrc {:#010x} from {} ({} packets, {:?}{}{})",
            stream.ssrc,
            stream.src,
            datagrams.len(),
            codec,
            event_pt.map_or(String::new(), |pt| format!(", telephone-event pt {pt}")),
            if others > 0 {
                format!("; {others} other audio stream(s) ignored")
            } else {
                String::new()
            }
        ),
        datagrams,
    })
}

// ---------------------------------------------------------------------------------
// Expectations

/// How the simulated agent answers a transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferAnswer {
    #[default]
    Ok,
    Busy,
    NoAnswer,
    Rejected,
}

/// An expectation file (TOML) for one fixture.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// What the call is about (shown in reports).
    #[serde(default)]
    pub description: String,
    /// The call's date (YYYY-MM-DD) for relative dates like "tomorrow".
    pub date: Option<String>,
    /// How the simulated agent answers a transfer.
    #[serde(default)]
    pub transfer: TransferAnswer,
    /// Seconds of virtual time the call may go on after the fixture's audio ends.
    pub tail_s: Option<f64>,
    /// Final outcome: contained, transferred, abandoned, failed.
    pub outcome: Option<String>,
    /// Transfer target (skill group) when the call is handed over.
    pub handoff_target: Option<String>,
    /// Substring of the handoff reason.
    pub handoff_reason: Option<String>,
    /// Final slots (subset: only these are checked).
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    /// Intents that must have been recognised during the call.
    #[serde(default)]
    pub intents: Vec<String>,
    /// Exact number of caller turns (greeting not counted).
    pub turns: Option<usize>,
    /// Default word error rate limit for `transcript`.
    pub max_wer: Option<f64>,
    /// Per caller turn, in order.
    #[serde(default, rename = "turn")]
    pub turn: Vec<TurnExpect>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnExpect {
    /// Input kind: speech, dtmf, no_input.
    pub input: Option<String>,
    /// What the caller said; matched by word error rate after normalisation.
    pub transcript: Option<String>,
    pub max_wer: Option<f64>,
    /// Substrings that must appear in the normalised transcript.
    #[serde(default)]
    pub transcript_contains: Vec<String>,
    /// Intent after the turn ("none" = no intent yet).
    pub intent: Option<String>,
    /// Slots after the turn (subset).
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    /// Dialog node after the turn.
    pub node: Option<String>,
    /// Substrings of what the bot said in reply (normalised).
    #[serde(default)]
    pub say_contains: Vec<String>,
    /// Substrings the reply must not contain.
    #[serde(default)]
    pub say_not_contains: Vec<String>,
    /// The caller cut the bot's previous prompt short (barge-in).
    pub barged_in: Option<bool>,
}

impl Expectations {
    pub fn load(path: &Path) -> Result<Self> {
        let src = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read expectations {}", path.display()))?;
        toml::from_str(&src).map_err(|e| anyhow!("expectations {}: {e}", path.display()))
    }

    pub fn today(&self) -> Result<ivr_dialog::Date> {
        match &self.date {
            Some(d) => ivr_dialog::Date::parse_iso(d)
                .ok_or_else(|| anyhow!("expectations: date {d:?}: want YYYY-MM-DD")),
            None => Ok(ivr_dialog::Date::today_utc()),
        }
    }
}

/// The expectation file beside a fixture (same name, `.toml`), if any.
pub fn expectations_beside(fixture: &Path) -> Option<PathBuf> {
    let p = fixture.with_extension("toml");
    p.is_file().then_some(p)
}

/// Word error rate of `hyp` against `reference`, both normalised for matching.
pub fn word_error_rate(reference: &str, hyp: &str) -> f64 {
    let r: Vec<String> = ivr_dialog::normalize::for_matching(reference)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let h: Vec<String> = ivr_dialog::normalize::for_matching(hyp)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    ivr_dialog::normalize::word_errors(&r, &h) as f64 / r.len() as f64
}

fn norm(s: &str) -> String {
    ivr_dialog::normalize::for_matching(s)
}

/// Checks a replayed call against its expectations; one line per failure.
pub fn check(result: &ReplayResult, exp: &Expectations) -> Vec<String> {
    let mut fails = Vec::new();
    let s = &result.summary;
    if let Some(o) = &exp.outcome
        && o != &s.outcome
    {
        fails.push(format!("outcome: expected {o}, got {}", s.outcome));
    }
    if let Some(t) = &exp.handoff_target
        && s.handoff_target.as_deref() != Some(t.as_str())
    {
        fails.push(format!(
            "handoff target: expected {t}, got {}",
            s.handoff_target.as_deref().unwrap_or("none")
        ));
    }
    if let Some(r) = &exp.handoff_reason
        && !s
            .handoff_reason
            .as_deref()
            .is_some_and(|x| x.contains(r.as_str()))
    {
        fails.push(format!(
            "handoff reason: expected it to contain {r:?}, got {:?}",
            s.handoff_reason.as_deref().unwrap_or("none")
        ));
    }
    check_slots("final slots", &exp.slots, &s.slots, &mut fails);
    for i in &exp.intents {
        if !s.intents.contains(i) {
            fails.push(format!("intents: expected {i} among {:?}", s.intents));
        }
    }
    let caller_turns: Vec<&TurnReport> = result.turns.iter().filter(|t| t.turn > 0).collect();
    if let Some(n) = exp.turns
        && n != caller_turns.len()
    {
        fails.push(format!(
            "turns: expected {n} caller turns, got {} ({})",
            caller_turns.len(),
            caller_turns
                .iter()
                .map(|t| format!("{:?}", t.transcript))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let default_wer = exp.max_wer.unwrap_or(0.5);
    for (i, te) in exp.turn.iter().enumerate() {
        let n = i + 1;
        let Some(t) = caller_turns.get(i) else {
            fails.push(format!(
                "turn {n}: expected a caller turn{}, but the call had only {} caller turns",
                te.transcript
                    .as_deref()
                    .map_or(String::new(), |x| format!(" ({x:?})")),
                caller_turns.len()
            ));
            continue;
        };
        let ctx = format!("turn {n} (heard {:?})", t.transcript);
        if let Some(k) = &te.input
            && k != &t.input
        {
            fails.push(format!("{ctx}: input: expected {k}, got {}", t.input));
        }
        if let Some(x) = &te.transcript {
            let wer = word_error_rate(x, &t.transcript);
            let max = te.max_wer.unwrap_or(default_wer);
            if wer > max {
                fails.push(format!(
                    "{ctx}: transcript: expected ~{x:?} (WER {wer:.2} > {max:.2})"
                ));
            }
        }
        for c in &te.transcript_contains {
            if !norm(&t.transcript).contains(&norm(c)) {
                fails.push(format!("{ctx}: transcript: expected it to contain {c:?}"));
            }
        }
        if let Some(x) = &te.intent {
            let got = t.intent.as_deref().unwrap_or("none");
            if x != got {
                fails.push(format!("{ctx}: intent: expected {x}, got {got}"));
            }
        }
        check_slots(&format!("{ctx}: slots"), &te.slots, &t.slots, &mut fails);
        if let Some(x) = &te.node
            && x != &t.node
        {
            fails.push(format!("{ctx}: node: expected {x}, got {}", t.node));
        }
        let said = norm(&t.say.join(" "));
        for c in &te.say_contains {
            if !said.contains(&norm(c)) {
                fails.push(format!(
                    "{ctx}: bot reply: expected it to contain {c:?}, bot said {:?}",
                    t.say.join(" ")
                ));
            }
        }
        for c in &te.say_not_contains {
            if said.contains(&norm(c)) {
                fails.push(format!(
                    "{ctx}: bot reply: expected it NOT to contain {c:?}, bot said {:?}",
                    t.say.join(" ")
                ));
            }
        }
        if let Some(b) = te.barged_in
            && b != t.barged_in
        {
            fails.push(format!(
                "{ctx}: barged_in: expected {b}, got {}",
                t.barged_in
            ));
        }
    }
    fails
}

fn check_slots(
    what: &str,
    want: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
    fails: &mut Vec<String>,
) {
    for (k, v) in want {
        match got.get(k) {
            Some(g) if g == v => {}
            Some(g) => fails.push(format!("{what}: {k}: expected {v:?}, got {g:?}")),
            None => fails.push(format!("{what}: {k}: expected {v:?}, but it is not set")),
        }
    }
}

// ---------------------------------------------------------------------------------
// Results

/// One turn: the caller's input and the bot's answer. Turn 0 is the greeting.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub turn: usize,
    /// Virtual time of the caller's input (seconds from the answer).
    pub at_s: f64,
    /// start, speech, dtmf, no_input.
    pub input: String,
    /// What the caller said (ASR), the keys pressed (`#123`), or "" (no input, start).
    pub transcript: String,
    /// The dialog's current intent after the turn.
    pub intent: Option<String>,
    pub intent_confidence: Option<f32>,
    pub slots: BTreeMap<String, String>,
    pub node: String,
    /// What the bot said in reply, prompt by prompt.
    pub say: Vec<String>,
    /// The caller's input cut the bot's previous prompt short.
    pub barged_in: bool,
    /// A prompt of this turn was cut short by the caller.
    pub interrupted: bool,
    /// Measured compute: recognitions (speculative ones included) and live synthesis.
    pub asr_ms: f64,
    pub asr_runs: u32,
    pub tts_ms: f64,
    pub compute_ms: f64,
    /// Virtual time from the end of the caller's speech to the first bot audio frame.
    pub response_ms: Option<f64>,
    /// The reply's first prompt came from the prompt cache.
    pub cached: Option<bool>,
}

/// The call as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummaryReport {
    pub outcome: String,
    pub slots: BTreeMap<String, String>,
    pub intents: Vec<String>,
    pub handoff_target: Option<String>,
    pub handoff_reason: Option<String>,
    pub sentiment: f32,
    /// Virtual length of the call (seconds).
    pub duration_s: f64,
    /// How it ended: bot hangup, transfer, caller hangup (fixture over), max duration.
    pub ended_by: String,
    pub caller_turns: usize,
    /// Over the caller turns that needed recognition or synthesis.
    pub compute_ms_p50: Option<f64>,
    pub compute_ms_p95: Option<f64>,
    pub response_ms_p50: Option<f64>,
    /// Wall time the replay took.
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayResult {
    pub fixture: String,
    pub input: String,
    pub turns: Vec<TurnReport>,
    pub summary: CallSummaryReport,
    #[serde(skip)]
    pub bot_audio: Vec<i16>,
    #[serde(skip)]
    pub transcript_lines: Vec<TranscriptLine>,
    #[serde(skip)]
    pub record: Option<CallRecord>,
}

/// Options for one replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub today: ivr_dialog::Date,
    pub transfer: TransferAnswer,
    /// Virtual time the call may go on after the caller's audio ends.
    pub tail: Duration,
    /// Write the call as `serve` would (records db, call dir with audio, transcript).
    pub out: Option<PathBuf>,
    /// Write every utterance sent to the recogniser (16 kHz WAV) into this directory.
    pub dump_utterances: Option<PathBuf>,
}

/// Percentile (nearest rank) of unsorted values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

// ---------------------------------------------------------------------------------
// The virtual-time shell

/// Dialog state at some point, keyed by how many dialog turns existed then.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    dialog_turns: usize,
    intent: Option<(String, f32)>,
    slots: BTreeMap<String, String>,
    node: String,
}

#[derive(Debug, Clone, Copy)]
enum Cost {
    /// Attributed to the caller turn that starts at this dialog-turn index (or later).
    Asr(f64),
    /// Attributed to the turn holding the last dialog turn so far.
    Tts(f64),
}

struct Shell<'a> {
    engines: &'a Engines,
    backend: Arc<dyn Backend>,
    opts: &'a ReplayOptions,
    snapshots: Vec<Snapshot>,
    costs: Vec<(usize, Cost)>,
    latencies: Vec<(usize, TurnLatency)>,
    transcript: Vec<TranscriptLine>,
    bot_audio: Vec<i16>,
    recorded: Vec<(crate::call::core::RecFrame, crate::call::core::RecFrame)>,
    handoff_target: Option<String>,
    ended_by: Option<String>,
    codec: Codec,
    /// Errors that must fail the replay (the pipeline itself broke).
    errors: Vec<String>,
}

impl Shell<'_> {
    fn dialog_turns(core: &CallCore) -> usize {
        core.dialog().summary().turns.len()
    }

    fn snapshot(&mut self, core: &CallCore) {
        let d = core.dialog();
        let turns_now = Self::dialog_turns(core);
        let snap = Snapshot {
            dialog_turns: turns_now,
            intent: d.current_intent().map(|(i, c)| (i.to_string(), c)),
            slots: d.slots().clone(),
            node: d.current_node().to_string(),
        };
        if self.snapshots.last() != Some(&snap) {
            self.snapshots.push(snap);
        }
        let n = core.turn_latencies().len();
        let have = self.latencies.len();
        for l in &core.turn_latencies()[have.min(n)..] {
            self.latencies.push((turns_now, l.clone()));
        }
    }

    /// Performs every pending output, feeding results back at the same virtual instant.
    fn drain(&mut self, core: &mut CallCore, now: Instant) {
        let frames = core.take_recorded();
        self.recorded.extend(frames);
        while let Some(out) = core.poll_output() {
            match out {
                Output::Transmit { data, .. } => match RtpPacket::parse(&data) {
                    Ok(p) => self.codec.decode(p.payload, &mut self.bot_audio),
                    Err(e) => self
                        .errors
                        .push(format!("the core sent a bad RTP packet: {e}")),
                },
                Output::Recognize { id, audio, hints } => {
                    tracing::debug!(
                        id,
                        audio_s = audio.len() as f64 / 16000.0,
                        ?hints,
                        "recognize"
                    );
                    if let Some(dir) = &self.opts.dump_utterances {
                        // What the recogniser got, to try it with `ivr transcribe`.
                        let pcm: Vec<i16> = audio
                            .iter()
                            .map(|&x| ivr_media::resample::f32_to_i16(x))
                            .collect();
                        let path = dir.join(format!("utterance-{id}.wav"));
                        if let Err(e) = ivr_media::wav::write_wav_mono(&path, 16000, &pcm) {
                            tracing::warn!(error = %e, "cannot write the utterance");
                        }
                    }
                    let hints = crate::call::asr_hints(&hints);
                    let t = Instant::now();
                    let heard = self
                        .engines
                        .asr
                        .submit(audio, hints)
                        .and_then(|ticket| ticket.blocking_wait())
                        .map(heard_from);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if let Err(e) = &heard {
                        self.errors.push(format!("recognition failed: {e}"));
                    }
                    self.costs.push((Self::dialog_turns(core), Cost::Asr(ms)));
                    core.on_transcript(id, heard, now);
                }
                Output::Speak {
                    id,
                    text,
                    cacheable,
                    speed,
                } => {
                    let cached = self.engines.cached_prompt(&text, cacheable, speed);
                    if let Some(pcm) = cached {
                        core.on_speech_audio(id, &pcm, true, now);
                        core.on_speech_done(id, Ok(()), now);
                    } else {
                        let t = Instant::now();
                        let opts = ivr_tts::SynthOptions {
                            speed: Some(speed),
                            sample_rate: ivr_media::SAMPLE_RATE,
                        };
                        let r = self
                            .engines
                            .tts
                            .synthesize(&text, opts)
                            .and_then(|s| s.collect_blocking());
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        self.costs.push((Self::dialog_turns(core), Cost::Tts(ms)));
                        match r {
                            Ok((pcm, _)) => {
                                core.on_speech_audio(id, &pcm, false, now);
                                core.on_speech_done(id, Ok(()), now);
                            }
                            Err(e) => {
                                self.errors
                                    .push(format!("synthesis of {text:?} failed: {e}"));
                                core.on_speech_done(id, Err(e), now);
                            }
                        }
                    }
                }
                Output::CancelSpeak { .. } => {} // delivered whole already; the core flushed it
                Output::TransmitRtcp { .. } => {} // no peer to report to in a replay
                Output::Lookup {
                    request,
                    integration,
                    params,
                } => {
                    let r = self.backend.lookup(&integration, &params);
                    if let LookupResult::Error(e) = &r {
                        tracing::info!(%integration, error = %e, "lookup failed");
                    }
                    core.on_lookup(request, r, now);
                }
                Output::Transfer { target, .. } => {
                    self.handoff_target = Some(target);
                    let r = match self.opts.transfer {
                        TransferAnswer::Ok => TransferResult::Ok,
                        TransferAnswer::Busy => TransferResult::Failed(TransferFailure::Busy),
                        TransferAnswer::NoAnswer => {
                            TransferResult::Failed(TransferFailure::NoAnswer)
                        }
                        TransferAnswer::Rejected => {
                            TransferResult::Failed(TransferFailure::Rejected)
                        }
                    };
                    core.on_transfer(r, now);
                    if r == TransferResult::Ok {
                        // A completed transfer takes the call away from the bot (the
                        // SIP side ends our leg), as in `serve`.
                        self.ended_by.get_or_insert_with(|| "transfer".into());
                        core.on_remote_hangup(now);
                    }
                }
                Output::Hangup => {
                    self.ended_by.get_or_insert_with(|| "bot hangup".into());
                }
                Output::Transcript(line) => self.transcript.push(line),
            }
            self.snapshot(core);
        }
        self.snapshot(core);
    }
}

/// Replays one call. Blocking (runs recognitions and synthesis to completion).
pub fn replay(
    engines: &Engines,
    media: &CallerMedia,
    fixture_name: &str,
    opts: &ReplayOptions,
) -> Result<ReplayResult> {
    let wall = Instant::now();
    let backend: Arc<dyn Backend> =
        Arc::new(SqliteBackend::in_memory().context("creating the in-memory demo database")?);
    let cfg = core_config(
        &engines.cfg,
        media.codec,
        media.telephone_event_pt,
        Some(media.from),
    );
    let max_call = cfg.max_call;
    let ears = engines.speech_stream()?;
    let t0 = Instant::now();
    let mut core = CallCore::new(cfg, engines.flow.clone(), ears, opts.today, t0)?;
    let mut shell = Shell {
        engines,
        backend,
        opts,
        snapshots: Vec::new(),
        costs: Vec::new(),
        latencies: Vec::new(),
        transcript: Vec::new(),
        bot_audio: Vec::new(),
        recorded: Vec::new(),
        handoff_target: None,
        ended_by: None,
        codec: media.codec,
        errors: Vec::new(),
    };
    shell.snapshot(&core);
    shell.drain(&mut core, t0);

    let input_end = t0 + media.duration();
    let give_up = input_end + opts.tail;
    let hard_stop = t0 + max_call + Duration::from_secs(1);
    let mut next = 0usize;
    let mut now = t0;
    while !core.is_ended() {
        let tick_at = core.poll_timeout().max(now);
        let pkt_at = media.datagrams.get(next).map(|d| t0 + d.at);
        let at = pkt_at.map_or(tick_at, |p| p.min(tick_at));
        if at > give_up || at > hard_stop {
            // The fixture is over and the call is still going: the caller hangs up.
            now = at.min(give_up).max(now);
            shell
                .ended_by
                .get_or_insert_with(|| "caller hangup (fixture over)".into());
            core.on_remote_hangup(now);
            shell.drain(&mut core, now);
            break;
        }
        now = at;
        if pkt_at.is_some_and(|p| p <= tick_at) {
            // Every packet due at this instant, then the outputs they caused.
            while let Some(d) = media.datagrams.get(next).filter(|d| t0 + d.at <= now) {
                core.on_datagram(&d.data, media.from, now);
                next += 1;
            }
        } else {
            core.handle_timeout(now);
        }
        shell.drain(&mut core, now);
    }
    if shell.ended_by.is_none() {
        shell.ended_by = Some(if now.saturating_duration_since(t0) >= max_call {
            "maximum call duration".into()
        } else {
            "call ended".into()
        });
    }
    if let Some(e) = shell.errors.first() {
        bail!("{fixture_name}: the pipeline failed: {e}");
    }
    let duration_s = now.saturating_duration_since(t0).as_secs_f64();
    let mut result = build_result(&core, &shell, fixture_name, media, duration_s);
    result.summary.wall_s = wall.elapsed().as_secs_f64();
    if let Some(dir) = &opts.out {
        result.record = Some(write_out(dir, &core, &shell, fixture_name, duration_s)?);
    }
    result.bot_audio = std::mem::take(&mut shell.bot_audio);
    result.transcript_lines = std::mem::take(&mut shell.transcript);
    Ok(result)
}

/// Splits the dialog's turn log into caller turns and fills each with the state,
/// compute and latency observed while it was current.
fn build_result(
    core: &CallCore,
    shell: &Shell<'_>,
    fixture: &str,
    media: &CallerMedia,
    duration_s: f64,
) -> ReplayResult {
    let summary = core.dialog().summary();
    let dturns = &summary.turns;
    // Replay turn k covers dialog turns [starts[k], starts[k+1]): a caller input (keys
    // pressed one after the other count as one) and everything the bot said after it.
    let mut starts = vec![0usize];
    let mut bot_since = true;
    for (i, t) in dturns.iter().enumerate() {
        match t.speaker {
            Speaker::Bot => bot_since = true,
            Speaker::Caller => {
                if bot_since {
                    starts.push(i);
                }
                bot_since = false;
            }
        }
    }
    starts.dedup();
    let turn_of = |dialog_index: usize| -> usize {
        starts.iter().rposition(|&s| s <= dialog_index).unwrap_or(0)
    };
    let mut turns = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(dturns.len());
        let slice = &dturns[start.min(end)..end];
        let mut input = if k == 0 { "start" } else { "speech" }.to_string();
        let mut words = Vec::new();
        let mut digits = String::new();
        let mut keyed = Vec::new();
        let mut say = Vec::new();
        let mut interrupted = false;
        for t in slice {
            match t.speaker {
                Speaker::Caller => {
                    if let Some(inner) = t
                        .text
                        .strip_prefix("[dtmf ")
                        .and_then(|x| x.strip_suffix(']'))
                    {
                        input = "dtmf".into();
                        if inner.len() == 1 {
                            digits.push_str(inner);
                        } else {
                            keyed.push(format!("({inner})"));
                        }
                    } else if t.text == "[no input]" {
                        input = "no_input".into();
                    } else {
                        words.push(t.text.clone());
                    }
                }
                Speaker::Bot => {
                    interrupted |= t.interrupted_at_ms.is_some();
                    say.push(t.text.clone());
                }
            }
        }
        let mut transcript = words.join(" ");
        if !digits.is_empty() || !keyed.is_empty() {
            let keys = std::iter::once(format!("#{digits}"))
                .filter(|s| s.len() > 1)
                .chain(keyed)
                .collect::<Vec<_>>()
                .join(" ");
            transcript = if transcript.is_empty() {
                keys
            } else {
                format!("{transcript} {keys}")
            };
        }
        // State when the turn ended: the last snapshot taken before the next caller
        // input was logged.
        let state = shell
            .snapshots
            .iter()
            .rev()
            .find(|s| s.dialog_turns <= end)
            .or(shell.snapshots.first());
        let (mut asr_ms, mut asr_runs, mut tts_ms) = (0.0, 0u32, 0.0);
        for (at, c) in &shell.costs {
            match c {
                // A recognition ran just before the caller turn it produced was logged.
                Cost::Asr(ms) if turn_of(*at) == k => {
                    asr_ms += ms;
                    asr_runs += 1;
                }
                // A synthesis ran just after the bot turn it speaks was logged.
                Cost::Tts(ms) if turn_of(at.saturating_sub(1)) == k => tts_ms += ms,
                _ => {}
            }
        }
        let lat = shell
            .latencies
            .iter()
            .find(|(at, _)| turn_of(at.saturating_sub(1)) == k && k > 0);
        let at_s = slice
            .iter()
            .find(|t| t.speaker == Speaker::Caller)
            .map_or(0.0, |t| t.offset_ms as f64 / 1000.0);
        let prev_interrupted = k > 0 && turns.last().is_some_and(|p: &TurnReport| p.interrupted);
        turns.push(TurnReport {
            turn: k,
            at_s,
            input,
            transcript,
            intent: state.and_then(|s| s.intent.as_ref().map(|i| i.0.clone())),
            intent_confidence: state.and_then(|s| s.intent.as_ref().map(|i| i.1)),
            slots: state.map(|s| s.slots.clone()).unwrap_or_default(),
            node: state.map(|s| s.node.clone()).unwrap_or_default(),
            say,
            barged_in: prev_interrupted,
            interrupted,
            asr_ms,
            asr_runs,
            tts_ms,
            compute_ms: asr_ms + tts_ms,
            response_ms: lat.and_then(|(_, l)| l.first_audio_ms),
            cached: lat.map(|(_, l)| l.cached),
        });
    }
    let compute: Vec<f64> = turns
        .iter()
        // Turns that needed no recognition or synthesis (no input, keys with a cached
        // reply) would only pull the percentiles down.
        .filter(|t| t.turn > 0 && t.compute_ms > 0.0)
        .map(|t| t.compute_ms)
        .collect();
    let response: Vec<f64> = turns.iter().filter_map(|t| t.response_ms).collect();
    let outcome = summary.outcome.map_or("abandoned", |o| o.as_str());
    let mut intents: Vec<String> = Vec::new();
    for i in &summary.intents {
        if !intents.contains(&i.intent) {
            intents.push(i.intent.clone());
        }
    }
    ReplayResult {
        fixture: fixture.to_string(),
        input: media.description.clone(),
        summary: CallSummaryReport {
            outcome: outcome.into(),
            slots: summary.slots.clone(),
            intents,
            handoff_target: shell.handoff_target.clone(),
            handoff_reason: summary.handoff_reason.clone(),
            sentiment: summary.sentiment,
            duration_s,
            ended_by: shell.ended_by.clone().unwrap_or_default(),
            caller_turns: turns.len().saturating_sub(1),
            compute_ms_p50: percentile(&compute, 50.0),
            compute_ms_p95: percentile(&compute, 95.0),
            response_ms_p50: percentile(&response, 50.0),
            wall_s: 0.0,
        },
        turns,
        bot_audio: Vec::new(),
        transcript_lines: Vec::new(),
        record: None,
    }
}

/// Writes the call like `serve`: a record in `DIR/calls.sqlite`, and in
/// `DIR/calls/ID/` the transcript, the stereo recording and the bot's audio.
fn write_out(
    dir: &Path,
    core: &CallCore,
    shell: &Shell<'_>,
    fixture: &str,
    duration_s: f64,
) -> Result<CallRecord> {
    let store = RecordStore::open(dir)?;
    let id = crate::records::new_call_id();
    let started = SystemTime::now();
    let mut record = CallRecord::new(&id, &format!("replay-{id}"), fixture, "replay", started);
    record.answered_at = Some(record.started_at.clone());
    let call_dir = store.call_dir(&id)?;
    let transcript_path = call_dir.join("transcript.jsonl");
    let mut tw = TranscriptWriter::create(&transcript_path)?;
    for l in &shell.transcript {
        tw.write(l)?;
    }
    record.transcript_path = Some(transcript_path.display().to_string());
    let audio_path = call_dir.join("audio.wav");
    let mut rec = ivr_media::CallRecorder::create(&audio_path)?;
    for (caller, bot) in &shell.recorded {
        rec.write_frame(caller, bot)?;
    }
    rec.finish()?;
    record.audio_path = Some(audio_path.display().to_string());
    ivr_media::wav::write_wav_mono(
        &call_dir.join("bot.wav"),
        ivr_media::SAMPLE_RATE,
        &shell.bot_audio,
    )?;
    fill_record(&mut record, core);
    record.handoff_target = shell.handoff_target.clone();
    record.duration_s = duration_s;
    record.ended_at = Some(crate::records::rfc3339(
        started + Duration::from_secs_f64(duration_s),
    ));
    store.save(&record)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate_after_normalisation() {
        assert_eq!(word_error_rate("one two three", "1 2 3"), 0.0);
        assert_eq!(word_error_rate("Yes, please.", "yes please"), 0.0);
        assert!((word_error_rate("track my parcel", "track my powerful") - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("", "noise"), 1.0);
        assert!(word_error_rate("goodbye", "hello there my friend") > 1.0);
    }

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 95.0), Some(4.0));
        assert_eq!(percentile(&[5.0], 0.0), Some(5.0));
    }

    #[test]
    fn expectation_files_reject_unknown_keys() {
        let ok: Expectations = toml::from_str(
            "outcome = \"contained\"\n[[turn]]\nintent = \"x\"\nsay_contains = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(ok.turn.len(), 1);
        assert!(toml::from_str::<Expectations>("outcome = \"x\"\ntypo = 1\n").is_err());
        assert!(toml::from_str::<Expectations>("[[turn]]\nintnet = \"x\"\n").is_err());
        let bad_date: Expectations = toml::from_str("date = \"tomorrow\"\n").unwrap();
        assert!(bad_date.today().is_err());
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-replay-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn wav_fixture_is_packetised_as_20ms_pcmu() {
        let d = temp("wav");
        let p = d.join("tone.wav");
        // 1 s of 16 kHz audio: resampled to 8 kHz, 50 packets of 160 samples.
        let pcm: Vec<i16> = (0..16000)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        ivr_media::wav::write_wav_mono(&p, 16000, &pcm).unwrap();
        let m = load_fixture(&p, None).unwrap();
        assert_eq!(m.codec, Codec::Pcmu);
        assert_eq!(m.datagrams.len(), 50);
        assert_eq!(m.datagrams[1].at, Duration::from_millis(20));
        let pkt = RtpPacket::parse(&m.datagrams[3].data).unwrap();
        assert_eq!(pkt.payload.len(), 160);
        assert_eq!(pkt.timestamp, 3 * 160);
        assert_eq!(pkt.payload_type, 0);
    }

    #[test]
    fn stereo_recording_uses_the_left_channel() {
        let d = temp("stereo");
        let p = d.join("call.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for _ in 0..800 {
            w.write_sample(1000i16).unwrap(); // caller
            w.write_sample(-20000i16).unwrap(); // bot
        }
        w.finalize().unwrap();
        let (left, desc) = read_caller_wav(&p).unwrap();
        assert!(desc.contains("left"), "{desc}");
        assert_eq!(left.len(), 800);
        assert!(left.iter().all(|&s| s == 1000));
    }
}
