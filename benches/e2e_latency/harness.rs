//! Running the bench: the machine it runs on, `ivr serve`, dumpcap, and one phase of
//! SIPp calls measured on the wire.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ivr_test_support::{IvrServe, SERVE_MODELS, ServeOptions, check_models, sipp_client};
use serde_json::{Value, json};

use crate::caller::CallerAudio;
use crate::phase::{Phase, TurnSample, stats};
use crate::wire::analyse_capture;
use crate::{Opts, RTP_MAX, RTP_MIN, Script};

pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

/// Waits (bounded) until the 1-minute load average is below the limit: the machine is
/// shared, and figures taken under someone else's build say little.
pub fn wait_for_quiet_machine(opts: &Opts) -> [f64; 3] {
    let start = Instant::now();
    loop {
        let l = loadavg();
        if l[0] <= opts.max_load {
            return l;
        }
        if start.elapsed() >= opts.load_wait {
            println!(
                "e2e_latency: load average {:.2} still above {:.2} after {:?}; measuring anyway (recorded)",
                l[0],
                opts.max_load,
                start.elapsed()
            );
            return l;
        }
        println!(
            "e2e_latency: load average {:.2} > {:.2}; waiting for a quieter machine",
            l[0], opts.max_load
        );
        std::thread::sleep(Duration::from_secs(30));
    }
}

pub fn machine_info(load: [f64; 3]) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    json!({
        "command": std::env::var("IVR_BENCH_COMMAND").unwrap_or_else(|_| {
            "IVR_E2E_BENCH=1 cargo bench --features e2e-bench --bench e2e_latency".into()
        }),
        "commit": git(&["rev-parse", "HEAD"]),
        "worktree_dirty": dirty,
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "mem_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "load_average_at_start": load,
        "date_utc": Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default(),
    })
}

