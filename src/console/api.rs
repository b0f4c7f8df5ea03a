//! The JSON API behind the pages: `/api/kpis`, `/api/calls`, `/api/calls/{id}`,
//! `/api/qa`, `/api/funnel`, and the CSV export `/api/calls.csv`, with the same masking as
//! the pages.

use std::time::SystemTime;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::auth::Principal;
use super::funnel::Funnel;
use super::kpis::Kpis;
use super::masking;
use super::queries::{CallsQuery, PeriodQuery};
use super::voc::Voc;
use super::{ConsoleError, ConsoleState, blocking};
use crate::qa::{QaRules, Severity};
use crate::records::{CallPage, CallRecord, Scope, TranscriptLine};

/// The most rows one CSV export holds (the filters narrow it further).
const CSV_MAX_ROWS: usize = 100_000;

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
    let scope = q.scope(SystemTime::now())?;
    let period = scope.period;
    let kpis = kpis_of(&s, scope).await?;
    Ok(Json(KpisResponse {
        since: crate::records::rfc3339(period.since),
        until: crate::records::rfc3339(period.until),
        kpis,
    }))
}

#[derive(Serialize)]
pub struct QaResponse {
    pub since: String,
    pub until: String,
    /// The rules in force now; calls scored under others say so in their scorecard.
    pub rules_version: String,
    pub scored: usize,
    pub average_score: Option<f64>,
    /// Calls per score band: 0-9, 10-19, ... 90-100.
    pub score_bands: [usize; 10],
    pub rules: Vec<QaRuleCount>,
}

#[derive(Serialize)]
pub struct QaRuleCount {
    pub rule: String,
    pub severity: Severity,
    pub weight: u32,
    pub description: String,
    /// Calls in the period this rule flagged.
    pub calls: usize,
}

/// QA over a period: how many calls each rule flagged, and the score distribution.
pub async fn qa(
    State(s): State<ConsoleState>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<QaResponse>, ConsoleError> {
    let scope = q.scope(SystemTime::now())?;
    let period = scope.period;
    let (store, cache) = (s.store.clone(), s.kpi_cache.clone());
    let (k, score_bands) = blocking(move || {
        Ok(cache.compute(
            &store,
            &scope,
            |sc| store.kpi_rows(sc),
            |rows| {
                let mut score_bands = [0usize; 10];
                for score in rows.iter().filter_map(|r| r.qa_score) {
                    score_bands[(score as usize / 10).min(9)] += 1;
                }
                (Kpis::compute(rows), score_bands)
            },
        )?)
    })
    .await?;
    let count = |id: &str| {
        k.qa_flags
            .iter()
            .find(|(r, _)| r == id)
            .map_or(0, |(_, n)| *n)
    };
    let rules: &QaRules = &s.qa;
    Ok(Json(QaResponse {
        since: crate::records::rfc3339(period.since),
        until: crate::records::rfc3339(period.until),
        rules_version: rules.version.clone(),
        scored: k.qa_scored,
        average_score: k.qa_average_score,
        score_bands,
        rules: rules
            .rules
            .iter()
            .map(|r| QaRuleCount {
                rule: r.id.clone(),
                severity: r.severity,
                weight: r.weight,
                description: r.description.clone(),
                calls: count(&r.id),
            })
            .collect(),
    }))
}

pub async fn funnel(
    State(s): State<ConsoleState>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Funnel>, ConsoleError> {
    Ok(Json(funnel_of(&s, &q).await?))
}

pub async fn voc(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Voc>, ConsoleError> {
    Ok(Json(voc_of(&s, &user, &q).await?))
}

/// Voice of the customer, with the callers' unmatched words masked by role.
pub(super) async fn voc_of(
    s: &ConsoleState,
    user: &Principal,
    q: &PeriodQuery,
) -> Result<Voc, ConsoleError> {
    let scope = q.scope(SystemTime::now())?;
    let (store, cache) = (s.store.clone(), s.voc_cache.clone());
    let v = blocking(move || {
        Ok(cache.compute(&store, &scope, |sc| store.voc_rows(sc), |r| Voc::compute(r))?)
    })
    .await?;
    Ok(masking::voc_for(user.role, v))
}

pub(super) async fn funnel_of(s: &ConsoleState, q: &PeriodQuery) -> Result<Funnel, ConsoleError> {
    let scope = q.scope(SystemTime::now())?;
    let (store, cache) = (s.store.clone(), s.path_cache.clone());
    blocking(move || {
        Ok(cache.compute(
            &store,
            &scope,
            |sc| store.path_rows(sc),
            |r| Funnel::compute(r),
        )?)
    })
    .await
}

/// The KPIs of `scope`, from the per-hour cache (shared with the overview page).
pub(super) async fn kpis_of(s: &ConsoleState, scope: Scope) -> Result<Kpis, ConsoleError> {
    let (store, cache) = (s.store.clone(), s.kpi_cache.clone());
    blocking(move || {
        Ok(cache.compute(
            &store,
            &scope,
            |sc| store.kpi_rows(sc),
            |r| Kpis::compute(r),
        )?)
    })
    .await
}

/// The filtered calls as CSV (same filters and masking as `/api/calls`, no paging).
pub async fn calls_csv(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(mut q): Query<CallsQuery>,
) -> Result<axum::response::Response, ConsoleError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    q.page = None;
    q.per_page = None;
    let mut filter = q.filter(SystemTime::now())?;
    filter.limit = CSV_MAX_ROWS;
    let store = s.store.clone();
    let page = blocking(move || Ok(store.query_calls(&filter)?)).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ConsoleError::Internal(e.into());
    w.write_record([
        "id",
        "started_at",
        "caller",
        "language",
        "outcome",
        "duration_s",
        "handoff_reason",
        "intents",
        "qa_score",
        "qa_flags",
    ])
    .map_err(csv_err)?;
    for c in page.calls.iter().map(|r| masking::row_for(user.role, r)) {
        w.write_record([
            c.id,
            c.started_at,
            c.caller,
            c.language.unwrap_or_default(),
            c.outcome.as_str().to_string(),
            format!("{:.1}", c.duration_s),
            c.handoff_reason.unwrap_or_default(),
            c.intents.join(" "),
            c.qa_score.map_or_else(String::new, |s| s.to_string()),
            c.qa_flags.join(" "),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("csv: {e}")))?;
    tracing::info!(target: "ivr::console::access", user = %user.name, rows = page.calls.len(), "calls exported");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"calls.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
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
