//! The CT2 -> ggml converter against the real tiny.en weights: the converted file loads in
//! whisper.cpp and transcribes a known clip correctly.

mod common;

use common::*;
use ivr_asr::{Hints, Recognizer, WhisperModel, convert_ct2_to_ggml};

#[test]
fn converted_tiny_en_transcribes_known_clip() {
    let ct2 = models_dir().join("whisper-tiny.en-ct2");
    model("whisper-tiny.en-ct2/model.bin");
    let out = std::env::temp_dir().join(format!("ivr-asr-convert-test-{}.bin", std::process::id()));
    let summary = convert_ct2_to_ggml(&ct2, &out).expect("convert");
    assert_eq!(summary.n_vocab, 51864);
    assert_eq!(
        (summary.n_state, summary.n_audio_layer, summary.n_text_layer),
        (384, 4, 4)
    );
    // 4+4 layers: 2 conv (w,b) + 2 pos + enc ln + per enc layer 15 + dec tok + dec ln + per dec layer 24
    assert_eq!(summary.tensors, 4 + 1 + 2 + 4 * 15 + 1 + 1 + 2 + 4 * 24);

    let model = WhisperModel::load(&out, "en").expect("whisper.cpp loads the converted file");
    let mut rec = Recognizer::new(model, 2).unwrap();
    let audio = read_wav_16k(&fixture("known-clip-16k.wav"));
    let t = rec.transcribe(&audio, &Hints::default()).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        fold(&t.text),
        "i would like to check the status of my order please",
        "{t:?}"
    );
    assert!(t.confidence > 0.6, "{t:?}");
    assert!(t.no_speech_prob.is_some_and(|p| p < 0.2), "{t:?}");
    assert!(!t.words.is_empty() && t.words.len() <= 12, "{:?}", t.words);
}
