//! `ivr serve` as a subprocess on free loopback ports.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::paths::models_dir;

/// The `ivr` binary (`env!("CARGO_BIN_EXE_ivr")` of the caller) with the models dir set.
/// ivr reads every `IVR_*` variable as config and rejects unknown fields, so the
/// harness's own knobs (`IVR_BENCH*`, `IVR_E2E*`) are hidden from it.
pub fn ivr_command(ivr_bin: &Path) -> Command {
    let mut c = Command::new(ivr_bin);
    c.env("IVR_MODELS_DIR", models_dir());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("IVR_BENCH") || k.starts_with("IVR_E2E") {
            c.env_remove(k.as_ref());
        }
    }
    c
}

/// How to start `ivr serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `env!("CARGO_BIN_EXE_ivr")` (only the ivr package's tests and benches have it).
    pub ivr_bin: PathBuf,
    pub data_dir: PathBuf,
    /// ivr's stderr is copied here.
    pub log_file: PathBuf,
    pub prompt_cache: PathBuf,
    /// `[media] rtp_port_min/max`; 0/0 = any free port.
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    pub rust_log: String,
    /// More `IVR_*` settings.
    pub env: Vec<(String, String)>,
    /// Model loading included.
    pub startup_timeout: Duration,
}

/// A running `ivr serve`; killed on drop.
pub struct IvrServe {
    child: Child,
    ivr_bin: PathBuf,
    /// SIP address (UDP and TCP), from its start-up line.
    pub sip: String,
    /// Metrics/health HTTP address.
    pub http: String,
    pub data: PathBuf,
    pub log_file: PathBuf,
}

impl IvrServe {
    /// Starts `ivr serve` and waits until it listens for SIP.
    pub fn start(opts: &ServeOptions) -> Result<IvrServe> {
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating {}", opts.data_dir.display()))?;
        let mut cmd = ivr_command(&opts.ivr_bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .env("IVR_DATA_DIR", &opts.data_dir)
            .env("IVR_TTS__CACHE_DIR", &opts.prompt_cache)
            .env("IVR_MEDIA__RTP_PORT_MIN", opts.rtp_port_min.to_string())
            .env("IVR_MEDIA__RTP_PORT_MAX", opts.rtp_port_max.to_string())
            .env("RUST_LOG", &opts.rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("starting ivr serve")?;
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let err = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let log_path = opts.log_file.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(log_path).ok();
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(f) = f.as_mut() {
                    let _ = writeln!(f, "{l}");
                }
                let _ = tx2.send(l);
            }
        });
        let log = opts.log_file.display();
        let deadline = Instant::now() + opts.startup_timeout;
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix("ivr: listening for SIP on ") {
                        let sip = rest.split_whitespace().next().unwrap_or_default();
                        let http = rest
                            .split("http://")
                            .nth(1)
                            .and_then(|s| s.split('/').next())
                            .unwrap_or_default();
                        // Keep draining the pipes in the background.
                        std::thread::spawn(move || while rx.recv().is_ok() {});
                        return Ok(IvrServe {
                            child,
                            ivr_bin: opts.ivr_bin.clone(),
                            sip: sip.to_string(),
                            http: http.to_string(),
                            data: opts.data_dir.clone(),
                            log_file: opts.log_file.clone(),
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        bail!("ivr serve exited early ({st}); log in {log}");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("ivr serve did not start; log in {log}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The SIP port (0 if the start-up line had none).
    pub fn sip_port(&self) -> u16 {
        self.sip
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Call records (`ivr calls list --json`), most recent first.
    pub fn calls(&self, limit: usize) -> Result<Vec<serde_json::Value>> {
        let out = ivr_command(&self.ivr_bin)
            .args(["calls", "list", "--json", "--limit", &limit.to_string()])
            .env("IVR_DATA_DIR", &self.data)
            .output()
            .context("ivr calls list")?;
        if !out.status.success() {
            bail!("ivr calls list: {}", String::from_utf8_lossy(&out.stderr));
        }
        serde_json::from_slice(&out.stdout).context("ivr calls list --json is not JSON")
    }

    /// The log so far (ivr's stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// SIGTERM (a graceful drain); killed when not gone within 20 s.
    pub fn stop(&mut self) -> std::io::Result<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait()
    }
}

impl Drop for IvrServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
