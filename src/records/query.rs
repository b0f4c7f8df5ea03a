//! Reading call records for analysis (the console): period and filter queries over a
//! few columns derived from the record at `save`, so listing and KPIs never parse the
//! JSON blob of every call.

use std::time::SystemTime;

use anyhow::{Context, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};
use serde::Serialize;
use serde::de::IntoDeserializer;

use super::{CallRecord, Outcome, RecordStore, TranscriptLine, rfc3339};

/// Schema versions (`PRAGMA user_version`): 1 added the query columns, 2 a covering
/// index over them. The columns come after the JSON blob in each row, so reading them
/// from the table walks the blob's overflow pages; the index holds them alone. The
/// transcript text stays out of it: it would triple the index that every KPI scans.
const SCHEMA_WITH_QUERY_COLUMNS: i64 = 1;
const SCHEMA_WITH_QUERY_INDEX: i64 = 2;

/// Columns derived from a record for queries; the JSON `record` stays the truth.
pub(super) struct QueryColumns {
    /// The intents as a JSON array (`["track_parcel"]`), matched as `"name"`.
    pub intents: String,
    /// Each bot turn's `first_audio_ms`, comma-separated (turns without one left out).
    pub first_audio_ms: String,
    /// All transcript lines' text, one per line, for text search.
    pub transcript_text: Option<String>,
}

impl QueryColumns {
    pub fn of(r: &CallRecord) -> Self {
        let first_audio_ms = r
            .turns
            .iter()
            .filter_map(|t| t.first_audio_ms)
            .map(|ms| format!("{ms:.1}"))
            .collect::<Vec<_>>()
            .join(",");
        let transcript_text = r
            .transcript_path
            .as_deref()
            .and_then(|p| read_transcript(std::path::Path::new(p)).ok())
            .map(|lines| {
                lines
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        Self {
            intents: serde_json::to_string(&r.intents).unwrap_or_else(|_| "[]".into()),
            first_audio_ms,
            transcript_text,
        }
    }
}

/// Add the query columns to an older database and fill them from each record.
pub(super) fn migrate(conn: &Connection, store: &RecordStore) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_WITH_QUERY_COLUMNS {
        add_query_columns(conn, store)?;
    }
    if version < SCHEMA_WITH_QUERY_INDEX {
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS calls_query ON calls(started_at, id, outcome, duration_s,
                handoff_reason, intents, first_audio_ms, caller);
             PRAGMA user_version = {SCHEMA_WITH_QUERY_INDEX};"
        ))?;
    }
    Ok(())
}

fn add_query_columns(conn: &Connection, store: &RecordStore) -> Result<()> {
    let columns: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('calls')")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for (name, ty) in [
        ("duration_s", "REAL"),
        ("handoff_reason", "TEXT"),
        ("intents", "TEXT"),
        ("first_audio_ms", "TEXT"),
        ("transcript_text", "TEXT"),
    ] {
        if !columns.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE calls ADD COLUMN {name} {ty}"))?;
        }
    }
    let records: Vec<String> = {
        let mut stmt = conn.prepare("SELECT record FROM calls")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    // A corrupt row keeps empty query columns; `get` reports it when it is read.
    let parsed: Vec<CallRecord> = records
        .iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect();
    store.save_all(&parsed)?;
    conn.execute_batch(&format!(
        "PRAGMA user_version = {SCHEMA_WITH_QUERY_COLUMNS}"
    ))?;
    Ok(())
}

/// A half-open time range `[since, until)` of call start times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    pub since: SystemTime,
    pub until: SystemTime,
}

/// Which calls to list; `text` is a case-insensitive substring of any transcript line.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFilter {
    pub period: Period,
    pub outcome: Option<Outcome>,
    pub intent: Option<String>,
    pub text: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// One line of a call list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRow {
    pub id: String,
    pub started_at: String,
    pub caller: String,
    pub outcome: Outcome,
    pub duration_s: f64,
    pub handoff_reason: Option<String>,
    pub intents: Vec<String>,
}

/// One page of a filtered call list and how many calls match in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallPage {
    pub total: usize,
    pub calls: Vec<CallRow>,
}

