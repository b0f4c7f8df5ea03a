//! The live shell around `CallCore`: one OS thread per call. Every 20 ms (absolute
//! deadlines from the pacer) it drains the RTP socket and every result channel, ticks
//! the core, and performs its outputs. Running the call on its own thread keeps VAD,
//! resampling and G.711 off the tokio workers that carry SIP and HTTP, and a panic in
//! one call cannot reach another (the thread boundary catches it).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use ivr_dialog::{LookupResult, TransferFailure, TransferResult};
use ivr_sip::{
    ActiveCall, AnsweredCall, CallEvent, EndReason, IncomingCall, SipHeader, TransferOutcome,
};
use ivr_tts::{CancelHandle, SynthStream, TtsEvent};
use std::sync::mpsc::{Receiver, Sender};

use super::core::{CallCore, Heard, Output};
use super::{Engines, MetricsPublisher, SpeechSource, core_config};
use crate::records::{CallRecord, Outcome, TranscriptWriter};

/// Results coming back to the call thread from other threads and tasks.
enum Back {
    Transcript(u64, Result<Heard, ivr_asr::AsrError>),
    Lookup(u64, LookupResult),
    Transfer(TransferResult),
}

/// Run one call to its end and write its record, whatever happens. Blocking: call it on
/// the call's own thread. A call that fails or panics is ended by dropping its SIP
/// handle: 480 before the answer, BYE after.
pub fn run(engines: Arc<Engines>, call: IncomingCall) {
    let started = SystemTime::now();
    let id = crate::records::new_call_id();
    let mut record = CallRecord::new(&id, &call.call_id, &call.from, &call.to, started);
    metrics::gauge!("ivr_active_calls").increment(1.0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_inner(&engines, call, &mut record)
    }));
    metrics::gauge!("ivr_active_calls").decrement(1.0);
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(call = %id, error = %format!("{e:#}"), "call failed");
            record.outcome = Outcome::Failed;
            record.error = Some(format!("{e:#}"));
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            tracing::error!(call = %id, panic = %msg, "call task panicked; call ended, others unaffected");
            record.outcome = Outcome::Failed;
            record.error = Some(format!("internal error: {msg}"));
        }
    }
    let ended = SystemTime::now();
    record.ended_at = Some(crate::records::rfc3339(ended));
    record.duration_s = ended
        .duration_since(started)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    metrics::counter!("ivr_calls_total", "outcome" => record.outcome.as_str()).increment(1);
    // The call's media is over: inspecting it here delays no caller.
    let card = crate::qa::inspect_stored(&engines.qa, &engines.records, &record);
    metrics::histogram!("ivr_qa_score").record(card.score as f64);
    record.qa = Some(card);
    if let Err(e) = engines.records.save(&record) {
        tracing::error!(call = %id, error = %format!("{e:#}"), "cannot save the call record");
    }
    tracing::info!(call = %id, outcome = record.outcome.as_str(), secs = format!("{:.1}", record.duration_s), "call ended");
}

fn hang_up(engines: &Engines, handle: &ActiveCall) {
    let h = handle.clone();
    let _ = engines.rt.block_on(async move { h.hangup().await });
}

fn bind_rtp(engines: &Engines) -> Result<UdpSocket> {
    let ip = engines.rtp_ip;
    let (lo, hi) = (
        engines.cfg.media.rtp_port_min,
        engines.cfg.media.rtp_port_max,
    );
    if lo == 0 || hi < lo {
        return UdpSocket::bind((ip, 0)).context("cannot bind an RTP socket");
    }
    // Start at a pseudo-random even port so concurrent calls don't race for the same one.
    let span = ((hi - lo) / 2).max(1) as u32;
    let first = ivr_media::random_u32() % span;
    for i in 0..span {
        let port = lo + (((first + i) % span) * 2) as u16;
        if let Ok(s) = UdpSocket::bind((ip, port)) {
            return Ok(s);
        }
    }
    Err(anyhow!(
        "no free RTP port in {lo}-{hi} (set [media] rtp_port_min/max)"
    ))
}

