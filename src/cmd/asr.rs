use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ivr_asr::{
    AsrPool, Hints, SileroVad, Speculation, SpeculativeOutcome, SpeechStream, StreamEvent,
    Transcript, VadRate,
};

use crate::config::Config;
use crate::paths;

#[derive(clap::Subcommand)]
pub enum AsrCommand {
    /// Transcribe a WAV file with the on-device recogniser.
    Transcribe {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Hear the file as a caller's audio: 8 kHz, G.711 mu-law, then back to 16 kHz.
        #[arg(long)]
        phone_line: bool,
        /// Spoken language: `[asr]`'s own (default) or a `[asr.languages]` code, e.g. zh.
        #[arg(long)]
        language: Option<String>,
        /// Context the recogniser sees before the audio, as a flow node's hints give it
        /// (e.g. "是的。不是。"): to try how a hint changes what is heard.
        #[arg(long)]
        prompt: Option<String>,
    },
    /// Word error rate (character error rate for Chinese), latency and real-time factor on a
    /// manifest (path<TAB>reference).
    AsrEval {
        manifest: PathBuf,
        #[arg(long)]
        json: bool,
        /// Pass every recording through a phone line first (8 kHz G.711 mu-law round trip),
        /// for wideband recordings that should be judged as call audio.
        #[arg(long)]
        phone_line: bool,
        /// Spoken language: `[asr]`'s own (default) or a `[asr.languages]` code, e.g. zh.
        #[arg(long)]
        language: Option<String>,
    },
}

pub fn run(cmd: AsrCommand, cfg: &Config) -> Result<ExitCode> {
    match cmd {
        AsrCommand::Transcribe {
            file,
            json,
            phone_line,
            language,
            prompt,
        } => {
            let lang = language.unwrap_or_else(|| cfg.asr.language.clone());
            let hints = prompt.map(Hints::prompt).unwrap_or_default();
            transcribe(cfg, &lang, &file, json, phone_line, &hints)
        }
        AsrCommand::AsrEval {
            manifest,
            json,
            phone_line,
            language,
        } => {
            let lang = language.unwrap_or_else(|| cfg.asr.language.clone());
            eval(cfg, &lang, &manifest, json, phone_line)
        }
    }
}

/// Any WAV ivr-media reads, as 16 kHz mono f32; with `phone_line`, as a caller's audio
/// arrives from a trunk: band-limited to 8 kHz and mu-law coded on the way.
fn read_16k(path: &Path, phone_line: bool) -> Result<Vec<f32>> {
    let mut wav =
        ivr_media::read_wav(path).with_context(|| format!("reading {}", path.display()))?;
    if phone_line {
        let narrow = wav
            .resampled(ivr_media::SAMPLE_RATE)
            .with_context(|| format!("resampling {}", path.display()))?;
        let codec = ivr_media::Codec::Pcmu;
        let (mut coded, mut decoded) = (Vec::new(), Vec::new());
        codec.encode(&narrow.samples, &mut coded);
        codec.decode(&coded, &mut decoded);
        wav = ivr_media::WavAudio {
            sample_rate: ivr_media::SAMPLE_RATE,
            samples: decoded,
        };
    }
    let wav = wav
        .resampled(ivr_asr::SAMPLE_RATE)
        .with_context(|| format!("resampling {}", path.display()))?;
    Ok(wav.samples.iter().map(|&s| s as f32 / 32768.0).collect())
}

/// A pool for one language (its model, prompt, token cap and output script).
fn language_pool(cfg: &Config, language: &str) -> Result<AsrPool> {
    Ok(AsrPool::load(
        &paths::models_dir(cfg),
        &cfg.asr,
        &[language],
    )?)
}

fn speech_stream(cfg: &Config) -> Result<SpeechStream> {
    let env = ivr_onnx::environment(&paths::model(cfg, paths::ORT_LIB))?;
    let vad = SileroVad::new(
        &env,
        &paths::model(cfg, &cfg.asr.vad_model),
        VadRate::Hz16000,
    )?;
    Ok(SpeechStream::new(vad, &cfg.asr)?)
}

