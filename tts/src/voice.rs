//! A Piper (VITS) voice: its `.onnx.json` config, phoneme -> id mapping, and the ONNX
//! session that turns ids into 22.05 kHz audio.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ivr_onnx::Environment;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::{FETCH_HINT, TtsError};

/// What the voice's `.onnx.json` says (the parts the runner needs).
#[derive(Debug, Clone)]
pub struct VoiceSpec {
    /// Path of the `.onnx` model.
    pub model: PathBuf,
    /// Native sample rate of the voice's output (22050 for Piper "medium").
    pub sample_rate: u32,
    /// espeak-ng voice for the phonemizer (`en-us`).
    pub espeak_voice: String,
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
    phoneme_ids: HashMap<char, Vec<i64>>,
    /// Short hash identifying the voice (config + model size): part of prompt-cache keys.
    pub id: String,
}

#[derive(Deserialize)]
struct RawConfig {
    audio: RawAudio,
    espeak: Option<RawEspeak>,
    inference: Option<RawInference>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_speakers: Option<u32>,
}
#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}
#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}
#[derive(Deserialize)]
struct RawInference {
    noise_scale: Option<f32>,
    length_scale: Option<f32>,
    noise_w: Option<f32>,
}

const PAD: char = '_';
const BOS: char = '^';
const EOS: char = '$';

impl VoiceSpec {
    /// Read `<model>.json` next to `model` (Piper's layout).
    pub fn load(model: &Path) -> Result<Self, TtsError> {
        let mut json_path = model.as_os_str().to_owned();
        json_path.push(".json");
        let json_path = PathBuf::from(json_path);
        for p in [model, json_path.as_path()] {
            if !p.is_file() {
                return Err(TtsError::MissingFile {
                    path: p.to_path_buf(),
                    hint: FETCH_HINT,
                });
            }
        }
        let text = std::fs::read_to_string(&json_path).map_err(|e| TtsError::Io {
            path: json_path.clone(),
            source: e,
        })?;
        let model_len = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
        Self::from_json(&text, model, model_len)
            .map_err(|e| TtsError::VoiceConfig(format!("{}: {e}", json_path.display())))
    }

    /// Parse a voice config (exposed for tests). `model_len` goes into the voice id.
    pub fn from_json(text: &str, model: &Path, model_len: u64) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if raw.num_speakers.unwrap_or(1) > 1 {
            return Err("multi-speaker voices are not supported".into());
        }
        if raw.audio.sample_rate < 8000 || raw.audio.sample_rate > 96_000 {
            return Err(format!("odd sample_rate {}", raw.audio.sample_rate));
        }
        let mut phoneme_ids = HashMap::new();
        for (k, v) in raw.phoneme_id_map {
            let mut cs = k.chars();
            if let (Some(c), None) = (cs.next(), cs.next()) {
                phoneme_ids.insert(c, v);
            }
        }
        for c in [PAD, BOS, EOS] {
            if !phoneme_ids.contains_key(&c) {
                return Err(format!("phoneme_id_map lacks {c:?}"));
            }
        }
        let inf = raw.inference.unwrap_or(RawInference {
            noise_scale: None,
            length_scale: None,
            noise_w: None,
        });
        let id = {
            let mut h = Sha256::new();
            h.update(text.as_bytes());
            h.update(model_len.to_le_bytes());
            let d = h.finalize();
            d.iter().take(8).map(|b| format!("{b:02x}")).collect()
        };
        Ok(Self {
            model: model.to_path_buf(),
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw.espeak.map_or_else(|| "en-us".to_string(), |e| e.voice),
            noise_scale: inf.noise_scale.unwrap_or(0.667),
            length_scale: inf.length_scale.unwrap_or(1.0),
            noise_w: inf.noise_w.unwrap_or(0.8),
            phoneme_ids,
            id,
        })
    }

    /// Piper's id sequence: `^ _ p1 _ p2 _ ... $` (NFD-normalised; unknown phonemes skipped).
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let pad = &self.phoneme_ids[&PAD];
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 4);
        ids.extend_from_slice(&self.phoneme_ids[&BOS]);
        ids.extend_from_slice(pad);
        for c in phonemes.nfd() {
            if let Some(v) = self.phoneme_ids.get(&c) {
                ids.extend_from_slice(v);
                ids.extend_from_slice(pad);
            } else {
                tracing::debug!(phoneme = %c, "phoneme not in the voice's map; skipped");
            }
        }
        ids.extend_from_slice(&self.phoneme_ids[&EOS]);
        ids
    }
}

