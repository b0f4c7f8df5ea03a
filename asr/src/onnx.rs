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

/// The ONNX Runtime library's own version string (e.g. "1.31.1"), from
/// `OrtGetApiBase()->GetVersionString()`. ort does not expose it, so the library is opened
/// once more here (dlopen is reference-counted: same mapping, no second copy).
pub fn ort_version(lib: &Path) -> Result<String, AsrError> {
    let err = |e: String| AsrError::Onnx(format!("{}: {e}", lib.display()));
    // SAFETY: loading the ONNX Runtime library runs its (trusted) initialisers only;
    // OrtGetApiBase has this exact C signature in every ONNX Runtime release, and the
    // returned version string is static, NUL-terminated and never freed.
    unsafe {
        let library = libloading::Library::new(lib).map_err(|e| err(e.to_string()))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            library
                .get(b"OrtGetApiBase")
                .map_err(|e| err(e.to_string()))?;
        let base = get_base();
        if base.is_null() {
            return Err(err("OrtGetApiBase returned null".into()));
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return Err(err("no version string".into()));
        }
        Ok(std::ffi::CStr::from_ptr(version)
            .to_string_lossy()
            .into_owned())
    }
}

/// For `ivr doctor`: load the ONNX runtime at `lib` and return its version. Idempotent,
/// and harmless if ivr-tts (or anyone) loaded the same library first.
pub fn onnx_runtime_check(lib: &Path) -> Result<String, String> {
    match ort_environment(lib) {
        Ok(_) => ort_version(lib).map_err(|e| e.to_string()),
        // The library is loaded but someone else owns the environment: still a pass.
        Err(AsrError::Onnx(msg)) if msg.contains("only one environment") => {
            ort_version(lib).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}
