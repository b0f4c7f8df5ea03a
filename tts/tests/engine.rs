//! Real-voice tests: the Piper voice on ONNX Runtime with espeak-ng phonemes.
//! They need `make models` (en_US-joe-medium + libonnxruntime); a missing file fails loudly.

use std::path::PathBuf;
use std::sync::OnceLock;

use ivr_tts::{SynthOptions, TtsConfig, TtsEngine, TtsError, TtsEvent};

fn models_dir() -> PathBuf {
    std::env::var("IVR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")))
}

fn env() -> ivr_onnx::Environment {
    let lib = models_dir().join(ivr_onnx::ORT_LIB);
    ivr_onnx::environment(&lib).unwrap_or_else(|e| panic!("{e} (run `make models`)"))
}

fn config(workers: usize, queue: usize, cache_dir: &str) -> TtsConfig {
    TtsConfig {
        workers,
        queue,
        cache_dir: cache_dir.to_string(),
        ..TtsConfig::default()
    }
}

fn engine(cfg: &TtsConfig) -> TtsEngine {
    TtsEngine::start(cfg, &models_dir(), &env()).unwrap_or_else(|e| panic!("{e}"))
}

/// One shared engine (memory-only cache) for the tests that don't need their own.
fn shared() -> &'static TtsEngine {
    static E: OnceLock<TtsEngine> = OnceLock::new();
    E.get_or_init(|| engine(&config(1, 8, "")))
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivr-tts-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn streams_clauses_at_phone_rate() {
    let mut s = shared()
        .synthesize(
            "Thanks for calling. To check an order, say order, or press one.",
            SynthOptions::default(),
        )
        .unwrap();
    let mut chunks = Vec::new();
    let stats = loop {
        match s.blocking_next().expect("stream ended without Done") {
            TtsEvent::Audio(c) => chunks.push(c),
            TtsEvent::Done(st) => break st,
            TtsEvent::Failed(e) => panic!("{e}"),
        }
    };
    assert!(
        chunks.len() >= 3,
        "expected clause streaming, got {} chunks",
        chunks.len()
    );
    assert!(chunks.iter().all(|c| c.sample_rate == 8000));
    let pcm: Vec<i16> = chunks.iter().flat_map(|c| c.pcm.clone()).collect();
    let secs = pcm.len() as f64 / 8000.0;
    assert!((2.0..10.0).contains(&secs), "{secs} s of audio");
    assert!(rms(&pcm) > 500.0, "audio too quiet: rms {}", rms(&pcm));
    assert!(!stats.cancelled);
    assert!(stats.time_to_first_audio.is_some());
    assert!((stats.audio_seconds - secs).abs() < 1e-6);
    assert!(s.blocking_next().is_none(), "nothing after Done");
}

#[test]
fn rates_and_speed() {
    let e = shared();
    let text = "Your balance is $42.17.";
    let len = |rate: u32, speed: f32| {
        let s = e
            .synthesize(
                text,
                SynthOptions {
                    speed: Some(speed),
                    sample_rate: rate,
                },
            )
            .unwrap();
        let (pcm, st) = s.collect_blocking().unwrap();
        (pcm.len() as f64 / rate as f64, st)
    };
    let (s8, _) = len(8000, 1.0);
    let (s16, _) = len(16000, 1.0);
    let (s22, _) = len(22050, 1.0);
    // VITS durations vary a little run to run (noise_w): compare loosely
    for s in [s16, s22] {
        assert!((s - s8).abs() / s8 < 0.25, "{s8} vs {s}");
    }
    let (slow, _) = len(8000, 0.7);
    let (fast, _) = len(8000, 1.4);
    assert!(slow > fast * 1.4, "slow {slow} s vs fast {fast} s");
}

#[test]
fn cancellation_stops_within_one_clause() {
    let text = "This is the first sentence of a long reply. ".repeat(12);
    let mut s = shared().synthesize(&text, SynthOptions::default()).unwrap();
    let first = s.blocking_next();
    assert!(matches!(first, Some(TtsEvent::Audio(_))), "{first:?}");
    s.cancel.cancel();
    let mut more_audio = 0;
    let stats = loop {
        match s.blocking_next().expect("stream ended without Done") {
            TtsEvent::Audio(_) => more_audio += 1,
            TtsEvent::Done(st) => break st,
            TtsEvent::Failed(e) => panic!("{e}"),
        }
    };
    assert!(stats.cancelled);
    // at most the clause already in flight when cancel was called
    assert!(more_audio <= 1, "{more_audio} chunks after cancel");
    assert!(stats.chunks <= 2);
    // the worker is free again at once
    let (pcm, _) = shared()
        .synthesize("Okay.", SynthOptions::default())
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert!(!pcm.is_empty());
}

