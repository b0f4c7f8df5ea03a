//! A replayed call written as `serve` writes one: record, transcript, audio.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::shell::Shell;
use crate::call::core::CallCore;
use crate::call::live::fill_record;
use crate::records::{CallRecord, RecordStore, TranscriptWriter};

/// Writes the call like `serve`: a record in `DIR/calls.sqlite`, and in
/// `DIR/calls/ID/` the transcript, the stereo recording and the bot's audio.
pub(super) fn write_out(
    dir: &Path,
    core: &CallCore,
    shell: &Shell<'_>,
    fixture: &str,
    duration_s: f64,
    qa: &crate::qa::QaRules,
) -> Result<CallRecord> {
    let store = RecordStore::open(dir)?;
    let id = crate::records::new_call_id();
    let started = SystemTime::now();
    // The number the recording dialled, when its expectations say (as serve records it).
    let called = shell.called().unwrap_or("replay");
    let mut record = CallRecord::new(&id, &format!("replay-{id}"), fixture, called, started);
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
    ivr_media::write_wav_mono(
        &call_dir.join("bot.wav"),
        ivr_media::SAMPLE_RATE,
        &shell.bot_audio,
    )?;
    fill_record(&mut record, core);
    record.language = Some(shell.language);
    record.handoff_target = shell.handoff_target.clone();
    record.duration_s = duration_s;
    record.ended_at = Some(crate::records::rfc3339(
        started + Duration::from_secs_f64(duration_s),
    ));
    record.qa = Some(qa.inspect(&record, &shell.transcript));
    store.save(&record)?;
    Ok(record)
}
