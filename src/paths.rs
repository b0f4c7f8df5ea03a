//! Where things live on disk: models, data, the ONNX runtime library.

use std::path::PathBuf;

use crate::config::Config;

/// The ONNX runtime shared library, fetched by `make models`.
pub use ivr_onnx::ORT_LIB;
/// The command that fetches and converts every default model.
pub const FETCH_HINT: &str = "make models";

pub fn models_dir(cfg: &Config) -> PathBuf {
    PathBuf::from(&cfg.models_dir)
}

pub fn model(cfg: &Config, rel: &str) -> PathBuf {
    models_dir(cfg).join(rel)
}
