//! Streaming sample-rate conversion with rubato's FFT resampler (fixed input chunks).
//!
//! Delays (measured by the `delays_are_as_documented` test, = rubato's `output_delay`):
//! - 8 -> 16 kHz (caller audio for ASR), 160-sample chunks: 160 output samples = 10 ms
//!   (see `StreamResampler::delay`), on top of the 20 ms frame being collected.
//! - 22.05 -> 8 kHz (TTS to the line), 441-sample chunks: 80 output samples = 10 ms.
//! - 22.05 -> 16 kHz, 441-sample chunks: 160 output samples = 10 ms.
//!
//! `resample_all` trims that delay, for whole clips (prompts, WAV files).

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use crate::MediaError;

pub struct StreamResampler {
    inner: Fft<f32>,
    in_rate: u32,
    out_rate: u32,
    chunk_in: usize,
    pending: Vec<f32>,
    out_buf: Vec<Vec<f32>>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .finish()
    }
}

impl StreamResampler {
    /// Mono resampler consuming `chunk_in` input samples per internal step.
    pub fn new(in_rate: u32, out_rate: u32, chunk_in: usize) -> Result<Self, MediaError> {
        let inner = Fft::<f32>::new(
            in_rate as usize,
            out_rate as usize,
            chunk_in,
            1,
            FixedSync::Input,
        )
        .map_err(|e| MediaError::Resample(e.to_string()))?;
        let max_out = inner.output_frames_max();
        Ok(Self {
            inner,
            in_rate,
            out_rate,
            chunk_in,
            pending: Vec::with_capacity(chunk_in * 2),
            out_buf: vec![vec![0.0; max_out]],
        })
    }

    /// Caller audio: 8 kHz -> 16 kHz for VAD/ASR, one 20 ms frame per step (160 -> 320).
    pub fn caller_8k_to_16k() -> Result<Self, MediaError> {
        Self::new(8000, 16000, 160)
    }

    /// TTS: 22.05 kHz -> 8 kHz for the line, 20 ms steps (441 -> 160).
    pub fn tts_22k_to_8k() -> Result<Self, MediaError> {
        Self::new(22050, 8000, 441)
    }

    /// TTS: 22.05 kHz -> 16 kHz, 20 ms steps (441 -> 320).
    pub fn tts_22k_to_16k() -> Result<Self, MediaError> {
        Self::new(22050, 16000, 441)
    }

    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Algorithmic delay in output samples.
    pub fn delay_samples(&self) -> usize {
        self.inner.output_delay()
    }

    /// Algorithmic delay.
    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.delay_samples() as f64 / self.out_rate as f64)
    }

    /// Resamples `input` (f32 in [-1, 1]), appending whatever is ready to `out`.
    /// Input that does not fill a chunk waits for the next call.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), MediaError> {
        self.pending.extend_from_slice(input);
        let mut offset = 0;
        while self.pending.len() - offset >= self.chunk_in {
            self.step(offset, None, out)?;
            offset += self.chunk_in;
        }
        self.pending.drain(..offset);
        Ok(())
    }

    /// Same as `process` for 16-bit PCM.
    pub fn process_i16(&mut self, input: &[i16], out: &mut Vec<f32>) -> Result<(), MediaError> {
        let f: Vec<f32> = input.iter().map(|&s| s as f32 / 32768.0).collect();
        self.process(&f, out)
    }

    /// Pushes out the buffered tail and the resampler's delay line (zero-padded).
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), MediaError> {
        let partial = self.pending.len();
        if partial > 0 {
            self.step(0, Some(partial), out)?;
            self.pending.clear();
        }
        let mut remaining = self.delay_samples();
        while remaining > 0 {
            let before = out.len();
            self.step(0, Some(0), out)?;
            let got = out.len() - before;
            if got >= remaining {
                out.truncate(before + remaining);
                break;
            }
            remaining -= got;
        }
        Ok(())
    }

    fn step(
        &mut self,
        offset: usize,
        partial: Option<usize>,
        out: &mut Vec<f32>,
    ) -> Result<(), MediaError> {
        let frames_in = partial.unwrap_or(self.chunk_in);
        // rubato wants at least a chunk's worth of buffer; partial_len marks the valid part.
        let mut tmp;
        let input: &[f32] = if frames_in < self.chunk_in {
            tmp = vec![0.0; self.chunk_in];
            tmp[..frames_in].copy_from_slice(&self.pending[offset..offset + frames_in]);
            &tmp
        } else {
            &self.pending[offset..offset + self.chunk_in]
        };
        let adapter_in = SequentialSlice::new(input, 1, self.chunk_in)
            .map_err(|e| MediaError::Resample(e.to_string()))?;
        let frames_out_cap = self.out_buf[0].len();
        let mut adapter_out = SequentialSliceOfVecs::new_mut(&mut self.out_buf, 1, frames_out_cap)
            .map_err(|e| MediaError::Resample(e.to_string()))?;
        let indexing = rubato::Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (_, n_out) = self
            .inner
            .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            .map_err(|e| MediaError::Resample(e.to_string()))?;
        out.extend_from_slice(&self.out_buf[0][..n_out]);
        Ok(())
    }
}

