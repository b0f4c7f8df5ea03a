//! The virtual-time shell around `CallCore`: the twin of `call::live`, whose clock is
//! `t0 + offset` and never sleeps; every recognition and synthesis runs to completion and
//! is delivered at the virtual instant it was asked for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ivr_dialog::{Backend, SqliteBackend};
use ivr_dialog::{LookupResult, TransferFailure, TransferResult};
use ivr_media::Codec;
use ivr_media::RtpPacket;

use super::expect::TransferAnswer;
use super::fixture::CallerMedia;
use super::output::write_out;
use super::report::{ReplayResult, build_result};
use crate::call::core::{CallCore, Output, RecFrame};
use crate::call::live::heard_from;
use crate::call::{Engines, SpeechSource, TranscriptLine, TurnLatency, core_config};

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
    /// The Request-URI user the caller dialled: picks the flow (and so the language) the
    /// way `serve` routes a call. None: the default flow.
    pub called: Option<String>,
}

/// Dialog state at some point, keyed by how many dialog turns existed then.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Snapshot {
    pub(super) dialog_turns: usize,
    pub(super) intent: Option<(String, f32)>,
    pub(super) slots: BTreeMap<String, String>,
    pub(super) node: String,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Cost {
    /// Attributed to the caller turn that starts at this dialog-turn index (or later).
    Asr(f64),
    /// Attributed to the turn holding the last dialog turn so far.
    Tts(f64),
}

pub(super) struct Shell<'a> {
    engines: &'a Engines,
    /// The replayed flow's language: its recogniser and voice.
    pub(super) language: ivr_dialog::Language,
    backend: Arc<dyn Backend>,
    opts: &'a ReplayOptions,
    pub(super) snapshots: Vec<Snapshot>,
    pub(super) costs: Vec<(usize, Cost)>,
    pub(super) latencies: Vec<(usize, TurnLatency)>,
    pub(super) transcript: Vec<TranscriptLine>,
    pub(super) bot_audio: Vec<i16>,
    pub(super) recorded: Vec<(RecFrame, RecFrame)>,
    pub(super) handoff_target: Option<String>,
    pub(super) ended_by: Option<String>,
    codec: Codec,
    /// Errors that must fail the replay (the pipeline itself broke).
    errors: Vec<String>,
}

impl Shell<'_> {
    /// The Request-URI user the replayed call dialled, if known.
    pub(super) fn called(&self) -> Option<&str> {
        self.opts.called.as_deref()
    }

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
                        let pcm: Vec<i16> =
                            audio.iter().map(|&x| ivr_media::f32_to_i16(x)).collect();
                        let path = dir.join(format!("utterance-{id}.wav"));
                        if let Err(e) = ivr_media::write_wav_mono(&path, 16000, &pcm) {
                            tracing::warn!(error = %e, "cannot write the utterance");
                        }
                    }
                    let hints = crate::call::asr_hints(&hints);
                    let t = Instant::now();
                    let heard = self
                        .engines
                        .asr
                        .submit_in(self.language.code(), audio, hints)
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
                    let t = Instant::now();
                    let audio =
                        match self
                            .engines
                            .speech_source(self.language, &text, cacheable, speed)
                        {
                            Ok(SpeechSource::Cached(pcm)) => Ok((pcm.to_vec(), true)),
                            Ok(SpeechSource::Live(s)) => {
                                let r = s.collect_blocking().map(|(pcm, _)| (pcm, false));
                                let ms = t.elapsed().as_secs_f64() * 1000.0;
                                self.costs.push((Self::dialog_turns(core), Cost::Tts(ms)));
                                r
                            }
                            Err(e) => Err(e),
                        };
                    match audio {
                        Ok((pcm, cached)) => {
                            core.on_speech_audio(id, &pcm, cached, now);
                            core.on_speech_done(id, Ok(()), now);
                        }
                        Err(e) => {
                            self.errors
                                .push(format!("synthesis of {text:?} failed: {e}"));
                            core.on_speech_done(id, Err(e), now);
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
    let flow = match &opts.called {
        Some(user) => engines.flows.for_user(user),
        None => &engines.flows.default,
    };
    let mut core = CallCore::new(cfg, flow.clone(), ears, opts.today, t0)?;
    let mut shell = Shell {
        engines,
        language: flow.language,
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
        result.record = Some(write_out(
            dir,
            &core,
            &shell,
            fixture_name,
            duration_s,
            &engines.qa,
        )?);
    }
    result.bot_audio = std::mem::take(&mut shell.bot_audio);
    result.transcript_lines = std::mem::take(&mut shell.transcript);
    Ok(result)
}
