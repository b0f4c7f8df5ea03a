//! Per-language recogniser settings: `[asr]` is the default (English) language,
//! `[asr.languages.<code>]` adds others, with embedded defaults for `zh` (Mandarin).

use serde::{Deserialize, Serialize};

use crate::AsrConfig;

/// Tokens per second of audio Whisper may write for English before it counts as a loop.
const EN_TOKENS_PER_SECOND: f32 = 8.0;
/// Mandarin: ~4-6 characters per second, a common character is one token, a rarer one two or
/// three (byte-level BPE), plus punctuation.
const ZH_TOKENS_PER_SECOND: f32 = 12.0;

/// Script conversion applied to the recogniser's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputScript {
    /// Text as Whisper wrote it.
    #[default]
    AsIs,
    /// Traditional Chinese characters converted to Simplified (OpenCC t2s).
    Simplified,
}

/// `[asr.languages.<code>]` in ivr.toml: every field optional; what is left out comes from
/// the embedded defaults of that code (`zh`) or, for other codes, generic ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageOverrides {
    /// ggml Whisper model, relative to the models dir (must be multilingual unless "en").
    pub model: Option<String>,
    /// Whisper's language code (defaults to the table's key).
    pub language: Option<String>,
    /// Always given to Whisper before the dialog's hints (e.g. keeps zh in Simplified).
    pub initial_prompt: Option<String>,
    /// Token cap: at most this many tokens per second of audio (at least 24 per utterance).
    pub tokens_per_second: Option<f32>,
    pub output_script: Option<OutputScript>,
}

/// The resolved settings of one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageAsr {
    /// The key jobs name the language by ("en", "zh").
    pub code: String,
    pub model: String,
    /// Whisper's language code.
    pub language: String,
    pub initial_prompt: String,
    pub tokens_per_second: f32,
    pub output_script: OutputScript,
}

impl LanguageAsr {
    /// What an English-only model decodes with when nothing else is configured.
    pub fn english(model: &str) -> Self {
        Self {
            code: "en".into(),
            model: model.into(),
            language: "en".into(),
            initial_prompt: String::new(),
            tokens_per_second: EN_TOKENS_PER_SECOND,
            output_script: OutputScript::AsIs,
        }
    }

    /// The embedded defaults for `code`.
    fn builtin(code: &str) -> Self {
        match code {
            "zh" => Self {
                code: "zh".into(),
                model: "ggml-base.bin".into(),
                language: "zh".into(),
                // Without it base drifts to Traditional characters and odd digit forms
                // (CER 31-54 % vs 8-15 % on AISHELL clips, DESIGN.md §10).
                initial_prompt: "以下是普通话的句子。".into(),
                tokens_per_second: ZH_TOKENS_PER_SECOND,
                output_script: OutputScript::Simplified,
            },
            other => Self {
                code: other.into(),
                model: "ggml-base.bin".into(),
                language: other.into(),
                initial_prompt: String::new(),
                tokens_per_second: ZH_TOKENS_PER_SECOND,
                output_script: OutputScript::AsIs,
            },
        }
    }

    fn with(mut self, o: &LanguageOverrides) -> Self {
        if let Some(v) = &o.model {
            self.model = v.clone();
        }
        if let Some(v) = &o.language {
            self.language = v.clone();
        }
        if let Some(v) = &o.initial_prompt {
            self.initial_prompt = v.clone();
        }
        if let Some(v) = o.tokens_per_second {
            self.tokens_per_second = v;
        }
        if let Some(v) = o.output_script {
            self.output_script = v;
        }
        self
    }

    /// The token cap for an utterance of `seconds`.
    pub fn max_tokens(&self, seconds: f64) -> i32 {
        ((seconds * self.tokens_per_second.max(1.0) as f64).ceil() as i32).max(24)
    }

    /// The prompt Whisper sees: this language's prompt, then the dialog's hints.
    pub fn prompt_with(&self, hint: Option<&str>) -> Option<String> {
        let base = self.initial_prompt.trim();
        let hint = hint.map(str::trim).filter(|h| !h.is_empty());
        match (base.is_empty(), hint) {
            (true, None) => None,
            (true, Some(h)) => Some(h.to_owned()),
            (false, None) => Some(base.to_owned()),
            // No space after CJK text or punctuation ("以下是普通话的句子。快递"), one after
            // a Latin word.
            (false, Some(h)) if base.ends_with(|c: char| !c.is_ascii_alphanumeric()) => {
                Some(format!("{base}{h}"))
            }
            (false, Some(h)) => Some(format!("{base} {h}")),
        }
    }
}

