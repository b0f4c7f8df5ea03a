//! A Kokoro v1.0 voice (StyleTTS2-style, one multilingual ONNX model at 24 kHz): its phoneme
//! vocabulary, a speaker's style table, and the ONNX session.
//!
//! Inputs: `tokens` (int64 phoneme ids with the pad id 0 at both ends), `style` (1 x 256 f32:
//! row N of the speaker's 510 x 256 table, N = number of phoneme tokens), `speed` (f32,
//! > 1 faster). Output: float audio at 24 kHz.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ivr_onnx::Environment;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::voice::sanitize_speed;
use crate::{FETCH_HINT, TtsError};

/// Kokoro's output rate.
pub const KOKORO_RATE: u32 = 24_000;
/// The model, its vocabulary and the speakers, relative to the models dir.
pub const KOKORO_MODEL: &str = "kokoro/kokoro-v1.0.int8.onnx";
pub const KOKORO_VOCAB: &str = "kokoro/vocab.json";
pub const KOKORO_VOICES_DIR: &str = "kokoro/voices";
/// Width of one style vector.
const STYLE_DIM: usize = 256;
/// Rows in a speaker's table; also the longest phoneme sequence one inference takes.
const STYLE_ROWS: usize = 510;
/// Phoneme tokens per inference (the model's context is 512 with the two pads).
pub const MAX_TOKENS: usize = STYLE_ROWS - 1;

/// What a Kokoro voice needs besides the session: vocabulary and one speaker's styles.
#[derive(Debug, Clone)]
pub struct KokoroSpec {
    pub model: PathBuf,
    /// Speaker name (`zf_xiaobei`).
    pub speaker: String,
    vocab: HashMap<char, i64>,
    styles: Vec<f32>,
    /// Short hash of (model size, vocabulary, speaker styles): part of prompt-cache keys.
    pub id: String,
}

#[derive(Deserialize)]
struct RawVocab {
    vocab: HashMap<String, i64>,
}

impl KokoroSpec {
    /// Load `kokoro/vocab.json` and `kokoro/voices/<speaker>.bin` under `models_dir`.
    pub fn load(models_dir: &Path, speaker: &str) -> Result<Self, TtsError> {
        if speaker.is_empty()
            || !speaker
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(TtsError::VoiceConfig(format!(
                "Kokoro speaker {speaker:?}: expected a name like zf_xiaobei"
            )));
        }
        let model = models_dir.join(KOKORO_MODEL);
        let vocab_path = models_dir.join(KOKORO_VOCAB);
        let style_path = models_dir
            .join(KOKORO_VOICES_DIR)
            .join(format!("{speaker}.bin"));
        for p in [&model, &vocab_path, &style_path] {
            if !p.is_file() {
                return Err(TtsError::MissingFile {
                    path: p.clone(),
                    hint: FETCH_HINT,
                });
            }
        }
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| TtsError::Io {
                path: p.to_path_buf(),
                source: e,
            })
        };
        let vocab = read(&vocab_path)?;
        let styles = read(&style_path)?;
        let model_len = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
        Self::from_parts(&model, speaker, &vocab, &styles, model_len)
            .map_err(|e| TtsError::VoiceConfig(format!("Kokoro {speaker}: {e}")))
    }

    /// Build from the raw files (exposed for tests).
    pub fn from_parts(
        model: &Path,
        speaker: &str,
        vocab_json: &[u8],
        style_bytes: &[u8],
        model_len: u64,
    ) -> Result<Self, String> {
        let raw: RawVocab = serde_json::from_slice(vocab_json).map_err(|e| e.to_string())?;
        let mut vocab = HashMap::new();
        for (k, v) in raw.vocab {
            let mut cs = k.chars();
            if let (Some(c), None) = (cs.next(), cs.next()) {
                vocab.insert(c, v);
            }
        }
        if vocab.is_empty() {
            return Err("empty vocabulary".into());
        }
        if style_bytes.len() != STYLE_ROWS * STYLE_DIM * 4 {
            return Err(format!(
                "style table has {} bytes, expected {} (510 x 256 f32)",
                style_bytes.len(),
                STYLE_ROWS * STYLE_DIM * 4
            ));
        }
        let styles: Vec<f32> = style_bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let id = {
            let mut h = Sha256::new();
            h.update(b"kokoro-v1.0");
            h.update(model_len.to_le_bytes());
            h.update(vocab_json);
            h.update(style_bytes);
            let d = h.finalize();
            d.iter().take(8).map(|b| format!("{b:02x}")).collect()
        };
        Ok(Self {
            model: model.to_path_buf(),
            speaker: speaker.to_string(),
            vocab,
            styles,
            id,
        })
    }

    /// Phoneme ids (without the pads); unknown symbols skipped, cut at `MAX_TOKENS`.
    pub fn token_ids(&self, phonemes: &str) -> Vec<i64> {
        let mut ids: Vec<i64> = phonemes
            .chars()
            .filter_map(|c| {
                let id = self.vocab.get(&c).copied();
                if id.is_none() {
                    tracing::debug!(phoneme = %c, "not in Kokoro's vocabulary; skipped");
                }
                id
            })
            .collect();
        if ids.len() > MAX_TOKENS {
            tracing::warn!(tokens = ids.len(), "clause too long for Kokoro; cut");
            ids.truncate(MAX_TOKENS);
        }
        ids
    }

    /// The style vector for an utterance of `n` phoneme tokens.
    fn style(&self, n: usize) -> &[f32] {
        let row = n.min(STYLE_ROWS - 1);
        &self.styles[row * STYLE_DIM..(row + 1) * STYLE_DIM]
    }
}

