//! Prompt cache: fixed prompts synthesized once, kept as 8 kHz mono i16 WAV files on disk
//! and in memory, keyed by a hash of (voice, text, speaking rate, sample rate). A hit returns
//! the very same samples with no synthesis.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::TtsError;

/// Sample rate of cached prompts (the phone rate).
pub const CACHE_RATE: u32 = 8000;

pub struct PromptCache {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, Arc<[i16]>>>,
}

/// Cache key: hex sha256 of everything that changes the audio.
pub fn cache_key(voice_id: &str, text: &str, speed: f32, rate: u32) -> String {
    let mut h = Sha256::new();
    for part in [
        // v2: leading silence trimmed (engine.rs `trim_leading_silence`).
        "ivr-tts-prompt-v2",
        voice_id,
        text,
        &format!("{speed:.3}"),
        &rate.to_string(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl PromptCache {
    /// `dir = None`: memory only.
    pub fn new(dir: Option<&Path>) -> Result<Self, TtsError> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d).map_err(|e| TtsError::Io {
                path: d.to_path_buf(),
                source: e,
            })?;
        }
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
            mem: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.wav")))
    }

    /// Cached samples, from memory or disk. A corrupt file counts as a miss (and is logged).
    pub fn get(&self, key: &str) -> Option<Arc<[i16]>> {
        if let Ok(m) = self.mem.lock()
            && let Some(v) = m.get(key)
        {
            return Some(v.clone());
        }
        let path = self.path(key)?;
        if !path.is_file() {
            return None;
        }
        match read_wav(&path) {
            Ok(pcm) => {
                let pcm: Arc<[i16]> = pcm.into();
                if let Ok(mut m) = self.mem.lock() {
                    m.insert(key.to_string(), pcm.clone());
                }
                Some(pcm)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable cached prompt; resynthesizing");
                None
            }
        }
    }

    /// Store samples (8 kHz). Written to a temporary file and renamed, so a reader never sees
    /// half a prompt.
    pub fn put(&self, key: &str, pcm: Arc<[i16]>) -> Result<(), TtsError> {
        if let Some(path) = self.path(key) {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            write_wav(&tmp, &pcm, CACHE_RATE)?;
            std::fs::rename(&tmp, &path).map_err(|e| TtsError::Io {
                path: path.clone(),
                source: e,
            })?;
        }
        if let Ok(mut m) = self.mem.lock() {
            m.insert(key.to_string(), pcm);
        }
        Ok(())
    }
}

/// Write mono i16 PCM as a WAV file.
pub fn write_wav(path: &Path, pcm: &[i16], rate: u32) -> Result<(), TtsError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| TtsError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(io)?;
    for &s in pcm {
        w.write_sample(s).map_err(io)?;
    }
    w.finalize().map_err(io)
}

/// Read a mono 16-bit 8 kHz WAV written by `write_wav`.
fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let r = hound::WavReader::open(path).map_err(|e| e.to_string())?;
    let s = r.spec();
    if s.channels != 1 || s.bits_per_sample != 16 || s.sample_rate != CACHE_RATE {
        return Err(format!("unexpected format {s:?}"));
    }
    r.into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-tts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn keys_differ_by_every_part() {
        let k = cache_key("v", "hello", 1.0, 8000);
        assert_eq!(k, cache_key("v", "hello", 1.0, 8000));
        assert_ne!(k, cache_key("w", "hello", 1.0, 8000));
        assert_ne!(k, cache_key("v", "hello!", 1.0, 8000));
        assert_ne!(k, cache_key("v", "hello", 0.8, 8000));
        assert_ne!(k, cache_key("v", "hello", 1.0, 16000));
        // length-prefixing: moving text between parts changes the key
        assert_ne!(
            cache_key("ab", "c", 1.0, 8000),
            cache_key("a", "bc", 1.0, 8000)
        );
    }

    #[test]
    fn disk_round_trip_and_corrupt_file() {
        let d = tmpdir("cache");
        let pcm: Arc<[i16]> = vec![1i16, -2, 300, i16::MIN, i16::MAX].into();
        {
            let c = PromptCache::new(Some(&d)).unwrap();
            assert!(c.get("k").is_none());
            c.put("k", pcm.clone()).unwrap();
        }
        let c2 = PromptCache::new(Some(&d)).unwrap();
        assert_eq!(&*c2.get("k").unwrap(), &*pcm);
        std::fs::write(d.join("bad.wav"), b"garbage").unwrap();
        assert!(c2.get("bad").is_none());
        let _ = std::fs::remove_dir_all(&d);
    }
}
