//! ivr-tts: the bot's voice. Voice runners on ONNX — Piper (VITS, English, espeak-ng
//! phonemes) and Kokoro v1.0 (Mandarin, the crate's own G2P) — with clause-by-clause
//! streaming, a prompt cache, and a synthesis pool. One `TtsEngine` per language.
//!
//! Pipeline per request: normalise (numbers, dates, markup; `normalize` / `normalize_zh`) ->
//! clauses (`chunk` / `zh_chunk`) -> phonemes (espeak-ng IPA / `MandarinG2p`) -> token ids ->
//! ONNX (`Voice` / `KokoroVoice`) -> `Resamplers` (22.05 / 24 kHz -> 8/16 kHz) -> i16 chunks
//! on the request's channel.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod cache;
mod chunk;
mod engine;
mod kokoro;
mod normalize;
mod phonemize;
mod playback;
mod resample;
mod voice;
mod voice_model;
mod zh_chunk;
mod zh_g2p;
mod zh_normalize;
mod zh_phonemes;
mod zh_readings;

pub use cache::{CACHE_RATE, PromptCache, write_wav};
pub use engine::{
    AudioChunk, CancelHandle, EngineStats, PrewarmReport, SynthOptions, SynthStats, SynthStream,
    TtsEngine, TtsEvent,
};
pub use kokoro::{KOKORO_RATE, KokoroSpec};
pub use normalize::{Piece, normalize, spoken_text};
pub use phonemize::{EspeakPhonemizer, Phonemizer};
pub use playback::{AVAILABLE as PLAYBACK_AVAILABLE, ENABLE_HINT as PLAYBACK_HINT, play};
pub use resample::SUPPORTED_RATES;
pub use voice::{Voice, VoiceSpec};
pub use voice_model::{VoiceRef, VoiceSetup};
pub use zh_g2p::MandarinG2p;
pub use zh_normalize::{normalize_zh, normalize_zh_words};

/// How to get missing model files.
pub const FETCH_HINT: &str = "make models";

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("missing {path}: fetch it with `{hint}`")]
    MissingFile { path: PathBuf, hint: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("voice config: {0}")]
    VoiceConfig(String),
    #[error("espeak-ng: {0}")]
    Espeak(String),
    #[error("onnx runtime: {0}")]
    Ort(String),
    #[error(transparent)]
    Runtime(#[from] ivr_onnx::OnnxError),
    #[error("resampling: {0}")]
    Resample(String),
    #[error("synthesis: {0}")]
    Synthesis(String),
    #[error("synthesis queue full")]
    Busy,
    #[error("tts engine stopped")]
    Stopped,
    #[error("{0}")]
    Playback(String),
}

/// TTS settings (`[tts]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// English voice: Piper (.onnx; its .onnx.json beside it), relative to the models dir.
    pub voice: String,
    /// Voices of the other languages, by language code: `zh = "kokoro/zf_xiaobei"` (a
    /// Kokoro speaker: zf_xiaobei, zf_xiaoni, zf_xiaoxiao, zf_xiaoyi, zm_yunjian, zm_yunxi,
    /// zm_yunxia, zm_yunyang) or a Piper `.onnx` path. An `en` entry overrides `voice`.
    pub voices: BTreeMap<String, String>,
    /// Synthesis threads (each holds its own ONNX session, ~100 MB).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per synthesis thread.
    pub intra_threads: usize,
    /// Requests that may wait for a synthesis thread; more are refused (`TtsError::Busy`).
    pub queue: usize,
    /// Default speaking rate (1.0 = the voice's own; < 1 slower).
    pub speed: f32,
    /// Silence between sentences of one reply, in ms.
    pub sentence_pause_ms: u32,
    /// Prompt cache directory (empty = memory only); relative paths are under `data_dir`.
    pub cache_dir: String,
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self {
            voice: "piper/en_US-joe-medium.onnx".into(),
            voices: BTreeMap::from([("zh".to_string(), "kokoro/zf_xiaobei".to_string())]),
            // Two voices: with one, live replies queued behind each other from 20 calls
            // on (e2e bench: TTS first-audio p95 1.6 s at 20 calls); ~100 MiB each.
            workers: 2,
            intra_threads: 1,
            queue: 16,
            speed: 1.0,
            sentence_pause_ms: 150,
            cache_dir: "prompt-cache".into(),
        }
    }
}

impl TtsConfig {
    /// The voice configured for `language` (`en` falls back to `voice`).
    pub fn voice_for(&self, language: &str) -> Option<&str> {
        match self.voices.get(language) {
            Some(v) => Some(v.as_str()),
            None if language == "en" => Some(self.voice.as_str()),
            None => None,
        }
    }
}
