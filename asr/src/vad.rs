//! Voice activity detection: the `Vad` trait the speech stream runs on, and the window
//! sizes of the rates it supports. Silero (`SileroVad`, ONNX) is the real detector; the
//! energy detector (`EnergyVad`) needs no model, for tests of the call core and tools.

use crate::AsrError;

/// Sample rates the Silero model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadRate {
    Hz8000,
    Hz16000,
}

impl VadRate {
    pub fn from_hz(hz: u32) -> Result<Self, AsrError> {
        match hz {
            8000 => Ok(Self::Hz8000),
            16000 => Ok(Self::Hz16000),
            other => Err(AsrError::BadAudio(format!(
                "Silero VAD runs at 8000 or 16000 Hz, not {other}"
            ))),
        }
    }
    pub fn hz(self) -> u32 {
        match self {
            Self::Hz8000 => 8000,
            Self::Hz16000 => 16000,
        }
    }
    /// Samples per VAD window (32 ms).
    pub fn window(self) -> usize {
        match self {
            Self::Hz8000 => 256,
            Self::Hz16000 => 512,
        }
    }
    pub(crate) fn context(self) -> usize {
        match self {
            Self::Hz8000 => 32,
            Self::Hz16000 => 64,
        }
    }
}

/// A voice-activity detector for one stream: fixed windows of `rate().window()` samples
/// in, one speech probability (0..1) per completed window out. Stateful (a stream's
/// detector carries its state from window to window), hence one per call.
pub trait Vad: Send {
    fn rate(&self) -> VadRate;
    /// Forget the stream (new call, or after a long gap).
    fn reset(&mut self);
    /// Feed any number of samples; pushes one probability per completed window.
    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AsrError>;
}
