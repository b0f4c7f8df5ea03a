//! Helpers for end-to-end tests of the `ivr` binary: a server on free ports, generated
//! caller speech (espeak-ng + sox), and baresip as the caller.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn models_dir() -> PathBuf {
    std::env::var_os("IVR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
}

pub fn require_models() {
    for f in [
        "ggml-tiny.en.bin",
        "silero_vad.onnx",
        "piper/en_US-joe-medium.onnx",
    ] {
        let p = models_dir().join(f);
        assert!(
            p.is_file(),
            "model {} is missing: run `make models`",
            p.display()
        );
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
    let mut c = Command::new(env!("CARGO_BIN_EXE_ivr"));
    c.env("IVR_MODELS_DIR", models_dir());
    c
}

/// `ivr serve` on free ports with its own data dir.
pub struct Server {
    pub child: Child,
    pub sip: String,
    pub http: String,
    pub data: PathBuf,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(name: &str, extra_env: &[(&str, &str)]) -> Server {
        require_models();
        let data = temp_dir(name);
        let mut cmd = ivr();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .env("IVR_DATA_DIR", &data)
            .env("IVR_TTS__CACHE_DIR", shared_prompt_cache())
            .env("IVR_MEDIA__RTP_PORT_MIN", "0")
            .env("IVR_MEDIA__RTP_PORT_MAX", "0")
            .env("RUST_LOG", "info,ivr=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("ivr serve starts");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let log_path = data.join("serve.log");
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(log_path).ok();
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(f) = f.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{l}");
                }
                let _ = tx2.send(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(180);
        let (mut sip, mut http) = (String::new(), String::new());
        while Instant::now() < deadline && sip.is_empty() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix("ivr: listening for SIP on ") {
                        sip = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        http = rest
                            .split("http://")
                            .nth(1)
                            .and_then(|s| s.split('/').next())
                            .unwrap_or_default()
                            .to_string();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        panic!(
                            "ivr serve exited early ({st}); log in {}",
                            data.join("serve.log").display()
                        );
                    }
                }
                Err(_) => break,
            }
        }
        assert!(
            !sip.is_empty(),
            "ivr serve did not start; log in {}",
            data.join("serve.log").display()
        );
        Server {
            child,
            sip,
            http,
            data,
            log: rx,
        }
    }

    /// Call records (`ivr calls list --json`), most recent first.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let out = ivr()
            .args(["calls", "list", "--json", "--limit", "100"])
            .env("IVR_DATA_DIR", &self.data)
            .output()
            .expect("ivr calls list runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("calls list is JSON")
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
        std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SIGTERM: a graceful drain.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// baresip calls `uri`, plays `wav` as its microphone, and records what it hears.
/// Returns the recording of what the caller heard and baresip's log.
pub fn baresip_call(dir: &Path, uri: &str, wav: &Path, max_secs: u64) -> (Option<PathBuf>, String) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("baresip");
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config"),
        format!(
            "module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:{port}\n\
             audio_source aufile,{}\naudio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module_app menu.so\nmodule_app account.so\nsnd_path {}\n",
            wav.display(),
            rec.display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1\n",
    )
    .unwrap();
    let out = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .arg("-e")
        .arg(format!("/dial {uri}"))
        .args(["-t", &max_secs.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("baresip runs");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let heard = std::fs::read_dir(&rec)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
    (heard, log)
}

/// Transcribe a long recording: split it at silences with sox, transcribe each piece with
/// `ivr transcribe`, and join the texts.
pub fn transcribe_long(dir: &Path, wav: &Path) -> String {
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
            .arg("transcribe")
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sipp")
        .join(scenario);
    assert!(path.is_file(), "missing SIPp scenario {}", path.display());
    let media_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("sipp");
    let err = dir.join("errors.log");
    let out = Command::new("sipp")
        .arg(target)
        .arg("-sf")
        .arg(&path)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-mp",
            &media_port.to_string(),
            "-m",
            "1",
            "-nostdin",
            "-trace_err",
        ])
        .arg("-error_file")
        .arg(&err)
        .args(["-timeout", &format!("{timeout_s}s"), "-timeout_error"])
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