/// What the KPIs need of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    pub outcome: Outcome,
    pub handoff_reason: Option<String>,
    pub duration_s: f64,
    /// Hour of day of the start, UTC (0-23).
    pub hour: u8,
    pub intents: Vec<String>,
    pub first_audio_ms: Vec<f64>,
}

impl RecordStore {
    /// Calls matching `f`, most recent first, `f.limit` of them from `f.offset`.
    pub fn query_calls(&self, f: &CallFilter) -> Result<CallPage> {
        let conn = self.conn()?;
        let mut clauses = vec!["started_at >= ?".to_string(), "started_at < ?".to_string()];
        let mut args: Vec<SqlValue> = vec![
            SqlValue::Text(rfc3339(f.period.since)),
            SqlValue::Text(rfc3339(f.period.until)),
        ];
        if let Some(o) = f.outcome {
            clauses.push("outcome = ?".into());
            args.push(SqlValue::Text(o.as_str().into()));
        }
        if let Some(i) = &f.intent {
            clauses.push("instr(intents, ?) > 0".into());
            args.push(SqlValue::Text(serde_json::to_string(i)?));
        }
        if let Some(t) = &f.text {
            clauses.push("instr(lower(transcript_text), ?) > 0".into());
            args.push(SqlValue::Text(t.to_lowercase()));
        }
        let cond = clauses.join(" AND ");
        let total: i64 = conn.query_row(
            &format!("SELECT count(*) FROM calls WHERE {cond}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        args.push(SqlValue::Integer(f.limit as i64));
        args.push(SqlValue::Integer(f.offset as i64));
        let mut stmt = conn.prepare(&format!(
            "SELECT id, started_at, caller, outcome, duration_s, handoff_reason, intents
             FROM calls WHERE {cond} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        ))?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut calls = Vec::new();
        for row in rows {
            let (id, started_at, caller, outcome, duration_s, handoff_reason, intents) = row?;
            calls.push(CallRow {
                outcome: parse_outcome(&outcome)?,
                intents: parse_intents(intents.as_deref())?,
                id,
                started_at,
                caller,
                duration_s: duration_s.unwrap_or(0.0),
                handoff_reason,
            });
        }
        Ok(CallPage {
            total: total as usize,
            calls,
        })
    }

    /// The KPI inputs of every call that started in `p`.
    pub fn kpi_rows(&self, p: &Period) -> Result<Vec<KpiRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT outcome, handoff_reason, duration_s, substr(started_at, 12, 2), intents, first_audio_ms
             FROM calls WHERE started_at >= ?1 AND started_at < ?2",
        )?;
        let rows = stmt.query_map(params![rfc3339(p.since), rfc3339(p.until)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (outcome, handoff_reason, duration_s, hour, intents, first_audio) = row?;
            out.push(KpiRow {
                outcome: parse_outcome(&outcome)?,
                handoff_reason,
                duration_s: duration_s.unwrap_or(0.0),
                hour: hour.parse().context("corrupt call start time")?,
                intents: parse_intents(intents.as_deref())?,
                first_audio_ms: first_audio
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<f64>().context("corrupt latency column"))
                    .collect::<Result<_>>()?,
            });
        }
        Ok(out)
    }

    /// A call's transcript lines; none if the call has no transcript file.
    pub fn transcript(&self, r: &CallRecord) -> Result<Vec<TranscriptLine>> {
        match &r.transcript_path {
            Some(p) => read_transcript(std::path::Path::new(p)),
            None => Ok(Vec::new()),
        }
    }
}

fn read_transcript(path: &std::path::Path) -> Result<Vec<TranscriptLine>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad line in {}", path.display())))
        .collect()
}

fn parse_outcome(s: &str) -> Result<Outcome> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
    serde::Deserialize::deserialize(de).with_context(|| format!("corrupt outcome {s:?}"))
}

fn parse_intents(s: Option<&str>) -> Result<Vec<String>> {
    match s {
        Some(j) => serde_json::from_str(j).context("corrupt intents column"),
        None => Ok(Vec::new()),
    }
}
