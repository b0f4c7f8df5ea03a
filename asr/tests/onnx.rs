//! ONNX runtime loading for `ivr doctor`: real library, idempotent.

mod common;

use common::*;

#[test]
fn onnx_runtime_loads_and_reports_its_version_twice() {
    let lib = model("onnxruntime/libonnxruntime.so.1.31.1");
    assert_eq!(ivr_asr::onnx_runtime_check(&lib).as_deref(), Ok("1.31.1"));
    // Second call (and the environment getter) reuse the same environment.
    assert_eq!(ivr_asr::onnx_runtime_check(&lib).as_deref(), Ok("1.31.1"));
    ivr_asr::ort_environment(&lib).expect("same environment");
}

#[test]
fn missing_library_is_a_clear_error() {
    // Runs in its own process (integration test binary) only if first; either way a
    // missing path must not panic. Before init it names the file and `make models`.
    let r = ivr_asr::onnx_runtime_check(std::path::Path::new("/nonexistent/libonnxruntime.so"));
    if let Err(e) = r {
        assert!(
            e.contains("/nonexistent/libonnxruntime.so") && e.contains("make models"),
            "{e}"
        );
    }
}
