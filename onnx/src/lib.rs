//! The process's ONNX Runtime environment (ort `load-dynamic`).
//!
//! ort allows one environment per process and refuses a second `build()`, while the VAD
//! (ivr-asr) and every voice (ivr-tts) run ONNX models. So the environment is made here,
//! once, behind a `OnceLock`: concurrent and repeated calls get the same one, and the
//! constructors in the other crates take it as `&Environment`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub use ort::environment::Environment;
pub use ort::session::Session;

use ort::session::builder::GraphOptimizationLevel;

/// The ONNX Runtime library, relative to the models dir.
pub const ORT_LIB: &str = "onnxruntime/libonnxruntime.so.1.31.1";

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("the ONNX Runtime library {path} is missing: run `make models`")]
    MissingLibrary { path: PathBuf },
    #[error("loading the ONNX Runtime {path}: {message}")]
    Load { path: PathBuf, message: String },
}

impl OnnxError {
    fn load(path: &Path, message: impl ToString) -> OnnxError {
        OnnxError::Load {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

static ENV: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Load `lib` (libonnxruntime.so) once and return the process's environment.
///
/// Later calls return the same environment whatever `lib` they pass: the library cannot be
/// swapped once loaded.
pub fn environment(lib: &Path) -> Result<Environment, OnnxError> {
    if let Some(env) = ENV.get() {
        return Ok(env.clone());
    }
    // OnceLock::get_or_try_init is unstable; the mutex keeps two first callers from racing
    // into ort's "only one environment" error.
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENV.get() {
        return Ok(env.clone());
    }
    if !lib.is_file() {
        return Err(OnnxError::MissingLibrary {
            path: lib.to_path_buf(),
        });
    }
    let env = ort::init_from(lib)
        .map_err(|e| OnnxError::load(lib, e))?
        .with_name("ivr")
        .with_telemetry(false)
        .build()
        .map_err(|e| OnnxError::load(lib, e))?;
    Ok(ENV.get_or_init(|| env).clone())
}

/// A session of the model at `path`, as every ivr model runs: full graph optimisation,
/// `intra_threads` threads for its operators, one for the graph (the callers run one
/// session per dedicated thread, so inter-op parallelism would only oversubscribe).
pub fn session(env: &Environment, path: &Path, intra_threads: usize) -> Result<Session, OnnxError> {
    Session::builder(env)
        .and_then(|b| {
            b.with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(ort::Error::from)
        })
        .and_then(|b| {
            b.with_intra_threads(intra_threads.max(1))
                .map_err(ort::Error::from)
        })
        .and_then(|b| b.with_inter_threads(1).map_err(ort::Error::from))
        .and_then(|mut b| b.commit_from_file(path))
        .map_err(|e| OnnxError::load(path, e))
}

/// The library's own version string (e.g. "1.31.1"), from
/// `OrtGetApiBase()->GetVersionString()`. ort does not expose it, so the library is opened
/// once more here (dlopen is reference-counted: the same mapping, no second copy).
pub fn runtime_version(lib: &Path) -> Result<String, OnnxError> {
    if !lib.is_file() {
        return Err(OnnxError::MissingLibrary {
            path: lib.to_path_buf(),
        });
    }
    // SAFETY: loading the ONNX Runtime library runs its (trusted) initialisers only;
    // OrtGetApiBase has this exact C signature in every ONNX Runtime release, and the
    // returned version string is static, NUL-terminated and never freed.
    unsafe {
        let library = libloading::Library::new(lib).map_err(|e| OnnxError::load(lib, e))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            library
                .get(b"OrtGetApiBase")
                .map_err(|e| OnnxError::load(lib, e))?;
        let base = get_base();
        if base.is_null() {
            return Err(OnnxError::load(lib, "OrtGetApiBase returned null"));
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return Err(OnnxError::load(lib, "no version string"));
        }
        Ok(std::ffi::CStr::from_ptr(version)
            .to_string_lossy()
            .into_owned())
    }
}

/// For `ivr doctor`: load the runtime at `lib` (or reuse the loaded one) and return its
/// version.
pub fn runtime_check(lib: &Path) -> Result<String, OnnxError> {
    environment(lib)?;
    runtime_version(lib)
}
