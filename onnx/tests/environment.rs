//! The real ONNX Runtime from the models dir: one environment, loaded once.

use std::path::Path;

fn lib() -> std::path::PathBuf {
    ivr_test_support::models_dir().join(ivr_onnx::ORT_LIB)
}

#[test]
fn loads_once_and_reports_its_version_on_every_call() {
    let lib = lib();
    assert!(
        lib.is_file(),
        "{} missing: run `make models`",
        lib.display()
    );
    assert_eq!(ivr_onnx::runtime_check(&lib).unwrap(), "1.31.1");
    assert_eq!(ivr_onnx::runtime_check(&lib).unwrap(), "1.31.1");
    // Once loaded, the path no longer matters: the same environment comes back.
    ivr_onnx::environment(Path::new("/ignored/after/the/first/load")).expect("same environment");
}

#[test]
fn a_missing_library_names_the_file_and_the_command() {
    let e = ivr_onnx::runtime_version(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/libonnxruntime.so") && text.contains("make models"),
        "{text}"
    );
}
