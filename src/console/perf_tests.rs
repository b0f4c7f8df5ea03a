//! Console response times over many generated call records: a measurement, not a
//! timed assertion. Run with
//! `IVR_CONSOLE_BENCH_CALLS=100000 cargo test --release --bin ivr console_response_times -- --ignored --nocapture`.

use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use ivr_dialog::Speaker;
use tower::ServiceExt;

use super::kpis::percentile;
use super::test_data::{self, ANALYST};
use crate::records::{
    CallRecord, Outcome, RecordStore, TranscriptLine, TranscriptWriter, TurnLatency,
};

const REPEATS: usize = 30;
const BATCH: usize = 5_000;

/// `n` calls spread over the last 7 days, a realistic mix of outcomes, intents and
/// turns, each with a transcript file.
fn generate(store: &RecordStore, n: usize) {
    let now = SystemTime::now();
    let intents = [
        "track_parcel",
        "change_date",
        "damage_claim",
        "opening_hours",
        "agent",
    ];
    let utterances = [
        "I'd like to track my parcel",
        "I want to change my delivery date",
        "my parcel arrived damaged",
        "what are your opening hours",
        "agent please",
    ];
    let qa = crate::qa::QaRules::embedded();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..n {
        let id = format!("gen-{i:07}");
        let started = now - Duration::from_secs((i as u64 * 604_000) / n as u64 + 1);
        let mut r = CallRecord::new(
            &id,
            &format!("sip-{i}"),
            &format!("+49151{i:08}"),
            "parcel",
            started,
        );
        let k = i % intents.len();
        r.outcome = match i % 10 {
            0..=5 => Outcome::Contained,
            6 | 7 => Outcome::Transferred,
            8 => Outcome::Abandoned,
            _ => Outcome::Failed,
        };
        if r.outcome == Outcome::Transferred {
            r.handoff_reason = Some(["caller_asked", "no_match", "skill_group"][i % 3].into());
        }
        r.duration_s = 20.0 + (i % 180) as f64;
        r.intents = vec![intents[k].into()];
        r.slots = serde_json::json!({"tracking_number": format!("{:08}", i)});
        r.turns = (0..4)
            .map(|t| TurnLatency {
                turn: t + 1,
                asr_ms: Some(300.0),
                dialog_ms: Some(310.0),
                first_audio_ms: Some(450.0 + ((i * 7 + t as usize * 13) % 700) as f64),
                cached: t % 2 == 0,
            })
            .collect();
        let dir = store.call_dir(&id).unwrap();
        let tp = dir.join("transcript.jsonl");
        let mut tw = TranscriptWriter::create(&tp).unwrap();
        for (j, (speaker, text)) in [
            (
                Speaker::Bot,
                "Welcome to the parcel line. How can I help you?",
            ),
            (Speaker::Caller, utterances[k]),
            (Speaker::Bot, "Please say your tracking number."),
            (Speaker::Caller, "one two three four five six seven eight"),
        ]
        .into_iter()
        .enumerate()
        {
            tw.write(&TranscriptLine {
                speaker,
                text: text.into(),
                start: j as f64 * 3.0,
                end: j as f64 * 3.0 + 2.0,
                confidence: None,
                intent: None,
                interrupted: false,
            })
            .unwrap();
        }
        r.transcript_path = Some(tp.display().to_string());
        // What the analysis pages read: language, flow path, sentiment, speech rate,
        // misses and a QA scorecard (scored as serve scores, from the record alone).
        r.language = Some(if i % 4 == 0 {
            ivr_dialog::Language::Zh
        } else {
            ivr_dialog::Language::En
        });
        r.flow = Some("parcel".into());
        r.path = [
            "greeting",
            "track_number",
            "track_confirm",
            "track_lookup",
            "anything_else",
        ][..2 + i % 4]
            .iter()
            .map(|s| s.to_string())
            .collect();
        r.sentiment = ((i % 21) as f32 - 10.0) / 10.0;
        r.speech_rate_wps = Some(1.0 + (i % 30) as f32 / 10.0);
        if i % 7 == 0 {
            r.nlu_misses = vec![ivr_dialog::NluMiss {
                text: ["can I book a taxi", "do you sell stamps", "mumble"][i % 3].into(),
                result: ivr_dialog::MissKind::NoMatch,
                node: "greeting".into(),
                offset_ms: 0,
            }];
        }
        r.csat = (i % 3 == 0).then_some(1 + (i % 5) as u8);
        r.qa = Some(qa.inspect(&r, &[]));
        batch.push(r);
        if batch.len() == BATCH {
            store.save_all(&batch).unwrap();
            batch.clear();
        }
    }
    store.save_all(&batch).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement over many records: run with --ignored --nocapture"]
async fn console_response_times() {
    let n: usize = std::env::var("IVR_CONSOLE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = test_data::tmp_dir("perf");
    let store = RecordStore::open(&dir).unwrap();
    let t0 = Instant::now();
    let s2 = store.clone();
    tokio::task::spawn_blocking(move || generate(&s2, n))
        .await
        .unwrap();
    eprintln!("generated {n} calls in {:.1} s", t0.elapsed().as_secs_f64());
    // Where the overview's time goes: reading the KPI rows vs computing the KPIs.
    let period = crate::records::Period {
        since: SystemTime::now() - Duration::from_secs(8 * 86_400),
        until: SystemTime::now(),
    };
    let (mut read_ms, mut compute_ms) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let t = Instant::now();
        let rows = store
            .kpi_rows(&crate::records::Scope::period(period))
            .unwrap();
        read_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let k = super::kpis::Kpis::compute(&rows);
        compute_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(k.calls, n);
    }
    read_ms.sort_by(f64::total_cmp);
    compute_ms.sort_by(f64::total_cmp);
    eprintln!(
        "KPIs over {n} calls: kpi_rows p50 {:.1} ms, Kpis::compute p50 {:.1} ms",
        percentile(&read_ms, 50.0).unwrap_or(0.0),
        percentile(&compute_ms, 50.0).unwrap_or(0.0)
    );
    let app = super::build(store, test_data::users(), crate::qa::QaRules::embedded());
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ANALYST.0, ANALYST.1))
    );
    let routes = [
        "/console/",
        "/api/kpis",
        "/console/calls",
        "/console/calls?page=50",
        "/console/calls?outcome=transferred&intent=agent",
        "/console/calls?q=damaged",
        "/console/calls/gen-0000042",
        "/console/calls?qa=negative_end",
        "/console/calls?min_score=90&language=zh",
        "/api/qa",
        "/console/funnel",
        "/console/voc",
        "/api/calls.csv?outcome=transferred&intent=agent",
    ];
    eprintln!("| route ({n} calls) | first ms | p50 ms | p95 ms | max ms |");
    eprintln!("|---|---|---|---|---|");
    for route in routes {
        let mut ms = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS + 1 {
            let req = Request::get(route)
                .header(header::AUTHORIZATION, &auth)
                .body(Body::empty())
                .unwrap();
            let t = Instant::now();
            let resp = app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 26)
                .await
                .unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(
                status,
                StatusCode::OK,
                "{route}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        // The first request fills the per-hour row cache (and, for the first route,
        // verifies the password with argon2); the rest are what an analyst clicking
        // around sees.
        let first = ms.remove(0);
        ms.sort_by(f64::total_cmp);
        eprintln!(
            "| `{route}` | {first:.1} | {:.1} | {:.1} | {:.1} |",
            percentile(&ms, 50.0).unwrap_or(0.0),
            percentile(&ms, 95.0).unwrap_or(0.0),
            ms.last().copied().unwrap_or(0.0)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
