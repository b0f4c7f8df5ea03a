//! Whisper recogniser (whisper-rs / whisper.cpp) with the settings of DESIGN.md §7.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Instant;

use serde::Serialize;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::guard::{self, GuardAction};
use crate::language::LanguageAsr;
use crate::script::{self, is_han};
use crate::{AsrError, SAMPLE_RATE};

/// Longest audio decoded in one pass: Whisper's 30 s window.
pub const MAX_SECONDS: f64 = 30.0;

/// A loaded ggml model, shared (`Arc`) by every worker; each worker has its own state.
pub struct WhisperModel {
    ctx: WhisperContext,
    path: PathBuf,
    language: String,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("path", &self.path)
            .finish()
    }
}

static LOG_HOOKS: Once = Once::new();

impl WhisperModel {
    /// Load `path` (ggml). `language` is fixed for every decode ("en" for `.en` models).
    pub fn load(path: &Path, language: &str) -> Result<Arc<Self>, AsrError> {
        // whisper.cpp / ggml print to stderr unless hooked: send it to tracing instead.
        LOG_HOOKS.call_once(whisper_rs::install_logging_hooks);
        if !path.is_file() {
            return Err(AsrError::MissingModel {
                path: path.to_path_buf(),
            });
        }
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(path, params)
            .map_err(|e| AsrError::Whisper(format!("loading {}: {e}", path.display())))?;
        if !ctx.is_multilingual() && language != "en" {
            return Err(AsrError::Whisper(format!(
                "{} is English-only; language `{language}` needs a multilingual model",
                path.display()
            )));
        }
        Ok(Arc::new(Self {
            ctx,
            path: path.to_path_buf(),
            language: language.to_owned(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it can decode other languages than English.
    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// The language given at load time.
    pub fn language(&self) -> &str {
        &self.language
    }
}

/// Per-request biasing from the dialog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    /// Text Whisper sees as preceding context, e.g. "Account number: 4 5 1 2." or the option
    /// names of a menu. Keep it short: it is decoded as prompt tokens.
    pub initial_prompt: Option<String>,
}

impl Hints {
    pub fn prompt(text: impl Into<String>) -> Self {
        Self {
            initial_prompt: Some(text.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub start_ms: u32,
    pub end_ms: u32,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    pub text: String,
    pub start_ms: u32,
    pub end_ms: u32,
    /// Mean token probability of the word.
    pub probability: f32,
}

/// One recognition result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// Final text after the hallucination guard ("" for no speech).
    pub text: String,
    pub segments: Vec<Segment>,
    /// Word timings from whisper's token timestamps (approximate, ~20-40 ms).
    pub words: Vec<Word>,
    /// Mean probability of the text tokens (0..1); 0 when there is no text.
    pub confidence: f32,
    /// Whisper's no-speech probability for the utterance (None if it produced no segment).
    pub no_speech_prob: Option<f32>,
    pub audio_ms: u32,
    /// Words (hanzi in Chinese) per second of audio: speech rate for the analytics.
    pub words_per_second: f32,
    /// What the hallucination guard did, if anything.
    pub guard: Option<GuardAction>,
    /// Time spent decoding, and (pool only) waiting in the queue.
    pub decode_ms: u32,
    pub queue_ms: u32,
    /// The text's sentence embedding, when the pool has an encoder for the language.
    #[serde(skip)]
    pub embedding: Option<std::sync::Arc<[f32]>>,
}

impl Transcript {
    fn empty(audio_ms: u32, guard: Option<GuardAction>) -> Self {
        Self {
            text: String::new(),
            segments: Vec::new(),
            words: Vec::new(),
            confidence: 0.0,
            no_speech_prob: None,
            audio_ms,
            words_per_second: 0.0,
            guard,
            decode_ms: 0,
            queue_ms: 0,
            embedding: None,
        }
    }
}

/// `audio_ctx` sized to the utterance (DESIGN.md §7): encoder cost scales with it, and
/// with `single_segment` audio beyond `audio_ctx * 20 ms` would be cut. At least 2.56 s
/// of window after the speech: with less (DESIGN's +64 frames) tiny.en started the
/// sentence again in the padding ("No, it's 1, 2, ..., 8. No, it's 1, 2, 3, 4" in
/// fixtures/calls/track_correction.wav). The floor: 256 instead of DESIGN's 384 decodes
/// short answers ~80 ms faster with the same word errors on the evaluation set (real,
/// Piper, espeak parts: 6, 4, 41 either way); 192 doubled the errors on the Piper part.
pub fn audio_ctx_for(samples: usize) -> i32 {
    let seconds = samples as f64 / SAMPLE_RATE as f64;
    ((seconds * 50.0).ceil() as i32 + 128).clamp(256, 1500)
}

/// A worker's recogniser: the shared model plus this thread's `WhisperState`.
pub struct Recognizer {
    model: Arc<WhisperModel>,
    state: WhisperState,
    threads: usize,
    /// Used by `transcribe`: the model's load-time language with English-style defaults.
    default_language: LanguageAsr,
}

impl Recognizer {
    pub fn new(model: Arc<WhisperModel>, threads: usize) -> Result<Self, AsrError> {
        let state = model
            .ctx
            .create_state()
            .map_err(|e| AsrError::Whisper(format!("creating state: {e}")))?;
        let mut default_language = LanguageAsr::english(&model.path.display().to_string());
        default_language.code = model.language.clone();
        default_language.language = model.language.clone();
        Ok(Self {
            model,
            state,
            threads: threads.max(1),
            default_language,
        })
    }

    pub fn model(&self) -> &Arc<WhisperModel> {
        &self.model
    }

    /// Transcribe one utterance: mono f32 at 16 kHz, at most 30 s, in the model's language.
    pub fn transcribe(&mut self, audio: &[f32], hints: &Hints) -> Result<Transcript, AsrError> {
        let lang = self.default_language.clone();
        self.transcribe_as(&lang, audio, hints)
    }

    /// Transcribe one utterance with `lang`'s settings (language code, prompt before the
    /// hints, token cap, output script). The model must be able to decode that language.
    pub fn transcribe_as(
        &mut self,
        lang: &LanguageAsr,
        audio: &[f32],
        hints: &Hints,
    ) -> Result<Transcript, AsrError> {
        let started = Instant::now();
        let seconds = audio.len() as f64 / SAMPLE_RATE as f64;
        let audio_ms = (seconds * 1000.0).round() as u32;
        if seconds > MAX_SECONDS {
            return Err(AsrError::TooLong {
                seconds,
                max: MAX_SECONDS,
            });
        }
        if audio.iter().any(|s| !s.is_finite()) {
            return Err(AsrError::BadAudio("samples are NaN or infinite".into()));
        }
        // No text from non-speech: nothing to decode in (near) digital silence or a blip.
        if let Some(action) = guard::precheck(audio) {
            return Ok(Transcript::empty(audio_ms, Some(action)));
        }

        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(Some(&lang.language));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_suppress_nst(true);
        // Timestamps on: without them a small audio_ctx makes greedy decoding loop.
        params.set_no_timestamps(false);
        params.set_token_timestamps(true);
        params.set_audio_ctx(audio_ctx_for(audio.len()));
        // No temperature fallback: deterministic results and bounded latency; the guard
        // handles the loops fallback would otherwise retry.
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        // A runaway loop cannot produce more than the language's tokens per second.
        let max_tokens = lang.max_tokens(seconds);
        params.set_max_tokens(max_tokens);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        let prompt = lang.prompt_with(hints.initial_prompt.as_deref());
        if let Some(prompt) = prompt.as_deref() {
            params.set_initial_prompt(prompt);
        }

        self.state
            .full(params, audio)
            .map_err(|e| AsrError::Whisper(format!("decode: {e}")))?;

        let eot = self.model.ctx.token_eot();
        let mut segments = Vec::new();
        let mut words: Vec<(Word, f32, u32)> = Vec::new();
        let mut probs = Vec::new();
        let mut no_speech_prob = None;
        let mut all_tokens = 0;
        let mut pending: Vec<u8> = Vec::new();
        for seg in self.state.as_iter() {
            all_tokens += seg.n_tokens();
            let text = seg
                .to_str_lossy()
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            no_speech_prob.get_or_insert(seg.no_speech_probability());
            segments.push(Segment {
                start_ms: (seg.start_timestamp().max(0) * 10) as u32,
                // single_segment reports the window's end: clamp to the audio.
                end_ms: ((seg.end_timestamp().max(0) * 10) as u32).min(audio_ms),
                text,
            });
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else {
                    continue;
                };
                let data = tok.token_data();
                if data.id >= eot {
                    continue; // special and timestamp tokens
                }
                probs.push(data.p);
                // A hanzi may span two or three byte-level tokens: collect bytes until
                // they are whole characters.
                pending.extend_from_slice(tok.to_bytes().unwrap_or_default());
                let piece = match std::str::from_utf8(&pending) {
                    Ok(p) => p.to_owned(),
                    Err(e) if e.error_len().is_none() && pending.len() < 8 => continue,
                    Err(_) => String::from_utf8_lossy(&pending).into_owned(),
                };
                pending.clear();
                let (t0, t1) = ((data.t0.max(0) * 10) as u32, (data.t1.max(0) * 10) as u32);
                // Chinese has no spaces: each hanzi piece starts a word of its own.
                let continues = !piece.starts_with(' ')
                    && !piece.starts_with(is_han)
                    && !piece.is_empty()
                    && !words.is_empty();
                match words.last_mut() {
                    Some((w, sum, n)) if continues => {
                        w.text.push_str(&piece);
                        w.end_ms = w.end_ms.max(t1);
                        *sum += data.p;
                        *n += 1;
                    }
                    _ => words.push((
                        Word {
                            text: piece.trim_start().to_owned(),
                            start_ms: t0,
                            end_ms: t1,
                            probability: 0.0,
                        },
                        data.p,
                        1u32,
                    )),
                }
            }
        }
        let mut words: Vec<Word> = words
            .into_iter()
            .map(|(mut w, sum, n)| {
                w.probability = sum / n as f32;
                w
            })
            .collect();
        words.retain(|w| !w.text.trim().is_empty());
        let confidence = if probs.is_empty() {
            0.0
        } else {
            probs.iter().sum::<f32>() / probs.len() as f32
        };
        let raw: String = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let raw = script::convert(&raw, lang.output_script);
        for w in &mut words {
            w.text = script::convert(&w.text, lang.output_script);
        }
        for seg in &mut segments {
            seg.text = script::convert(&seg.text, lang.output_script);
        }
        let (text, guard_action) =
            guard::filter(&raw, confidence, no_speech_prob, all_tokens >= max_tokens);
        if text.is_empty() {
            words.clear();
            segments.clear();
        } else if guard_action.is_some() {
            // Text was cut: keep timings of the words that survived.
            let keep = guard::unit_count(&text);
            words.truncate(keep);
            if let Some(s) = segments.first_mut() {
                s.text = text.clone();
                segments.truncate(1);
            }
        }
        let n_words = guard::unit_count(&text);
        Ok(Transcript {
            words_per_second: if seconds > 0.0 {
                (n_words as f64 / seconds) as f32
            } else {
                0.0
            },
            text,
            segments,
            words,
            confidence,
            no_speech_prob,
            audio_ms,
            guard: guard_action,
            decode_ms: started.elapsed().as_millis() as u32,
            queue_ms: 0,
            embedding: None,
        })
    }
}
