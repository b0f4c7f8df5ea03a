//! Where the workspace, its fixtures and its models are.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The models `ivr serve` loads with the default config.
pub const SERVE_MODELS: &[&str] = &[
    "ggml-tiny.en.bin",
    "silero_vad.onnx",
    "piper/en_US-joe-medium.onnx",
];

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `IVR_MODELS_DIR`, or `models/` of the workspace (where `make models` puts them).
pub fn models_dir() -> PathBuf {
    std::env::var_os("IVR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

/// A model file, or an error naming it and the command that fetches it.
pub fn model(rel: &str) -> Result<PathBuf> {
    let p = models_dir().join(rel);
    if !p.is_file() {
        bail!("model {} is missing: run `make models`", p.display());
    }
    Ok(p)
}

/// Fails on the first of `files` (relative to the models dir) that is missing.
pub fn check_models(files: &[&str]) -> Result<()> {
    for f in files {
        model(f)?;
    }
    Ok(())
}

/// A file under the workspace's `fixtures/`, e.g. `fixture("sipp/uac_bye.xml")`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("fixtures").join(rel)
}
