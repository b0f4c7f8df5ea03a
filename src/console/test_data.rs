//! Call records for the console's tests, written through `RecordStore` like a real call:
//! transcript file first, then the stereo recording, then the record.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ivr_dialog::{Language, Pending, Speaker};

use super::auth::{ConsoleUser, Role, Users, hash_password};
use crate::records::{
    CallRecord, Outcome, RecordStore, TranscriptLine, TranscriptWriter, TurnLatency,
};

pub const ANALYST: (&str, &str) = ("ann", "analyst pass 1");
pub const SUPERVISOR: (&str, &str) = ("sam", "supervisor pass 2");
/// An analyst API client's bearer token.
pub const TOKEN: &str = "test-token-0123456789abcdefghijklmnopqrstuvwxyz";

/// The tracking number the first call gives; analysts must never see it whole.
pub const TRACKING: &str = "12345678";

pub fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ivr-console-{tag}-{}",
        crate::records::new_call_id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn users() -> Users {
    Users::new(vec![
        ConsoleUser {
            name: ANALYST.0.into(),
            password_hash: hash_password(ANALYST.1).unwrap(),
            role: Role::Analyst,
        },
        ConsoleUser {
            name: SUPERVISOR.0.into(),
            password_hash: hash_password(SUPERVISOR.1).unwrap(),
            role: Role::Supervisor,
        },
    ])
    .unwrap()
    .with_tokens(vec![super::auth::ConsoleToken::for_token(
        "bi-tool",
        TOKEN,
        Role::Analyst,
    )])
    .unwrap()
}

fn line(speaker: Speaker, text: &str, start: f64, interrupted: bool) -> TranscriptLine {
    TranscriptLine {
        speaker,
        text: text.into(),
        start,
        end: start + 1.5,
        confidence: (speaker == Speaker::Caller).then_some(0.9),
        intent: None,
        interrupted,
    }
}

struct Call<'a> {
    id: &'a str,
    ago: Duration,
    outcome: Outcome,
    reason: Option<&'a str>,
    intents: &'a [&'a str],
    latencies: &'a [f64],
    lines: Vec<TranscriptLine>,
    language: Language,
    path: &'a [&'a str],
    ended_during: Option<Pending>,
    sentiment: f32,
    misses: &'a [&'a str],
}

impl Default for Call<'_> {
    fn default() -> Self {
        Self {
            id: "",
            ago: Duration::ZERO,
            outcome: Outcome::Contained,
            reason: None,
            intents: &[],
            latencies: &[],
            lines: Vec::new(),
            language: Language::En,
            path: &["greeting"],
            ended_during: None,
            sentiment: 0.0,
            misses: &[],
        }
    }
}

fn write(store: &RecordStore, c: Call<'_>, now: SystemTime) -> CallRecord {
    let dir = store.call_dir(c.id).unwrap();
    let mut r = CallRecord::new(
        c.id,
        &format!("sip-{}", c.id),
        "+4915187654321",
        "parcel",
        now - c.ago,
    );
    r.outcome = c.outcome;
    r.duration_s = 10.0 * c.lines.len() as f64;
    r.handoff_reason = c.reason.map(Into::into);
    r.intents = c.intents.iter().map(|s| s.to_string()).collect();
    r.turns = c
        .latencies
        .iter()
        .enumerate()
        .map(|(i, ms)| TurnLatency {
            turn: i as u32 + 1,
            asr_ms: Some(ms / 2.0),
            dialog_ms: Some(ms / 2.0 + 5.0),
            first_audio_ms: Some(*ms),
            cached: i % 2 == 0,
        })
        .collect();
    r.language = Some(c.language);
    r.flow = Some(match c.language {
        Language::En => "parcel".into(),
        Language::Zh => "parcel-zh".into(),
    });
    r.path = c.path.iter().map(|s| s.to_string()).collect();
    r.ended_during = c.ended_during;
    r.sentiment = c.sentiment;
    r.speech_rate_wps = Some(2.0);
    r.nlu_misses = c
        .misses
        .iter()
        .map(|m| ivr_dialog::NluMiss {
            text: m.to_string(),
            result: ivr_dialog::MissKind::NoMatch,
            node: "greeting".into(),
            offset_ms: 0,
        })
        .collect();
    if c.intents.contains(&"track_parcel") {
        r.slots = serde_json::json!({ "tracking_number": TRACKING });
    }
    let tp = dir.join("transcript.jsonl");
    let mut tw = TranscriptWriter::create(&tp).unwrap();
    for l in &c.lines {
        tw.write(l).unwrap();
    }
    r.transcript_path = Some(tp.display().to_string());
    let ap = dir.join("audio.wav");
    let mut rec = ivr_media::CallRecorder::create(&ap).unwrap();
    // 1 s: a 400 Hz tone on the caller's side, silence on the bot's.
    for f in 0..50 {
        let caller: [i16; ivr_media::FRAME_SAMPLES] = std::array::from_fn(|i| {
            let n = (f * ivr_media::FRAME_SAMPLES + i) as f64;
            (8000.0 * (n * 400.0 * std::f64::consts::TAU / 8000.0).sin()) as i16
        });
        rec.write_frame(&caller, &[0; ivr_media::FRAME_SAMPLES])
            .unwrap();
    }
    rec.finish().unwrap();
    r.audio_path = Some(ap.display().to_string());
    r.qa = Some(crate::qa::QaRules::embedded().inspect(&r, &c.lines));
    store.save(&r).unwrap();
    r
}