/// One Kokoro session. `Session::run` takes `&mut self`: one per synthesis thread.
pub struct KokoroVoice {
    pub spec: Arc<KokoroSpec>,
    session: Session,
    tokens_input: String,
    style_input: String,
    speed_input: String,
}

impl KokoroVoice {
    pub fn load(
        env: &Environment,
        spec: Arc<KokoroSpec>,
        intra_threads: usize,
    ) -> Result<Self, TtsError> {
        let session = ivr_onnx::session(env, &spec.model, intra_threads)?;
        // Exports differ in the first input's name (`tokens` or `input_ids`).
        let names: Vec<String> = session
            .inputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let find = |want: &[&str]| {
            names
                .iter()
                .find(|n| want.contains(&n.as_str()))
                .cloned()
                .ok_or_else(|| {
                    TtsError::Ort(format!(
                        "{}: no input named {want:?} (inputs: {names:?})",
                        spec.model.display()
                    ))
                })
        };
        let tokens_input = find(&["tokens", "input_ids"])?;
        let style_input = find(&["style", "ref_s"])?;
        let speed_input = find(&["speed"])?;
        Ok(Self {
            spec,
            session,
            tokens_input,
            style_input,
            speed_input,
        })
    }

    /// Synthesize phoneme ids (no pads); float audio at 24 kHz. `speed` > 1 is faster.
    pub fn infer(&mut self, ids: &[i64], speed: f32) -> Result<Vec<f32>, TtsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &ids[..ids.len().min(MAX_TOKENS)];
        let mut tokens = Vec::with_capacity(ids.len() + 2);
        tokens.push(0);
        tokens.extend_from_slice(ids);
        tokens.push(0);
        let ort_err = |e: ort::Error| TtsError::Ort(e.to_string());
        let n = tokens.len() as i64;
        let tokens = Tensor::from_array(([1i64, n], tokens)).map_err(ort_err)?;
        let style = Tensor::from_array((
            [1i64, STYLE_DIM as i64],
            self.spec.style(ids.len()).to_vec(),
        ))
        .map_err(ort_err)?;
        let speed = Tensor::from_array(([1i64], vec![sanitize_speed(speed)])).map_err(ort_err)?;
        let outputs = self
            .session
            .run(ort::inputs![
                self.tokens_input.as_str() => tokens,
                self.style_input.as_str() => style,
                self.speed_input.as_str() => speed,
            ])
            .map_err(ort_err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(ort_err)?;
        let mut audio = audio.to_vec();
        trim_trailing_silence(&mut audio);
        Ok(audio)
    }
}