#[test]
fn bounded_queue_refuses_when_full() {
    let e = engine(&config(1, 1, ""));
    let long = "Please hold while I look that up for you. ".repeat(6);
    let mut streams = Vec::new();
    let mut busy = false;
    for _ in 0..4 {
        match e.synthesize(&long, SynthOptions::default()) {
            Ok(s) => streams.push(s),
            Err(TtsError::Busy) => {
                busy = true;
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        busy,
        "a queue of 1 with one busy worker must refuse the third request"
    );
    for s in &streams {
        s.cancel.cancel();
    }
    drop(streams);
}

#[test]
fn prompt_cache_hit_is_identical_and_synthesis_free() {
    let dir = tmpdir("cache");
    let prompts = ["Welcome to Acme support.", "Goodbye."];
    let first = {
        let e = engine(&config(1, 4, dir.to_str().unwrap()));
        let r = e.prewarm(&prompts, None).unwrap();
        assert_eq!((r.already_cached, r.synthesized), (0, 2));
        let again = e.prewarm(&prompts, None).unwrap();
        assert_eq!((again.already_cached, again.synthesized), (2, 0));
        e.cached_prompt(prompts[0], None)
            .expect("prewarmed prompt cached")
    };
    // a new engine (new process in real life) finds it on disk, without synthesizing
    let e2 = engine(&config(1, 4, dir.to_str().unwrap()));
    let before = e2.stats().clauses_synthesized;
    let hit = e2.prompt(prompts[0], None).unwrap();
    assert_eq!(&*hit, &*first, "cache hit must be the identical audio");
    assert_eq!(
        e2.stats().clauses_synthesized,
        before,
        "a hit must not synthesize"
    );
    assert!(e2.stats().cache_hits >= 1);
    // a different speaking rate is a different prompt
    assert!(e2.cached_prompt(prompts[0], Some(0.8)).is_none());
    let slow = e2.prompt(prompts[0], Some(0.8)).unwrap();
    assert!(e2.stats().clauses_synthesized > before);
    assert!(slow.len() > hit.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cached_lead_in_is_the_first_chunk_and_only_the_rest_is_synthesized() {
    let e = engine(&config(1, 4, ""));
    let lead_in = "I have your number.";
    let r = e.prewarm_lead_ins(&[lead_in], None).unwrap();
    assert_eq!(r.synthesized, 1);
    let cached = e.cached_prompt(lead_in, None).expect("lead-in cached");
    let before = e.stats().clauses_synthesized;
    let opts = SynthOptions {
        speed: None,
        sample_rate: 8000,
    };
    let mut stream = e
        .synthesize("I have your number. It is 1 2 3 4.", opts)
        .unwrap();
    // The first chunk is the cached audio, there before any synthesis finished.
    match stream.blocking_next() {
        Some(TtsEvent::Audio(c)) => {
            assert_eq!(&c.pcm[..], &cached[..], "not the cached lead-in");
            assert_eq!(c.text, lead_in);
        }
        other => panic!("expected the lead-in's audio first, got {other:?}"),
    }
    let (rest, _) = stream.collect_blocking().unwrap();
    assert!(rms(&rest) > 100.0, "the rest was not spoken");
    let synthesized = e.stats().clauses_synthesized - before;
    assert!(
        synthesized >= 1,
        "the text after the lead-in must be synthesized"
    );
    // Only the rest went through the model: the lead-in's clause was not synthesized again
    // (the whole text in one request is two clauses).
    let whole_before = e.stats().clauses_synthesized;
    let plain = e.synthesize("It is 1 2 3 4.", opts).unwrap();
    plain.collect_blocking().unwrap();
    assert_eq!(e.stats().clauses_synthesized - whole_before, synthesized);
}

#[test]
fn bad_input_never_crashes() {
    let e = shared();
    for text in [
        "",
        "   ",
        "😀😀😀",
        "Привет, мир",
        "你好",
        "\u{0}\u{1}\u{7f}",
        "{pause:200}",
        "?!?!",
        "a",
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let r = e
            .synthesize(text, SynthOptions::default())
            .unwrap()
            .collect_blocking();
        let (pcm, st) = r.unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert!(!st.cancelled);
        if text.trim().is_empty() || text.starts_with('😀') || text.starts_with('П') {
            assert!(
                pcm.is_empty() || rms(&pcm) < 1.0,
                "{text:?} should be skipped"
            );
        }
    }
    let (pause, _) = e
        .synthesize("{pause:200}", SynthOptions::default())
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(pause.len(), 1600);
    // long text: chunked, each chunk bounded
    let long = "one two three four five six seven eight nine ten ".repeat(8);
    let mut s = e.synthesize(&long, SynthOptions::default()).unwrap();
    let mut n = 0;
    while let Some(ev) = s.blocking_next() {
        match ev {
            TtsEvent::Audio(c) => {
                n += 1;
                assert!(
                    c.pcm.len() < 8000 * 20,
                    "one chunk of {} s",
                    c.pcm.len() / 8000
                );
            }
            TtsEvent::Done(_) => break,
            TtsEvent::Failed(err) => panic!("{err}"),
        }
    }
    assert!(n >= 4, "80 words must come in several chunks, got {n}");
}

#[test]
fn missing_voice_names_the_file() {
    let cfg = TtsConfig {
        voice: "piper/nope.onnx".into(),
        ..config(1, 1, "")
    };
    let err = match TtsEngine::start(&cfg, &models_dir(), &env()) {
        Ok(_) => panic!("loaded a missing voice"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("piper/nope.onnx") && err.contains("make models"),
        "{err}"
    );
}
