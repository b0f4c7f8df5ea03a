//! Voice rate (Piper 22.05 kHz, Kokoro 24 kHz) -> 8 kHz (phone) or 16 kHz, with rubato's FFT resampler.
//! Each synthesized clause is an independent clip, so it is resampled whole
//! (`process_all` trims the resampler delay; no state carries between clauses).
//! (ivr-media has resamplers too; this one keeps ivr-tts independent of it.)

use std::collections::HashMap;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::TtsError;

/// Output rates supported by the engine besides the voice's own.
pub const SUPPORTED_RATES: [u32; 4] = [8000, 16000, 22050, 24000];

/// Resamplers from one input rate to any number of output rates (built on first use).
pub struct Resamplers {
    from: u32,
    by_rate: HashMap<u32, Fft<f32>>,
}

impl Resamplers {
    pub fn new(from: u32) -> Self {
        Self {
            from,
            by_rate: HashMap::new(),
        }
    }

    /// Resample a whole clip to `to` Hz (a copy when the rates match).
    pub fn resample(&mut self, clip: &[f32], to: u32) -> Result<Vec<f32>, TtsError> {
        if to == self.from || clip.is_empty() {
            return Ok(clip.to_vec());
        }
        if !(4000..=192_000).contains(&to) {
            return Err(TtsError::Resample(format!("unsupported rate {to}")));
        }
        let r = match self.by_rate.entry(to) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                Fft::<f32>::new(self.from as usize, to as usize, 1024, 1, FixedSync::Input)
                    .map_err(|e| TtsError::Resample(e.to_string()))?,
            ),
        };
        let input = InterleavedSlice::new(clip, 1, clip.len())
            .map_err(|e| TtsError::Resample(e.to_string()))?;
        let out = r
            .process_all(&input, clip.len(), None)
            .map_err(|e| TtsError::Resample(e.to_string()))?;
        Ok(out.take_data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn lengths_and_tone_kept() {
        let mut r = Resamplers::new(22050);
        let x = tone(22050, 440.0, 1.0);
        let y = r.resample(&x, 8000).unwrap();
        assert!((y.len() as i64 - 8000).abs() <= 2, "{}", y.len());
        // zero crossings of a 440 Hz tone over one second: ~880
        let zc = y.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert!((430..=450).contains(&zc), "{zc}");
        let y16 = r.resample(&x, 16000).unwrap();
        assert!((y16.len() as i64 - 16000).abs() <= 2);
        assert_eq!(r.resample(&x, 22050).unwrap(), x);
        // short clips and repeated use work (state is reset per clip)
        assert!(!r.resample(&x[..100], 8000).unwrap().is_empty());
        assert!(r.resample(&[], 8000).unwrap().is_empty());
        assert!(r.resample(&x, 1).is_err());
    }

    #[test]
    fn removes_content_above_nyquist() {
        let mut r = Resamplers::new(22050);
        let x = tone(22050, 6000.0, 0.5); // above 4 kHz: must not alias into the phone band
        let y = r.resample(&x, 8000).unwrap();
        let rms = (y.iter().map(|v| v * v).sum::<f32>() / y.len() as f32).sqrt();
        assert!(rms < 0.02, "aliased energy {rms}");
    }
}
