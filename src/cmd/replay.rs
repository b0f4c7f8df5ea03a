//! `ivr replay`: recorded calls through the live pipeline in virtual time, checked
//! against their expectation files (see `crate::replay`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use crate::config::Config;
use crate::replay::{
    CallerMedia, Expectations, InputKind, ReplayOptions, ReplayResult, TransferAnswer, TurnReport,
    expectations_beside, load_fixture, percentile,
};

#[derive(clap::Subcommand)]
pub enum ReplayCommand {
    /// Replay recorded calls through the full pipeline in virtual time and check them
    /// against their expectation files (FIXTURE.toml beside each fixture).
    Replay {
        /// Caller WAV, stereo call recording (caller left), or pcap/pcapng; a directory
        /// means every fixture in it.
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Flow file (default: the configured one, else the demo flow).
        #[arg(long)]
        flow: Option<PathBuf>,
        /// Expectation file (only with one fixture; default FIXTURE.toml if present).
        #[arg(long)]
        expect: Option<PathBuf>,
        /// Ignore expectation files: just print the conversation.
        #[arg(long)]
        no_expect: bool,
        /// One JSON object per turn, then one per call summary.
        #[arg(long)]
        json: bool,
        /// Write each call as `serve` would: records db, stereo WAV, bot audio, transcript.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The call's date for relative dates (YYYY-MM-DD; default: the expectation
        /// file's `date`, else today, UTC).
        #[arg(long)]
        date: Option<String>,
        /// The caller's RTP stream in a pcap (SSRC, decimal or 0x hex; default: the
        /// first audio stream in the capture).
        #[arg(long)]
        ssrc: Option<String>,
        /// Seconds the call may go on after the fixture's audio ends (default: the
        /// expectation file's `tail_s`, else 60).
        #[arg(long)]
        tail: Option<f64>,
        /// Write each utterance sent to the recogniser as a 16 kHz WAV into this
        /// directory (to try it with `ivr transcribe`).
        #[arg(long)]
        dump_utterances: Option<PathBuf>,
        /// The number (Request-URI user) the caller dialled, which picks the flow as
        /// `serve`'s `[[dialog.routes]]` do (default: the expectation file's `called`,
        /// else the default flow).
        #[arg(long)]
        called: Option<String>,
    },
}

struct Job {
    fixture: PathBuf,
    media: CallerMedia,
    expect: Option<(PathBuf, Expectations)>,
}

/// One replayed fixture, for the table.
struct Row {
    name: String,
    turns: usize,
    outcome: String,
    status: String,
    compute_p50: Option<f64>,
    compute_p95: Option<f64>,
    response_p50: Option<f64>,
    wall_s: f64,
}