/// Resamples a whole clip, with the delay trimmed: output length = round(len * out/in).
pub fn resample_all(input: &[f32], in_rate: u32, out_rate: u32) -> Result<Vec<f32>, MediaError> {
    if in_rate == out_rate {
        return Ok(input.to_vec());
    }
    let chunk = (in_rate as usize / 50).max(1); // 20 ms
    let mut r = StreamResampler::new(in_rate, out_rate, chunk)?;
    let delay = r.delay_samples();
    let mut out =
        Vec::with_capacity(input.len() * out_rate as usize / in_rate as usize + delay + chunk);
    r.process(input, &mut out)?;
    r.flush(&mut out)?;
    let want =
        ((input.len() as u64 * out_rate as u64 + in_rate as u64 / 2) / in_rate as u64) as usize;
    let start = delay.min(out.len());
    let mut v = out.split_off(start);
    v.resize(want, 0.0);
    Ok(v)
}

/// f32 in [-1, 1] to 16-bit PCM with saturation.
pub fn f32_to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, secs: f32, amp: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Goertzel-free frequency check: zero crossings over the steady part, and RMS level.
    fn freq_and_rms(x: &[f32], rate: u32) -> (f32, f32) {
        let mid = &x[x.len() / 4..x.len() * 3 / 4];
        let crossings = mid
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        let freq = crossings as f32 / 2.0 / (mid.len() as f32 / rate as f32);
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        (freq, rms)
    }

    #[test]
    fn sine_keeps_frequency_and_level() {
        for (inr, outr, f) in [
            (8000, 16000, 1000.0),
            (22050, 8000, 1000.0),
            (22050, 16000, 3000.0),
            (8000, 16000, 3400.0),
        ] {
            let x = sine(inr, f, 1.0, 0.5);
            let y = resample_all(&x, inr, outr).unwrap();
            assert_eq!(y.len(), outr as usize);
            let (fy, ry) = freq_and_rms(&y, outr);
            assert!((fy - f).abs() < f * 0.01, "{inr}->{outr}: {fy} Hz");
            assert!(
                (ry - 0.5 / 2f32.sqrt()).abs() < 0.01,
                "{inr}->{outr}: rms {ry}"
            );
        }
    }

    #[test]
    fn downsampling_removes_content_above_nyquist() {
        // 6 kHz is above the 4 kHz Nyquist of 8 kHz output: must be attenuated > 40 dB.
        let x = sine(22050, 6000.0, 1.0, 0.5);
        let y = resample_all(&x, 22050, 8000).unwrap();
        let (_, rms) = freq_and_rms(&y, 8000);
        assert!(rms < 0.0035, "alias rms {rms}");
    }

    #[test]
    fn delays_are_as_documented() {
        let r = StreamResampler::caller_8k_to_16k().unwrap();
        assert_eq!(r.delay_samples(), 160, "{:?}", r.delay());
        let r = StreamResampler::tts_22k_to_8k().unwrap();
        assert_eq!(r.delay_samples(), 80, "{:?}", r.delay());
        let r = StreamResampler::tts_22k_to_16k().unwrap();
        assert_eq!(r.delay_samples(), 160, "{:?}", r.delay());
    }

    #[test]
    fn streaming_frames_of_160_give_320() {
        let mut r = StreamResampler::caller_8k_to_16k().unwrap();
        let mut out = Vec::new();
        for _ in 0..10 {
            let before = out.len();
            r.process_i16(&[1000; 160], &mut out).unwrap();
            assert_eq!(out.len() - before, 320);
        }
    }
}
