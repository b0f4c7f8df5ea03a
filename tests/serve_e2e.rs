//! End-to-end: real callers (baresip, SIPp) call `ivr serve` on loopback and hold the
//! demo conversation; the test listens to what the caller heard and reads the call record.

mod common;

use std::time::Duration;

use common::*;

/// The demo's happy path by voice: track a parcel, read the number, confirm, goodbye.
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
            (10.0, "no thanks, goodbye"),
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
    let transcript = std::fs::read_to_string(call["transcript_path"].as_str().unwrap_or_default()).unwrap_or_default();
    let ctx = format!("record: {call:#}\ntranscript:\n{transcript}");
    assert_eq!(call["slots"]["tracking_number"], "87654321", "{ctx}");
    assert!(transcript.contains("out for delivery"), "the status was not read out\n{ctx}");
    assert_eq!(call["outcome"], "contained", "{ctx}");
}