fn run_inner(engines: &Arc<Engines>, call: IncomingCall, record: &mut CallRecord) -> Result<()> {
    let socket = bind_rtp(engines)?;
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    // RTCP on the next port up; a call goes on without it if that port is taken.
    let rtcp_socket = local
        .port()
        .checked_add(1)
        .and_then(|port| UdpSocket::bind((local.ip(), port)).ok())
        .filter(|s| s.set_nonblocking(true).is_ok());
    if rtcp_socket.is_none() {
        tracing::warn!(%local, "RTCP port (RTP + 1) is taken: no RTCP on this call");
    }
    let to = call.to.clone();
    let AnsweredCall {
        call: handle,
        media,
        mut events,
    } = engines
        .rt
        .block_on(call.answer(local))
        .context("answering the call")?;
    record.answered_at = Some(crate::records::rfc3339(SystemTime::now()));
    let fault_user = &engines.cfg.server.fault_panic_user;
    if !fault_user.is_empty() && to == *fault_user {
        panic!("fault injection: [server] fault_panic_user = {fault_user:?}");
    }
    let codec = media.codec;
    tracing::info!(call = %record.id, %local, remote = %media.remote_rtp, ?codec, "call answered");

    let dir = engines.records.call_dir(&record.id)?;
    let transcript_path = dir.join("transcript.jsonl");
    let audio_path = dir.join("audio.wav");
    let mut transcript = TranscriptWriter::create(&transcript_path)?;
    record.transcript_path = Some(transcript_path.display().to_string());
    let mut recorder = match ivr_media::CallRecorder::create(&audio_path) {
        Ok(r) => {
            record.audio_path = Some(audio_path.display().to_string());
            Some(r)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the call audio; going on without it");
            None
        }
    };

    let now = Instant::now();
    let cfg = core_config(&engines.cfg, codec, media.dtmf_pt, Some(media.remote_rtp));
    let ears = engines.speech_stream()?;
    let flow = engines.flows.for_user(&to).clone();
    // The flow's language picks the recogniser and the voice for the whole call.
    let language = flow.language;
    record.language = Some(language);
    let mut core = CallCore::new(cfg, flow, ears, ivr_dialog::Date::today_utc(), now)?;

    let (back_tx, back_rx): (Sender<Back>, Receiver<Back>) = std::sync::mpsc::channel();
    let mut speech: HashMap<u64, (SynthStream, CancelHandle)> = HashMap::new();
    let mut tickets: HashMap<u64, ivr_asr::AsrTicket> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut remote_ended = false;
    let mut publisher = MetricsPublisher::default();
    loop {
        let deadline = core.poll_timeout();
        let wait = deadline.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        // Inbound RTP.
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => core.on_datagram(&buf[..n], from, now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => break, // ICMP from an earlier send
                Err(e) => return Err(e).context("RTP socket"),
            }
        }
        if let Some(rtcp) = &rtcp_socket {
            while let Ok((n, _)) = rtcp.recv_from(&mut buf) {
                core.on_rtcp_datagram(&buf[..n], now);
            }
        }
        // Signalling.
        while let Ok(ev) = events.try_recv() {
            match ev {
                CallEvent::Ended(reason) => {
                    tracing::debug!(?reason, "remote ended the call");
                    remote_ended = !matches!(reason, EndReason::LocalHangup);
                    core.on_remote_hangup(now);
                }
                CallEvent::Dtmf(d) => core.on_digit(d.digit, now),
                CallEvent::MediaChanged(m) => core.on_media_change(m.remote_rtp, m.on_hold(), now),
                CallEvent::Confirmed => {}
            }
        }
        // Results from the pools and from I/O threads.
        while let Ok(b) = back_rx.try_recv() {
            match b {
                Back::Transcript(id, r) => core.on_transcript(id, r, now),
                Back::Lookup(req, r) => core.on_lookup(req, r, now),
                Back::Transfer(r) => core.on_transfer(r, now),
            }
        }
        tickets.retain(|id, t| match t.try_take() {
            Some(r) => {
                core.on_transcript(*id, r.map(heard_from), now);
                false
            }
            None => true,
        });
        let mut done = Vec::new();
        for (id, (stream, _)) in speech.iter_mut() {
            while let Ok(ev) = stream.events.try_recv() {
                match ev {
                    TtsEvent::Audio(c) => core.on_speech_audio(*id, &c.pcm, false, now),
                    TtsEvent::Done(_) => {
                        core.on_speech_done(*id, Ok(()), now);
                        done.push(*id);
                    }
                    TtsEvent::Failed(e) => {
                        core.on_speech_done(*id, Err(ivr_tts::TtsError::Synthesis(e)), now);
                        done.push(*id);
                    }
                }
            }
        }
        for id in done {
            speech.remove(&id);
        }

        core.handle_timeout(now);
        publisher.publish(&core);
        let frames = core.take_recorded();
        if let Some(rec) = recorder.as_mut() {
            for (caller, bot) in &frames {
                if let Err(e) = rec.write_frame(caller, bot) {
                    tracing::warn!(error = %e, "call recording stopped");
                    recorder = None;
                    break;
                }
            }
        }

        while let Some(out) = core.poll_output() {
            match out {
                Output::Transmit { to, data } => {
                    if let Err(e) = socket.send_to(&data, to) {
                        tracing::debug!(error = %e, %to, "RTP send failed");
                    }
                }
                Output::TransmitRtcp { to, data } => {
                    if let Some(Err(e)) = rtcp_socket.as_ref().map(|s| s.send_to(&data, to)) {
                        tracing::debug!(error = %e, %to, "RTCP send failed");
                    }
                }
                Output::Recognize { id, audio, hints } => {
                    let hints = crate::call::asr_hints(&hints);
                    match engines.asr.submit_in(language.code(), audio, hints) {
                        Ok(t) => {
                            tickets.insert(id, t);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "recogniser refused an utterance");
                            let _ = back_tx.send(Back::Transcript(id, Err(e)));
                        }
                    }
                }
                Output::Speak {
                    id,
                    text,
                    cacheable,
                    speed,
                } => match engines.speech_source(language, &text, cacheable, speed) {
                    Ok(SpeechSource::Cached(pcm)) => {
                        core.on_speech_audio(id, &pcm, true, now);
                        core.on_speech_done(id, Ok(()), now);
                    }
                    Ok(SpeechSource::Live(s)) => {
                        let c = s.cancel.clone();
                        speech.insert(id, (s, c));
                    }
                    Err(e) => core.on_speech_done(id, Err(e), now),
                },
                Output::CancelSpeak { id } => {
                    if let Some((_, c)) = speech.remove(&id) {
                        c.cancel();
                    }
                }
                Output::Lookup {
                    request,
                    integration,
                    params,
                } => {
                    let backend = engines.backend.clone();
                    let tx = back_tx.clone();
                    std::thread::spawn(move || {
                        let r = backend.lookup(&integration, &params);
                        let _ = tx.send(Back::Lookup(request, r));
                    });
                }
                Output::Transfer {
                    target,
                    reason,
                    context,
                } => {
                    record.handoff_reason = Some(reason.clone());
                    record.handoff_target = Some(target.clone());
                    let uri = engines.transfer_uri(&target);
                    let headers = vec![
                        SipHeader::new("X-IVR-Call-Id", record.id.clone()),
                        SipHeader::new("X-IVR-Reason", reason.clone()),
                        SipHeader::new("X-IVR-Intent", context.intent.clone().unwrap_or_default()),
                    ];
                    let h = handle.clone();
                    let tx = back_tx.clone();
                    engines.rt.spawn(async move {
                        let r = match h.transfer(&uri, headers).await {
                            Ok(TransferOutcome::Succeeded(_)) => TransferResult::Ok,
                            Ok(TransferOutcome::Failed(486 | 600)) => {
                                TransferResult::Failed(TransferFailure::Busy)
                            }
                            Ok(TransferOutcome::Failed(408 | 480))
                            | Ok(TransferOutcome::NoFinalNotify) => {
                                TransferResult::Failed(TransferFailure::NoAnswer)
                            }
                            Ok(_) | Err(_) => TransferResult::Failed(TransferFailure::Rejected),
                        };
                        let _ = tx.send(Back::Transfer(r));
                    });
                }
                Output::Hangup => {
                    if !remote_ended {
                        hang_up(engines, &handle);
                    }
                }
                Output::Transcript(line) => {
                    if let Err(e) = transcript.write(&line) {
                        tracing::warn!(error = %e, "transcript write failed");
                    }
                }
            }
        }
        if core.is_ended() {
            break;
        }
    }
    for (_, (_, c)) in speech {
        c.cancel();
    }
    if let Some(rec) = recorder.take()
        && let Err(e) = rec.finish()
    {
        tracing::warn!(error = %e, "finishing the call recording");
    }
    fill_record(record, &core);
    Ok(())
}