/// Six calls: five in the last 7 days (2 contained, one of them in Mandarin, 2
/// transferred, 1 abandoned during a lookup) and one 30 days old, outside the default
/// period. QA-scored with the embedded rules. Returns the store and the records.
pub fn store_with_calls(data_dir: &Path) -> (RecordStore, Vec<CallRecord>) {
    let store = RecordStore::open(data_dir).unwrap();
    let now = SystemTime::now();
    let h = |n: u64| Duration::from_secs(n * 3600);
    let calls = vec![
        Call {
            id: "call-track",
            ago: h(2),
            outcome: Outcome::Contained,
            reason: None,
            intents: &["track_parcel"],
            latencies: &[600.0, 700.0],
            path: &[
                "greeting",
                "track_number",
                "track_confirm",
                "track_lookup",
                "anything_else",
                "goodbye",
            ],
            lines: vec![
                line(
                    Speaker::Bot,
                    "Welcome to the parcel line. How can I help you?",
                    0.0,
                    false,
                ),
                line(Speaker::Caller, "I'd like to track my parcel", 3.0, false),
                line(Speaker::Bot, "Please say your tracking number.", 5.0, false),
                line(Speaker::Caller, "1 2 3 4 5 6 7 8", 8.0, false),
                line(
                    Speaker::Bot,
                    &format!("Parcel {TRACKING} is out for delivery today and"),
                    11.0,
                    true,
                ),
                line(Speaker::Caller, "thank you goodbye", 13.0, false),
            ],
            ..Default::default()
        },
        Call {
            id: "call-hours",
            ago: h(5),
            outcome: Outcome::Contained,
            reason: None,
            intents: &["opening_hours"],
            latencies: &[500.0],
            language: Language::Zh,
            path: &["greeting", "hours", "anything_else"],
            lines: vec![
                line(Speaker::Bot, "您好，请问有什么可以帮您？", 0.0, false),
                line(Speaker::Caller, "你们几点开门", 2.0, false),
            ],
            ..Default::default()
        },
        Call {
            id: "call-agent",
            ago: h(26),
            outcome: Outcome::Transferred,
            reason: Some("caller_asked"),
            intents: &["agent"],
            latencies: &[800.0],
            path: &["greeting", "agent"],
            lines: vec![
                line(Speaker::Bot, "How can I help you?", 0.0, false),
                line(Speaker::Caller, "agent please", 2.0, false),
            ],
            ..Default::default()
        },
        Call {
            id: "call-nomatch",
            ago: h(50),
            outcome: Outcome::Transferred,
            reason: Some("repeated no match"),
            intents: &[],
            sentiment: -0.2,
            misses: &[
                "my fridge is broken",
                "My fridge is broken!",
                "it's 8 7 6 5 4 3 2 1",
            ],
            latencies: &[900.0],
            path: &["greeting", "agent"],
            lines: vec![
                line(Speaker::Bot, "How can I help you?", 0.0, false),
                line(Speaker::Caller, "my fridge is broken", 2.0, false),
                line(Speaker::Bot, "Sorry, I didn't understand that.", 4.0, false),
                line(Speaker::Caller, "my fridge is broken!", 6.0, false),
            ],
            ..Default::default()
        },
        Call {
            id: "call-gone",
            ago: h(70),
            outcome: Outcome::Abandoned,
            reason: None,
            intents: &[],
            path: &["greeting", "track_number", "track_lookup"],
            ended_during: Some(Pending::Lookup),
            lines: vec![line(Speaker::Bot, "How can I help you?", 0.0, false)],
            ..Default::default()
        },
        Call {
            id: "call-old",
            ago: h(30 * 24),
            outcome: Outcome::Contained,
            reason: None,
            intents: &["track_parcel"],
            latencies: &[400.0],
            lines: vec![line(Speaker::Caller, "track my parcel", 1.0, false)],
            ..Default::default()
        },
    ];
    let records = calls.into_iter().map(|c| write(&store, c, now)).collect();
    (store, records)
}
