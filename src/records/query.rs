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
/// index over them, 3 the QA, language, flow and path columns. The columns come after
/// the JSON blob in each row, so reading them from the table walks the blob's overflow
/// pages; the index holds them alone. The transcript text stays out of it: it would
/// triple the index that every KPI scans.
const SCHEMA: i64 = 3;

/// The columns derived from each record (`QueryColumns`), added to older databases.
const QUERY_COLUMNS: [(&str, &str); 16] = [
    ("duration_s", "REAL"),
    ("handoff_reason", "TEXT"),
    ("intents", "TEXT"),
    ("first_audio_ms", "TEXT"),
    ("transcript_text", "TEXT"),
    ("qa_score", "INTEGER"),
    ("qa_flags", "TEXT"),
    ("language", "TEXT"),
    ("flow", "TEXT"),
    ("path", "TEXT"),
    ("faqs", "TEXT"),
    ("csat", "INTEGER"),
    ("sentiment", "REAL"),
    ("speech_rate", "REAL"),
    ("keywords", "TEXT"),
    ("misses", "TEXT"),
];

/// Columns derived from a record for queries; the JSON `record` stays the truth.
pub(super) struct QueryColumns {
    /// The intents as a JSON array (`["track_parcel"]`), matched as `"name"`.
    pub intents: String,
    /// Each bot turn's `first_audio_ms`, comma-separated (turns without one left out).
    pub first_audio_ms: String,
    /// All transcript lines' text, one per line, for text search.
    pub transcript_text: Option<String>,
    pub qa_score: Option<u32>,
    /// The ids of the QA rules the call broke, as a JSON array, matched as `"id"`.
    pub qa_flags: Option<String>,
    pub language: Option<&'static str>,
    /// The nodes entered, as a JSON array.
    pub path: String,
    /// The knowledge-base ids answered, as a JSON array.
    pub faqs: String,
    /// The caller's keywords (`Language::keywords` of their lines), as a JSON array:
    /// segmented once here, so keyword heat over many calls only counts.
    pub keywords: String,
    /// What understanding could not act on, as a JSON array of texts.
    pub misses: String,
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
        let lines = r
            .transcript_path
            .as_deref()
            .and_then(|p| read_transcript(std::path::Path::new(p)).ok());
        let transcript_text = lines.as_ref().map(|lines| {
            lines
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let language = r.language.unwrap_or(ivr_dialog::Language::En);
        let mut keywords: Vec<String> = lines
            .iter()
            .flatten()
            .filter(|l| l.speaker == ivr_dialog::Speaker::Caller)
            .flat_map(|l| language.keywords(&l.text))
            .collect();
        keywords.sort_unstable();
        keywords.dedup();
        let misses: Vec<&str> = r.nlu_misses.iter().map(|m| m.text.as_str()).collect();
        let qa_flags = r.qa.as_ref().map(|q| {
            let ids: Vec<&str> = q.flags.iter().map(|f| f.rule.as_str()).collect();
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
        });
        Self {
            intents: serde_json::to_string(&r.intents).unwrap_or_else(|_| "[]".into()),
            first_audio_ms,
            transcript_text,
            qa_score: r.qa.as_ref().map(|q| q.score),
            qa_flags,
            language: r.language.map(|l| l.code()),
            path: serde_json::to_string(&r.path).unwrap_or_else(|_| "[]".into()),
            faqs: serde_json::to_string(&r.faqs).unwrap_or_else(|_| "[]".into()),
            keywords: serde_json::to_string(&keywords).unwrap_or_else(|_| "[]".into()),
            misses: serde_json::to_string(&misses).unwrap_or_else(|_| "[]".into()),
        }
    }
}

/// Add the query columns to an older database and fill them from each record.
pub(super) fn migrate(conn: &Connection, store: &RecordStore) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // Columns are checked on every open (a cheap pragma), not only by version, so a
    // database from any earlier build gets what it lacks.
    let added = add_missing_columns(conn)?;
    // An upgrade cut short (columns added, indexes not yet built) is finished too.
    let indexed: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index'
            AND name IN ('calls_query', 'calls_voc')",
        [],
        |r| r.get(0),
    )?;
    if version < SCHEMA || added || indexed < 2 {
        refill_query_columns(conn, store)?;
        conn.execute_batch(&format!(
            "DROP INDEX IF EXISTS calls_query;
             CREATE INDEX calls_query ON calls(started_at, id, outcome, duration_s,
                handoff_reason, intents, first_audio_ms, caller, qa_score, qa_flags, language,
                flow, path, faqs, csat);
             DROP INDEX IF EXISTS calls_voc;
             CREATE INDEX calls_voc ON calls(started_at, language, flow, intents, sentiment,
                speech_rate, keywords, misses);
             PRAGMA user_version = {SCHEMA};"
        ))?;
    }
    Ok(())
}

/// Add the query columns a table lacks; whether any was added.
fn add_missing_columns(conn: &Connection) -> Result<bool> {
    let columns: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('calls')")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut added = false;
    for (name, ty) in QUERY_COLUMNS {
        if !columns.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE calls ADD COLUMN {name} {ty}"))?;
            added = true;
        }
    }
    Ok(added)
}

