//! Silero VAD (ONNX) with per-stream recurrent state.
//!
//! The model is fed fixed windows (512 samples at 16 kHz, 256 at 8 kHz) with the last
//! 64 (32) samples of the previous window prepended as context, and its 2x1x128 state
//! carried from call to call, exactly as the reference wrapper does. One `SileroVad` per
//! stream: `Session::run` needs `&mut self`, and the state belongs to the stream.

use std::path::Path;

use ivr_onnx::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::AsrError;
use crate::vad::{Vad, VadRate};

const STATE_LEN: usize = 2 * 128;

/// One stream's voice-activity detector.
pub struct SileroVad {
    session: Session,
    rate: VadRate,
    /// context ++ window, reused for every call.
    input: Vec<f32>,
    state: Vec<f32>,
    /// Samples that do not yet fill a window.
    pending: Vec<f32>,
}

impl SileroVad {
    /// Load `model` (silero_vad.onnx) into a single-threaded session: the model is tiny and
    /// one intra-op thread per stream is cheaper than contending for a pool.
    pub fn new(env: &Environment, model: &Path, rate: VadRate) -> Result<Self, AsrError> {
        if !model.is_file() {
            return Err(AsrError::MissingModel {
                path: model.to_path_buf(),
            });
        }
        let session = ivr_onnx::session(env, model, 1)?;
        let n = rate.context() + rate.window();
        Ok(Self {
            session,
            rate,
            input: vec![0.0; n],
            state: vec![0.0; STATE_LEN],
            pending: Vec::with_capacity(rate.window()),
        })
    }

    /// Speech probability of one full window (`rate.window()` samples, in [-1, 1]).
    pub fn process_window(&mut self, window: &[f32]) -> Result<f32, AsrError> {
        let (ctx, win) = (self.rate.context(), self.rate.window());
        if window.len() != win {
            return Err(AsrError::BadAudio(format!(
                "VAD window must be {win} samples, got {}",
                window.len()
            )));
        }
        self.input[ctx..].copy_from_slice(window);
        let err = |e: ort::Error| AsrError::Onnx(format!("silero vad: {e}"));
        let sr = [self.rate.hz() as i64];
        let (prob, new_state) = {
            let outputs = self
                .session
                .run(ort::inputs![
                    "input" => TensorRef::from_array_view(([1usize, ctx + win], &self.input[..])).map_err(err)?,
                    "state" => TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(err)?,
                    "sr" => TensorRef::from_array_view(([0usize; 0], &sr[..])).map_err(err)?,
                ])
                .map_err(err)?;
            let prob = outputs
                .get("output")
                .ok_or_else(|| AsrError::Onnx("silero vad: no `output`".into()))?
                .try_extract_tensor::<f32>()
                .map_err(err)?
                .1
                .first()
                .copied()
                .unwrap_or(0.0);
            let state = outputs
                .get("stateN")
                .ok_or_else(|| AsrError::Onnx("silero vad: no `stateN`".into()))?
                .try_extract_tensor::<f32>()
                .map_err(err)?
                .1
                .to_vec();
            (prob, state)
        };
        if new_state.len() == STATE_LEN {
            self.state.copy_from_slice(&new_state);
        }
        // The last `ctx` samples of this window are the next call's context.
        self.input.copy_within(win.., 0);
        Ok(prob)
    }
}

impl Vad for SileroVad {
    fn rate(&self) -> VadRate {
        self.rate
    }

    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
        self.pending.clear();
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AsrError> {
        let win = self.rate.window();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (win - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == win {
                let window = std::mem::take(&mut self.pending);
                let p = self.process_window(&window);
                self.pending = window;
                self.pending.clear();
                out.push(p?);
            }
        }
        Ok(())
    }
}