fn transcribe(
    cfg: &Config,
    language: &str,
    file: &Path,
    json: bool,
    phone_line: bool,
    hints: &Hints,
) -> Result<ExitCode> {
    let audio = read_16k(file, phone_line)?;
    let pool = language_pool(cfg, language)?;
    let seconds = audio.len() as f64 / 16_000.0;
    // Up to Whisper's window: one decode. Longer: cut into utterances with the VAD.
    let parts: Vec<(f64, Arc<[f32]>)> = if seconds <= ivr_asr::MAX_SECONDS {
        vec![(0.0, audio.into())]
    } else {
        split_utterances(cfg, &audio)?
    };
    let mut results: Vec<(f64, Transcript)> = Vec::new();
    for (offset, part) in parts {
        let t = pool.submit(part, hints.clone())?.blocking_wait()?;
        results.push((offset, t));
    }
    let sep = if language == "zh" { "" } else { " " };
    let text = results
        .iter()
        .map(|(_, t)| t.text.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(sep);
    if json {
        let utterances: Vec<_> = results
            .iter()
            .map(|(off, t)| serde_json::json!({"offset_ms": (off * 1000.0).round() as u64, "result": t}))
            .collect();
        let confidence = if results.is_empty() {
            0.0
        } else {
            results.iter().map(|(_, t)| t.confidence).sum::<f32>() / results.len() as f32
        };
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "language": language,
            "audio_ms": (seconds * 1000.0).round() as u64,
            "text": text,
            "confidence": confidence,
            "utterances": utterances,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Long recordings: the endpointer's utterances (each at most `max_utterance_ms`).
fn split_utterances(cfg: &Config, audio: &[f32]) -> Result<Vec<(f64, Arc<[f32]>)>> {
    let mut stream = speech_stream(cfg)?;
    stream.set_expectation(ivr_asr::Expectation::FreeText);
    let t0 = Instant::now();
    let mut out = Vec::new();
    let silence = vec![0.0f32; 16_000];
    for (i, chunk) in audio.chunks(320).chain(silence.chunks(320)).enumerate() {
        let now = t0 + Duration::from_millis(20 * (i as u64 + 1));
        for ev in stream.push(chunk, now)? {
            if let StreamEvent::UtteranceEnded { at, utterance, .. } = ev {
                let start = (at - t0).as_secs_f64() - utterance.audio.len() as f64 / 16_000.0;
                out.push((start.max(0.0), utterance.audio));
            }
        }
    }
    Ok(out)
}

struct Item {
    path: PathBuf,
    reference: String,
}

fn read_manifest(manifest: &Path) -> Result<Vec<Item>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((path, reference)) = line.split_once('\t') else {
            bail!(
                "{}:{}: expected `path<TAB>reference text`",
                manifest.display(),
                n + 1
            );
        };
        let p = Path::new(path.trim());
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        items.push(Item {
            path,
            reference: reference.trim().to_owned(),
        });
    }
    if items.is_empty() {
        bail!("{}: no utterances", manifest.display());
    }
    Ok(items)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// How a hypothesis is scored: words for English, characters for Chinese (no spaces).
#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Wer,
    Cer,
}

impl Metric {
    fn for_language(language: &str, items: &[Item]) -> Self {
        if language == "zh"
            || items
                .iter()
                .any(|i| i.reference.chars().any(ivr_asr::is_han))
        {
            Metric::Cer
        } else {
            Metric::Wer
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Wer => "wer",
            Metric::Cer => "cer",
        }
    }

    /// (errors, reference units, normalised reference, normalised hypothesis).
    fn score(self, reference: &str, hypothesis: &str) -> (usize, usize, String, String) {
        match self {
            Metric::Wer => {
                let hyp_n = ivr_dialog::for_matching(hypothesis);
                let ref_n = ivr_dialog::for_matching(reference);
                let (h, r): (Vec<&str>, Vec<&str>) = (
                    hyp_n.split_whitespace().collect(),
                    ref_n.split_whitespace().collect(),
                );
                let e = ivr_dialog::word_errors(&r, &h);
                let n = r.len();
                (e, n, ref_n, hyp_n)
            }
            Metric::Cer => {
                let e = ivr_asr::char_errors(reference, hypothesis);
                let norm = |t: &str| -> String {
                    ivr_asr::normalize_zh_for_scoring(t).into_iter().collect()
                };
                (
                    e.errors,
                    e.reference_chars,
                    norm(reference),
                    norm(hypothesis),
                )
            }
        }
    }
}

fn eval(
    cfg: &Config,
    language: &str,
    manifest: &Path,
    json: bool,
    phone_line: bool,
) -> Result<ExitCode> {
    let items = read_manifest(manifest)?;
    let metric = Metric::for_language(language, &items);
    let pool = language_pool(cfg, language)?;
    // Warm-up: the first decode pays one-off allocation costs.
    pool.submit(read_16k(&items[0].path, phone_line)?, Hints::default())?
        .blocking_wait()?;

    let (mut errors, mut ref_units) = (0usize, 0usize);
    let (mut audio_s, mut decode_s) = (0.0f64, 0.0f64);
    let mut latencies = Vec::new();
    let mut spec_latencies = Vec::new();
    let mut mistakes: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for item in &items {
        let audio = read_16k(&item.path, phone_line)?;
        audio_s += audio.len() as f64 / 16_000.0;
        // Final-result latency without speculation: submit at end of utterance, wait.
        let started = Instant::now();
        let t = pool
            .submit(audio.clone(), Hints::default())?
            .blocking_wait()?;
        let took = started.elapsed().as_secs_f64();
        decode_s += took;
        latencies.push(took * 1000.0);
        let (e, n, ref_n, hyp_n) = metric.score(&item.reference, &t.text);
        errors += e;
        ref_units += n;
        if e > 0 {
            mistakes.push(format!(
                "{}: ref `{ref_n}` hyp `{hyp_n}`",
                item.path.display()
            ));
        }
        results.push(serde_json::json!({
            "file": item.path.display().to_string(),
            "reference": item.reference,
            "text": t.text,
            "errors": e,
            "latency_ms": (took * 1000.0).round(),
        }));
        if cfg.asr.speculative {
            spec_latencies.extend(speculative_latency(cfg, &pool, &audio)?);
        }
    }
    let rate = errors as f64 / ref_units.max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    spec_latencies.sort_by(f64::total_cmp);
    let rtf = decode_s / audio_s.max(1e-9);
    let (unit, units_key) = match metric {
        Metric::Wer => ("words", "reference_words"),
        Metric::Cer => ("characters", "reference_chars"),
    };
    if json {
        let mut out = serde_json::json!({
            "language": language,
            "metric": metric.name(),
            metric.name(): (rate * 10_000.0).round() / 10_000.0,
            "errors": errors,
            units_key: ref_units,
            "utterances": items.len(),
            "latency_ms": {"p50": percentile(&latencies, 0.5).round(), "p95": percentile(&latencies, 0.95).round()},
            "rtf": (rtf * 1000.0).round() / 1000.0,
            "mistakes": mistakes,
            "results": results,
        });
        if !spec_latencies.is_empty() {
            out["speculative_latency_ms"] = serde_json::json!({
                "p50": percentile(&spec_latencies, 0.5).round(),
                "p95": percentile(&spec_latencies, 0.95).round(),
            });
        }
        println!("{out}");
    } else {
        for m in &mistakes {
            println!("  {m}");
        }
        println!(
            "{} {:.1}% ({errors} errors / {ref_units} {unit})",
            metric.name().to_uppercase(),
            rate * 100.0
        );
        println!("utterances {}", items.len());
        println!(
            "latency after end of utterance: p50 {:.0} ms, p95 {:.0} ms (no speculation)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95)
        );
        if !spec_latencies.is_empty() {
            println!(
                "latency with speculative decoding: p50 {:.0} ms, p95 {:.0} ms",
                percentile(&spec_latencies, 0.5),
                percentile(&spec_latencies, 0.95)
            );
        }
        println!(
            "RTF {rtf:.3} ({} worker(s) x {} thread(s))",
            cfg.asr.workers, cfg.asr.threads_per_worker
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Replays `audio` (+1 s of silence) through VAD + endpointer with a virtual clock, and
/// decodes as the call loop would: speculatively at each pause, reusing the result at the
/// end when no speech came in between. Wall time between pause and end is really waited,
/// so the returned latencies (end of utterance -> result, ms) are what a caller sees.
fn speculative_latency(cfg: &Config, pool: &AsrPool, audio: &[f32]) -> Result<Vec<f64>> {
    let mut stream = speech_stream(cfg)?;
    let t0 = Instant::now();
    let mut events = Vec::new();
    let silence = vec![0.0f32; 16_000];
    for (i, chunk) in audio.chunks(320).chain(silence.chunks(320)).enumerate() {
        let now = t0 + Duration::from_millis(20 * (i as u64 + 1));
        events.extend(stream.push(chunk, now)?);
    }
    let mut spec = Speculation::new();
    let mut pause_at: Option<(Instant, Instant)> = None; // (virtual, wall)
    let mut out = Vec::new();
    for ev in events {
        match ev {
            StreamEvent::Pause { at, utterance } => {
                let ticket = pool.submit(utterance.audio.clone(), Hints::default())?;
                spec.started(&utterance, ticket);
                pause_at = Some((at, Instant::now()));
            }
            StreamEvent::SpeechResumed { .. } => {
                drop(spec.resumed());
                pause_at = None;
            }
            StreamEvent::UtteranceEnded { at, utterance, .. } => {
                // The endpointer needed (end - pause) more silence: wait it out for real.
                if let Some((virt, wall)) = pause_at.take() {
                    let due = wall + at.saturating_duration_since(virt);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                let ended = Instant::now();
                let ticket = match spec.ended(&utterance) {
                    SpeculativeOutcome::Reuse(t) => t,
                    SpeculativeOutcome::Redo => {
                        pool.submit(utterance.audio.clone(), Hints::default())?
                    }
                };
                ticket.blocking_wait()?;
                out.push(ended.elapsed().as_secs_f64() * 1000.0);
            }
            StreamEvent::SpeechStarted { .. } => {}
        }
    }
    Ok(out)
}
