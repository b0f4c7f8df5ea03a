//! End-to-end: real callers (baresip, SIPp) call `ivr serve` on loopback and hold the
//! demo conversation; the test listens to what the caller heard and reads the call record.

mod common;

use std::time::Duration;

use common::*;

/// The demo's happy path by voice: track a parcel, read the number, confirm, rate the
/// call, goodbye.
#[test]
fn baresip_tracks_a_parcel_by_voice() {
    let server = Server::start("e2e-track", &[]);
    let dir = temp_dir("e2e-track-caller");
    // Pauses leave room for each bot prompt (the caller is a recording, it can't wait).
    let wav = speech_wav(
        &dir,
        "en-us",
        &[
            (4.5, "I'd like to track my parcel."),
            (7.0, "one two three four five six seven eight"),
            (8.0, "yes"),
            (10.0, "no thanks"),
            (9.0, "I would give it a five."),
        ],
        8.0,
    );
    let uri = format!("sip:parcel@{}", server.sip);
    let (heard, log) = baresip_call(&dir, &uri, &wav, 80);
    let calls = server.wait_calls(1, Duration::from_secs(10));
    assert_eq!(
        calls.len(),
        1,
        "no call record; baresip log:\n{log}\nserver log: {}",
        server.data.display()
    );
    let call = &calls[0];
    let transcript = std::fs::read_to_string(call["transcript_path"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let ctx = format!("record: {call:#}\ntranscript:\n{transcript}");
    assert_eq!(call["outcome"], "contained", "{ctx}");
    assert_eq!(call["slots"]["tracking_number"], "12345678", "{ctx}");
    // The survey: the spoken rating is the call's CSAT, and the call was inspected.
    assert_eq!(call["csat"], 5, "{ctx}");
    assert!(call["qa"]["score"].as_u64().is_some(), "{ctx}");
    // RTP and RTCP both ways: baresip answered our sender reports (RTP port + 1), so
    // the record has a round-trip time, and what we sent is counted.
    let rtp = &call["rtp"]["receive"];
    assert!(
        rtp["packets_sent"].as_u64().is_some_and(|n| n > 1000),
        "{rtp:#}"
    );
    assert!(
        rtp["rtt_ms"]
            .as_f64()
            .is_some_and(|ms| (0.0..100.0).contains(&ms)),
        "no RTT from RTCP: {rtp:#}"
    );
    assert!(
        call["intents"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x == "track_parcel")),
        "{ctx}"
    );

    // What the caller heard, transcribed by the project's ASR.
    let heard = heard.unwrap_or_else(|| panic!("baresip recorded nothing\n{log}"));
    let text = transcribe_long(&dir, &heard).to_lowercase();
    for phrase in [
        "welcome",
        "tracking number",
        "correct",
        "in transit",
        "rate this call",
        "goodbye",
    ] {
        assert!(
            text.contains(phrase),
            "the caller never heard {phrase:?}; heard: {text}\n{ctx}"
        );
    }
}

/// Keypad only: SIPp plays RFC 4733 digits (its own dtmf_2833_*.pcap captures).
#[test]
fn sipp_keypad_only_tracks_a_parcel() {
    let server = Server::start("e2e-keypad", &[]);
    let (ok, log) = sipp_call("uac_keypad_track.xml", &server.sip, 60);
    assert!(ok, "SIPp call failed:\n{log}");
    let calls = server.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls.len(), 1, "no call record");
    let call = &calls[0];
    let transcript = std::fs::read_to_string(call["transcript_path"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let ctx = format!("record: {call:#}\ntranscript:\n{transcript}");
    assert_eq!(call["slots"]["tracking_number"], "87654321", "{ctx}");
    assert!(
        transcript.contains("out for delivery"),
        "the status was not read out\n{ctx}"
    );
    assert_eq!(call["outcome"], "contained", "{ctx}");
}

/// "0" mid-call: ivr says it is connecting, sends REFER to the agents' group (the SIPp
/// caller accepts it and reports success), and records a transfer.
#[test]
fn agent_request_is_transferred_with_refer() {
    let server = Server::start("e2e-agent", &[]);
    let (ok, log) = sipp_call("uac_agent_refer.xml", &server.sip, 40);
    assert!(
        ok,
        "SIPp call failed (no REFER to sip:agents@ with X-IVR-Call-Id?):\n{log}"
    );
    let calls = server.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls.len(), 1, "no call record");
    let call = &calls[0];
    assert_eq!(call["outcome"], "transferred", "{call:#}");
    assert_eq!(call["handoff_target"], "agents", "{call:#}");
    assert!(
        call["handoff_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{call:#}"
    );
}

/// Per 20 ms frame: is the mean absolute sample above a speech-ish level?
fn active_frames(samples: &[i16]) -> Vec<bool> {
    samples
        .chunks(160)
        .map(|f| f.iter().map(|s| (*s as i32).abs()).sum::<i32>() / 160 > 300)
        .collect()
}

/// Barge-in: the caller talks over the greeting; the bot's audio stops within 300 ms of
/// the caller's speech onset (read from the server's stereo recording: caller left, bot
/// right, time-aligned frame by frame).
#[test]
fn caller_barges_in_over_the_greeting() {
    let server = Server::start("e2e-barge", &[]);
    let dir = temp_dir("e2e-barge-caller");
    let wav = speech_wav(
        &dir,
        "en-gb",
        &[(1.2, "I want to track my parcel please")],
        6.0,
    );
    let (_, log) = baresip_call(&dir, &format!("sip:parcel@{}", server.sip), &wav, 30);
    let calls = server.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls.len(), 1, "no call record\n{log}");
    let audio = calls[0]["audio_path"]
        .as_str()
        .expect("the call was recorded")
        .to_string();
    let mut r = hound::WavReader::open(&audio).expect("recording readable");
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let caller: Vec<i16> = all.iter().step_by(2).copied().collect();
    let bot: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let (c, b) = (active_frames(&caller), active_frames(&bot));
    let onset = c
        .iter()
        .position(|a| *a)
        .expect("the caller's speech is in the recording");
    assert!(
        b[..onset].iter().any(|a| *a),
        "the bot was not speaking before the caller started"
    );
    // The greeting would go on for ~2 s more; after barge-in the bot is quiet until its reply.
    let stop = (onset..b.len())
        .find(|&i| b[i..(i + 10).min(b.len())].iter().all(|a| !a))
        .unwrap_or(b.len());
    let ms = (stop - onset) * 20;
    let transcript =
        std::fs::read_to_string(calls[0]["transcript_path"].as_str().unwrap_or_default())
            .unwrap_or_default();
    assert!(
        ms <= 300,
        "bot audio went on {ms} ms after the caller started\n{transcript}"
    );
    assert!(
        transcript.contains("\"interrupted\":true"),
        "prompt not marked interrupted\n{transcript}"
    );
}

/// Operations: health, readiness, Prometheus metrics after a call, 503 beyond the call
/// cap, and a graceful SIGTERM (exit 0).
#[test]
fn metrics_health_overload_and_drain() {
    let mut server = Server::start("e2e-ops", &[("IVR_SIP__MAX_CALLS", "1")]);
    assert_eq!(http_get(&server.http, "/healthz").0, 200);
    assert_eq!(http_get(&server.http, "/readyz").0, 200);

    // Two keypad callers at once with a cap of one: one is served, one gets 503.
    let sip = server.sip.clone();
    let first = std::thread::spawn(move || sipp_call("uac_keypad_track.xml", &sip, 60));
    std::thread::sleep(Duration::from_millis(1500));
    let (second_ok, second_log) = sipp_call("uac_keypad_track.xml", &server.sip, 20);
    let (first_ok, first_log) = first.join().unwrap();
    assert!(first_ok, "the first call failed:\n{first_log}");
    assert!(
        !second_ok,
        "a second call beyond max_calls = 1 was accepted"
    );
    assert!(
        second_log.contains("503"),
        "the second call was not refused with 503:\n{second_log}"
    );

    let calls = server.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls.len(), 1, "one record for the served call");
    let (code, metrics) = http_get(&server.http, "/metrics");
    assert_eq!(code, 200);
    for needle in [
        "ivr_calls_total{outcome=\"contained\"} 1",
        "ivr_turn_latency_seconds_bucket",
        "ivr_active_calls 0",
    ] {
        assert!(
            metrics.contains(needle),
            "/metrics lacks {needle:?}:\n{metrics}"
        );
    }
    let status = server.stop();
    assert!(
        status.success(),
        "ivr serve did not exit cleanly on SIGTERM: {status}"
    );
}

