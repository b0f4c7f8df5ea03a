//! WAV input (any PCM/float WAV, 8-48 kHz, mono/stereo) and the stereo call recorder.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::resample::{f32_to_i16, resample_all};
use crate::{FRAME_SAMPLES, MediaError, SAMPLE_RATE};

/// Mono 16-bit audio at `sample_rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct WavAudio {
    pub sample_rate: u32,
    pub samples: Vec<i16>,
}

impl WavAudio {
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.samples.len() as f64 / self.sample_rate.max(1) as f64,
        )
    }

    /// Converted to `rate` (rubato, delay-compensated).
    pub fn resampled(&self, rate: u32) -> Result<WavAudio, MediaError> {
        if rate == self.sample_rate {
            return Ok(self.clone());
        }
        let f: Vec<f32> = self.samples.iter().map(|&s| s as f32 / 32768.0).collect();
        let y = resample_all(&f, self.sample_rate, rate)?;
        Ok(WavAudio {
            sample_rate: rate,
            samples: y.into_iter().map(f32_to_i16).collect(),
        })
    }
}

fn wav_err(path: &Path, message: impl ToString) -> MediaError {
    MediaError::Wav {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads a PCM (8/16/24/32-bit) or 32-bit float WAV; stereo is averaged to mono.
pub fn read_wav(path: &Path) -> Result<WavAudio, MediaError> {
    let reader = hound::WavReader::open(path).map_err(|e| wav_err(path, e))?;
    let spec = reader.spec();
    if !(8000..=48000).contains(&spec.sample_rate) {
        return Err(wav_err(
            path,
            format!("sample rate {} Hz is outside 8-48 kHz", spec.sample_rate),
        ));
    }
    let channels = spec.channels as usize;
    if !(1..=2).contains(&channels) {
        return Err(wav_err(
            path,
            format!("{channels} channels (mono or stereo expected)"),
        ));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| wav_err(path, e))?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_err(path, e))?
        }
        (fmt, bits) => {
            return Err(wav_err(
                path,
                format!("unsupported sample format {fmt:?} {bits}-bit"),
            ));
        }
    };
    let samples = interleaved
        .chunks(channels)
        .map(|c| f32_to_i16(c.iter().sum::<f32>() / channels as f32))
        .collect();
    Ok(WavAudio {
        sample_rate: spec.sample_rate,
        samples,
    })
}

/// Reads a WAV and converts it to 8 kHz mono (prompts, test fixtures).
pub fn read_wav_8k(path: &Path) -> Result<Vec<i16>, MediaError> {
    Ok(read_wav(path)?.resampled(SAMPLE_RATE)?.samples)
}

/// Writes 8 kHz mono 16-bit PCM.
pub fn write_wav_mono(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<(), MediaError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| wav_err(path, e))?;
    for &s in samples {
        w.write_sample(s).map_err(|e| wav_err(path, e))?;
    }
    w.finalize().map_err(|e| wav_err(path, e))
}

/// Stereo 8 kHz call recording: caller left, bot right, one 20 ms frame pair per tick,
/// so the channels stay time-aligned. The header is rewritten every second (`FLUSH_EVERY`)
/// so a crash loses at most the last second.
pub struct CallRecorder {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    frames_since_flush: u32,
    frames: u64,
}

/// Frames between header updates (50 x 20 ms = 1 s).
pub const FLUSH_EVERY: u32 = 50;

impl CallRecorder {
    pub fn create(path: &Path) -> Result<Self, MediaError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| wav_err(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Some(writer),
            frames_since_flush: 0,
            frames: 0,
        })
    }

    /// Appends one tick: what the caller said (jitter buffer output) and what the bot sent.
    pub fn write_frame(
        &mut self,
        caller: &[i16; FRAME_SAMPLES],
        bot: &[i16; FRAME_SAMPLES],
    ) -> Result<(), MediaError> {
        let Some(w) = self.writer.as_mut() else {
            return Err(wav_err(&self.path, "recorder already finished"));
        };
        for (&l, &r) in caller.iter().zip(bot.iter()) {
            w.write_sample(l).map_err(|e| wav_err(&self.path, e))?;
            w.write_sample(r).map_err(|e| wav_err(&self.path, e))?;
        }
        self.frames += 1;
        self.frames_since_flush += 1;
        if self.frames_since_flush >= FLUSH_EVERY {
            self.frames_since_flush = 0;
            w.flush().map_err(|e| wav_err(&self.path, e))?;
        }
        Ok(())
    }

    /// Recorded length.
    pub fn duration(&self) -> std::time::Duration {
        crate::FRAME_DURATION * self.frames as u32
    }

    /// Writes the final header and closes the file.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(|e| wav_err(&self.path, e))?;
        }
        Ok(self.path.clone())
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.finalize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ivr-media-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn reads_formats_and_rejects_bad_files() {
        let p = tmp("s16.wav");
        write_wav_mono(&p, 8000, &[0, 1000, -1000, 32767]).unwrap();
        let a = read_wav(&p).unwrap();
        assert_eq!(
            (a.sample_rate, a.samples.clone()),
            (8000, vec![0, 1000, -1000, 32767])
        );
        // stereo float 22.05 kHz
        let p2 = tmp("f32.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&p2, spec).unwrap();
        for _ in 0..2205 {
            w.write_sample(0.5f32).unwrap();
            w.write_sample(0.0f32).unwrap();
        }
        w.finalize().unwrap();
        let b = read_wav(&p2).unwrap();
        assert_eq!(b.samples.len(), 2205);
        assert_eq!(b.samples[10], 8192);
        assert_eq!(b.resampled(8000).unwrap().samples.len(), 800);
        // garbage and truncated files: errors, not panics
        let p3 = tmp("junk.wav");
        std::fs::write(&p3, b"RIFF\x10\0\0\0WAVEjunkjunkjunk").unwrap();
        assert!(read_wav(&p3).is_err());
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p3, &bytes[..30]).unwrap();
        assert!(read_wav(&p3).is_err());
        // 4 kHz is out of range
        write_wav_mono(&p3, 4000, &[0; 10]).unwrap();
        let e = read_wav(&p3).unwrap_err().to_string();
        assert!(e.contains("8-48 kHz"), "{e}");
    }

    #[test]
    fn recorder_is_stereo_aligned_and_readable_before_finish() {
        let p = tmp("call.wav");
        let mut r = CallRecorder::create(&p).unwrap();
        for i in 0..120 {
            r.write_frame(&[i as i16; 160], &[-(i as i16); 160])
                .unwrap();
        }
        // Not finished (as after a crash): the first 100 frames (2 flushes) are readable.
        let reader = hound::WavReader::open(&p).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert!(reader.duration() >= 100 * 160, "{}", reader.duration());
        drop(reader);
        r.finish().unwrap();
        let mut reader = hound::WavReader::open(&p).unwrap();
        let s: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(s.len(), 120 * 160 * 2);
        assert_eq!((s[2 * 160 * 7], s[2 * 160 * 7 + 1]), (7, -7));
    }
}
