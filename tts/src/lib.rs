//! ivr-tts: the bot's voice. A Piper (VITS) voice runner on ONNX with espeak-ng
//! phonemes, clause-by-clause streaming, a prompt cache, and a synthesis pool.

use serde::{Deserialize, Serialize};

/// TTS settings (`[tts]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// Piper voice (.onnx; its .onnx.json beside it), relative to the models dir.
    pub voice: String,
    /// Synthesis threads.
    pub workers: usize,
    /// Default speaking rate (1.0 = the voice's own; < 1 slower).
    pub speed: f32,
    /// Prompt cache directory.
    pub cache_dir: String,
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self {
            voice: "piper/en_US-joe-medium.onnx".into(),
            workers: 1,
            speed: 1.0,
            cache_dir: "data/prompt-cache".into(),
        }
    }
}