/// Two calls at once keep their own audio and state: a voice caller and a keypad caller
/// track different parcels on the same server at the same time.
#[test]
fn two_calls_at_once_do_not_mix() {
    let server = Server::start("e2e-two", &[]);
    let dir = temp_dir("e2e-two-caller");
    let wav = speech_wav(
        &dir,
        "en-us",
        &[
            (4.5, "Where is my parcel?"),
            (7.0, "one two three four five six seven eight"),
            (8.0, "yes"),
            (10.0, "no thanks, goodbye"),
        ],
        8.0,
    );
    let sip = server.sip.clone();
    let keypad = std::thread::spawn(move || sipp_call("uac_keypad_track.xml", &sip, 60));
    let (_, log) = baresip_call(&dir, &format!("sip:parcel@{}", server.sip), &wav, 80);
    let (keypad_ok, keypad_log) = keypad.join().unwrap();
    assert!(keypad_ok, "keypad call failed:\n{keypad_log}");
    let calls = server.wait_calls(2, Duration::from_secs(10));
    assert_eq!(calls.len(), 2, "expected two call records\n{log}");
    let mut numbers: Vec<String> = calls
        .iter()
        .map(|c| {
            c["slots"]["tracking_number"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    numbers.sort();
    let detail: Vec<String> = calls
        .iter()
        .map(|c| {
            std::fs::read_to_string(c["transcript_path"].as_str().unwrap_or_default())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        numbers,
        ["12345678", "87654321"],
        "records:\n{calls:#?}\n{detail:#?}"
    );
    for (c, t) in calls.iter().zip(&detail) {
        let own = c["slots"]["tracking_number"].as_str().unwrap_or_default();
        let other = if own == "12345678" {
            "8 7 6 5 4 3 2 1"
        } else {
            "1 2 3 4 5 6 7 8"
        };
        assert!(
            !t.contains(other),
            "call {own} heard the other caller's number:\n{t}"
        );
    }
}

/// A panic in one call's thread (fault injection: `[server] fault_panic_user`) ends that
/// call with a BYE and a `failed` record naming the error; a call running at the same
/// time goes on to the end, and the server stays healthy.
#[test]
fn a_panicking_call_does_not_take_down_another() {
    let server = Server::start("e2e-panic", &[("IVR_SERVER__FAULT_PANIC_USER", "crash")]);
    let sip = server.sip.clone();
    let keypad = std::thread::spawn(move || sipp_call("uac_keypad_track.xml", &sip, 60));
    // Let the keypad call get going, then crash the other one under it.
    std::thread::sleep(Duration::from_secs(3));
    let (crash_ok, crash_log) = sipp_call("uac_crash.xml", &server.sip, 20);
    assert!(crash_ok, "the crashed call got no BYE:\n{crash_log}");
    assert_eq!(http_get(&server.http, "/healthz").0, 200);
    let (keypad_ok, keypad_log) = keypad.join().unwrap();
    assert!(keypad_ok, "the other call failed:\n{keypad_log}");
    let calls = server.wait_calls(2, Duration::from_secs(10));
    let outcome_of = |to: &str| {
        calls
            .iter()
            .find(|c| c["called"] == to)
            .unwrap_or_else(|| panic!("no record of the call to {to}: {calls:#?}"))
    };
    let crashed = outcome_of("crash");
    assert_eq!(crashed["outcome"], "failed", "{crashed:#}");
    assert!(
        crashed["error"]
            .as_str()
            .is_some_and(|e| e.contains("internal error") && e.contains("fault injection")),
        "{crashed:#}"
    );
    let other = outcome_of("ivr");
    assert_eq!(other["outcome"], "contained", "{other:#}");
    assert_eq!(other["slots"]["tracking_number"], "87654321", "{other:#}");
    assert_eq!(http_get(&server.http, "/readyz").0, 200);
}

/// The caller puts the bot on hold (re-INVITE sendonly) for 4 s, then takes it back: the
/// bot answers recvonly and sends no RTP meanwhile (RFC 3264), then talks again. Checked
/// on the call record: packets sent cover the call minus the hold.
#[test]
fn no_rtp_while_the_caller_holds() {
    let server = Server::start("e2e-hold", &[]);
    let (ok, log) = sipp_call("uac_hold_long.xml", &server.sip, 30);
    assert!(ok, "hold/unhold call failed:\n{log}");
    let calls = server.wait_calls(1, Duration::from_secs(10));
    let call = calls
        .first()
        .unwrap_or_else(|| panic!("no call record\n{log}"));
    let sent = call["rtp"]["receive"]["packets_sent"]
        .as_f64()
        .unwrap_or_else(|| panic!("no packets_sent: {call:#}"));
    let secs = call["duration_s"].as_f64().expect("duration_s");
    // 50 packets a second while not held; about 2 s of the call were not on hold.
    assert!(
        sent >= 50.0,
        "the bot never talked: {sent} packets in {secs:.1} s"
    );
    assert!(
        sent <= (secs - 3.0) * 50.0,
        "{sent} packets in {secs:.1} s: RTP went on during the 4 s hold"
    );
}
