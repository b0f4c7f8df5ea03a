//! End-to-end benchmarks of `ivr serve` on loopback, measured on the wire (`make bench`).
//!
//! SIPp places calls whose caller audio is a generated pcap (espeak-ng speech on a
//! continuous 20 ms RTP stream, like a phone). dumpcap captures both RTP legs on `lo`.
//! Per caller turn: latency = the caller's last voiced packet -> ivr's first non-silent
//! reply packet (G.711 decoded, mean |sample| above a threshold). The call record says
//! whether the reply came from the prompt cache or from live TTS.
//!
//! Phases: a latency run at low concurrency, then a ramp of concurrent calls until the
//! p95 turn latency passes 1 s, an outbound RTP gap (underrun) appears, or calls fail.
//! Writes `benches/results/e2e.{json,md}`, `latency_hist.png`, `latency_vs_calls.png`,
//! and a summary of the criterion micro-benches (`criterion.md`).
//!
//! Built only with the `e2e-bench` feature (plotters with ab_glyph text; kept out of
//! criterion's plotters) and run only with `IVR_E2E_BENCH=1`: `make bench` sets both. Knobs (env): IVR_BENCH_LATENCY_CALLS (8),
//! IVR_BENCH_LATENCY_CONCURRENCY (2), IVR_BENCH_LEVELS (1,2,4,8,12,16,20,24,28,32),
//! IVR_BENCH_MAX_LOAD (1.5: wait until the 1-minute load average is below it),
//! IVR_BENCH_LOAD_WAIT_S (900), IVR_BENCH_OUT (benches/results; benches/results/zh for
//! Mandarin), IVR_BENCH_LANGUAGE (en; zh runs the Mandarin script on `sip:kuaidi`).

mod caller;
mod harness;
mod phase;
mod plots;
mod report;
mod wire;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use caller::{CallerAudio, write_scenario};
use harness::{machine_info, rss_kib, run_phase, start_server, wait_for_quiet_machine};
use phase::{Phase, fmt_ms, judge, stats, turn_floors};
use report::{Report, criterion_summary};

/// Samples per 20 ms G.711 frame.
const FRAME: usize = 160;
/// A frame is voiced when its mean |sample| is above this (16-bit scale). Piper and
/// espeak-ng speech sit far above it; ivr's silence frames are exact zeros.
const VOICED_MEAN_ABS: i64 = 200;
/// Voiced caller frames closer than this belong to one utterance.
const UTTERANCE_GAP: Duration = Duration::from_millis(700);
/// An outbound inter-packet gap above this is an RTP underrun.
const UNDERRUN_GAP_MS: f64 = 40.0;
/// A ramp level passes while its p95 turn latency stays at or below this.
const P95_LIMIT_MS: f64 = 1000.0;
/// A ramp level is sustained while load adds at most this (median) to the unloaded turn
/// latency, and at most `ADDED_P95_LIMIT_MS` at p95. The absolute 1 s limit is reported
/// too, but with the current endpointer settings one call is already at ~1 s p95 (the
/// digit turn waits out a long trailing silence), so it says little about load.
const ADDED_P50_LIMIT_MS: f64 = 200.0;
const ADDED_P95_LIMIT_MS: f64 = 500.0;
/// ivr's RTP ports for the bench (so the capture filter can name them).
const RTP_MIN: u16 = 42000;
const RTP_MAX: u16 = 42998;

/// One language's bench call: who speaks, what, and which number they dial.
pub struct Script {
    /// `IVR_BENCH_LANGUAGE`.
    pub language: &'static str,
    /// The Request-URI user dialled: it picks the flow, as `[[dialog.routes]]` do.
    pub user: &'static str,
    pub voice: CallerVoice,
    /// (silence before, words). The pauses leave room for each bot prompt of the demo
    /// flow: greeting, number request (cached), read-back (live), status + anything else
    /// (live), goodbye.
    pub lines: &'static [(f64, &'static str)],
    /// Caller audio after the last utterance (ivr says goodbye and hangs up meanwhile).
    pub tail_s: f64,
}

