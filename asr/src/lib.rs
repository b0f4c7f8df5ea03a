//! ivr-asr: speech recognition for 8 kHz phone audio, on the machine.
//!
//! Silero VAD (ONNX), a sans-IO adaptive endpointer, the Whisper recogniser with a
//! worker pool on dedicated threads, the hallucination guard, speculative decoding
//! support, and the CTranslate2 -> ggml converter used by `ivr models convert`.
//!
//! Audio into this crate is mono f32 in [-1, 1] at 16 kHz (the VAD also runs at 8 kHz).
//! Reading files and resampling belong to ivr-media.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod convert;
mod endpoint;
mod energy;
mod guard;
mod language;
mod pool;
mod recognizer;
mod score;
mod script;
mod silero;
mod speculative;
mod stream;
mod vad;

pub use convert::{ConvertError, ConvertSummary, convert_ct2_to_ggml};
pub use endpoint::{EndReason, EndpointConfig, EndpointEvent, Endpointer, Expectation};
pub use energy::EnergyVad;
pub use language::{BUILTIN_LANGUAGES, LanguageAsr, LanguageOverrides, OutputScript};
pub use pool::{AsrPool, AsrTicket, TextEncoder};
pub use recognizer::{Hints, MAX_SECONDS, Recognizer, Segment, Transcript, WhisperModel, Word};
pub use score::{CharErrors, char_errors, normalize_zh_for_scoring};
pub use script::is_han;
pub use silero::SileroVad;
pub use speculative::{Speculation, SpeculativeOutcome};
pub use stream::{SpeechStream, StreamEvent, Utterance};
pub use vad::{Vad, VadRate};

/// Whisper's input rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// The command that fetches and converts the models.
pub const FETCH_HINT: &str = "make models";

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("model file {path} is missing: run `{FETCH_HINT}`")]
    MissingModel { path: PathBuf },
    #[error("whisper: {0}")]
    Whisper(String),
    #[error("onnx runtime: {0}")]
    Onnx(String),
    #[error(transparent)]
    Runtime(#[from] ivr_onnx::OnnxError),
    #[error("bad audio: {0}")]
    BadAudio(String),
    #[error(
        "audio is {seconds:.1} s long; at most {max:.0} s per utterance (split it, e.g. with the endpointer)"
    )]
    TooLong { seconds: f64, max: f64 },
    #[error("ASR queue full ({queued} waiting): try again later")]
    QueueFull { queued: usize },
    #[error("no recogniser for language `{code}` (this pool has: {available})")]
    UnknownLanguage { code: String, available: String },
    #[error("ASR worker pool has shut down")]
    PoolClosed,
}

/// ASR settings (`[asr]` in ivr.toml). The top-level model/language/prompt are the default
/// language's (English); `[asr.languages.<code>]` adds recognisers for others (`zh` is built
/// in: see `AsrConfig::language_settings`). One pool serves them all.
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
    /// Silero VAD model, relative to the models dir.
    pub vad_model: String,
    /// Rate the VAD runs at: 16000 (after the call's 8 -> 16 kHz resampling) or 8000.
    pub vad_sample_rate: u32,
    /// Audio kept before the detected speech start (Silero reacts a frame or two late).
    pub preroll_ms: u64,
    /// Start decoding at the first pause (speculative decoding).
    pub speculative: bool,
    /// Prompt always given to Whisper, before the dialog's hints (empty: none).
    pub initial_prompt: String,
    /// Token cap of the default language: tokens per second of audio (at least 24).
    pub tokens_per_second: f32,
    /// Other languages, by code (`[asr.languages.zh]`); fields left out keep the defaults.
    pub languages: BTreeMap<String, LanguageOverrides>,
    pub endpoint: EndpointConfig,
}

impl Default for AsrConfig {
    fn default() -> Self {
        Self {
            model: "ggml-tiny.en.bin".into(),
            language: "en".into(),
            // Two single-threaded workers: on 2 cores shared with the calls' media work,
            // a 2-thread whisper.cpp decode sometimes stalls in its spin barrier (measured
            // 3.7 s instead of 0.2 s while another process held a core; 1 thread: 0.32 s).
            workers: 2,
            threads_per_worker: 1,
            queue: 64,
            vad_model: "silero_vad.onnx".into(),
            vad_sample_rate: 16_000,
            preroll_ms: 200,
            speculative: true,
            initial_prompt: String::new(),
            tokens_per_second: 8.0,
            languages: BTreeMap::new(),
            endpoint: EndpointConfig::default(),
        }
    }
}
