use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use ivr_tts::{SynthOptions, TtsConfig, TtsEngine, TtsEvent};

use crate::config::Config;
use crate::paths;

#[derive(clap::Subcommand)]
pub enum TtsCommand {
    /// Speak TEXT with the on-device voice into a WAV file.
    Say {
        text: String,
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Output sample rate: 8000, 16000, 22050 or 24000.
        #[arg(long, default_value_t = 8000)]
        rate: u32,
        /// Language of TEXT: picks the voice (`en`: [tts] voice, `zh`: [tts.voices] zh).
        #[arg(long, default_value = "en")]
        language: String,
        /// Voice instead of the configured one: `kokoro/zm_yunxi`, `piper/x.onnx`.
        #[arg(long)]
        voice: Option<String>,
        /// Speaking rate (1.0 = normal, 0.8 = slower).
        #[arg(long, default_value_t = 1.0)]
        speed: f32,
        /// Print {"ttfa_ms":..,"rtf":..,"seconds":..}.
        #[arg(long)]
        json: bool,
        /// Play through the sound device (cargo feature `playback`).
        #[arg(long)]
        play: bool,
    },
}

pub fn run(cmd: TtsCommand, cfg: &Config) -> Result<ExitCode> {
    match cmd {
        TtsCommand::Say {
            text,
            output,
            rate,
            language,
            voice,
            speed,
            json,
            play,
        } => say(
            cfg,
            &text,
            SayOptions {
                output,
                rate,
                language,
                voice,
                speed,
                json,
                play,
            },
        ),
    }
}

struct SayOptions {
    output: Option<PathBuf>,
    rate: u32,
    language: String,
    voice: Option<String>,
    speed: f32,
    json: bool,
    play: bool,
}

fn say(cfg: &Config, text: &str, opts: SayOptions) -> Result<ExitCode> {
    let SayOptions {
        output,
        rate,
        language,
        voice,
        speed,
        json,
        play,
    } = opts;
    if !ivr_tts::SUPPORTED_RATES.contains(&rate) {
        bail!("--rate must be 8000, 16000, 22050 or 24000 (got {rate})");
    }
    if !(speed.is_finite() && (0.5..=2.0).contains(&speed)) {
        bail!("--speed must be between 0.5 and 2.0 (got {speed})");
    }
    if play && !ivr_tts::PLAYBACK_AVAILABLE {
        bail!("{}", ivr_tts::PLAYBACK_HINT);
    }
    if output.is_none() && !play {
        bail!("say: give -o OUT.wav (or --play)");
    }
    let env = ivr_onnx::environment(&paths::model(cfg, paths::ORT_LIB))?;
    // One-shot: no prompt cache on disk, one synthesis thread.
    let mut tts_cfg = TtsConfig {
        workers: 1,
        cache_dir: String::new(),
        ..cfg.tts.clone()
    };
    if let Some(v) = voice {
        tts_cfg.voices.insert(language.clone(), v);
    }
    let engine = TtsEngine::start_language(&tts_cfg, &language, &paths::models_dir(cfg), &env)?;

    let started = Instant::now();
    let mut stream = engine.synthesize(
        text,
        SynthOptions {
            speed: Some(speed),
            sample_rate: rate,
        },
    )?;
    let mut pcm = Vec::new();
    let mut first_audio = None;
    let stats = loop {
        match stream.blocking_next() {
            Some(TtsEvent::Audio(c)) => {
                first_audio.get_or_insert_with(|| started.elapsed());
                pcm.extend_from_slice(&c.pcm);
            }
            Some(TtsEvent::Done(s)) => break s,
            Some(TtsEvent::Failed(e)) => return Err(anyhow!("synthesis failed: {e}")),
            None => bail!("synthesis thread stopped"),
        }
    };
    let seconds = pcm.len() as f64 / rate as f64;
    if let Some(path) = &output {
        ivr_tts::write_wav(path, &pcm, rate)?;
    }
    if json {
        let ttfa_ms = first_audio.map(|d| d.as_secs_f64() * 1000.0);
        println!(
            "{}",
            serde_json::json!({
                "ttfa_ms": ttfa_ms.map(|v| (v * 10.0).round() / 10.0),
                "rtf": (stats.rtf() * 10_000.0).round() / 10_000.0,
                "seconds": (seconds * 1000.0).round() / 1000.0,
            })
        );
    } else if let Some(path) = &output {
        eprintln!(
            "wrote {} ({seconds:.2} s at {rate} Hz, first audio after {:.0} ms, RTF {:.3})",
            path.display(),
            first_audio.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            stats.rtf()
        );
    }
    if play {
        ivr_tts::play(&pcm, rate)?;
    }
    Ok(ExitCode::SUCCESS)
}
