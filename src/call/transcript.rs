//! What one call produces turn by turn: the transcript's lines and each bot turn's
//! latency. Owned by the call module (the core makes them); records store them.

use ivr_dialog::Speaker;
use serde::{Deserialize, Serialize};

/// Latency of one bot turn, in milliseconds from the end of the caller's speech.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnLatency {
    pub turn: u32,
    /// End of caller speech -> ASR final result.
    pub asr_ms: Option<f64>,
    /// End of caller speech -> dialog decision.
    pub dialog_ms: Option<f64>,
    /// End of caller speech -> first reply audio sent.
    pub first_audio_ms: Option<f64>,
    /// Whether the reply came from the prompt cache.
    pub cached: bool,
}

/// One line of the transcript JSONL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub speaker: Speaker,
    pub text: String,
    /// Seconds from the answer.
    pub start: f64,
    pub end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Bot prompts cut short by barge-in.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub interrupted: bool,
}