#[derive(Debug, Clone, Copy)]
pub enum CallerVoice {
    /// espeak-ng, 150 wpm.
    Espeak(&'static str),
    /// A Kokoro speaker through `ivr say --language zh` (espeak-ng cannot speak Mandarin);
    /// not the bot's own voice.
    Kokoro(&'static str),
}

/// fixtures/flows/parcel.toml, dialled as `parcel`.
const ENGLISH: Script = Script {
    language: "en",
    user: "parcel",
    voice: CallerVoice::Espeak("en-us"),
    lines: &[
        (4.5, "I'd like to track my parcel."),
        (7.0, "one two three four five six seven eight"),
        (8.0, "yes"),
        (13.0, "no thanks, goodbye"),
    ],
    tail_s: 8.0,
};

/// fixtures/flows/parcel-zh.toml, dialled as `kuaidi` (the embedded route). Its prompts are
/// longer: so are the pauses.
const MANDARIN: Script = Script {
    language: "zh",
    user: "kuaidi",
    voice: CallerVoice::Kokoro("kokoro/zm_yunxi"),
    lines: &[
        (6.0, "我想查一下我的快递。"),
        (6.5, "一二三四五六七八"),
        (7.0, "是的。"),
        (14.0, "没有了。"),
    ],
    tail_s: 8.0,
};

impl Script {
    fn from_env() -> Result<&'static Script> {
        match std::env::var("IVR_BENCH_LANGUAGE").as_deref() {
            Err(_) | Ok("en") => Ok(&ENGLISH),
            Ok("zh") => Ok(&MANDARIN),
            Ok(other) => anyhow::bail!("IVR_BENCH_LANGUAGE={other}: want en or zh"),
        }
    }
}

struct Opts {
    script: &'static Script,
    latency_calls: usize,
    latency_concurrency: usize,
    levels: Vec<usize>,
    max_load: f64,
    load_wait: Duration,
    out: PathBuf,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Opts {
    fn from_env() -> Result<Opts> {
        let script = Script::from_env()?;
        let default_out = match script.language {
            "en" => Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results"),
            lang => Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/results/{lang}")),
        };
        let levels = std::env::var("IVR_BENCH_LEVELS")
            .unwrap_or_else(|_| "1,2,4,8,12,16,20,24,28,32".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .filter(|n| *n > 0)
            .collect();
        Ok(Opts {
            script,
            latency_calls: env_or("IVR_BENCH_LATENCY_CALLS", 8),
            latency_concurrency: env_or("IVR_BENCH_LATENCY_CONCURRENCY", 2),
            levels,
            max_load: env_or("IVR_BENCH_MAX_LOAD", 1.5),
            load_wait: Duration::from_secs(env_or("IVR_BENCH_LOAD_WAIT_S", 900)),
            out: std::env::var_os("IVR_BENCH_OUT")
                .map(PathBuf::from)
                .unwrap_or(default_out),
        })
    }
}

fn main() {
    if std::env::var("IVR_E2E_BENCH").as_deref() != Ok("1") {
        println!(
            "e2e_latency: skipped (end-to-end benches run from `make bench`, or set IVR_E2E_BENCH=1)"
        );
        return;
    }
    if let Err(e) = run() {
        eprintln!("e2e_latency: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let opts = Opts::from_env()?;
    std::fs::create_dir_all(&opts.out)?;
    let criterion = criterion_summary(&opts.out).context("summarising criterion results")?;
    println!("e2e_latency: criterion summary: {criterion} benchmarks");
    if std::env::var("IVR_BENCH_ONLY_CRITERION").as_deref() == Ok("1") {
        return Ok(());
    }
    if std::env::var("IVR_BENCH_RERENDER").as_deref() == Ok("1") {
        return rerender(&opts.out);
    }

    let load_before = wait_for_quiet_machine(&opts);
    let machine = machine_info(load_before);
    println!("e2e_latency: machine {machine}");

    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let caller = CallerAudio::generate(&work, opts.script)?;
    let scenario = write_scenario(&work, &caller)?;

    let max_level = opts.levels.iter().copied().max().unwrap_or(1);
    let mut server = start_server(
        &work,
        max_level.max(opts.latency_concurrency) + 8,
        opts.script,
    )?;
    let idle_rss = rss_kib(server.pid()).unwrap_or(0);
    println!(
        "e2e_latency: ivr serve pid {} SIP {} (RSS idle {idle_rss} KiB)",
        server.pid(),
        server.sip,
    );

    // One call first, not reported: the first inferences of a fresh process are slow
    // (allocations, caches), and nobody calls a server that has just started.
    let warmup = run_phase(&server, &work, &scenario, &caller, "warmup", 1, 1)?;
    println!("{} (warm-up, not reported)", warmup.one_line());

    let mut phases = Vec::new();
    let latency = run_phase(
        &server,
        &work,
        &scenario,
        &caller,
        "latency",
        opts.latency_calls,
        opts.latency_concurrency,
    )?;
    println!("{}", latency.one_line());
    let floors = turn_floors(&latency);
    println!("e2e_latency: per-turn floor (fastest wire latency per script turn): {floors:?}");
    phases.push(latency);

    for &n in &opts.levels {
        let p = run_phase(
            &server,
            &work,
            &scenario,
            &caller,
            &format!("ramp-{n}"),
            n,
            n,
        )?;
        let mut p = p;
        p.added = stats(
            p.samples
                .iter()
                .filter(|s| !s.overlap)
                .filter_map(|s| Some(s.wire_ms? - floors.get(&s.turn)?)),
        );
        println!(
            "{} | added p50 {} p95 {} ms",
            p.one_line(),
            fmt_ms(p.added.p50),
            fmt_ms(p.added.p95)
        );
        let sustained = p.sustained();
        phases.push(p);
        if !sustained {
            break;
        }
    }
    let status = server.stop().map(|s| s.to_string()).unwrap_or_default();
    println!("e2e_latency: ivr serve stopped ({status})");
    let (floors, max_sustained, max_meeting_goal) = judge(&mut phases);

    let report = Report {
        machine,
        phases,
        max_sustained,
        max_meeting_goal,
        floors,
        levels: opts.levels.clone(),
        caller: caller.describe(),
        server_idle_rss_kib: idle_rss,
    };
    report.write(&opts.out)?;
    println!(
        "e2e_latency: results in {} (max sustained concurrent calls: {max_sustained})",
        opts.out.display()
    );
    println!(
        "e2e_latency: captures, call records and logs kept in {}",
        work.display()
    );
    Ok(())
}

/// Rewrites the Markdown, JSON verdicts and plots from a saved `e2e.json` without
/// measuring again (`IVR_BENCH_RERENDER=1`).
fn rerender(out: &Path) -> Result<()> {
    let path = out.join("e2e.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut phases: Vec<Phase> = serde_json::from_value(saved["phases"].clone())?;
    let (floors, max_sustained, max_meeting_goal) = judge(&mut phases);
    let report = Report {
        machine: saved["machine"].clone(),
        phases,
        max_sustained,
        max_meeting_goal,
        floors,
        levels: serde_json::from_value(saved["levels"].clone()).unwrap_or_default(),
        caller: saved["caller"].clone(),
        server_idle_rss_kib: saved["server_idle_rss_kib"].as_u64().unwrap_or(0),
    };
    report.write(out)?;
    println!(
        "e2e_latency: re-rendered {} (max sustained {max_sustained}, p95 <= 1 s up to {max_meeting_goal})",
        out.display()
    );
    Ok(())
}
