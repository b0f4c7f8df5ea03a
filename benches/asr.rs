//! Criterion benchmarks for ivr-asr (`make bench`): Silero VAD per 32 ms window (16 and
//! 8 kHz), the endpointer per frame, and the Whisper decode of a ~3.4 s utterance with the
//! DESIGN.md §7 settings (one worker, 2 threads).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ivr_asr::{EndpointConfig, Endpointer, Hints, Recognizer, SileroVad, VadRate, WhisperModel};

fn model(rel: &str) -> PathBuf {
    ivr_test_support::model(rel).unwrap_or_else(|e| panic!("{e:#}"))
}

fn clip_16k() -> Vec<f32> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/asr/known-clip-16k.wav"
    ));
    let wav = ivr_media::read_wav(&p).expect("fixture");
    wav.samples.iter().map(|&s| s as f32 / 32768.0).collect()
}

fn vad(c: &mut Criterion) {
    let env = ivr_onnx::environment(&model(ivr_onnx::ORT_LIB)).expect("ort");
    let audio = clip_16k();
    for rate in [VadRate::Hz16000, VadRate::Hz8000] {
        let mut v = SileroVad::new(&env, &model("silero_vad.onnx"), rate).expect("vad");
        let w = rate.window();
        // 8 kHz: every other sample is close enough for a cost measurement.
        let src: Vec<f32> = if rate == VadRate::Hz8000 {
            audio.iter().step_by(2).copied().collect()
        } else {
            audio.clone()
        };
        let windows: Vec<&[f32]> = src.chunks_exact(w).collect();
        let mut i = 0;
        c.bench_function(&format!("asr/vad_window_32ms_{}hz", rate.hz()), |b| {
            b.iter(|| {
                i = (i + 1) % windows.len();
                black_box(v.process_window(windows[i]).expect("vad"))
            })
        });
    }
}

fn endpointer(c: &mut Criterion) {
    let mut ep = Endpointer::new(EndpointConfig::default());
    let t0 = Instant::now();
    let mut n = 0u64;
    c.bench_function("asr/endpointer_frame", |b| {
        b.iter(|| {
            n += 1;
            let p = if (n / 40).is_multiple_of(2) {
                0.9
            } else {
                0.05
            };
            black_box(ep.push_frame(p, t0 + Duration::from_millis(32 * n)))
        })
    });
}

fn decode(c: &mut Criterion) {
    let m = WhisperModel::load(&model("ggml-tiny.en.bin"), "en").expect("whisper");
    let mut rec = Recognizer::new(m, 2).expect("state");
    let audio = clip_16k();
    let mut g = c.benchmark_group("asr/whisper");
    g.sample_size(20);
    g.bench_function("decode_3.4s_utterance_2_threads", |b| {
        b.iter(|| black_box(rec.transcribe(&audio, &Hints::default()).expect("decode")))
    });
    g.finish();
}

criterion_group!(benches, vad, endpointer, decode);
criterion_main!(benches);