pub fn run(cmd: ReplayCommand, cfg: &Config) -> Result<ExitCode> {
    let ReplayCommand::Replay {
        fixtures,
        flow,
        expect,
        no_expect,
        json,
        out,
        date,
        ssrc,
        tail,
        dump_utterances,
        called,
    } = cmd;
    let ssrc = ssrc.as_deref().map(parse_ssrc).transpose()?;
    let paths = expand(&fixtures)?;
    if expect.is_some() && paths.len() != 1 {
        bail!(
            "--expect works with exactly one fixture ({} given)",
            paths.len()
        );
    }
    let cli_date = date
        .as_deref()
        .map(|d| {
            ivr_dialog::Date::parse_iso(d).ok_or_else(|| anyhow!("--date {d}: want YYYY-MM-DD"))
        })
        .transpose()?;
    if let Some(d) = &dump_utterances {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    if let Some(t) = tail
        && !(t.is_finite() && t >= 0.0)
    {
        bail!("--tail must be a number of seconds >= 0 (got {t})");
    }

    // Read every input before loading models: bad input fails fast and clearly.
    let mut jobs = Vec::new();
    for p in paths {
        let media = load_fixture(&p, ssrc)?;
        let exp_path = if no_expect {
            None
        } else {
            expect.clone().or_else(|| expectations_beside(&p))
        };
        let expect = match exp_path {
            Some(e) => {
                let x = Expectations::load(&e)?;
                x.today()?;
                Some((e, x))
            }
            None => None,
        };
        jobs.push(Job {
            fixture: p,
            media,
            expect,
        });
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    let engines = crate::call::Engines::load(
        cfg,
        flow.as_deref(),
        rt.handle().clone(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )?;

    let stdout = std::io::stdout();
    let mut rows = Vec::new();
    let mut all_compute = Vec::new();
    let mut all_response = Vec::new();
    let mut failed = false;
    for job in &jobs {
        let name = job
            .fixture
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| job.fixture.display().to_string());
        let exp = job.expect.as_ref().map(|(_, e)| e);
        let today = match (cli_date, exp) {
            (Some(d), _) => d,
            (None, Some(e)) => e.today()?,
            (None, None) => ivr_dialog::Date::today_utc(),
        };
        let opts = ReplayOptions {
            today,
            transfer: exp.map(|e| e.transfer).unwrap_or(TransferAnswer::Ok),
            tail: std::time::Duration::from_secs_f64(
                tail.or(exp.and_then(|e| e.tail_s)).unwrap_or(60.0).max(0.0),
            ),
            out: out.clone(),
            dump_utterances: dump_utterances.clone(),
            called: called
                .clone()
                .or_else(|| exp.and_then(|e| e.called.clone())),
        };
        let result = match crate::replay::replay(&engines, &job.media, &name, &opts) {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                eprintln!("ivr replay: {name}: error: {e:#}");
                rows.push(Row {
                    name,
                    turns: 0,
                    outcome: "-".into(),
                    status: "ERROR".into(),
                    compute_p50: None,
                    compute_p95: None,
                    response_p50: None,
                    wall_s: 0.0,
                });
                continue;
            }
        };
        let failures = exp.map(|e| crate::replay::check(&result, e));
        let mut w = stdout.lock();
        if json {
            print_json(&mut w, &result, failures.as_deref())?;
        } else {
            let desc = exp.map(|e| e.description.as_str()).unwrap_or_default();
            print_text(&mut w, &result, desc)?;
            match (&failures, &job.expect) {
                (Some(f), Some((p, _))) if f.is_empty() => {
                    writeln!(w, "expectations {}: PASS", p.display())?
                }
                (Some(f), Some((p, _))) => {
                    writeln!(w, "expectations {}: FAIL", p.display())?;
                    for line in f {
                        writeln!(w, "  - {line}")?;
                    }
                }
                _ => writeln!(w, "no expectation file")?,
            }
            if let Some(r) = &result.record {
                writeln!(
                    w,
                    "call record {} written under {}",
                    r.id,
                    out.as_deref().unwrap_or(Path::new(".")).display()
                )?;
            }
            writeln!(w)?;
        }
        let status = match &failures {
            Some(f) if f.is_empty() => "pass".to_string(),
            Some(f) => {
                failed = true;
                format!("FAIL ({})", f.len())
            }
            None => "-".to_string(),
        };
        all_compute.extend(
            caller_turns(&result)
                .map(|t| t.compute_ms)
                .filter(|&ms| ms > 0.0),
        );
        all_response.extend(caller_turns(&result).filter_map(|t| t.response_ms));
        rows.push(Row {
            name,
            turns: result.summary.caller_turns,
            outcome: result.summary.outcome.as_str().into(),
            status,
            compute_p50: result.summary.compute_ms_p50,
            compute_p95: result.summary.compute_ms_p95,
            response_p50: result.summary.response_ms_p50,
            wall_s: result.summary.wall_s,
        });
    }
    let mut w = stdout.lock();
    if json {
        let o = serde_json::json!({
            "overall": {
                "fixtures": rows.len(),
                "passed": rows.iter().filter(|r| r.status == "pass").count(),
                "failed": rows.iter().filter(|r| r.status != "pass" && r.status != "-").count(),
                "turns_with_compute": all_compute.len(),
                "compute_ms_p50": percentile(&all_compute, 50.0),
                "compute_ms_p95": percentile(&all_compute, 95.0),
                "response_ms_p50": percentile(&all_response, 50.0),
                "response_ms_p95": percentile(&all_response, 95.0),
            }
        });
        writeln!(w, "{o}")?;
    } else {
        print_table(&mut w, &rows, &all_compute, &all_response)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn caller_turns(r: &ReplayResult) -> impl Iterator<Item = &TurnReport> {
    r.turns.iter().filter(|t| t.turn > 0)
}

fn parse_ssrc(s: &str) -> Result<u32> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| anyhow!("--ssrc {s}: want a 32-bit number (decimal or 0x hex)"))
}

/// Fixture files: given files as they are, directories expanded (sorted, so the order
/// of a run never changes).
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "wav" | "pcap" | "pcapng"))
                })
                .collect();
            if found.is_empty() {
                bail!("{}: no .wav, .pcap or .pcapng fixtures in it", p.display());
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.0} ms"))
}

