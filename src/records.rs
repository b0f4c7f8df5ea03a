//! Call records: one row per call in SQLite (also for calls that failed), plus a
//! transcript JSONL and a stereo WAV in the call's own folder under `data/calls/ID/`.
//!
//! The record is written by the call task when the call ends, whatever the reason;
//! the transcript file is appended turn by turn so a crash loses at most one turn.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// How a call ended: contained, transferred, abandoned or failed (the dialog's own type).
pub use ivr_dialog::Outcome;

pub use crate::call::{TranscriptLine, TurnLatency};

mod query;
pub use query::{CallFilter, CallPage, CallRow, KpiRow, PathRow, Period, Scope, VocRow};
use query::{QueryColumns, migrate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub sip_call_id: String,
    pub caller: String,
    pub called: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_s: f64,
    pub outcome: Outcome,
    pub handoff_reason: Option<String>,
    pub handoff_target: Option<String>,
    pub intents: Vec<String>,
    /// Knowledge-base entries answered, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faqs: Vec<String>,
    /// What callers said that understanding could not act on (no match, out of scope,
    /// clarify): the learning loop's input (`ivr nlu-misses`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nlu_misses: Vec<ivr_dialog::NluMiss>,
    pub slots: serde_json::Value,
    pub sentiment: f32,
    pub speech_rate_wps: Option<f32>,
    pub turns: Vec<TurnLatency>,
    pub rtp: serde_json::Value,
    pub error: Option<String>,
    /// What the caller was served in: the flow's language (absent in records written
    /// before languages existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<ivr_dialog::Language>,
    pub transcript_path: Option<String>,
    pub audio_path: Option<String>,
    /// The flow that served the call (absent in records written before the funnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Flow nodes entered, in order: where the call went and where it left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// The caller left while the bot was looking something up or transferring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_during: Option<ivr_dialog::Pending>,
    /// Quality inspection: score and flags under the rules in force when last scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qa: Option<crate::qa::Scorecard>,
    /// The caller's answer to the post-call survey (1-5); absent when not asked or not
    /// answered (a caller who hangs up is not a 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<u8>,
}

