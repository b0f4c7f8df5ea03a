#![allow(dead_code)]
//! Shared helpers for the tests that use real models.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ivr_asr::WhisperModel;

pub fn models_dir() -> PathBuf {
    ivr_test_support::models_dir()
}

/// A model file, or a failure naming it and the command that fetches it.
pub fn model(rel: &str) -> PathBuf {
    ivr_test_support::model(rel).unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn fixture(rel: &str) -> PathBuf {
    ivr_test_support::fixture("asr").join(rel)
}

/// Mono 16 kHz f32 from a 16-bit 16 kHz WAV fixture.
pub fn read_wav_16k(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16),
        "{}",
        path.display()
    );
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

pub fn whisper() -> Arc<WhisperModel> {
    static M: OnceLock<Arc<WhisperModel>> = OnceLock::new();
    M.get_or_init(|| WhisperModel::load(&model("ggml-tiny.en.bin"), "en").expect("load whisper"))
        .clone()
}

pub fn ort_env() -> ivr_onnx::Environment {
    ivr_onnx::environment(&model(ivr_onnx::ORT_LIB)).expect("ort init")
}

/// Lowercase, punctuation dropped, whitespace collapsed.
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