/// One loaded voice session. `Session::run` takes `&mut self`: one `Voice` per worker thread.
pub struct Voice {
    pub spec: Arc<VoiceSpec>,
    session: Session,
}

impl Voice {
    /// Load the ONNX model. `intra_threads` = threads ONNX Runtime uses for this session.
    pub fn load(
        env: &Environment,
        spec: Arc<VoiceSpec>,
        intra_threads: usize,
    ) -> Result<Self, TtsError> {
        let session = ivr_onnx::session(env, &spec.model, intra_threads)?;
        Ok(Self { spec, session })
    }

    /// Run the voice on phoneme ids; returns float audio at the voice's native rate.
    /// `speed` > 1 speaks faster (length_scale / speed).
    pub fn infer(&mut self, ids: &[i64], speed: f32) -> Result<Vec<f32>, TtsError> {
        if ids.len() < 3 {
            return Ok(Vec::new());
        }
        let speed = sanitize_speed(speed);
        let n = ids.len() as i64;
        let ort_err = |e: ort::Error| TtsError::Ort(e.to_string());
        let input = Tensor::from_array(([1i64, n], ids.to_vec())).map_err(ort_err)?;
        let lengths = Tensor::from_array(([1i64], vec![n])).map_err(ort_err)?;
        let scales = Tensor::from_array((
            [3i64],
            vec![
                self.spec.noise_scale,
                self.spec.length_scale / speed,
                self.spec.noise_w,
            ],
        ))
        .map_err(ort_err)?;
        let outputs = self
            .session
            .run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
            .map_err(ort_err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(ort_err)?;
        Ok(audio.to_vec())
    }
}

/// Speaking rate clamped to something intelligible; NaN/inf fall back to 1.
pub fn sanitize_speed(speed: f32) -> f32 {
    if speed.is_finite() {
        speed.clamp(0.5, 2.0)
    } else {
        1.0
    }
}

/// Float audio -> i16, peak-normalised per chunk as Piper does (the VITS output level varies).
pub fn to_i16(audio: &[f32]) -> Vec<i16> {
    let peak = audio.iter().fold(0.0f32, |m, &x| m.max(x.abs())).max(0.01);
    let gain = 0.9 * 32767.0 / peak;
    audio
        .iter()
        .map(|&x| (x * gain).clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
        "inference":{"noise_scale":0.5,"length_scale":1.1,"noise_w":0.7},
        "phoneme_id_map":{"_":[0],"^":[1],"$":[2]," ":[3],"a":[14],"ɪ":[74],"̃":[141]}}"#;

    #[test]
    fn ids_follow_piper_layout() {
        let s = VoiceSpec::from_json(JSON, Path::new("x.onnx"), 1).unwrap();
        assert_eq!(s.sample_rate, 22050);
        assert_eq!(s.length_scale, 1.1);
        assert_eq!(s.phoneme_ids("a ɪ"), vec![1, 0, 14, 0, 3, 0, 74, 0, 2]);
        // unknown phonemes are skipped; NFD splits "ã" into a + combining tilde
        assert_eq!(s.phoneme_ids("ãZ"), vec![1, 0, 14, 0, 141, 0, 2]);
        assert_eq!(s.phoneme_ids(""), vec![1, 0, 2]);
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(VoiceSpec::from_json("{}", Path::new("x"), 0).is_err());
        assert!(VoiceSpec::from_json("not json", Path::new("x"), 0).is_err());
        let no_pad = JSON.replace(r#""_":[0],"#, "");
        assert!(VoiceSpec::from_json(&no_pad, Path::new("x"), 0).is_err());
    }

    #[test]
    fn missing_voice_names_file_and_fetch() {
        let e = VoiceSpec::load(Path::new("/nonexistent/v.onnx")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/v.onnx") && msg.contains("make models"),
            "{msg}"
        );
    }

    #[test]
    fn speed_and_level() {
        assert_eq!(sanitize_speed(f32::NAN), 1.0);
        assert_eq!(sanitize_speed(10.0), 2.0);
        let pcm = to_i16(&[0.0, 0.5, -0.25]);
        assert_eq!(pcm[1], (0.9f32 * 32767.0) as i16);
        assert!(to_i16(&[]).is_empty());
    }
}