/// This int8 export ends every utterance with ~1 s of silence, whatever the last token
/// (measured: 2.1 s out for 1.1 s of "您好，"). Cut it, keeping 60 ms after the last sample
/// above about -40 dBFS plus `CLAUSE_TAIL_MS` of silence: the engine adds the sentence
/// pause itself, so a comma clause and the next one are not run together.
fn trim_trailing_silence(audio: &mut Vec<f32>) {
    const THRESHOLD: f32 = 0.01;
    let rate = KOKORO_RATE as usize;
    if let Some(last) = audio.iter().rposition(|x| x.abs() > THRESHOLD) {
        let keep = (last + 1 + rate * 60 / 1000).min(audio.len());
        audio.truncate(keep);
        audio.extend(std::iter::repeat_n(0.0, rate * CLAUSE_TAIL_MS / 1000));
    }
}

/// Silence after each clause (the rhythm of a comma).
const CLAUSE_TAIL_MS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = r#"{"vocab": {",": 3, " ": 16, "a": 43, "n": 56, "↗": 172}}"#;

    fn styles() -> Vec<u8> {
        (0..STYLE_ROWS * STYLE_DIM)
            .flat_map(|i| ((i / STYLE_DIM) as f32).to_le_bytes())
            .collect()
    }

    #[test]
    fn ids_and_style_rows() {
        let s = KokoroSpec::from_parts(Path::new("m.onnx"), "zf_x", VOCAB.as_bytes(), &styles(), 1)
            .unwrap();
        assert_eq!(s.token_ids("a↗n, x"), vec![43, 172, 56, 3, 16]);
        assert_eq!(s.style(5)[0], 5.0);
        assert_eq!(s.style(5).len(), STYLE_DIM);
        assert_eq!(s.style(10_000)[0], (STYLE_ROWS - 1) as f32);
        assert_eq!(s.token_ids(&"a".repeat(600)).len(), MAX_TOKENS);
    }

    #[test]
    fn bad_files_are_errors() {
        let short = vec![0u8; 100];
        assert!(KokoroSpec::from_parts(Path::new("m"), "x", VOCAB.as_bytes(), &short, 1).is_err());
        assert!(KokoroSpec::from_parts(Path::new("m"), "x", b"nope", &styles(), 1).is_err());
        assert!(KokoroSpec::load(Path::new("/nonexistent"), "../etc").is_err());
        let e = KokoroSpec::load(Path::new("/nonexistent"), "zf_xiaobei").unwrap_err();
        assert!(e.to_string().contains("make models"), "{e}");
    }

    #[test]
    fn trailing_silence_is_cut() {
        let rate = KOKORO_RATE as usize;
        let mut a = vec![0.5f32; rate / 2];
        a.extend(vec![0.001f32; rate]);
        trim_trailing_silence(&mut a);
        let expect = rate / 2 + rate * 60 / 1000 + rate * CLAUSE_TAIL_MS / 1000;
        assert_eq!(a.len(), expect);
        assert!(a[rate / 2 + rate * 60 / 1000..].iter().all(|&x| x == 0.0));
        // all quiet: left alone
        let mut q = vec![0.001f32; 100];
        trim_trailing_silence(&mut q);
        assert_eq!(q.len(), 100);
    }

    #[test]
    fn voice_id_depends_on_the_speaker() {
        let a =
            KokoroSpec::from_parts(Path::new("m"), "a", VOCAB.as_bytes(), &styles(), 1).unwrap();
        let mut other = styles();
        other[0] ^= 1;
        let b = KokoroSpec::from_parts(Path::new("m"), "b", VOCAB.as_bytes(), &other, 1).unwrap();
        assert_ne!(a.id, b.id);
    }
}
