//! Real-voice tests for Mandarin: Kokoro v1.0 int8 on ONNX Runtime with the crate's G2P.
//! They need `make models` (kokoro/ + libonnxruntime); a missing file fails loudly.
//! `cargo test --release -p ivr-tts --test mandarin -- --nocapture` prints RTF and time to
//! first audio.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use ivr_tts::{KokoroSpec, MandarinG2p, SynthOptions, TtsConfig, TtsEngine, TtsEvent};

fn models_dir() -> PathBuf {
    std::env::var("IVR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")))
}

fn env() -> ivr_onnx::Environment {
    ivr_onnx::environment(&models_dir().join(ivr_onnx::ORT_LIB))
        .unwrap_or_else(|e| panic!("{e} (run `make models`)"))
}

fn config() -> TtsConfig {
    TtsConfig {
        workers: 1,
        intra_threads: 2,
        cache_dir: String::new(),
        ..TtsConfig::default()
    }
}

fn zh() -> &'static TtsEngine {
    static E: OnceLock<TtsEngine> = OnceLock::new();
    E.get_or_init(|| {
        TtsEngine::start_language(&config(), "zh", &models_dir(), &env())
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// Synthesize at 8 kHz, returning (samples, chunk texts, time to first audio ms, rtf).
fn speak(text: &str, speed: Option<f32>) -> (Vec<i16>, Vec<String>, f64, f64) {
    let started = Instant::now();
    let mut s = zh()
        .synthesize(
            text,
            SynthOptions {
                speed,
                sample_rate: 8000,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut pcm = Vec::new();
    let mut texts = Vec::new();
    let mut ttfa = None;
    loop {
        match s.blocking_next() {
            Some(TtsEvent::Audio(c)) => {
                ttfa.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(c.sample_rate, 8000);
                texts.push(c.text);
                pcm.extend_from_slice(&c.pcm);
            }
            Some(TtsEvent::Done(stats)) => {
                return (pcm, texts, ttfa.unwrap_or(f64::NAN), stats.rtf());
            }
            Some(TtsEvent::Failed(e)) => panic!("synthesis failed: {e}"),
            None => panic!("engine stopped"),
        }
    }
}

#[test]
fn speaks_a_mandarin_prompt_clause_by_clause() {
    let (pcm, texts, ttfa, rtf) = speak("您好，请问有什么可以帮您？", None);
    let secs = pcm.len() as f64 / 8000.0;
    // 12 syllables: a natural pace is 3-6 syllables a second
    assert!((1.5..=5.0).contains(&secs), "{secs:.2} s");
    assert!(rms(&pcm) > 1000.0, "too quiet: rms {}", rms(&pcm));
    assert_eq!(texts, vec!["您好，", "请问有什么可以帮您？"]);
    // speech, not noise: a good part of 20 ms frames is loud, and there are quiet gaps
    let frames: Vec<f64> = pcm.chunks(160).map(rms).collect();
    let loud = frames.iter().filter(|&&r| r > 1500.0).count() as f64 / frames.len() as f64;
    assert!((0.3..0.95).contains(&loud), "loud frames {loud:.2}");
    eprintln!("short: {secs:.2} s audio, first audio {ttfa:.0} ms, RTF {rtf:.3}");
}

#[test]
fn long_reply_numbers_and_speed() {
    let text = "您的快递单号是SF1234567890，已于12月20日14:30到达北京分拨中心，\
                预计明天送达。运费128.50元，如需重新安排派送时间，请按1，转人工服务请按0。";
    let (pcm, texts, ttfa, rtf) = speak(text, None);
    let secs = pcm.len() as f64 / 8000.0;
    assert!(texts.len() >= 5, "{texts:?}");
    assert!((8.0..=40.0).contains(&secs), "{secs:.2} s");
    eprintln!(
        "long: {secs:.2} s audio in {} chunks, first audio {ttfa:.0} ms, RTF {rtf:.3}",
        texts.len()
    );
    let slow = speak("请您稍等，我帮您查一下。", Some(0.8)).0.len() as f64;
    let normal = speak("请您稍等，我帮您查一下。", Some(1.0)).0.len() as f64;
    assert!(slow > normal * 1.1, "speed 0.8: {slow} vs {normal} samples");
}

#[test]
fn prompts_are_cached_per_voice() {
    let a = zh().prompt("感谢您的来电，再见。", None).unwrap();
    let before = zh().stats();
    let b = zh().prompt("感谢您的来电，再见。", None).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(zh().stats().clauses_synthesized, before.clauses_synthesized);
    // The English engine in the same process (same ONNX environment) keys its cache on its
    // own voice: the Mandarin prompt is not a hit there.
    let en = TtsEngine::start(&config(), &models_dir(), &env()).unwrap_or_else(|e| panic!("{e}"));
    assert!(en.cached_prompt("感谢您的来电，再见。", None).is_none());
    assert_ne!(en.voice().id(), zh().voice().id());
    assert_eq!(zh().voice().language(), "zh");
    assert_eq!(en.voice().language(), "en");
}

#[test]
fn every_phoneme_of_real_prompts_is_in_kokoros_vocabulary() {
    let spec = KokoroSpec::load(&models_dir(), "zf_xiaobei").unwrap_or_else(|e| panic!("{e}"));
    let g2p = MandarinG2p::new();
    for t in [
        "您好，欢迎致电快递客服热线。",
        "查询包裹请说查快递，修改派送时间请说改时间。",
        "银行卡还款成功，还有什么可以帮您？",
        "不是的，一个包裹也没有收到，我觉得很着急。",
        "女士您好，您的订单已经重新发货了，请注意查收。",
        "营业时间是上午九点到下午六点，周一到周日都营业。",
    ] {
        let p = g2p.phonemes(t);
        assert_eq!(spec.token_ids(&p).len(), p.chars().count(), "{t} -> {p}");
    }
}

#[test]
fn other_speakers_load_and_differ() {
    for speaker in ["zf_xiaoxiao", "zm_yunxi", "zf_xiaoni"] {
        let cfg = TtsConfig {
            voices: [("zh".to_string(), format!("kokoro/{speaker}"))].into(),
            ..config()
        };
        let e = TtsEngine::start_language(&cfg, "zh", &models_dir(), &env())
            .unwrap_or_else(|e| panic!("{speaker}: {e}"));
        assert_ne!(e.voice().id(), zh().voice().id(), "{speaker}");
        let (pcm, _) = e
            .synthesize("好的。", SynthOptions::default())
            .and_then(|s| s.collect_blocking())
            .unwrap_or_else(|e| panic!("{speaker}: {e}"));
        assert!(pcm.len() > 2000 && rms(&pcm) > 1000.0, "{speaker}");
    }
    let bad = TtsConfig {
        voices: [("zh".to_string(), "kokoro/nobody".to_string())].into(),
        ..config()
    };
    let err = match TtsEngine::start_language(&bad, "zh", &models_dir(), &env()) {
        Ok(_) => panic!("a missing speaker must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("nobody.bin") && err.contains("make models"),
        "{err}"
    );
    assert!(TtsEngine::start_language(&config(), "fr", &models_dir(), &env()).is_err());
}
