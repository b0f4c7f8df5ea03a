//! The operations port: `/metrics` (Prometheus), `/healthz` (process alive) and
//! `/readyz` (taking calls: models loaded, SIP bound, not draining), and the analyst
//! console (`/console/`, `/api/`) when enabled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Shared flags the HTTP handlers read.
#[derive(Debug, Default)]
pub struct Health {
    pub ready: AtomicBool,
    pub draining: AtomicBool,
}

#[derive(Clone)]
struct AppState {
    prom: PrometheusHandle,
    health: Arc<Health>,
}

/// Install the global metrics recorder once per process and describe ivr's metrics.
pub fn install_metrics() -> Result<PrometheusHandle> {
    use metrics_exporter_prometheus::Matcher;
    // Buckets sized for voice-to-voice latency: the budget is p50 0.5 s, p95 0.8 s.
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.5, 2.0, 3.0,
                5.0,
            ],
        )
        .context("metrics buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    metrics::describe_gauge!("ivr_active_calls", "Calls in progress");
    metrics::describe_counter!("ivr_calls_total", "Finished calls by outcome");
    metrics::describe_counter!("ivr_calls_rejected_total", "INVITEs refused, by reason");
    metrics::describe_histogram!(
        "ivr_turn_latency_seconds",
        "Per bot turn, from the end of caller speech to: asr (final transcript), dialog (decision), first_audio (first reply packet sent)"
    );
    metrics::describe_histogram!(
        "ivr_asr_queue_wait_seconds",
        "Time an utterance waited for a recogniser worker"
    );
    metrics::describe_gauge!(
        "ivr_rtp_loss_ratio",
        "Inbound RTP loss of the last finished call"
    );
    metrics::describe_gauge!(
        "ivr_rtp_jitter_seconds",
        "Inbound RTP interarrival jitter of the last finished call"
    );
    metrics::describe_gauge!(
        "ivr_sip_registered",
        "1 when registered to the trunk, 0 otherwise"
    );
    Ok(handle)
}

/// `console`: the analyst console's routes (`crate::console::router`), if enabled.
pub async fn serve(
    addr: &str,
    prom: PrometheusHandle,
    health: Arc<Health>,
    console: Option<Router>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the HTTP port {addr} (set [server] http)"))?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { prom, health })
        .merge(console.unwrap_or_default());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok((local, task))
}

async fn metrics_handler(State(s): State<AppState>) -> String {
    s.prom.render()
}

async fn ready_handler(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.health.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else if s.health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}
