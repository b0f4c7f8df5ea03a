//! An energy (level) voice-activity detector: the window's RMS level mapped linearly to
//! a probability between two thresholds. No model, exact and cheap: it serves the call
//! core's tests (scripted tones and silence, where what is "speech" must be certain)
//! and tools that run without the ONNX models. Line noise above `quiet_dbfs` would count
//! as speech: Silero stays the detector for real calls.

use crate::AsrError;
use crate::vad::{Vad, VadRate};

#[derive(Debug, Clone)]
pub struct EnergyVad {
    rate: VadRate,
    /// At or below this level (dBFS) the probability is 0.
    quiet_dbfs: f32,
    /// At or above this level the probability is 1.
    loud_dbfs: f32,
    pending: Vec<f32>,
}

impl EnergyVad {
    /// Probability 0 at -50 dBFS and below, 1 at -30 dBFS and above (a phone caller
    /// speaks at about -20 dBFS; a quiet line sits below -50).
    pub fn new(rate: VadRate) -> Self {
        Self::with_thresholds(rate, -50.0, -30.0)
    }

    pub fn with_thresholds(rate: VadRate, quiet_dbfs: f32, loud_dbfs: f32) -> Self {
        Self {
            rate,
            quiet_dbfs,
            loud_dbfs: loud_dbfs.max(quiet_dbfs + 0.1),
            pending: Vec::with_capacity(rate.window()),
        }
    }

    fn probability(&self, window: &[f32]) -> f32 {
        let power = window.iter().map(|s| s * s).sum::<f32>() / window.len().max(1) as f32;
        let dbfs = 10.0 * power.max(1e-12).log10();
        ((dbfs - self.quiet_dbfs) / (self.loud_dbfs - self.quiet_dbfs)).clamp(0.0, 1.0)
    }
}

impl Vad for EnergyVad {
    fn rate(&self) -> VadRate {
        self.rate
    }

    fn reset(&mut self) {
        self.pending.clear();
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AsrError> {
        let win = self.rate.window();
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() == win {
                out.push(self.probability(&self.pending));
                self.pending.clear();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin())
            .collect()
    }

    #[test]
    fn one_probability_per_window_whatever_the_chunking() {
        let mut vad = EnergyVad::new(VadRate::Hz16000);
        let mut probs = Vec::new();
        for chunk in tone(0.3, 512 * 3 + 100).chunks(320) {
            vad.push(chunk, &mut probs).unwrap();
        }
        assert_eq!(probs.len(), 3);
        assert!(probs.iter().all(|p| *p == 1.0), "{probs:?}");
    }

    #[test]
    fn silence_is_zero_and_levels_in_between_are_graded() {
        let mut vad = EnergyVad::new(VadRate::Hz16000);
        let mut probs = Vec::new();
        vad.push(&vec![0.0; 512], &mut probs).unwrap();
        // A sine of amplitude a has RMS a/sqrt(2): 0.0142 -> -40 dBFS, half-way.
        vad.push(&tone(0.0142, 512), &mut probs).unwrap();
        assert_eq!(probs[0], 0.0);
        assert!((probs[1] - 0.5).abs() < 0.05, "{probs:?}");
    }

    #[test]
    fn reset_drops_a_partial_window() {
        let mut vad = EnergyVad::new(VadRate::Hz8000);
        let mut probs = Vec::new();
        vad.push(&tone(0.3, 200), &mut probs).unwrap();
        vad.reset();
        vad.push(&tone(0.3, 200), &mut probs).unwrap();
        assert!(probs.is_empty());
    }
}
