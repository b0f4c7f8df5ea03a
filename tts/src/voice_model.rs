//! The voice interface the engine runs: a Piper voice (English, espeak-ng phonemes) or a
//! Kokoro speaker (Mandarin, the crate's own G2P). `VoiceSetup` is what every synthesis
//! thread loads its session from; `LoadedVoice` is one thread's session plus the text
//! front end (normaliser, clause splitter, phonemizer) for its language.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ivr_onnx::Environment;

use crate::chunk::{Chunk, chunks};
use crate::kokoro::{KOKORO_RATE, KokoroSpec, KokoroVoice};
use crate::normalize::normalize;
use crate::phonemize::{EspeakPhonemizer, Phonemizer};
use crate::voice::{Voice, VoiceSpec};
use crate::zh_chunk::zh_chunks;
use crate::zh_g2p::MandarinG2p;
use crate::zh_normalize::normalize_zh;
use crate::{TtsConfig, TtsError};

/// A voice as written in the config: `kokoro/<speaker>` (e.g. `kokoro/zf_xiaobei`) or the
/// path of a Piper `.onnx`, relative to the models dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceRef {
    Piper(PathBuf),
    Kokoro(String),
}

impl VoiceRef {
    pub fn parse(s: &str) -> Self {
        match s.trim().strip_prefix("kokoro/") {
            Some(speaker) if !speaker.ends_with(".onnx") => Self::Kokoro(speaker.to_string()),
            _ => Self::Piper(PathBuf::from(s.trim())),
        }
    }
}

/// What the synthesis threads of one engine load: shared, read-only parts of a voice.
#[derive(Clone)]
pub enum VoiceSetup {
    Piper {
        spec: Arc<VoiceSpec>,
        phonemizer: Arc<dyn Phonemizer>,
    },
    Kokoro {
        spec: Arc<KokoroSpec>,
        g2p: Arc<MandarinG2p>,
    },
}

impl VoiceSetup {
    /// The voice `cfg` names for `language` (`TtsConfig::voice_for`), loaded from `models_dir`.
    /// Kokoro voices speak Mandarin (the G2P is built here, ~0.3 s).
    pub fn for_language(
        cfg: &TtsConfig,
        language: &str,
        models_dir: &Path,
    ) -> Result<Self, TtsError> {
        let voice = cfg.voice_for(language).ok_or_else(|| {
            TtsError::VoiceConfig(format!(
                "no voice for language {language:?}: set [tts.voices] {language} = \"...\""
            ))
        })?;
        Self::load(&VoiceRef::parse(voice), models_dir)
    }

    pub fn load(voice: &VoiceRef, models_dir: &Path) -> Result<Self, TtsError> {
        match voice {
            VoiceRef::Piper(rel) => {
                let spec = Arc::new(VoiceSpec::load(&models_dir.join(rel))?);
                let phonemizer: Arc<dyn Phonemizer> =
                    Arc::new(EspeakPhonemizer::new(&spec.espeak_voice)?);
                Ok(Self::Piper { spec, phonemizer })
            }
            VoiceRef::Kokoro(speaker) => Ok(Self::Kokoro {
                spec: Arc::new(KokoroSpec::load(models_dir, speaker)?),
                g2p: Arc::new(MandarinG2p::new()),
            }),
        }
    }

    /// Short hash identifying the voice: part of prompt-cache keys.
    pub fn id(&self) -> &str {
        match self {
            Self::Piper { spec, .. } => &spec.id,
            Self::Kokoro { spec, .. } => &spec.id,
        }
    }

    /// Native output rate of the model.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Self::Piper { spec, .. } => spec.sample_rate,
            Self::Kokoro { .. } => KOKORO_RATE,
        }
    }

    /// The language its text front end handles (`en`, `zh`).
    pub fn language(&self) -> &'static str {
        match self {
            Self::Piper { .. } => "en",
            Self::Kokoro { .. } => "zh",
        }
    }

    pub(crate) fn load_session(
        &self,
        env: &Environment,
        intra_threads: usize,
    ) -> Result<LoadedVoice, TtsError> {
        Ok(match self {
            Self::Piper { spec, phonemizer } => LoadedVoice::Piper {
                voice: Voice::load(env, spec.clone(), intra_threads)?,
                phonemizer: phonemizer.clone(),
            },
            Self::Kokoro { spec, g2p } => {
                let mut voice = KokoroVoice::load(env, spec.clone(), intra_threads)?;
                // ONNX Runtime finishes its set-up on the first run (~1 s for this model):
                // pay it here, at start, rather than on a caller's first reply.
                voice.infer(&spec.token_ids(&g2p.phonemes("好。")), 1.0)?;
                LoadedVoice::Kokoro {
                    voice,
                    g2p: g2p.clone(),
                }
            }
        })
    }
}

/// One synthesis thread's voice session and its language's text front end.
pub(crate) enum LoadedVoice {
    Piper {
        voice: Voice,
        phonemizer: Arc<dyn Phonemizer>,
    },
    Kokoro {
        voice: KokoroVoice,
        g2p: Arc<MandarinG2p>,
    },
}

impl LoadedVoice {
    /// Normalise a request and split it into clauses and pauses.
    pub fn chunks(&self, text: &str) -> Vec<Chunk> {
        match self {
            Self::Piper { .. } => chunks(&normalize(text)),
            Self::Kokoro { .. } => zh_chunks(&normalize_zh(text)),
        }
    }

    /// One clause -> float audio at the model's native rate.
    pub fn synthesize(&mut self, clause: &str, speed: f32) -> Result<Vec<f32>, TtsError> {
        match self {
            Self::Piper { voice, phonemizer } => {
                let phonemes = phonemizer.phonemize(clause)?;
                let ids = voice.spec.phoneme_ids(&phonemes);
                voice.infer(&ids, speed)
            }
            Self::Kokoro { voice, g2p } => {
                let phonemes = g2p.phonemes(clause);
                let ids = voice.spec.token_ids(&phonemes);
                voice.infer(&ids, speed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_refs() {
        assert_eq!(
            VoiceRef::parse("kokoro/zf_xiaobei"),
            VoiceRef::Kokoro("zf_xiaobei".into())
        );
        assert_eq!(
            VoiceRef::parse("piper/en_US-joe-medium.onnx"),
            VoiceRef::Piper("piper/en_US-joe-medium.onnx".into())
        );
        assert_eq!(
            VoiceRef::parse("kokoro/kokoro-v1.0.int8.onnx"),
            VoiceRef::Piper("kokoro/kokoro-v1.0.int8.onnx".into())
        );
    }
}
