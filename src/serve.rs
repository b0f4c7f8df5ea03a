//! `ivr serve`: the main job. Loads the models and the flow, answers SIP calls (one OS
//! thread per call running `call::live`), serves metrics and health, refuses calls with
//! 503 when overloaded, and drains gracefully on SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::call::Engines;
use crate::config::Config;
use crate::http::{self, Health};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Flow file (default: the embedded parcel demo, or [dialog] flow).
    #[arg(long)]
    pub flow: Option<PathBuf>,
    /// SIP listen address, UDP and TCP (overrides [sip] listen; port 0 = any free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// Metrics/health HTTP address (overrides [server] http; port 0 = any free port).
    #[arg(long)]
    pub http: Option<String>,
}

/// Expected ASR wait beyond which new calls are refused: a caller would wait longer
/// than the voice-to-voice budget (p95 0.8 s) for every answer.
const ASR_WAIT_LIMIT: Duration = Duration::from_millis(600);

pub fn run(args: ServeArgs, mut cfg: Config) -> Result<ExitCode> {
    if let Some(l) = args.listen {
        cfg.sip.listen = l;
    }
    if let Some(h) = args.http {
        cfg.server.http = h;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("ivr-io")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args.flow, cfg))
}

async fn serve(flow: Option<PathBuf>, cfg: Config) -> Result<ExitCode> {
    let prom = http::install_metrics()?;
    let health = Arc::new(Health::default());
    let qa = crate::qa::QaRules::from_config(&cfg.qa)?;
    let console = crate::console::router(&cfg.console, qa, std::path::Path::new(&cfg.data_dir))
        .context("the analyst console ([console])")?;
    let console_on = console.is_some();
    let (http_addr, _http_task) =
        http::serve(&cfg.server.http, prom, health.clone(), console).await?;
    if console_on {
        println!("ivr: analyst console on http://{http_addr}/console/");
    }

    let listen: SocketAddr = cfg
        .sip
        .listen
        .parse()
        .with_context(|| format!("[sip] listen = {:?} is not an IP:port", cfg.sip.listen))?;
    let t0 = Instant::now();
    let rt = tokio::runtime::Handle::current();
    let cfg2 = cfg.clone();
    let engines =
        tokio::task::spawn_blocking(move || Engines::load(&cfg2, flow.as_deref(), rt, listen.ip()))
            .await
            .context("loading engines")??;
    let engines = Arc::new(engines);
    tracing::info!(secs = format!("{:.1}", t0.elapsed().as_secs_f64()), flows = %engines.flows.all().iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "), "models and flows loaded");
    if cfg.server.retention_days > 0 {
        let cutoff =
            SystemTime::now() - Duration::from_secs(cfg.server.retention_days as u64 * 86_400);
        match engines.records.prune_before(cutoff) {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "old call records pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "pruning call records"),
        }
    }

    let (sip, mut incoming) = ivr_sip::SipServer::start(&cfg.sip)
        .await
        .context("starting SIP")?;
    let sip = Arc::new(sip);
    let sip_addr = sip.local_addr();
    health.ready.store(true, Ordering::Relaxed);
    println!(
        "ivr: listening for SIP on {sip_addr} (UDP and TCP); metrics on http://{http_addr}/metrics"
    );
    println!("ivr: call it with: baresip -e \"/dial sip:parcel@{sip_addr}\"");
    for r in &cfg.dialog.routes {
        println!(
            "ivr: calls to sip:{}@{sip_addr} run {} ({})",
            r.user,
            r.flow,
            engines.flows.for_user(&r.user).language
        );
    }

    // Admission: refuse new calls while the recogniser's queue is too long.
    {
        let sip = sip.clone();
        let engines = engines.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let wait = engines.asr.expected_wait();
                metrics::gauge!("ivr_asr_expected_wait_seconds").set(wait.as_secs_f64());
                sip.set_overloaded(wait > ASR_WAIT_LIMIT);
                metrics::gauge!("ivr_sip_registered").set(
                    if sip.registration_status().is_registered() {
                        1.0
                    } else {
                        0.0
                    },
                );
            }
        });
    }

    let active = Arc::new(AtomicUsize::new(0));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            call = incoming.recv() => {
                let Some(call) = call else { break };
                let engines = engines.clone();
                let active = active.clone();
                active.fetch_add(1, Ordering::SeqCst);
                let spawned = std::thread::Builder::new().name("ivr-call".into()).spawn(move || {
                    crate::call::live::run(engines, call);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a call thread");
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupt: draining"); break; }
        }
    }

    // Drain: refuse new calls (503), let active ones finish, then stop.
    health.draining.store(true, Ordering::Relaxed);
    sip.drain();
    let deadline = Instant::now() + Duration::from_secs(cfg.server.drain_timeout_s);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = active.load(Ordering::SeqCst);
    if left > 0 {
        tracing::warn!(calls = left, "drain timeout: stopping with calls still up");
    }
    sip.shutdown();
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
