//! The JSON API behind the pages: `/api/kpis`, `/api/calls`, `/api/calls/{id}`, with the
//! same masking as the pages.

use std::time::SystemTime;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::auth::Principal;
use super::kpis::Kpis;
use super::masking;
use super::queries::{CallsQuery, PeriodQuery};
use super::{ConsoleError, ConsoleState, blocking};
use crate::records::{CallPage, CallRecord, TranscriptLine};

#[derive(Serialize)]
pub struct KpisResponse {
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub kpis: Kpis,
}

#[derive(Serialize)]
pub struct CallResponse {
    pub record: CallRecord,
    pub transcript: Vec<TranscriptLine>,
    pub audio_url: Option<String>,
}

pub async fn kpis(
    State(s): State<ConsoleState>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<KpisResponse>, ConsoleError> {
    let period = q.period(SystemTime::now())?;
    let store = s.store.clone();
    let rows = blocking(move || Ok(store.kpi_rows(&period)?)).await?;
    Ok(Json(KpisResponse {
        since: crate::records::rfc3339(period.since),
        until: crate::records::rfc3339(period.until),
        kpis: Kpis::compute(&rows),
    }))
}

pub async fn calls(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<CallsQuery>,
) -> Result<Json<CallPage>, ConsoleError> {
    let page = list(&s, &user, &q).await?;
    Ok(Json(page))
}

pub async fn call(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CallResponse>, ConsoleError> {
    let (record, transcript) = one_call(&s, &user, &id).await?;
    Ok(Json(CallResponse {
        audio_url: record
            .audio_path
            .as_ref()
            .map(|_| format!("/console/calls/{}/audio.wav", record.id)),
        record,
        transcript,
    }))
}

/// A checked, masked page of calls (shared with the HTML list).
pub(super) async fn list(
    s: &ConsoleState,
    user: &Principal,
    q: &CallsQuery,
) -> Result<CallPage, ConsoleError> {
    let filter = q.filter(SystemTime::now())?;
    let store = s.store.clone();
    let mut page = blocking(move || Ok(store.query_calls(&filter)?)).await?;
    page.calls = page
        .calls
        .iter()
        .map(|r| masking::row_for(user.role, r))
        .collect();
    Ok(page)
}

/// One call's masked record and transcript (shared with the HTML page). Unknown: 404.
pub(super) async fn one_call(
    s: &ConsoleState,
    user: &Principal,
    id: &str,
) -> Result<(CallRecord, Vec<TranscriptLine>), ConsoleError> {
    let store = s.store.clone();
    let id2 = id.to_string();
    let (rec, lines) = blocking(move || {
        let rec = store
            .get(&id2)?
            .ok_or_else(|| ConsoleError::NotFound(id2.clone()))?;
        // A missing or damaged transcript still shows the record.
        let lines = store.transcript(&rec).unwrap_or_else(|e| {
            tracing::warn!(call = %id2, error = %format!("{e:#}"), "transcript unreadable");
            Vec::new()
        });
        Ok((rec, lines))
    })
    .await?;
    tracing::info!(target: "ivr::console::access", user = %user.name, call = id, "call record viewed");
    Ok((
        masking::record_for(user.role, &rec),
        lines
            .iter()
            .map(|l| masking::line_for(user.role, l))
            .collect(),
    ))
}
