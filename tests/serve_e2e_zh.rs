//! End-to-end in Mandarin: a baresip caller speaking Mandarin (the project's Kokoro voice)
//! dials `kuaidi`, which the embedded default routes to the Mandarin demo flow, and tracks
//! a parcel by voice. The record, the bot's transcript and what the caller heard (through
//! the Mandarin recogniser) must show the parcel's status in Chinese.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_mandarin_caller_tracks_a_parcel_by_voice() {
    // The embedded routes (kuaidi -> builtin:parcel-zh), not the English-only default
    // of the test servers.
    let server = Server::start(
        "e2e-zh",
        &[(
            "IVR_DIALOG__ROUTES",
            "[{ user = \"kuaidi\", flow = \"builtin:parcel-zh\" }]",
        )],
    );
    let dir = temp_dir("e2e-zh-caller");
    // Long pauses: the Mandarin prompts are long, and a recording cannot wait for them.
    let wav = mandarin_speech_wav(
        &dir,
        "kokoro/zm_yunxi",
        &[
            (6.0, "我想查一下我的快递。"),
            (7.0, "一二三四五六七八"),
            (10.0, "是的。"),
            (14.0, "没有了。"),
            (12.0, "五分。"),
        ],
        8.0,
    );
    let uri = format!("sip:kuaidi@{}", server.sip);
    let (heard, log) = baresip_call(&dir, &uri, &wav, 100);
    let calls = server.wait_calls(1, Duration::from_secs(15));
    assert_eq!(calls.len(), 1, "no call record; baresip log:\n{log}");
    let call = &calls[0];
    let transcript = std::fs::read_to_string(call["transcript_path"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let ctx = format!("record: {call:#}\ntranscript:\n{transcript}");
    assert_eq!(call["language"], "zh", "{ctx}");
    assert_eq!(call["slots"]["tracking_number"], "12345678", "{ctx}");
    assert!(
        call["intents"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x == "track_parcel")),
        "{ctx}"
    );
    // The bot said the status (12345678 is in transit in the demo database) in Chinese.
    assert!(transcript.contains("正在运输途中"), "{ctx}");
    assert_eq!(call["outcome"], "contained", "{ctx}");
    assert_eq!(call["csat"], 5, "the spoken rating\n{ctx}");

    // And the caller heard Mandarin: the greeting and the status, through the recogniser.
    let heard = heard.unwrap_or_else(|| panic!("baresip recorded nothing\n{log}"));
    let text = transcribe_long_in(&dir, &heard, "zh");
    for words in ["快递", "运输"] {
        assert!(
            text.contains(words),
            "the caller never heard {words:?}; heard: {text}\n{ctx}"
        );
    }
}