fn slots_text(s: &std::collections::BTreeMap<String, String>) -> String {
    if s.is_empty() {
        return "{}".into();
    }
    let parts: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn print_text(w: &mut impl Write, r: &ReplayResult, description: &str) -> Result<()> {
    writeln!(w, "== {} ({})", r.fixture, r.input)?;
    if !description.is_empty() {
        writeln!(w, "   {description}")?;
    }
    for t in &r.turns {
        if t.turn == 0 {
            writeln!(w, "turn 0  call start")?;
        } else {
            let heard = match t.input {
                InputKind::NoInput => "(no input)".to_string(),
                _ => format!("{:?}", t.transcript),
            };
            writeln!(
                w,
                "turn {:<2} {:>6.1}s {:<8} caller: {heard}{}",
                t.turn,
                t.at_s,
                t.input,
                if t.barged_in { "  [barge-in]" } else { "" }
            )?;
            writeln!(
                w,
                "         intent {}  node {}  slots {}",
                t.intent.as_deref().map_or("none".to_string(), |i| format!(
                    "{i} ({:.2})",
                    t.intent_confidence.unwrap_or(0.0)
                )),
                t.node,
                slots_text(&t.slots)
            )?;
        }
        for s in &t.say {
            writeln!(w, "         bot: {s}")?;
        }
        if t.interrupted {
            writeln!(w, "         (the caller cut the bot off)")?;
        }
        if t.turn > 0 {
            writeln!(
                w,
                "         compute {:.0} ms (asr {:.0} ms x{}, tts {:.0} ms)  response {}{}",
                t.compute_ms,
                t.asr_ms,
                t.asr_runs,
                t.tts_ms,
                ms(t.response_ms),
                match t.cached {
                    Some(true) => " (virtual, cached prompt)",
                    Some(false) => " (virtual, live TTS)",
                    None => "",
                }
            )?;
        }
    }
    let s = &r.summary;
    writeln!(
        w,
        "summary: outcome {}{} ({}), slots {}, intents [{}], {} caller turns, {:.1} s virtual in {:.1} s wall, compute p50 {} p95 {}, response p50 {}",
        s.outcome.as_str(),
        s.handoff_target
            .as_deref()
            .map_or(String::new(), |t| format!(" to {t}")),
        s.ended_by,
        slots_text(&s.slots),
        s.intents.join(", "),
        s.caller_turns,
        s.duration_s,
        s.wall_s,
        ms(s.compute_ms_p50),
        ms(s.compute_ms_p95),
        ms(s.response_ms_p50),
    )?;
    Ok(())
}

fn print_json(w: &mut impl Write, r: &ReplayResult, failures: Option<&[String]>) -> Result<()> {
    for t in &r.turns {
        let mut v = serde_json::to_value(t)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("fixture".into(), r.fixture.clone().into());
            // `say` as one string (what the caller heard); the prompts stay in `says`.
            o.insert("says".into(), serde_json::to_value(&t.say)?);
            o.insert("say".into(), t.say.join(" ").into());
        }
        writeln!(w, "{v}")?;
    }
    let v = serde_json::json!({
        "fixture": r.fixture,
        "input": r.input,
        "summary": r.summary,
        "pass": failures.map(|f| f.is_empty()),
        "failures": failures,
        "record": r.record.as_ref().map(|c| c.id.clone()),
    });
    writeln!(w, "{v}")?;
    Ok(())
}

fn print_table(
    w: &mut impl Write,
    rows: &[Row],
    all_compute: &[f64],
    all_response: &[f64],
) -> Result<()> {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
    writeln!(
        w,
        "{:<width$}  {:>5}  {:<12}  {:<9}  {:>11}  {:>11}  {:>12}  {:>6}",
        "fixture",
        "turns",
        "outcome",
        "result",
        "compute p50",
        "compute p95",
        "response p50",
        "wall"
    )?;
    writeln!(w, "{}", "-".repeat(width + 83))?;
    for r in rows {
        writeln!(
            w,
            "{:<width$}  {:>5}  {:<12}  {:<9}  {:>11}  {:>11}  {:>12}  {:>5.1}s",
            r.name,
            r.turns,
            r.outcome,
            r.status,
            ms(r.compute_p50),
            ms(r.compute_p95),
            ms(r.response_p50),
            r.wall_s
        )?;
    }
    let passed = rows.iter().filter(|r| r.status == "pass").count();
    writeln!(
        w,
        "{} fixtures, {passed} passed; {} caller turns with compute: p50 {} p95 {}; virtual response p50 {} p95 {}",
        rows.len(),
        all_compute.len(),
        ms(percentile(all_compute, 50.0)),
        ms(percentile(all_compute, 95.0)),
        ms(percentile(all_response, 50.0)),
        ms(percentile(all_response, 95.0)),
    )?;
    Ok(())
}
