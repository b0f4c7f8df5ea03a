//! Round trip: 30 IVR sentences (demo-flow prompts, numbers, dates, times, money) spoken by
//! `ivr say` at 8 kHz and transcribed by `ivr transcribe` must give WER <= 10 %.
//! Both sides are compared in spoken form (`ivr_tts::spoken_text`), so "$5" and
//! "five dollars" count as the same words. Needs `make models` (Piper voice, ONNX Runtime,
//! ggml Whisper): a missing model fails the test naming the file.

use ivr_test_support::models_dir;
use std::path::Path;
use std::process::Command;

const SENTENCES: [&str; 30] = [
    "Welcome to Parcel Express. How can I help you?",
    "Is there anything else I can help you with?",
    "Please say or key in your eight digit tracking number.",
    "I have {digits:48213377}. Is that correct?",
    "Your parcel {digits:30917754} is out for delivery.",
    "Expected delivery is March 14th.",
    "Sorry, I couldn't find a parcel with that number.",
    "On which day would you like the delivery? For example, tomorrow, or next Monday.",
    "Done. Your parcel will now be delivered on Friday, June 6th.",
    "Please describe the damage in a few words.",
    "Thank you. I'm connecting you to our claims team.",
    "We are open Monday to Friday from 8 AM to 8 PM.",
    "On Saturday we are open from 9 AM to 2 PM.",
    "Please hold, I'm connecting you to an agent.",
    "Sorry, no agent is available right now. Please call again later.",
    "Thank you for calling Parcel Express. Goodbye.",
    "Your balance is $42.50.",
    "The delivery fee is $7.",
    "Your appointment is at 3:30 PM on Tuesday.",
    "You have 3 new messages.",
    "Your order number is {digits:5521}.",
    "The package weighs 12 pounds.",
    "Your refund of $120 was issued on 2024-05-17.",
    "Press 1 for sales, or press 2 for support.",
    "Your call is important to us.",
    "The office closes at 5 PM today.",
    "Your confirmation code is {digits:7 3 9 1}.",
    "There are 25 minutes left on your plan.",
    "We received your payment on April 2nd.",
    "Please stay on the line.",
];

fn require(path: &Path) {
    assert!(
        path.is_file(),
        "missing {}: fetch it with `make models`",
        path.display()
    );
}

/// Words of a sentence in spoken form: lower case, no punctuation, hyphens split.
fn words(text: &str) -> Vec<String> {
    ivr_tts::spoken_text(text)
        .to_lowercase()
        .replace('-', " ")
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'')
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The transcript from `ivr transcribe --json` ({"text": ...}) or its plain output.
fn transcript(stdout: &str) -> String {
    serde_json::from_str::<serde_json::Value>(stdout.trim())
        .ok()
        .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| stdout.trim().to_string())
}

#[test]
fn wer_distance_sanity() {
    let w = |s: &str| words(s);
    assert_eq!(ivr_dialog::word_errors(&w("a b c"), &w("a b c")), 0);
    assert_eq!(ivr_dialog::word_errors(&w("a b c"), &w("a x c d")), 2);
    assert_eq!(
        words("Your balance is $42.50."),
        words("your balance is forty-two dollars and fifty cents")
    );
    assert_eq!(words("I have {digits:48}"), words("I have 4 8"));
}

#[test]
fn say_then_transcribe_wer_at_most_ten_percent() {
    let models = models_dir();
    require(&models.join("piper/en_US-joe-medium.onnx"));
    require(&models.join("onnxruntime/libonnxruntime.so.1.31.1"));
    require(&models.join("ggml-tiny.en.bin"));
    let ivr = env!("CARGO_BIN_EXE_ivr");
    let dir = std::env::temp_dir().join(format!("ivr-tts-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // Two sentences at a time (the machine has 2 cores); each is `ivr say` then `ivr transcribe`.
    let run_one = |i: usize, text: &str| -> (String, usize, usize, String) {
        let wav = dir.join(format!("s{i:02}.wav"));
        let out = Command::new(ivr)
            .args(["say", text, "--rate", "8000", "-o"])
            .arg(&wav)
            .env("IVR_MODELS_DIR", &models)
            .output()
            .expect("run ivr say");
        assert!(
            out.status.success(),
            "ivr say {text:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(ivr)
            .args(["transcribe", "--json"])
            .arg(&wav)
            .env("IVR_MODELS_DIR", &models)
            .output()
            .expect("run ivr transcribe");
        assert!(
            out.status.success(),
            "ivr transcribe {} failed: {}",
            wav.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let hyp = transcript(&String::from_utf8_lossy(&out.stdout));
        let (r, h) = (words(text), words(&hyp));
        (
            text.to_string(),
            ivr_dialog::word_errors(&r, &h),
            r.len(),
            hyp,
        )
    };
    let results: Vec<(String, usize, usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|lane| {
                let run_one = &run_one;
                s.spawn(move || {
                    SENTENCES
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == lane)
                        .map(|(i, t)| run_one(i, t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("round-trip lane panicked"))
            .collect()
    });
    let (mut errors, mut total) = (0usize, 0usize);
    let mut report = String::new();
    for (text, e, n, hyp) in &results {
        errors += e;
        total += n;
        if *e > 0 {
            report.push_str(&format!("  {e} err: {text:?} -> {hyp:?}\n"));
        }
    }
    let wer = errors as f64 / total as f64;
    eprintln!(
        "tts round trip: WER {:.1} % ({errors}/{total})\n{report}",
        wer * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(wer <= 0.10, "WER {:.1} % > 10 %\n{report}", wer * 100.0);
}