/// Rewrite every row's query columns from its record, a batch per transaction (bounded
/// memory over any number of calls).
fn refill_query_columns(conn: &Connection, store: &RecordStore) -> Result<()> {
    const BATCH: i64 = 1000;
    // By id, not rowid: INSERT OR REPLACE gives a rewritten row a new rowid.
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String)> = {
            let mut stmt =
                conn.prepare("SELECT id, record FROM calls WHERE id > ?1 ORDER BY id LIMIT ?2")?;
            stmt.query_map(params![after, BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = last.clone();
        // A corrupt row keeps empty query columns; `get` reports it when it is read.
        let parsed: Vec<CallRecord> = rows
            .iter()
            .filter_map(|(_, json)| serde_json::from_str(json).ok())
            .collect();
        store.save_all(&parsed)?;
    }
}

/// A half-open time range `[since, until)` of call start times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    pub since: SystemTime,
    pub until: SystemTime,
}

/// Which calls to count: a period, optionally one language and one flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub period: Period,
    pub language: Option<ivr_dialog::Language>,
    pub flow: Option<String>,
}

impl Scope {
    #[cfg(test)]
    pub fn period(period: Period) -> Self {
        Self {
            period,
            language: None,
            flow: None,
        }
    }

    /// SQL conditions (joined by AND) and their arguments.
    fn conditions(&self) -> (Vec<String>, Vec<SqlValue>) {
        let mut clauses = vec!["started_at >= ?".to_string(), "started_at < ?".to_string()];
        let mut args = vec![
            SqlValue::Text(rfc3339(self.period.since)),
            SqlValue::Text(rfc3339(self.period.until)),
        ];
        if let Some(l) = self.language {
            clauses.push("language = ?".into());
            args.push(SqlValue::Text(l.code().into()));
        }
        if let Some(f) = &self.flow {
            clauses.push("flow = ?".into());
            args.push(SqlValue::Text(f.clone()));
        }
        (clauses, args)
    }
}

/// Which calls to list; `text` is a case-insensitive substring of any transcript line.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFilter {
    pub scope: Scope,
    pub outcome: Option<Outcome>,
    pub intent: Option<String>,
    pub text: Option<String>,
    /// Calls the QA rule with this id flagged.
    pub qa_flag: Option<String>,
    /// QA score bounds, inclusive; unscored calls match neither.
    pub min_score: Option<u32>,
    pub max_score: Option<u32>,
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
    pub language: Option<String>,
    pub qa_score: Option<u32>,
    pub qa_flags: Vec<String>,
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
    pub qa_score: Option<u32>,
    pub qa_flags: Vec<String>,
    pub faqs: Vec<String>,
    /// The caller's post-call rating (1-5), if they gave one.
    pub csat: Option<u8>,
}

/// What the funnel needs of one call: where it went and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRow {
    pub outcome: Outcome,
    pub handoff_reason: Option<String>,
    pub path: Vec<String>,
}

/// What voice-of-customer analysis needs of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct VocRow {
    /// `YYYY-MM-DD` (UTC) of the start.
    pub day: String,
    pub intents: Vec<String>,
    pub sentiment: f32,
    /// Caller words per second, when measured.
    pub speech_rate: Option<f32>,
    pub keywords: Vec<String>,
    /// What understanding could not act on.
    pub misses: Vec<String>,
}

