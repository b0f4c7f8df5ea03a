//! ivr-nlu: sentence embeddings for the dialog's second understanding stage.
//!
//! A `SentenceEncoder` is a BERT-style ONNX encoder with its `tokenizer.json`, mean-pooled
//! and L2-normalised (as sentence-transformers' MiniLM). The dialog only compares vectors
//! (`ivr_dialog::SemanticIndex`); this crate makes them: a flow's examples once at load
//! (cached on disk by content hash), and each caller utterance on the recogniser's worker
//! thread, never on the call loop or a tokio worker.

mod cache;
mod encoder;

pub use cache::encode_cached;
pub use encoder::{NluError, SentenceEncoder};
