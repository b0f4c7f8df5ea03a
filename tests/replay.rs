//! `ivr replay`: every recorded call in fixtures/calls/ through the real pipeline
//! (Silero, Whisper, the dialog, the Piper prompt cache) in virtual time, checked against
//! its expectation file; determinism; clear errors for bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

/// `ivr replay ARGS` with its own data dir and the shared prompt cache.
fn replay(name: &str, args: &[&str]) -> (Output, PathBuf) {
    let data = temp_dir(name);
    let out = ivr()
        .arg("replay")
        .args(args)
        .env("IVR_DATA_DIR", &data)
        .env("IVR_TTS__CACHE_DIR", shared_prompt_cache())
        .env("RUST_LOG", "warn")
        .output()
        .expect("ivr replay runs");
    (out, data)
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn ms(v: &serde_json::Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.0} ms"))
}

/// Every fixture with its expectations; prints the summary table. This is how
/// `make test` replays the recorded calls.
#[test]
fn every_recorded_call_meets_its_expectations() {
    require_models();
    let dir = fixtures_dir();
    let out_dir = temp_dir("replay-out");
    let (out, _) = replay(
        "replay-all",
        &[
            dir.to_str().unwrap(),
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = json_lines(&out);
    let summaries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("summary").is_some())
        .collect();
    let fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "wav" || e == "pcap" || e == "pcapng")
        })
        .collect();
    assert!(fixtures.len() >= 10, "want at least 10 recorded calls");
    for f in &fixtures {
        assert!(
            f.with_extension("toml").is_file(),
            "{} has no expectation file",
            f.display()
        );
    }

    let mut table = format!(
        "\n{:<26} {:>5}  {:<12} {:<6} {:>11} {:>11} {:>12}\n",
        "fixture", "turns", "outcome", "result", "compute p50", "compute p95", "response p50"
    );
    let mut failures = String::new();
    for s in &summaries {
        let sum = &s["summary"];
        let pass = s["pass"].as_bool() == Some(true);
        table += &format!(
            "{:<26} {:>5}  {:<12} {:<6} {:>11} {:>11} {:>12}\n",
            s["fixture"].as_str().unwrap_or("?"),
            sum["caller_turns"].to_string(),
            sum["outcome"].as_str().unwrap_or("?"),
            if pass { "pass" } else { "FAIL" },
            ms(&sum["compute_ms_p50"]),
            ms(&sum["compute_ms_p95"]),
            ms(&sum["response_ms_p50"]),
        );
        if !pass {
            failures += &format!("{}:\n", s["fixture"]);
            for f in s["failures"].as_array().into_iter().flatten() {
                failures += &format!("  - {}\n", f.as_str().unwrap_or_default());
            }
        }
    }
    if let Some(o) = lines.iter().find_map(|l| l.get("overall")) {
        table += &format!(
            "{} caller turns with compute: p50 {} p95 {}; virtual response p50 {} p95 {}\n",
            o["turns_with_compute"],
            ms(&o["compute_ms_p50"]),
            ms(&o["compute_ms_p95"]),
            ms(&o["response_ms_p50"]),
            ms(&o["response_ms_p95"]),
        );
    }
    println!("{table}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-summary.txt"),
        &table,
    );
    assert_eq!(
        summaries.len(),
        fixtures.len(),
        "not every fixture was replayed\n{table}\nstderr:\n{stderr}"
    );
    assert!(
        failures.is_empty(),
        "replayed calls differ from their expectations:\n{failures}{table}"
    );
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    // The Mandarin calls went to the Mandarin flow (routed by the number they dialled).
    let mandarin = summaries
        .iter()
        .filter(|s| s["summary"]["language"] == "zh")
        .count();
    assert!(
        mandarin >= 6,
        "want at least 6 Mandarin calls, {mandarin} replayed in Mandarin\n{table}"
    );

    // Each per-turn object has the fields machines rely on.
    for t in lines.iter().filter(|l| l.get("turn").is_some()) {
        for k in [
            "transcript",
            "intent",
            "slots",
            "say",
            "compute_ms",
            "response_ms",
        ] {
            assert!(t.get(k).is_some(), "turn object without {k}: {t}");
        }
    }
    // --out wrote the calls as serve does: a record per call, its audio and transcript.
    assert!(out_dir.join("calls.sqlite").is_file());
    let calls: Vec<PathBuf> = std::fs::read_dir(out_dir.join("calls"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(calls.len(), fixtures.len());
    for c in &calls {
        for f in ["audio.wav", "bot.wav"] {
            let p = c.join(f);
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{} missing or empty", p.display());
        }
        // Every call has at least the bot's greeting; each line is one JSON object.
        let p = c.join("transcript.jsonl");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(!text.trim().is_empty(), "{} missing or empty", p.display());
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad line {line:?}: {e}", p.display()));
            assert!(
                v.get("speaker").is_some() && v.get("text").is_some(),
                "{line}"
            );
        }
    }
    // Every written record was quality-inspected and knows its flow and path; the caller
    // who swore at the bot ended negative and is flagged for it.
    let listed = ivr_test_support::ivr_command(Path::new(env!("CARGO_BIN_EXE_ivr")))
        .env("IVR_DATA_DIR", &out_dir)
        .args(["calls", "list", "--json", "--limit", "100"])
        .output()
        .unwrap();
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&listed.stdout).unwrap_or_else(|e| {
            panic!(
                "calls list --json: {e}\n{}",
                String::from_utf8_lossy(&listed.stderr)
            )
        });
    assert_eq!(records.len(), fixtures.len());
    for r in &records {
        assert!(r["qa"]["score"].as_u64().is_some(), "not scored: {r:#}");
        assert!(
            r["flow"].is_string() && r["path"].as_array().is_some_and(|p| !p.is_empty()),
            "{r:#}"
        );
    }
    let angry = records
        .iter()
        .find(|r| r["caller"] == "angry_agent.pcap")
        .expect("angry_agent.pcap record");
    let flagged: Vec<&str> = angry["qa"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(flagged.contains(&"negative_end"), "{angry:#}");
}