impl AsrConfig {
    /// Settings for the language `code`: `[asr]` itself for its own `language`, else
    /// `[asr.languages.<code>]` over the embedded defaults. `None` for a code that is
    /// neither configured nor built in.
    pub fn language_settings(&self, code: &str) -> Option<LanguageAsr> {
        if code == self.language && !self.languages.contains_key(code) {
            return Some(LanguageAsr {
                code: code.into(),
                model: self.model.clone(),
                language: self.language.clone(),
                initial_prompt: self.initial_prompt.clone(),
                tokens_per_second: self.tokens_per_second,
                output_script: if code == "zh" {
                    OutputScript::Simplified
                } else {
                    OutputScript::AsIs
                },
            });
        }
        match self.languages.get(code) {
            Some(o) => Some(LanguageAsr::builtin(code).with(o)),
            None if BUILTIN_LANGUAGES.contains(&code) => Some(LanguageAsr::builtin(code)),
            None => None,
        }
    }

    /// Every language this configuration can recognise: `[asr]`'s first, then the
    /// built-in and configured ones, sorted.
    pub fn language_codes(&self) -> Vec<String> {
        let mut codes = vec![self.language.clone()];
        let mut others: Vec<String> = BUILTIN_LANGUAGES
            .iter()
            .map(|c| c.to_string())
            .chain(self.languages.keys().cloned())
            .filter(|c| *c != self.language)
            .collect();
        others.sort();
        others.dedup();
        codes.extend(others);
        codes
    }
}

/// Codes with embedded defaults.
pub const BUILTIN_LANGUAGES: &[&str] = &["zh"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_stays_the_default_and_zh_is_built_in() {
        let cfg = AsrConfig::default();
        let en = cfg.language_settings("en").expect("en");
        assert_eq!(en.model, "ggml-tiny.en.bin");
        assert_eq!(en.language, "en");
        assert_eq!(en.output_script, OutputScript::AsIs);
        assert_eq!(en.max_tokens(10.0), 80);
        let zh = cfg.language_settings("zh").expect("zh");
        assert_eq!(zh.model, "ggml-base.bin");
        assert_eq!(zh.language, "zh");
        assert_eq!(zh.initial_prompt, "以下是普通话的句子。");
        assert_eq!(zh.output_script, OutputScript::Simplified);
        assert_eq!(zh.max_tokens(1.0), 24);
        assert!(cfg.language_settings("fr").is_none());
        assert_eq!(cfg.language_codes(), vec!["en".to_string(), "zh".into()]);
    }

    #[test]
    fn a_partial_table_overrides_only_its_fields() {
        let cfg: AsrConfig = toml_like(
            r#"{"languages": {"zh": {"tokens_per_second": 10.0}, "de": {"initial_prompt": "Hallo."}}}"#,
        );
        let zh = cfg.language_settings("zh").expect("zh");
        assert_eq!(zh.tokens_per_second, 10.0);
        assert_eq!(zh.initial_prompt, "以下是普通话的句子。");
        let de = cfg.language_settings("de").expect("de");
        assert_eq!(
            (de.language.as_str(), de.model.as_str()),
            ("de", "ggml-base.bin")
        );
        assert_eq!(
            cfg.language_codes(),
            vec!["en".to_string(), "de".into(), "zh".into()]
        );
    }

    #[test]
    fn the_language_prompt_comes_before_the_hints() {
        let zh = AsrConfig::default().language_settings("zh").expect("zh");
        assert_eq!(
            zh.prompt_with(Some("查快递，改时间")).as_deref(),
            Some("以下是普通话的句子。查快递，改时间")
        );
        assert_eq!(
            zh.prompt_with(None).as_deref(),
            Some("以下是普通话的句子。")
        );
        let en = LanguageAsr::english("ggml-tiny.en.bin");
        assert_eq!(en.prompt_with(Some(" ")), None);
        assert_eq!(en.prompt_with(Some("yes, no")).as_deref(), Some("yes, no"));
        let mut en = en;
        en.initial_prompt = "Parcel hotline".into();
        assert_eq!(
            en.prompt_with(Some("yes")).as_deref(),
            Some("Parcel hotline yes")
        );
    }

    fn toml_like(json: &str) -> AsrConfig {
        // serde_json stands in for the TOML loader (same serde derive).
        serde_json::from_str(json).expect("config parses")
    }
}
