//! Worker pool and hallucination guard with the real tiny.en model.

mod common;

use common::*;
use ivr_asr::{AsrConfig, AsrError, AsrPool, Hints, Recognizer};

fn clip() -> Vec<f32> {
    read_wav_16k(&fixture("known-clip-16k.wav"))
}

#[test]
fn concurrent_streams_match_sequential() {
    let audio = clip();
    // Three different utterances: the clip, its first half, its second half.
    let half = audio.len() / 2;
    let inputs: Vec<Vec<f32>> = vec![
        audio.clone(),
        audio[..half].to_vec(),
        audio[half..].to_vec(),
    ];
    let mut rec = Recognizer::new(whisper(), 1).unwrap();
    let sequential: Vec<String> = inputs
        .iter()
        .map(|a| rec.transcribe(a, &Hints::default()).unwrap().text)
        .collect();

    let cfg = AsrConfig {
        workers: 2,
        threads_per_worker: 1,
        queue: 16,
        ..Default::default()
    };
    let pool = AsrPool::new(whisper(), &cfg).unwrap();
    // 2 rounds of all 3 at once from 3 submitting threads.
    let results: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (pool, inp) = (&pool, &inputs);
                s.spawn(move || {
                    let t = pool.submit(inp[i % 3].clone(), Hints::default()).unwrap();
                    (i % 3, t.blocking_wait().unwrap().text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, text) in results {
        assert_eq!(text, sequential[i], "input {i}");
    }
    assert!(!sequential[0].is_empty());
    assert_eq!(pool.outstanding(), 0);
}

#[test]
fn bounded_queue_rejects_and_dropped_tickets_cancel() {
    let cfg = AsrConfig {
        workers: 1,
        threads_per_worker: 1,
        queue: 2,
        ..Default::default()
    };
    let pool = AsrPool::new(whisper(), &cfg).unwrap();
    let audio = clip();
    let mut tickets = Vec::new();
    let mut full = false;
    for _ in 0..8 {
        match pool.submit(audio.clone(), Hints::default()) {
            Ok(t) => tickets.push(t),
            Err(AsrError::QueueFull { .. }) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full, "queue of 2 never filled");
    assert!(pool.expected_wait() > std::time::Duration::ZERO);
    // Drop all but the first: the queued ones are skipped, not decoded, and their slots
    // are free at once, while the first is still being decoded.
    let first = tickets.remove(0);
    drop(tickets);
    let t = pool
        .submit(audio[..16_000].to_vec(), Hints::default())
        .expect("a dropped ticket's slot is free immediately");
    first.blocking_wait().unwrap();
    t.blocking_wait().unwrap();
    assert!(pool.cancelled() >= 1, "dropped tickets were decoded anyway");
}

#[test]
fn guard_gives_no_text_for_silence_and_noise() {
    let mut rec = Recognizer::new(whisper(), 2).unwrap();
    let silence = vec![0.0f32; 32_000];
    assert_eq!(
        rec.transcribe(&silence, &Hints::default()).unwrap().text,
        ""
    );
    // Low-level line hiss (deterministic LCG noise at about -30 dBFS).
    let mut x = 12345u32;
    let hiss: Vec<f32> = (0..48_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((x >> 16) as f32 / 32768.0 - 1.0) * 0.05
        })
        .collect();
    let t = rec.transcribe(&hiss, &Hints::default()).unwrap();
    assert_eq!(t.text, "", "{t:?}");
    // Empty and too-short input: a clear empty result, no decode.
    assert_eq!(rec.transcribe(&[], &Hints::default()).unwrap().text, "");
    // Over 30 s: an error naming the problem.
    let long = vec![0.1f32; 16_000 * 31];
    assert!(matches!(
        rec.transcribe(&long, &Hints::default()),
        Err(AsrError::TooLong { .. })
    ));
    // Clipped speech still transcribes.
    let clipped: Vec<f32> = clip().iter().map(|s| (s * 8.0).clamp(-1.0, 1.0)).collect();
    let t = rec.transcribe(&clipped, &Hints::default()).unwrap();
    assert!(fold(&t.text).contains("status of my order"), "{t:?}");
}

#[test]
fn initial_prompt_hint_is_used() {
    let mut rec = Recognizer::new(whisper(), 2).unwrap();
    let a = clip();
    let t = rec
        .transcribe(&a, &Hints::prompt("Order status, billing, agent."))
        .unwrap();
    assert!(fold(&t.text).contains("status of my order"), "{t:?}");
}