pub fn heard_from(t: ivr_asr::Transcript) -> Heard {
    metrics::histogram!("ivr_asr_queue_wait_seconds").record(t.queue_ms as f64 / 1000.0);
    Heard {
        text: t.text,
        confidence: t.confidence,
        words_per_sec: (t.words_per_second > 0.0).then_some(t.words_per_second),
        embedding: t.embedding,
    }
}

/// Copy what the core knows into the call record.
pub fn fill_record(record: &mut CallRecord, core: &CallCore) {
    let s = core.dialog().summary();
    // A dialog still going when the call ended: the caller left before being served.
    record.outcome = s.outcome.unwrap_or(Outcome::Abandoned);
    if record.handoff_reason.is_none() {
        record.handoff_reason = s.handoff_reason.clone();
    }
    record.intents = s.intents.iter().map(|i| i.intent.clone()).collect();
    record.faqs = s.faqs.iter().map(|f| f.faq.clone()).collect();
    record.nlu_misses = s.misses.clone();
    record.slots = serde_json::to_value(&s.slots).unwrap_or_default();
    record.sentiment = s.sentiment;
    record.turns = core.turn_latencies().to_vec();
    record.rtp = core.rtp_stats();
    record.speech_rate_wps = core.speech_rate();
    record.flow = Some(s.flow.clone());
    record.path = s.path.clone();
    record.ended_during = s.ended_during;
    record.csat = s.csat;
}
