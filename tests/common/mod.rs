//! Helpers for end-to-end tests of the `ivr` binary: a server on free ports, generated
//! caller speech (espeak-ng + sox), and baresip as the caller. Starting `ivr serve`,
//! SIPp and baresip lives in the shared `ivr-test-support` crate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ivr_test_support::{Baresip, IvrServe, SERVE_MODELS, ServeOptions, ivr_command, sipp_client};

pub fn models_dir() -> PathBuf {
    ivr_test_support::models_dir()
}

pub fn require_models() {
    if let Err(e) = ivr_test_support::check_models(SERVE_MODELS) {
        panic!("{e:#}");
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_u32() as u128
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos() ^ (t.as_secs() as u32).rotate_left(7)
}

/// The prompt cache shared by all tests (prompts are synthesized once per target dir).
pub fn shared_prompt_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("prompt-cache")
}

pub fn ivr() -> Command {
    ivr_command(Path::new(env!("CARGO_BIN_EXE_ivr")))
}

/// `ivr serve` on free ports with its own data dir.
pub struct Server {
    serve: IvrServe,
    pub sip: String,
    pub http: String,
    pub data: PathBuf,
}

impl Server {
    pub fn start(name: &str, extra_env: &[(&str, &str)]) -> Server {
        require_models();
        let data = temp_dir(name);
        let opts = ServeOptions {
            ivr_bin: PathBuf::from(env!("CARGO_BIN_EXE_ivr")),
            log_file: data.join("serve.log"),
            data_dir: data,
            prompt_cache: shared_prompt_cache(),
            rtp_port_min: 0,
            rtp_port_max: 0,
            rust_log: "info,ivr=debug".into(),
            // English only unless a test asks for routes: the Mandarin flow's models and
            // prompt synthesis would slow every server start (a test passing its own
            // IVR_DIALOG__ROUTES overrides this, the later value wins).
            env: std::iter::once(("IVR_DIALOG__ROUTES", "[]"))
                .chain(extra_env.iter().copied())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            // A first start synthesizes every fixed prompt (Mandarin: ~2 min on 2 cores).
            startup_timeout: Duration::from_secs(420),
        };
        let serve = IvrServe::start(&opts).unwrap_or_else(|e| panic!("{e:#}"));
        Server {
            sip: serve.sip.clone(),
            http: serve.http.clone(),
            data: serve.data.clone(),
            serve,
        }
    }

    /// Call records (`ivr calls list --json`), most recent first.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        self.serve.calls(100).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Wait until `n` call records exist.
    pub fn wait_calls(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if calls.len() >= n || Instant::now() > deadline {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn log_text(&self) -> String {
        self.serve.log_text()
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.serve.stop().expect("ivr serve stops")
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Caller speech: each `(pause_before_s, text)` spoken by espeak-ng (`voice`), at 8 kHz
/// mono 16-bit, with `tail_s` of silence at the end (baresip's aufile hangs up at the end).
pub fn speech_wav(dir: &Path, voice: &str, segments: &[(f64, &str)], tail_s: f64) -> PathBuf {
    let mut parts = Vec::new();
    for (i, (pause, text)) in segments.iter().enumerate() {
        let raw = dir.join(format!("seg{i}-raw.wav"));
        run(Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&raw)
            .arg(text));
        let seg = dir.join(format!("seg{i}.wav"));
        run(Command::new("sox")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&seg)
            .args(["pad", &format!("{pause}"), "0"]));
        parts.push(seg);
    }
    let out = dir.join("caller.wav");
    let mut cmd = Command::new("sox");
    cmd.args(&parts)
        .arg(&out)
        .args(["pad", "0", &format!("{tail_s}")]);
    run(&mut cmd);
    out
}

/// A Mandarin caller: each segment spoken by the project's Mandarin voice (Kokoro
/// speaker `voice`, e.g. "kokoro/zm_yunxi") at 8 kHz after `pause` seconds of silence, then
/// `tail_s` of silence. (espeak-ng cannot speak Mandarin.)
pub fn mandarin_speech_wav(
    dir: &Path,
    voice: &str,
    segments: &[(f64, &str)],
    tail_s: f64,
) -> PathBuf {
    let mut parts = Vec::new();
    for (i, (pause, text)) in segments.iter().enumerate() {
        let raw = dir.join(format!("zh-seg{i}-raw.wav"));
        run(ivr()
            .args([
                "say",
                "--language",
                "zh",
                "--voice",
                voice,
                "--rate",
                "8000",
                "-o",
            ])
            .arg(&raw)
            .arg(text));
        let seg = dir.join(format!("zh-seg{i}.wav"));
        run(Command::new("sox")
            .arg(&raw)
            .arg(&seg)
            .args(["pad", &format!("{pause}"), "0"]));
        parts.push(seg);
    }
    let out = dir.join("caller-zh.wav");
    let mut cmd = Command::new("sox");
    cmd.args(&parts)
        .arg(&out)
        .args(["pad", "0", &format!("{tail_s}")]);
    run(&mut cmd);
    out
}

/// baresip calls `uri`, plays `wav` as its microphone, and records what it hears.
/// Returns the recording of what the caller heard and baresip's log.
pub fn baresip_call(dir: &Path, uri: &str, wav: &Path, max_secs: u64) -> (Option<PathBuf>, String) {
    let baresip = Baresip::configure(dir, wav).unwrap_or_else(|e| panic!("{e:#}"));
    let out = baresip
        .dial(uri, max_secs)
        .stdin(Stdio::null())
        .output()
        .expect("baresip runs");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (baresip.heard(), log)
}

/// Transcribe a long recording: split it at silences with sox, transcribe each piece with
/// `ivr transcribe`, and join the texts.
pub fn transcribe_long(dir: &Path, wav: &Path) -> String {
    transcribe_long_in(dir, wav, "en")
}

/// `transcribe_long` in `language` ("en", "zh").
pub fn transcribe_long_in(dir: &Path, wav: &Path, language: &str) -> String {
    let parts = dir.join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    run(Command::new("sox").arg(wav).arg(parts.join("p.wav")).args([
        "silence", "1", "0.05", "0.5%", "1", "0.6", "0.5%", ":", "newfile", ":", "restart",
    ]));
    let mut files: Vec<_> = std::fs::read_dir(&parts)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut text = String::new();
    for f in files {
        if std::fs::metadata(&f)
            .map(|m| m.len() < 44 + 3200)
            .unwrap_or(true)
        {
            continue; // < 0.2 s: a click, not speech
        }
        let out = ivr()
            .args(["transcribe", "--language", language])
            .arg(&f)
            .output()
            .expect("ivr transcribe runs");
        if out.status.success() {
            text.push_str(String::from_utf8_lossy(&out.stdout).trim());
            text.push(' ');
        }
    }
    text
}

/// Run one SIPp caller scenario from `fixtures/sipp/` against `target` (blocking).
/// Returns whether SIPp counted the call successful, and its error log.
pub fn sipp_call(scenario: &str, target: &str, timeout_s: u32) -> (bool, String) {
    let path = ivr_test_support::fixture("sipp").join(scenario);
    assert!(path.is_file(), "missing SIPp scenario {}", path.display());
    let dir = temp_dir("sipp");
    let err = dir.join("errors.log");
    let out = sipp_client(target, &path, &err, u64::from(timeout_s))
        .args(["-p", "0", "-m", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("sipp runs (Debian package sip-tester)");
    let log =
        std::fs::read_to_string(&err).unwrap_or_default() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), log)
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("HTTP port reachable");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}
