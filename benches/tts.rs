//! Criterion benchmarks for ivr-tts (`cargo bench --bench tts`): time to first audio of live
//! text, real-time factor on 1 and 2 ONNX threads, and the memory of a loaded voice.
//! Needs `make models`. Extra numbers (RTF, RSS) are printed to stderr as `tts-bench: ...`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ivr_test_support::models_dir;
use ivr_tts::{
    EspeakPhonemizer, Phonemizer, SynthOptions, TtsConfig, TtsEngine, TtsEvent, Voice, VoiceSpec,
};

const REPLY: &str = "Your order 12345 shipped on March 5th, and it should arrive by Friday. \
                     Is there anything else I can help you with?";

fn env() -> ivr_onnx::Environment {
    ivr_onnx::environment(&models_dir().join(ivr_onnx::ORT_LIB))
        .unwrap_or_else(|e| panic!("{e} (run `make models`)"))
}

fn engine(intra_threads: usize) -> TtsEngine {
    let cfg = TtsConfig {
        workers: 1,
        intra_threads,
        cache_dir: String::new(),
        ..TtsConfig::default()
    };
    TtsEngine::start(&cfg, &models_dir(), &env()).unwrap_or_else(|e| panic!("{e}"))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Time from `synthesize` to the first audio chunk; the rest of the reply is cancelled.
fn time_to_first_audio(c: &mut Criterion) {
    let e = engine(1);
    let mut g = c.benchmark_group("tts");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("ttfa_live_reply_8k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let mut s = e
                    .synthesize(REPLY, SynthOptions::default())
                    .expect("submit");
                match s.blocking_next() {
                    Some(TtsEvent::Audio(_)) => total += t0.elapsed(),
                    other => panic!("{other:?}"),
                }
                s.cancel.cancel();
                while let Some(ev) = s.blocking_next() {
                    if matches!(ev, TtsEvent::Done(_) | TtsEvent::Failed(_)) {
                        break;
                    }
                }
            }
            total
        })
    });
    g.finish();
}

/// Whole reply, 8 kHz, on 1 and 2 ONNX Runtime threads; RTF printed per setting.
fn real_time_factor(c: &mut Criterion) {
    let mut g = c.benchmark_group("tts");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for threads in [1usize, 2] {
        let e = engine(threads);
        let mut synth = Duration::ZERO;
        let mut audio = 0.0;
        g.bench_function(format!("reply_8k_{threads}thread"), |b| {
            b.iter(|| {
                let (_, st) = e
                    .synthesize(REPLY, SynthOptions::default())
                    .expect("submit")
                    .collect_blocking()
                    .expect("synthesis");
                synth += st.synth_time;
                audio += st.audio_seconds;
            })
        });
        if audio > 0.0 {
            eprintln!(
                "tts-bench: RTF on {threads} thread(s) = {:.3} ({:.1} s of audio)",
                synth.as_secs_f64() / audio,
                audio
            );
        }
    }
    g.finish();
}

/// RSS growth from loading one voice session (what each extra synthesis worker costs).
fn voice_memory(c: &mut Criterion) {
    let env = env();
    let spec = Arc::new(
        VoiceSpec::load(&models_dir().join(TtsConfig::default().voice)).expect("voice config"),
    );
    let before = rss_kib();
    let mut voice = Voice::load(&env, spec.clone(), 1).expect("voice");
    // one inference so lazily allocated buffers are counted too
    let ph = EspeakPhonemizer::new(&spec.espeak_voice)
        .and_then(|p| p.phonemize("Hello there."))
        .expect("phonemes");
    let _ = voice.infer(&spec.phoneme_ids(&ph), 1.0).expect("infer");
    let after = rss_kib();
    eprintln!(
        "tts-bench: loaded voice RSS delta = {:.1} MiB",
        after.saturating_sub(before) as f64 / 1024.0
    );
    let mut g = c.benchmark_group("tts");
    g.sample_size(10);
    g.bench_function("phonemize_and_ids", |b| {
        let p = EspeakPhonemizer::new(&spec.espeak_voice).expect("espeak");
        b.iter(|| spec.phoneme_ids(&p.phonemize(REPLY).expect("phonemes")))
    });
    g.bench_function("normalize", |b| b.iter(|| ivr_tts::normalize(REPLY)));
    g.finish();
}

criterion_group!(benches, voice_memory, time_to_first_audio, real_time_factor);
criterion_main!(benches);
