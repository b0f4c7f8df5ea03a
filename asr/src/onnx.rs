//! The process-wide ONNX Runtime environment (ort `load-dynamic`).
//!
//! ort allows one environment per process and refuses a second `build()`. ASR (Silero)
//! and TTS (Piper) both use ONNX, so the rule is: whoever creates it first keeps it, and
//! everything else takes it as `&Environment`. Here creation is behind a `OnceLock`
//! (concurrent and repeated calls get the same environment); constructors in this crate
//! take an `&Environment`, so the binary can create it once (here, or in ivr-tts) and
//! hand the same one to both crates.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use crate::AsrError;

static ENV: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Load `lib` (libonnxruntime.so) once and return the process's ort environment.
///
/// Repeated calls return the same environment, whatever `lib` they pass (the library
/// cannot be swapped once loaded). If another crate already built the environment
/// itself, ort refuses a second one and this returns [`AsrError::Onnx`] saying so: pass
/// that environment to this crate's constructors instead.
pub fn ort_environment(lib: &Path) -> Result<Environment, AsrError> {
    if let Some(env) = ENV.get() {
        return Ok(env.clone());
    }
    // OnceLock::get_or_try_init is unstable; a mutex keeps two first callers from racing
    // into ort's "only one environment" error.
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENV.get() {
        return Ok(env.clone());
    }
    if !lib.is_file() {
        return Err(AsrError::MissingModel {
            path: lib.to_path_buf(),
        });
    }
    let env = ort::init_from(lib)
        .map_err(|e| AsrError::Onnx(format!("loading {}: {e}", lib.display())))?
        .with_name("ivr")
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            AsrError::Onnx(format!(
                "{e}: another crate created the ONNX Runtime environment first; \
                 pass that environment to ivr-asr"
            ))
        })?;
    Ok(ENV.get_or_init(|| env).clone())
}

/// The loaded ONNX Runtime's version, e.g. "1.31.1" (from its build-info string).
pub fn ort_version() -> String {
    let info = ort::info();
    // "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=..., build type=Release, ..."
    info.split(['=', ','])
        .find_map(|part| part.trim().strip_prefix("rel-"))
        .map(str::to_owned)
        .unwrap_or_else(|| info.to_owned())
}

/// For `ivr doctor`: load the ONNX runtime at `lib` and return its version. Idempotent,
/// and harmless if ivr-tts (or anyone) loaded the same library first.
pub fn onnx_runtime_check(lib: &Path) -> Result<String, String> {
    match ort_environment(lib) {
        Ok(_) => Ok(ort_version()),
        // The library is loaded but someone else owns the environment: still a pass.
        Err(AsrError::Onnx(msg)) if msg.contains("only one environment") => Ok(ort_version()),
        Err(e) => Err(e.to_string()),
    }
}