/// Same recording, same result: turn by turn, twice in one process (no state leaks
/// from one call into the next either).
#[test]
fn replay_is_deterministic() {
    require_models();
    let f = fixtures_dir().join("agent_request.wav");
    let f = f.to_str().unwrap();
    let (out, _) = replay("replay-determinism", &[f, f, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = |t: &serde_json::Value| {
        (
            t["turn"].clone(),
            t["input"].clone(),
            t["transcript"].clone(),
            t["intent"].clone(),
            t["slots"].clone(),
            t["node"].clone(),
            t["say"].clone(),
            t["response_ms"].clone(),
        )
    };
    let turns: Vec<_> = json_lines(&out)
        .into_iter()
        .filter(|l| l.get("turn").is_some())
        .collect();
    assert!(turns.len() >= 4, "too few turns: {turns:?}");
    let (a, b) = turns.split_at(turns.len() / 2);
    let a: Vec<_> = a.iter().map(key).collect();
    let b: Vec<_> = b.iter().map(key).collect();
    assert_eq!(a, b, "two replays of the same call differ");
}

/// A failed expectation: non-zero exit and a readable diff naming what differs.
#[test]
fn failed_expectations_are_reported() {
    require_models();
    let dir = temp_dir("replay-bad-expect");
    let exp = dir.join("wrong.toml");
    std::fs::write(
        &exp,
        "date = \"2026-05-06\"\ntail_s = 0\noutcome = \"transferred\"\n\
         slots = { tracking_number = \"11223344\" }\n\
         [[turn]]\nintent = \"report_damage\"\n",
    )
    .unwrap();
    let f = fixtures_dir().join("track_keypad.pcap");
    let (out, _) = replay(
        "replay-bad-expect",
        &[f.to_str().unwrap(), "--expect", exp.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for want in [
        "FAIL",
        "outcome: expected transferred, got contained",
        "tracking_number: expected \"11223344\", got \"87654321\"",
        "intent: expected report_damage, got track_parcel",
    ] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}

/// Bad input: a clear error and a non-zero exit, before any model is loaded.
#[test]
fn bad_fixtures_give_clear_errors() {
    let dir = temp_dir("replay-bad-input");
    let broken_wav = dir.join("broken.wav");
    std::fs::write(&broken_wav, b"RIFF\x10\x00\x00\x00WAVEfmt garbage").unwrap();
    // A valid pcap holding one UDP datagram that is not RTP.
    let no_rtp = dir.join("no_rtp.pcap");
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xA1B2C3D4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&101u32.to_le_bytes()); // raw IP
    let payload = b"hello, not rtp";
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    let total = (20 + 8 + payload.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let mut udp = Vec::new();
    udp.extend_from_slice(&5000u16.to_be_bytes());
    udp.extend_from_slice(&5002u16.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let frame: Vec<u8> = ip.into_iter().chain(udp).collect();
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    pcap.extend_from_slice(&frame);
    std::fs::write(&no_rtp, pcap).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let bad_toml = dir.join("bad.toml");
    std::fs::write(&bad_toml, "outcome = 3\nsurprise = true\n").unwrap();
    let good = fixtures_dir().join("goodbye.pcap");

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![dir.join("missing.wav").display().to_string()],
            "does not exist",
        ),
        (vec![broken_wav.display().to_string()], "not a readable WAV"),
        (
            vec![no_rtp.display().to_string()],
            "no G.711 or telephone-event RTP stream",
        ),
        (vec![text.display().to_string()], "unknown type"),
        (
            vec![
                good.display().to_string(),
                "--expect".into(),
                bad_toml.display().to_string(),
            ],
            "expectations",
        ),
        (
            vec![good.display().to_string(), "--ssrc".into(), "0x12".into()],
            "no audio stream with SSRC",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, _) = replay("replay-bad-input-run", &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(want),
            "{args:?}: expected {want:?} in the error, got:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    }
}
