//! The analyst console on the HTTP listener: server-rendered pages under `/console/`,
//! their JSON API under `/api/`, all behind HTTP Basic auth (`auth`), digit strings
//! masked by role (`masking`), every request logged.

mod api;
mod auth;
mod cache;
mod charts;
mod funnel;
mod kpis;
mod masking;
mod pages;
mod queries;
mod report;
mod settings;
mod voc;

#[cfg(test)]
mod browser_tests;
#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod perf_tests;
#[cfg(test)]
mod test_data;

pub use auth::{ConsoleToken, ConsoleUser, Role, hash_password, new_token, read_password_line};
pub use report::report_html;
pub use settings::ConsoleConfig;

use std::path::Path;

use anyhow::Result;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::records::RecordStore;
use auth::{Principal, Users};

/// The realm browsers show in their password prompt.
const REALM: &str = "Basic realm=\"ivr console\", charset=\"UTF-8\"";

#[derive(Clone)]
struct ConsoleState {
    store: RecordStore,
    users: Users,
    qa: std::sync::Arc<crate::qa::QaRules>,
    kpi_cache: std::sync::Arc<cache::HourCache<crate::records::KpiRow>>,
    voc_cache: std::sync::Arc<cache::HourCache<crate::records::VocRow>>,
    path_cache: std::sync::Arc<cache::HourCache<crate::records::PathRow>>,
}

/// The console's routes (pages, API, recordings), all requiring a console user. `None`
/// when `[console] enabled = false`.
pub fn router(
    cfg: &ConsoleConfig,
    qa: crate::qa::QaRules,
    data_dir: &Path,
) -> Result<Option<Router>> {
    if !cfg.enabled {
        return Ok(None);
    }
    let users = Users::load(&cfg.users, data_dir)?.with_tokens(cfg.tokens.clone())?;
    let store = RecordStore::open(data_dir)?;
    Ok(Some(build(store, users, qa)))
}

fn build(store: RecordStore, users: Users, qa: crate::qa::QaRules) -> Router {
    let state = ConsoleState {
        store,
        users,
        qa: std::sync::Arc::new(qa),
        kpi_cache: Default::default(),
        voc_cache: Default::default(),
        path_cache: Default::default(),
    };
    Router::new()
        .route(
            "/console",
            get(|| async { axum::response::Redirect::permanent("/console/") }),
        )
        .route("/console/", get(pages::overview))
        .route("/console/calls", get(pages::calls))
        .route("/console/calls/{id}", get(pages::call))
        .route("/console/calls/{id}/audio.wav", get(audio))
        .route("/console/funnel", get(pages::funnel))
        .route("/console/voc", get(pages::voc))
        .route("/api/kpis", get(api::kpis))
        .route("/api/calls", get(api::calls))
        .route("/api/calls.csv", get(api::calls_csv))
        .route("/api/calls/{id}", get(api::call))
        .route("/api/qa", get(api::qa))
        .route("/api/funnel", get(api::funnel))
        .route("/api/voc", get(api::voc))
        .layer(middleware::from_fn_with_state(state.clone(), require_user))
        .with_state(state)
}

/// 401 with a Basic challenge unless the request carries a console user's credentials;
/// logs every request with its user and status.
async fn require_user(State(s): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let principal = match credentials {
        Some(c) => {
            let users = s.users.clone();
            // argon2 is deliberately slow: keep it off the async workers.
            tokio::task::spawn_blocking(move || users.check_authorization(&c))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let Some(p) = principal else {
        tracing::warn!(target: "ivr::console::access", user = "-", %method, path, status = 401, "console request refused");
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            "401 Unauthorized: console credentials needed\n",
        )
            .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        return resp;
    };
    req.extensions_mut().insert(p.clone());
    let resp = next.run(req).await;
    tracing::info!(target: "ivr::console::access", user = %p.name, role = p.role.as_str(), %method, path, status = resp.status().as_u16(), "console request");
    resp
}

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
enum ConsoleError {
    #[error("no call {0}")]
    NotFound(String),
    #[error(transparent)]
    BadQuery(#[from] queries::BadQuery),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "console");
        }
        (self.status(), format!("{}: {self}\n", self.status())).into_response()
    }
}

/// Run a blocking store read off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("store task: {e}")))?
}

/// The stereo recording (caller left, bot right), same auth as the pages.
async fn audio(
    State(s): State<ConsoleState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(_user): axum::Extension<Principal>,
) -> Result<Response, ConsoleError> {
    let store = s.store.clone();
    let id2 = id.clone();
    let rec = blocking(move || Ok(store.get(&id2)?)).await?;
    let path = rec
        .and_then(|r| r.audio_path)
        .ok_or_else(|| ConsoleError::NotFound(format!("{id} recording")))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ConsoleError::NotFound(format!("{id} recording")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}