/// `ivr serve` for the bench: RTP ports in a fixed range (the capture filter names it),
/// a prompt cache of its own, a quiet log, room for `max_calls`.
pub fn start_server(work: &Path, max_calls: usize, script: &Script) -> Result<IvrServe> {
    // Only the script's language: an English run loads no Mandarin model or prompts.
    let routes = match script.language {
        "en" => "[]".to_string(),
        _ => format!(
            "[{{ user = \"{}\", flow = \"builtin:parcel-zh\" }}]",
            script.user
        ),
    };
    check_models(SERVE_MODELS)?;
    IvrServe::start(&ServeOptions {
        ivr_bin: PathBuf::from(env!("CARGO_BIN_EXE_ivr")),
        data_dir: work.join("data"),
        log_file: work.join("serve.log"),
        prompt_cache: Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-prompt-cache"),
        rtp_port_min: RTP_MIN,
        rtp_port_max: RTP_MAX,
        rust_log: "warn".into(),
        env: vec![
            ("IVR_SIP__MAX_CALLS".into(), max_calls.to_string()),
            ("IVR_DIALOG__ROUTES".into(), routes),
        ],
        // A first Mandarin start synthesizes every prompt with Kokoro (minutes on 2 cores).
        startup_timeout: Duration::from_secs(600),
    })
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A capture on `lo` with dumpcap (from tshark's package), stopped with SIGINT.
pub struct Capture {
    pub child: Child,
    pub path: PathBuf,
}

impl Capture {
    pub fn start(path: &Path, filter: &str) -> Result<Capture> {
        let mut child = Command::new("dumpcap")
            .args(["-q", "-i", "lo", "-P", "-B", "64", "-f", filter, "-w"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting dumpcap (Debian package tshark)")?;
        let err = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains("Capturing on") => break,
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        bail!("dumpcap exited ({st})");
                    }
                    if Instant::now() > deadline {
                        break; // Some versions print nothing with -q: go on.
                    }
                }
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        std::thread::sleep(Duration::from_millis(300));
        Ok(Capture {
            child,
            path: path.to_path_buf(),
        })
    }

    pub fn stop(mut self) -> Result<PathBuf> {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(self.path.clone());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(self.path.clone())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn run_phase(
    server: &IvrServe,
    work: &Path,
    scenario: &Path,
    caller: &CallerAudio,
    name: &str,
    calls: usize,
    concurrency: usize,
) -> Result<Phase> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir)?;
    let load_at_start = loadavg();
    let pid = server.pid();
    let filter = format!(
        "udp and (port {} or portrange {RTP_MIN}-{})",
        server.sip_port(),
        RTP_MAX + 1
    );
    let capture = Capture::start(&dir.join("capture.pcap"), &filter)?;
    let rss_idle = rss_kib(pid).unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let cpu0 = cpu_ticks(pid).unwrap_or(0);
    let t0 = Instant::now();

    // All calls of a level start within ~8 s (a real busy hour is not in lockstep), so
    // they overlap for most of their ~45 s.
    let stat = dir.join("stat.csv");
    let call_s = caller.total.as_secs() + 30;
    let rounds = calls.div_ceil(concurrency.max(1)) as u64;
    let timeout_s = rounds * call_s + 60;
    let out = sipp_client(&server.sip, scenario, &dir.join("errors.log"), timeout_s)
        .args(["-p", "0"])
        .args(["-m", &calls.to_string(), "-l", &concurrency.to_string()])
        .args(["-r", &concurrency.to_string(), "-rp", "8000"])
        .args(["-trace_stat", "-fd", "5", "-stf"])
        .arg(&stat)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running sipp (Debian package sip-tester)")?;
    let wall = t0.elapsed();
    let cpu1 = cpu_ticks(pid).unwrap_or(cpu0);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    // Let the last packets and call records land.
    std::thread::sleep(Duration::from_secs(2));
    let pcap = capture.stop()?;
    let (sipp_ok, sipp_failed) = sipp_counts(&stat);
    let cpu_cores = (cpu1 - cpu0) as f64 / clock_ticks_per_sec() / wall.as_secs_f64();
    let rss_peak = peak.load(Ordering::Relaxed);

    let records = server.calls(1000)?;
    let by_sip_id: HashMap<String, &Value> = records
        .iter()
        .filter_map(|r| Some((r["sip_call_id"].as_str()?.to_string(), r)))
        .collect();
    let wire = analyse_capture(&pcap, server.sip_port())?;
    let mut samples = Vec::new();
    let mut outcomes = BTreeMap::new();
    let mut found = 0;
    let (mut underruns, mut max_gap, mut seq_gaps, mut skipped, mut utterances) =
        (0, 0.0f64, 0u64, 0u64, 0);
    for call in &wire {
        underruns += call.underruns;
        max_gap = max_gap.max(call.max_gap_ms);
        seq_gaps += call.seq_gaps;
        utterances += call.turns.len();
        let record = by_sip_id.get(&call.call_id).copied();
        if let Some(r) = record {
            found += 1;
            *outcomes
                .entry(r["outcome"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
            skipped += r["rtp"]["send"]["skipped_deadlines"].as_u64().unwrap_or(0);
        }
        let rec_turns: Vec<&Value> = record
            .and_then(|r| r["turns"].as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        // Record turns are the caller turns that got a reply, in order; match them to
        // the wire's answered turns when the counts agree.
        let answered: Vec<usize> = (0..call.turns.len())
            .filter(|&i| call.turns[i].reply_ms.is_some())
            .collect();
        let matched = answered.len() == rec_turns.len();
        for (i, t) in call.turns.iter().enumerate() {
            let rec = if matched {
                answered.iter().position(|&j| j == i).map(|k| rec_turns[k])
            } else {
                None
            };
            let kind = match rec.map(|r| r["cached"].as_bool()) {
                Some(Some(true)) => "cached",
                Some(Some(false)) => "live",
                _ => "unknown",
            };
            samples.push(TurnSample {
                call: call.call_id.clone(),
                turn: i + 1,
                wire_ms: t.reply_ms,
                kind: kind.into(),
                record_first_audio_ms: rec.and_then(|r| r["first_audio_ms"].as_f64()),
                record_asr_ms: rec.and_then(|r| r["asr_ms"].as_f64()),
                overlap: t.overlap,
            });
        }
    }
    let clean = |k: Option<&str>| {
        samples
            .iter()
            .filter(move |s| !s.overlap && k.is_none_or(|k| s.kind == k))
            .filter_map(|s| s.wire_ms)
            .collect::<Vec<_>>()
    };
    let all = stats(clean(None));
    let phase = Phase {
        name: name.into(),
        calls,
        concurrency,
        load_at_start,
        wall_s: wall.as_secs_f64(),
        sipp_ok,
        sipp_failed: sipp_failed
            .max(calls.saturating_sub(sipp_ok as usize + sipp_failed as usize) as u64),
        sipp_exit: out.status.code().unwrap_or(-1),
        records: found,
        outcomes,
        utterances,
        turns_measured: all.n,
        turns_overlap: samples.iter().filter(|s| s.overlap).count(),
        turns_unanswered: samples
            .iter()
            .filter(|s| !s.overlap && s.wire_ms.is_none())
            .count(),
        all,
        cached: stats(clean(Some("cached"))),
        live: stats(clean(Some("live"))),
        record_first_audio: stats(
            samples
                .iter()
                .filter(|s| !s.overlap)
                .filter_map(|s| s.record_first_audio_ms),
        ),
        record_asr: stats(
            samples
                .iter()
                .filter(|s| !s.overlap)
                .filter_map(|s| s.record_asr_ms),
        ),
        underruns,
        max_outbound_gap_ms: max_gap,
        outbound_seq_gaps: seq_gaps,
        pacer_skipped_deadlines: skipped,
        cpu_cores,
        cpu_percent_per_call: cpu_cores * 100.0 / concurrency.min(calls).max(1) as f64,
        rss_idle_kib: rss_idle,
        rss_peak_kib: rss_peak,
        rss_per_call_kib: rss_peak.saturating_sub(rss_idle) as f64
            / concurrency.min(calls).max(1) as f64,
        added: stats([]),
        samples,
    };
    if phase.sipp_failed > 0 {
        let errs = std::fs::read_to_string(dir.join("errors.log")).unwrap_or_default();
        let tail: String = errs
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        println!(
            "e2e_latency: {name}: SIPp errors (last lines):\n{tail}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(phase)
}

/// Successful and failed calls from SIPp's statistics CSV (last row).
pub fn sipp_counts(path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return (0, 0);
    };
    let Some(last) = lines.next_back() else {
        return (0, 0);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}
