//! Link Debian's libespeak-ng (package libespeak-ng-dev) for the phonemizer FFI.
fn main() {
    println!("cargo:rustc-link-lib=espeak-ng");
    println!("cargo:rerun-if-changed=build.rs");
}
