//! `ivr asr-eval` on the project's evaluation set with the default model (tiny.en):
//! - real human speech (PocketSphinx's test recordings, fetched by `make models`) heard
//!   through a simulated phone line (`--phone-line`: 8 kHz, G.711 mu-law);
//! - the Piper voice and the espeak-ng voice of fixtures/asr/evalset (already 8 kHz G.711).
//!
//! Decoding is greedy on fixed audio, so the word errors are the same every run; the limits
//! sit a little above the measured figures (see the README's ASR section) so a regression in
//! resampling, VAD, decoding settings or normalisation fails here. espeak-ng's robotic voice
//! is far from a caller's: its limit only catches breakage.

mod common;

use std::path::{Path, PathBuf};

fn eval(manifest: &Path, phone_line: bool) -> serde_json::Value {
    let mut cmd = common::ivr();
    cmd.arg("asr-eval").arg(manifest).arg("--json");
    if phone_line {
        cmd.arg("--phone-line");
    }
    let out = cmd.output().expect("run ivr asr-eval");
    assert!(
        out.status.success(),
        "ivr asr-eval {} failed: {}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "asr-eval printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn check(name: &str, v: &serde_json::Value, utterances: u64, max_wer: f64) {
    let wer = v["wer"].as_f64().expect("wer");
    eprintln!(
        "{name}: WER {:.1} % ({}/{} words, {} utterances), latency p50 {} ms, speculative p50 {} ms, RTF {}\n  {}",
        wer * 100.0,
        v["errors"],
        v["reference_words"],
        v["utterances"],
        v["latency_ms"]["p50"],
        v["speculative_latency_ms"]["p50"],
        v["rtf"],
        v["mistakes"]
            .as_array()
            .map(|m| m
                .iter()
                .filter_map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "))
            .unwrap_or_default()
    );
    assert_eq!(v["utterances"].as_u64(), Some(utterances), "{name}");
    assert!(
        v["latency_ms"]["p50"].as_f64().is_some_and(|l| l > 0.0),
        "{name}: no latency figures: {v}"
    );
    assert!(
        wer <= max_wer,
        "{name}: WER {:.1} % > {:.1} %: {}",
        wer * 100.0,
        max_wer * 100.0,
        v["mistakes"]
    );
}

/// The committed synthetic set, one voice at a time (a manifest with absolute paths).
fn voice_manifest(dir: &Path, voice: &str) -> PathBuf {
    let set = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/asr/evalset");
    let all = std::fs::read_to_string(set.join("manifest.tsv")).expect("evalset manifest");
    let lines: Vec<String> = all
        .lines()
        .filter(|l| l.split('\t').next().is_some_and(|p| p.contains(voice)))
        .map(|l| format!("{}/{l}", set.display()))
        .collect();
    let path = dir.join(format!("{voice}.tsv"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn real_speech_through_a_phone_line() {
    common::require_models();
    let manifest = common::models_dir().join("speech/manifest.tsv");
    assert!(
        manifest.is_file(),
        "{} is missing: run `make models`",
        manifest.display()
    );
    check("real speech", &eval(&manifest, true), 14, 0.08);
}

#[test]
fn synthetic_voices() {
    common::require_models();
    let dir = common::temp_dir("asr-eval");
    check(
        "piper voice",
        &eval(&voice_manifest(&dir, "piper"), false),
        20,
        0.08,
    );
    check(
        "espeak-ng voice",
        &eval(&voice_manifest(&dir, "espeak"), false),
        20,
        0.60,
    );
}
