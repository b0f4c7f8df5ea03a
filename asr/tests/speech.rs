//! VAD + endpointer + recogniser on real speech: the recorded call in SIPp's g711a.pcap
//! (PCMA, ~7 s), decoded and resampled 8 -> 16 kHz exactly as the call loop does.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ivr_asr::{AsrConfig, SileroVad, SpeechStream, StreamEvent, Vad, VadRate};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// The pcap's caller audio: 8 kHz i16.
fn pcap_8k() -> Vec<i16> {
    assert!(
        Path::new(PCAP).is_file(),
        "{PCAP} missing: install sip-tester (make setup)"
    );
    let streams = ivr_media::read_rtp_streams(Path::new(PCAP)).expect("read pcap");
    let s = ivr_media::pick_stream(&streams, None).expect("an audio stream");
    s.decode()
}

/// 8 kHz i16 -> 16 kHz f32, streamed in 20 ms frames like the call loop.
fn upsample_stream(x8: &[i16]) -> Vec<Vec<f32>> {
    let mut rs = ivr_media::StreamResampler::caller_8k_to_16k().unwrap();
    x8.chunks(160)
        .map(|f| {
            let mut out = Vec::new();
            rs.process_i16(f, &mut out).unwrap();
            out
        })
        .collect()
}

fn run_stream(frames: &[Vec<f32>], cfg: &AsrConfig) -> Vec<(Duration, StreamEvent)> {
    let vad = SileroVad::new(&ort_env(), &model("silero_vad.onnx"), VadRate::Hz16000).unwrap();
    let mut stream = SpeechStream::new(vad, cfg).unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let now = t0 + Duration::from_millis(20 * (i as u64 + 1));
        for ev in stream.push(f, now).unwrap() {
            out.push((now - t0, ev));
        }
    }
    // trailing silence so the last utterance ends
    for i in 0..100u64 {
        let now = t0 + Duration::from_millis(20 * (frames.len() as u64 + i + 1));
        for ev in stream.push(&[0.0; 320], now).unwrap() {
            out.push((now - t0, ev));
        }
    }
    out
}

fn summary(events: &[(Duration, StreamEvent)]) -> Vec<(&'static str, u64)> {
    events
        .iter()
        .map(|(t, e)| {
            let k = match e {
                StreamEvent::SpeechStarted { .. } => "start",
                StreamEvent::Pause { .. } => "pause",
                StreamEvent::SpeechResumed { .. } => "resume",
                StreamEvent::UtteranceEnded { .. } => "end",
            };
            (k, t.as_millis() as u64)
        })
        .collect()
}

#[test]
fn vad_and_endpointer_on_real_speech() {
    let x8 = pcap_8k();
    assert!(x8.len() > 8000 * 5, "pcap audio too short: {}", x8.len());
    let frames = upsample_stream(&x8);
    let cfg = AsrConfig::default();
    let events = run_stream(&frames, &cfg);
    let s = summary(&events);
    eprintln!("{s:?}");
    // The recording: ~1.5 s of silence, a phrase of ~3 s, a short gap, a phrase of ~2 s.
    let starts: Vec<u64> = s
        .iter()
        .filter(|(k, _)| *k == "start")
        .map(|&(_, t)| t)
        .collect();
    let ends: Vec<u64> = s
        .iter()
        .filter(|(k, _)| *k == "end")
        .map(|&(_, t)| t)
        .collect();
    assert_eq!(starts.len(), 2, "{s:?}");
    assert_eq!(ends.len(), 2, "{s:?}");
    assert!((1500..2100).contains(&starts[0]), "{s:?}");
    assert!(
        ends[0] < starts[1] && (5000..5800).contains(&starts[1]),
        "{s:?}"
    );
    // Each end is preceded by a pause (speculative decoding gets a head start).
    for w in s.windows(2) {
        if w[1].0 == "end" {
            assert_eq!(w[0].0, "pause", "{s:?}");
            assert!(
                w[1].1 - w[0].1 >= 200,
                "pause only {} ms before end",
                w[1].1 - w[0].1
            );
        }
    }
    // The utterance audio holds the speech plus pre-roll and a short tail, not the silence.
    for (_, e) in &events {
        if let StreamEvent::UtteranceEnded { utterance, .. } = e {
            let secs = utterance.audio.len() as f64 / 16_000.0;
            assert!((1.5..4.5).contains(&secs), "utterance {secs:.2} s");
        }
    }
}

#[test]
fn expectation_adapts_trailing_silence_on_real_speech() {
    // The recording's two phrases are ~0.6 s apart: a yes/no turn ends after each phrase,
    // a digits turn (people pause between digit groups) keeps them as one utterance.
    let mut frames = upsample_stream(&pcap_8k());
    frames.extend(std::iter::repeat_n(vec![0.0f32; 320], 100));
    let ends = |exp| {
        let vad = SileroVad::new(&ort_env(), &model("silero_vad.onnx"), VadRate::Hz16000).unwrap();
        let mut st = SpeechStream::new(vad, &AsrConfig::default()).unwrap();
        st.set_expectation(exp);
        let t0 = Instant::now();
        let mut ends = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * (i as u64 + 1));
            for ev in st.push(f, now).unwrap() {
                if let StreamEvent::UtteranceEnded { at, utterance, .. } = ev {
                    ends.push(((at - t0).as_millis() as u64, utterance.audio.len() / 16));
                }
            }
        }
        ends
    };
    let yes_no = ends(ivr_asr::Expectation::YesNo);
    let digits = ends(ivr_asr::Expectation::Digits);
    assert_eq!(yes_no.len(), 2, "{yes_no:?}");
    assert_eq!(digits.len(), 1, "{digits:?}");
    // yes/no ends the first phrase 250 ms after it; the digits utterance spans both phrases
    assert!(yes_no[0].0 < 5000, "{yes_no:?}");
    assert!(
        digits[0].1 > 5000,
        "digits utterance only {} ms",
        digits[0].1
    );
}

#[test]
fn vad_8k_and_16k_agree_on_real_speech() {
    // Silero runs at 8 kHz natively; compare with the 16 kHz path the call loop uses.
    let x8 = pcap_8k();
    let env = ort_env();
    let mut v8 = SileroVad::new(&env, &model("silero_vad.onnx"), VadRate::Hz8000).unwrap();
    let mut v16 = SileroVad::new(&env, &model("silero_vad.onnx"), VadRate::Hz16000).unwrap();
    let f8: Vec<f32> = x8.iter().map(|&s| s as f32 / 32768.0).collect();
    let f16: Vec<f32> = upsample_stream(&x8).concat();
    let (mut p8, mut p16) = (Vec::new(), Vec::new());
    v8.push(&f8, &mut p8).unwrap();
    v16.push(&f16, &mut p16).unwrap();
    let n = p8.len().min(p16.len());
    assert!(n > 150);
    let agree = (0..n)
        .filter(|&i| (p8[i] >= 0.5) == (p16[i] >= 0.5))
        .count();
    let speech8 = p8.iter().filter(|&&p| p >= 0.5).count();
    let speech16 = p16.iter().filter(|&&p| p >= 0.5).count();
    eprintln!("frames {n}: agree {agree}, speech 8k {speech8}, 16k {speech16}");
    assert!(
        agree * 100 >= n * 90,
        "8 kHz and 16 kHz VAD disagree on {} of {n} frames",
        n - agree
    );
    // Silence at the start is silence for both.
    assert!(p8[..40].iter().chain(&p16[..40]).all(|&p| p < 0.5));
}