impl CallRecord {
    pub fn new(
        id: &str,
        sip_call_id: &str,
        caller: &str,
        called: &str,
        started: SystemTime,
    ) -> Self {
        Self {
            id: id.into(),
            sip_call_id: sip_call_id.into(),
            caller: caller.into(),
            called: called.into(),
            started_at: rfc3339(started),
            answered_at: None,
            ended_at: None,
            duration_s: 0.0,
            outcome: Outcome::Failed,
            handoff_reason: None,
            handoff_target: None,
            intents: Vec::new(),
            faqs: Vec::new(),
            nlu_misses: Vec::new(),
            slots: serde_json::Value::Object(Default::default()),
            sentiment: 0.0,
            speech_rate_wps: None,
            turns: Vec::new(),
            rtp: serde_json::Value::Null,
            error: None,
            language: None,
            transcript_path: None,
            audio_path: None,
            flow: None,
            path: Vec::new(),
            ended_during: None,
            qa: None,
            csat: None,
        }
    }
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A new, time-ordered call id.
pub fn new_call_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The SQLite store of call records. Cheap to open; one connection per use, because
/// writes happen once per call and `rusqlite::Connection` is not `Sync`.
#[derive(Debug, Clone)]
pub struct RecordStore {
    db: PathBuf,
    calls_dir: PathBuf,
}

impl RecordStore {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let calls_dir = data_dir.join("calls");
        std::fs::create_dir_all(&calls_dir)
            .with_context(|| format!("cannot create {}", calls_dir.display()))?;
        let store = Self {
            db: data_dir.join("calls.sqlite"),
            calls_dir,
        };
        let conn = store.conn()?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS calls (
                id TEXT PRIMARY KEY,
                started_at TEXT NOT NULL,
                caller TEXT NOT NULL,
                outcome TEXT NOT NULL,
                record TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at);",
        )?;
        migrate(&conn, &store)?;
        Ok(store)
    }

    fn conn(&self) -> Result<Connection> {
        let c = Connection::open(&self.db)
            .with_context(|| format!("cannot open call records {}", self.db.display()))?;
        c.busy_timeout(Duration::from_secs(5))?;
        Ok(c)
    }

    /// The folder for one call's files (transcript, audio).
    pub fn call_dir(&self, id: &str) -> Result<PathBuf> {
        let d = self.calls_dir.join(id);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        Ok(d)
    }

    /// Also writes the derived query columns (see `QueryColumns`); the transcript file,
    /// if any, is read once here so the console can search it without opening files.
    pub fn save(&self, r: &CallRecord) -> Result<()> {
        save_on(&self.conn()?, r)
    }

    /// Many records in one transaction (imports, generated test data).
    pub fn save_all(&self, records: &[CallRecord]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        for r in records {
            save_on(&tx, r)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<CallRecord>> {
        let json: Option<String> = self
            .conn()?
            .query_row(
                "SELECT record FROM calls WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        json.map(|j| serde_json::from_str(&j).context("corrupt call record"))
            .transpose()
    }

    /// Most recent first.
    pub fn list(&self, limit: usize) -> Result<Vec<CallRecord>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT record FROM calls ORDER BY started_at DESC, id DESC LIMIT ?1")?;
        let rows = stmt.query_map(params![limit as i64], |row| row.get::<_, String>(0))?;
        let mut out = Vec::new();
        for j in rows {
            out.push(serde_json::from_str(&j?).context("corrupt call record")?);
        }
        Ok(out)
    }

    /// Delete records (and their files) that started before `cutoff`. Returns how many.
    pub fn prune_before(&self, cutoff: SystemTime) -> Result<usize> {
        let cutoff = rfc3339(cutoff);
        let conn = self.conn()?;
        let ids: Vec<String> = {
            let mut stmt = conn.prepare("SELECT id FROM calls WHERE started_at < ?1")?;
            stmt.query_map(params![cutoff], |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        for id in &ids {
            let _ = std::fs::remove_dir_all(self.calls_dir.join(id));
        }
        conn.execute("DELETE FROM calls WHERE started_at < ?1", params![cutoff])?;
        Ok(ids.len())
    }
}

fn save_on(conn: &Connection, r: &CallRecord) -> Result<()> {
    let q = QueryColumns::of(r);
    conn.execute(
        "INSERT OR REPLACE INTO calls (id, started_at, caller, outcome, record,
            duration_s, handoff_reason, intents, first_audio_ms, transcript_text,
            qa_score, qa_flags, language, flow, path, faqs, csat, sentiment, speech_rate,
            keywords, misses)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21)",
        params![
            r.id,
            r.started_at,
            r.caller,
            r.outcome.as_str(),
            serde_json::to_string(r)?,
            r.duration_s,
            r.handoff_reason,
            q.intents,
            q.first_audio_ms,
            q.transcript_text,
            q.qa_score,
            q.qa_flags,
            q.language,
            r.flow,
            q.path,
            q.faqs,
            r.csat,
            r.sentiment,
            r.speech_rate_wps,
            q.keywords,
            q.misses
        ],
    )?;
    Ok(())
}

/// Appends transcript lines to `transcript.jsonl`, flushed per line.
pub struct TranscriptWriter {
    file: std::fs::File,
}

impl TranscriptWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { file })
    }

    pub fn write(&mut self, line: &TranscriptLine) -> Result<()> {
        let mut s = serde_json::to_string(line)?;
        s.push('\n');
        self.file.write_all(s.as_bytes())?;
        self.file.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-rec-{}", new_call_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn save_get_list_prune() {
        let dir = tmp();
        let store = RecordStore::open(&dir).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = CallRecord::new("a", "sip-a", "alice", "ivr", t0);
        a.outcome = Outcome::Contained;
        a.slots = serde_json::json!({"tracking_number": "123456"});
        let b = CallRecord::new("b", "sip-b", "bob", "ivr", t0 + Duration::from_secs(60));
        store.save(&a).unwrap();
        store.save(&b).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap(), a);
        assert!(store.get("zzz").unwrap().is_none());
        let ids: Vec<_> = store.list(10).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec!["b", "a"]);
        assert_eq!(store.prune_before(t0 + Duration::from_secs(30)).unwrap(), 1);
        assert_eq!(store.list(10).unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_old_database_gets_the_query_columns() {
        let dir = tmp();
        let t0 = SystemTime::now() - Duration::from_secs(3600);
        let mut a = CallRecord::new("old", "sip-o", "carol", "ivr", t0);
        a.outcome = Outcome::Transferred;
        a.intents = vec!["agent".into()];
        {
            // The layout before the query columns: one JSON blob per call.
            let c = Connection::open(dir.join("calls.sqlite")).unwrap();
            c.execute_batch(
                "CREATE TABLE calls (id TEXT PRIMARY KEY, started_at TEXT NOT NULL,
                 caller TEXT NOT NULL, outcome TEXT NOT NULL, record TEXT NOT NULL);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO calls VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    a.id,
                    a.started_at,
                    a.caller,
                    "transferred",
                    serde_json::to_string(&a).unwrap()
                ],
            )
            .unwrap();
        }
        let store = RecordStore::open(&dir).unwrap();
        assert_eq!(store.get("old").unwrap().unwrap(), a);
        let period = Period {
            since: t0 - Duration::from_secs(60),
            until: SystemTime::now(),
        };
        let page = store
            .query_calls(&CallFilter {
                scope: Scope::period(period),
                outcome: Some(Outcome::Transferred),
                intent: Some("agent".into()),
                text: None,
                qa_flag: None,
                min_score: None,
                max_score: None,
                offset: 0,
                limit: 10,
            })
            .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.calls[0].intents, vec!["agent"]);
        assert_eq!(store.kpi_rows(&Scope::period(period)).unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn transcript_is_jsonl() {
        let dir = tmp();
        let p = dir.join("t.jsonl");
        let mut w = TranscriptWriter::create(&p).unwrap();
        for text in ["hello", "track my parcel"] {
            w.write(&TranscriptLine {
                speaker: ivr_dialog::Speaker::Caller,
                text: text.into(),
                start: 0.0,
                end: 1.0,
                confidence: Some(0.9),
                intent: None,
                interrupted: false,
            })
            .unwrap();
        }
        let s = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<TranscriptLine> = s
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].text, "track my parcel");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