impl RecordStore {
    /// Calls matching `f`, most recent first, `f.limit` of them from `f.offset`.
    pub fn query_calls(&self, f: &CallFilter) -> Result<CallPage> {
        let conn = self.conn()?;
        let (mut clauses, mut args) = f.scope.conditions();
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
        if let Some(rule) = &f.qa_flag {
            clauses.push("instr(qa_flags, ?) > 0".into());
            args.push(SqlValue::Text(serde_json::to_string(rule)?));
        }
        if let Some(min) = f.min_score {
            clauses.push("qa_score >= ?".into());
            args.push(SqlValue::Integer(min.into()));
        }
        if let Some(max) = f.max_score {
            clauses.push("qa_score <= ?".into());
            args.push(SqlValue::Integer(max.into()));
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
            "SELECT id, started_at, caller, outcome, duration_s, handoff_reason, intents,
                language, qa_score, qa_flags
             FROM calls WHERE {cond} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        ))?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut calls = Vec::new();
        while let Some(r) = rows.next()? {
            calls.push(CallRow {
                id: r.get(0)?,
                started_at: r.get(1)?,
                caller: r.get(2)?,
                outcome: parse_outcome(&r.get::<_, String>(3)?)?,
                duration_s: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
                handoff_reason: r.get(5)?,
                intents: parse_list(r.get::<_, Option<String>>(6)?.as_deref())?,
                language: r.get(7)?,
                qa_score: r.get(8)?,
                qa_flags: parse_list(r.get::<_, Option<String>>(9)?.as_deref())?,
            });
        }
        Ok(CallPage {
            total: total as usize,
            calls,
        })
    }

    /// The KPI inputs of every call in `scope`.
    pub fn kpi_rows(&self, scope: &Scope) -> Result<Vec<KpiRow>> {
        self.select_in(
            scope,
            "outcome, handoff_reason, duration_s, substr(started_at, 12, 2), intents,
                first_audio_ms, qa_score, qa_flags, faqs, csat",
            |r| {
                let first_audio: Option<String> = r.get(5)?;
                Ok(KpiRow {
                    outcome: parse_outcome(&r.get::<_, String>(0)?)?,
                    handoff_reason: r.get(1)?,
                    duration_s: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                    hour: r
                        .get::<_, String>(3)?
                        .parse()
                        .context("corrupt call start time")?,
                    intents: parse_list(r.get::<_, Option<String>>(4)?.as_deref())?,
                    first_audio_ms: first_audio
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse::<f64>().context("corrupt latency column"))
                        .collect::<Result<_>>()?,
                    qa_score: r.get(6)?,
                    qa_flags: parse_list(r.get::<_, Option<String>>(7)?.as_deref())?,
                    faqs: parse_list(r.get::<_, Option<String>>(8)?.as_deref())?,
                    csat: r.get(9)?,
                })
            },
        )
    }

    /// `SELECT columns` of every call in `scope`, each row mapped by `row`.
    fn select_in<T>(
        &self,
        scope: &Scope,
        columns: &str,
        mut row: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let conn = self.conn()?;
        let (clauses, args) = scope.conditions();
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns} FROM calls WHERE {}",
            clauses.join(" AND ")
        ))?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row(r)?);
        }
        Ok(out)
    }

    /// For each hour of `scope` with calls: its start and a stamp (calls, sum of rowids)
    /// that changes whenever a call of that hour is added or rewritten. Reads only the
    /// start-time index.
    pub fn hour_stamps(&self, scope: &Scope) -> Result<Vec<(SystemTime, (i64, i64))>> {
        let conn = self.conn()?;
        let (clauses, args) = scope.conditions();
        let mut stmt = conn.prepare(&format!(
            "SELECT substr(started_at, 1, 13), count(*), total(rowid) FROM calls WHERE {}
             GROUP BY 1 ORDER BY 1",
            clauses.join(" AND ")
        ))?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let hour: String = r.get(0)?;
            let start = humantime::parse_rfc3339(&format!("{hour}:00:00Z"))
                .with_context(|| format!("corrupt call start hour {hour:?}"))?;
            out.push((start, (r.get(1)?, r.get::<_, f64>(2)? as i64)));
        }
        Ok(out)
    }

    /// The voice-of-customer inputs of every call in `scope`.
    pub fn voc_rows(&self, scope: &Scope) -> Result<Vec<VocRow>> {
        self.select_in(
            scope,
            "substr(started_at, 1, 10), intents, sentiment, speech_rate, keywords, misses",
            |r| {
                Ok(VocRow {
                    day: r.get(0)?,
                    intents: parse_list(r.get::<_, Option<String>>(1)?.as_deref())?,
                    sentiment: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0) as f32,
                    speech_rate: r.get::<_, Option<f64>>(3)?.map(|v| v as f32),
                    keywords: parse_list(r.get::<_, Option<String>>(4)?.as_deref())?,
                    misses: parse_list(r.get::<_, Option<String>>(5)?.as_deref())?,
                })
            },
        )
    }

    /// Where every call in `scope` went (the funnel's input).
    pub fn path_rows(&self, scope: &Scope) -> Result<Vec<PathRow>> {
        self.select_in(scope, "outcome, handoff_reason, path", |r| {
            Ok(PathRow {
                outcome: parse_outcome(&r.get::<_, String>(0)?)?,
                handoff_reason: r.get(1)?,
                path: parse_list(r.get::<_, Option<String>>(2)?.as_deref())?,
            })
        })
    }

    /// Up to `limit` records started in `period`, oldest first, after the record `after`
    /// (its start and id; None: from the first). Pages through many calls in bounded
    /// memory (rescoring).
    pub fn records_in(
        &self,
        period: &Period,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<CallRecord>> {
        let conn = self.conn()?;
        let (after_start, after_id) = after.unwrap_or(("", ""));
        let mut stmt = conn.prepare(
            "SELECT record FROM calls WHERE started_at >= ?1 AND started_at < ?2
                AND (started_at, id) > (?3, ?4)
             ORDER BY started_at, id LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                rfc3339(period.since),
                rfc3339(period.until),
                after_start,
                after_id,
                limit as i64
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for j in rows {
            out.push(serde_json::from_str(&j?).context("corrupt call record")?);
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

/// A JSON array of strings column (intents, QA flags, path); NULL is empty.
fn parse_list(s: Option<&str>) -> Result<Vec<String>> {
    match s {
        // Most calls answer no FAQ and break no QA rule: skip the parser for those.
        None | Some("[]") => Ok(Vec::new()),
        Some(j) => serde_json::from_str(j).with_context(|| format!("corrupt list column {j:?}")),
    }
}
