//! A sentence encoder: tokenizer -> ONNX transformer -> mean pooling -> unit vector.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ivr_onnx::{Environment, OnnxError, Session};
use ort::value::TensorRef;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

/// Longest input in tokens: callers' turns are short; a long ramble is cut, not refused.
const MAX_TOKENS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("the sentence-embedding model {path} is missing: run `make models`")]
    MissingModel { path: PathBuf },
    #[error("the tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error(transparent)]
    Runtime(#[from] OnnxError),
    #[error("sentence embedding: {0}")]
    Inference(String),
}

/// The input signatures ivr's encoders have.
#[derive(Debug, Clone, Copy)]
enum Inputs {
    /// BERT-style: `input_ids`, `attention_mask` (and maybe `token_type_ids`), [1, n];
    /// token states out, mean-pooled here (MiniLM).
    Bert { token_type_ids: bool },
    /// Ragged ids: `token_ids` int32 [n] and `row_splits` int64 [0, n]; one pooled vector
    /// out (Universal Sentence Encoder Multilingual, tokenizer split off).
    Ragged,
}

/// One encoder, shared by the threads that embed (a session runs one input at a time;
/// embedding a sentence takes a few milliseconds, so contention is rare).
pub struct SentenceEncoder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    inputs: Inputs,
    /// Hash of the model and tokenizer files: cached embeddings are only valid for them.
    id: String,
}

impl SentenceEncoder {
    /// Load `model` (ONNX) and `tokenizer` (tokenizer.json) into a session with `threads`
    /// intra-op threads.
    pub fn load(
        env: &Environment,
        model: &Path,
        tokenizer: &Path,
        threads: usize,
    ) -> Result<SentenceEncoder, NluError> {
        for path in [model, tokenizer] {
            if !path.is_file() {
                return Err(NluError::MissingModel {
                    path: path.to_path_buf(),
                });
            }
        }
        let tok_err = |message: String| NluError::Tokenizer {
            path: tokenizer.to_path_buf(),
            message,
        };
        let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| tok_err(e.to_string()))?;
        tok.with_truncation(Some(tokenizers::TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| tok_err(e.to_string()))?;
        tok.with_padding(None);
        let session = ivr_onnx::session(env, model, threads)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let has = |n: &str| names.contains(&n);
        let inputs = if has("input_ids") && has("attention_mask") {
            Inputs::Bert {
                token_type_ids: has("token_type_ids"),
            }
        } else if has("token_ids") && has("row_splits") {
            Inputs::Ragged
        } else {
            return Err(NluError::Inference(format!(
                "{}: inputs {names:?} are neither BERT-style (input_ids, attention_mask) nor \
                 ragged (token_ids, row_splits)",
                model.display()
            )));
        };
        let id = file_hash(&[model, tokenizer]).map_err(|e| NluError::MissingModel {
            path: PathBuf::from(format!("{} ({e})", model.display())),
        })?;
        Ok(SentenceEncoder {
            session: Mutex::new(session),
            tokenizer: tok,
            inputs,
            id,
        })
    }

    /// Identifies the model and tokenizer (for caches of embeddings).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The unit-length embedding of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<f32>, NluError> {
        // NUL ends the text for the original tokenizer op; never send one.
        let text = text.replace('\0', " ");
        let enc = self
            .tokenizer
            .encode(text.as_str(), true)
            .map_err(|e| NluError::Inference(format!("tokenizing: {e}")))?;
        let ids: Vec<i64> = enc.get_ids().iter().map(|&x| i64::from(x)).collect();
        let mask: Vec<i64> = enc
            .get_attention_mask()
            .iter()
            .map(|&x| i64::from(x))
            .collect();
        let types: Vec<i64> = enc.get_type_ids().iter().map(|&x| i64::from(x)).collect();
        let n = ids.len();
        if n == 0 {
            return Err(NluError::Inference("no tokens".into()));
        }
        let err = |e: ort::Error| NluError::Inference(e.to_string());
        let shape = [1usize, n];
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = match self.inputs {
            Inputs::Bert {
                token_type_ids: true,
            } => session.run(ort::inputs![
                "input_ids" => TensorRef::from_array_view((shape, &ids[..])).map_err(err)?,
                "attention_mask" => TensorRef::from_array_view((shape, &mask[..])).map_err(err)?,
                "token_type_ids" => TensorRef::from_array_view((shape, &types[..])).map_err(err)?,
            ]),
            Inputs::Bert {
                token_type_ids: false,
            } => session.run(ort::inputs![
                "input_ids" => TensorRef::from_array_view((shape, &ids[..])).map_err(err)?,
                "attention_mask" => TensorRef::from_array_view((shape, &mask[..])).map_err(err)?,
            ]),
            Inputs::Ragged => {
                let ids32: Vec<i32> = enc.get_ids().iter().map(|&x| x as i32).collect();
                let splits = [0i64, n as i64];
                session.run(ort::inputs![
                    "token_ids" => TensorRef::from_array_view(([n], &ids32[..])).map_err(err)?,
                    "row_splits" => TensorRef::from_array_view(([2usize], &splits[..])).map_err(err)?,
                ])
            }
        }
        .map_err(err)?;
        let (out_shape, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        let mut v = match out_shape.len() {
            // Token states [1, n, d]: mean over the real tokens.
            3 if out_shape[1] as usize == n => mean_pool(hidden, &mask, out_shape[2] as usize),
            // Already pooled [1, d].
            2 => hidden.to_vec(),
            _ => {
                return Err(NluError::Inference(format!(
                    "unexpected output shape {out_shape:?}"
                )));
            }
        };
        normalise(&mut v);
        Ok(v)
    }
}

fn mean_pool(hidden: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; dim];
    let mut count = 0.0f32;
    for (token, &m) in hidden.chunks_exact(dim).zip(mask) {
        if m != 0 {
            sum.iter_mut().zip(token).for_each(|(s, x)| *s += x);
            count += 1.0;
        }
    }
    if count > 0.0 {
        sum.iter_mut().for_each(|s| *s /= count);
    }
    sum
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn file_hash(paths: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    for p in paths {
        h.update(std::fs::read(p)?);
    }
    Ok(h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_skips_padding_and_normalise_makes_unit_vectors() {
        let hidden = [1.0, 3.0, 3.0, 5.0, 100.0, 100.0];
        let v = mean_pool(&hidden, &[1, 1, 0], 2);
        assert_eq!(v, vec![2.0, 4.0]);
        let mut v = vec![3.0, 4.0];
        normalise(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }
}
