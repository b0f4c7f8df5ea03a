//! The semantic stage of understanding, wired: one sentence encoder per language that has
//! one (`[nlu.models]`), the flows' example embeddings (cached on disk), and the encoder
//! the recogniser's workers and `ivr chat` run on each caller utterance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ivr_dialog::{
    Flow, Language, SEMANTIC_POLICY, SemanticClassifier, SemanticPolicy, TextEmbedder,
};
use ivr_nlu::SentenceEncoder;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// `[nlu]` in ivr.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NluConfig {
    /// Stage 2 of intent and FAQ matching (sentence embeddings). Off: the rules alone.
    pub semantic: bool,
    /// Threads per encoder session (a caller turn takes a few ms on one).
    pub threads: usize,
    /// Example embeddings, keyed by content hash; relative = under the data dir.
    pub cache_dir: String,
    /// Encoder per language code; a language without one matches by rules alone.
    pub models: BTreeMap<String, NluModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NluModel {
    /// ONNX encoder, relative to the models dir.
    pub model: String,
    /// Its tokenizer.json, relative to the models dir.
    pub tokenizer: String,
    /// Probability thresholds of the semantic stage with this encoder (calibrated per
    /// encoder: see `ivr intent-eval --explain`).
    #[serde(default = "default_policy")]
    pub policy: SemanticPolicy,
}

fn default_policy() -> SemanticPolicy {
    SEMANTIC_POLICY
}

impl Default for NluConfig {
    fn default() -> Self {
        Self {
            semantic: true,
            threads: 1,
            cache_dir: "nlu-cache".into(),
            // all-MiniLM-L6-v2 for English; Universal Sentence Encoder Multilingual v3 for
            // Mandarin (no Chinese-only encoder ships its weights on a reachable registry).
            models: BTreeMap::from([
                (
                    "en".to_string(),
                    NluModel {
                        model: "minilm/model.onnx".into(),
                        tokenizer: "minilm/tokenizer.json".into(),
                        policy: SEMANTIC_POLICY,
                    },
                ),
                (
                    "zh".to_string(),
                    NluModel {
                        model: "use-m3/model.onnx".into(),
                        tokenizer: "use-m3/tokenizer.json".into(),
                        policy: MANDARIN_POLICY,
                    },
                ),
            ]),
        }
    }
}

/// USE-m3 on the Mandarin demo flow's development set (fixtures/intents/parcel-zh.tsv):
/// its classifier is surer of unrelated words than MiniLM's, so it must be surer to act.
const MANDARIN_POLICY: SemanticPolicy = SemanticPolicy {
    sure_rule: 0.9,
    accept: 0.7,
    agree: 0.5,
    veto: 0.8,
    clarify: 0.5,
};

/// The loaded encoders.
pub struct Understanding {
    encoders: Vec<(Language, Arc<SentenceEncoder>, SemanticPolicy)>,
    cache_dir: PathBuf,
}

impl Understanding {
    /// Encoders for `languages` (those `[nlu.models]` names); none when `semantic` is off.
    pub fn load(cfg: &Config, languages: &[Language]) -> Result<Understanding> {
        let nlu = &cfg.nlu;
        let cache_dir = crate::call::data_path(cfg, &nlu.cache_dir);
        let mut encoders = Vec::new();
        if !nlu.semantic {
            return Ok(Understanding {
                encoders,
                cache_dir,
            });
        }
        let env = ivr_onnx::environment(&crate::paths::model(cfg, crate::paths::ORT_LIB))
            .context("loading the ONNX runtime")?;
        for language in languages {
            let Some(m) = nlu.models.get(language.code()) else {
                continue;
            };
            let encoder = SentenceEncoder::load(
                &env,
                &crate::paths::model(cfg, &m.model),
                &crate::paths::model(cfg, &m.tokenizer),
                nlu.threads,
            )
            .with_context(|| format!("loading the {} sentence encoder", language.code()))?;
            encoders.push((*language, Arc::new(encoder), m.policy));
        }
        Ok(Understanding {
            encoders,
            cache_dir,
        })
    }

    /// Embed `flow`'s examples and FAQ questions (or read them from the cache) and turn on
    /// its semantic stage. A flow in a language without an encoder is left to the rules.
    pub fn attach(&self, flow: &Flow) -> Result<()> {
        let Some((encoder, policy)) = self.encoder(flow.language) else {
            return Ok(());
        };
        let (labels, texts): (Vec<_>, Vec<_>) = flow.semantic_examples().into_iter().unzip();
        let vectors = ivr_nlu::encode_cached(encoder, &texts, Some(&self.cache_dir))
            .with_context(|| format!("embedding the examples of flow `{}`", flow.name))?;
        let started = std::time::Instant::now();
        let classifier = SemanticClassifier::train(labels.into_iter().zip(vectors).collect())?;
        tracing::debug!(flow = %flow.name, examples = texts.len(), ms = started.elapsed().as_millis() as u64, "semantic stage trained");
        flow.set_semantic(classifier, policy);
        Ok(())
    }

    fn encoder(&self, language: Language) -> Option<(&Arc<SentenceEncoder>, SemanticPolicy)> {
        self.encoders
            .iter()
            .find(|(l, ..)| *l == language)
            .map(|(_, e, p)| (e, *p))
    }

    /// What embeds a caller's words in `language`, if anything does.
    pub fn embedder(&self, language: Language) -> Option<TextEmbedder> {
        let encoder = Arc::clone(self.encoder(language)?.0);
        Some(Arc::new(move |text: &str| match encoder.encode(text) {
            Ok(v) => Some(Arc::from(v)),
            Err(e) => {
                tracing::warn!(error = %e, "sentence embedding failed; rules only for this turn");
                None
            }
        }))
    }
}
