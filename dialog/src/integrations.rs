//! Business lookups (I/O; outside the state machine). The call loop executes
//! `Action::Lookup` with a `Backend` (blocking: call it from `spawn_blocking` or a worker
//! thread) and sends the result back as `Event::LookupResult`.
//!
//! Backends: an embedded SQLite database (default, seeded with demo parcels on first use)
//! and an HTTP webhook (POST JSON `{"integration":..,"params":{..}}`, JSON object back).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::engine::LookupResult;

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("database {path}: {source}")]
    Db {
        path: String,
        source: rusqlite::Error,
    },
    #[error("webhook: {0}")]
    Webhook(String),
}

/// Something that answers lookups. Blocking.
pub trait Backend: Send + Sync {
    fn lookup(&self, integration: &str, params: &Map<String, Value>) -> LookupResult;
}

/// Demo parcels: (tracking number, status, ETA as ISO date or empty).
pub const DEMO_PARCELS: &[(&str, &str, &str)] = &[
    ("12345678", "in transit", "2026-05-08"),
    ("87654321", "out for delivery", "2026-05-06"),
    ("11223344", "delivered", "2026-05-02"),
    ("55507777", "waiting at the depot", "2026-05-11"),
    ("24681357", "delayed by bad weather", "2026-05-13"),
];

/// SQLite backend: integrations `parcel_status` and `reschedule`.
pub struct SqliteBackend {
    conn: Mutex<rusqlite::Connection>,
}

impl SqliteBackend {
    /// Open (creating and seeding if new) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteBackend, IntegrationError> {
        let db_err = |source| IntegrationError::Db {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = rusqlite::Connection::open(path).map_err(db_err)?;
        Self::init(&conn).map_err(db_err)?;
        Ok(SqliteBackend {
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory database with the demo data (tests, `chat` without a config).
    pub fn in_memory() -> Result<SqliteBackend, IntegrationError> {
        let db_err = |source| IntegrationError::Db {
            path: ":memory:".into(),
            source,
        };
        let conn = rusqlite::Connection::open_in_memory().map_err(db_err)?;
        Self::init(&conn).map_err(db_err)?;
        Ok(SqliteBackend {
            conn: Mutex::new(conn),
        })
    }

    fn init(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS parcels (
                 tracking_number TEXT PRIMARY KEY,
                 status TEXT NOT NULL,
                 eta TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS reschedules (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 tracking_number TEXT NOT NULL,
                 date TEXT NOT NULL
             );",
        )?;
        for (n, s, e) in DEMO_PARCELS {
            conn.execute(
                "INSERT OR IGNORE INTO parcels (tracking_number, status, eta) VALUES (?1, ?2, ?3)",
                rusqlite::params![n, s, e],
            )?;
        }
        Ok(())
    }

    fn run(&self, integration: &str, params: &Map<String, Value>) -> Result<Value, String> {
        let p = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing parameter `{k}`"))
        };
        let conn = self
            .conn
            .lock()
            .map_err(|_| "database lock poisoned".to_string())?;
        match integration {
            "parcel_status" => {
                let n = p("tracking_number")?;
                let row = conn.query_row(
                    "SELECT status, eta FROM parcels WHERE tracking_number = ?1",
                    [&n],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                );
                match row {
                    Ok((status, eta)) => Ok(json!({"found": true, "status": status, "eta": eta})),
                    Err(rusqlite::Error::QueryReturnedNoRows) => Ok(json!({"found": false})),
                    Err(e) => Err(e.to_string()),
                }
            }
            "reschedule" => {
                let n = p("tracking_number")?;
                let date = p("date")?;
                let changed = conn
                    .execute(
                        "UPDATE parcels SET eta = ?2 WHERE tracking_number = ?1",
                        [&n, &date],
                    )
                    .map_err(|e| e.to_string())?;
                if changed == 0 {
                    return Ok(json!({"ok": false}));
                }
                conn.execute(
                    "INSERT INTO reschedules (tracking_number, date) VALUES (?1, ?2)",
                    [&n, &date],
                )
                .map_err(|e| e.to_string())?;
                Ok(json!({"ok": true, "date": date}))
            }
            other => Err(format!("unknown integration `{other}`")),
        }
    }
}

impl Backend for SqliteBackend {
    fn lookup(&self, integration: &str, params: &Map<String, Value>) -> LookupResult {
        match self.run(integration, params) {
            Ok(v) => LookupResult::Ok(v),
            Err(e) => LookupResult::Error(e),
        }
    }
}

/// HTTP webhook backend: `POST url` with `{"integration": name, "params": {..}}`, expects a
/// JSON object. Each attempt has `timeout`; failures (network, 5xx, bad JSON) are retried
/// `retries` times; 4xx are not retried.
pub struct WebhookBackend {
    url: String,
    agent: ureq::Agent,
    retries: u32,
}

impl WebhookBackend {
    pub fn new(url: &str, timeout: Duration, retries: u32) -> WebhookBackend {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        WebhookBackend {
            url: url.to_string(),
            agent: ureq::Agent::new_with_config(config),
            retries,
        }
    }

    fn attempt(&self, body: &str) -> Result<Value, (String, bool)> {
        let mut resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| {
                let timeout = matches!(e, ureq::Error::Timeout(_));
                (e.to_string(), timeout)
            })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| (e.to_string(), false))?;
        if status >= 400 {
            return Err((format!("HTTP {status}"), false));
        }
        serde_json::from_str::<Value>(&text).map_err(|e| (format!("bad JSON: {e}"), false))
    }
}

impl Backend for WebhookBackend {
    fn lookup(&self, integration: &str, params: &Map<String, Value>) -> LookupResult {
        let body = json!({"integration": integration, "params": params}).to_string();
        let mut last = LookupResult::Error("no attempt".into());
        for attempt in 0..=self.retries {
            match self.attempt(&body) {
                Ok(v) => return LookupResult::Ok(v),
                Err((e, timeout)) => {
                    tracing::warn!(attempt, error = %e, url = %self.url, "webhook failed");
                    let client_error = e.starts_with("HTTP 4");
                    last = if timeout {
                        LookupResult::Timeout
                    } else {
                        LookupResult::Error(e)
                    };
                    if client_error {
                        break;
                    }
                }
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn params(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn sqlite_status_and_reschedule() {
        let db = SqliteBackend::in_memory().unwrap();
        let r = db.lookup("parcel_status", &params(&[("tracking_number", "12345678")]));
        assert_eq!(
            r,
            LookupResult::Ok(json!({"found": true, "status": "in transit", "eta": "2026-05-08"}))
        );
        let r = db.lookup("parcel_status", &params(&[("tracking_number", "00000000")]));
        assert_eq!(r, LookupResult::Ok(json!({"found": false})));
        let r = db.lookup(
            "reschedule",
            &params(&[("tracking_number", "12345678"), ("date", "2026-05-20")]),
        );
        assert_eq!(
            r,
            LookupResult::Ok(json!({"ok": true, "date": "2026-05-20"}))
        );
        let r = db.lookup("parcel_status", &params(&[("tracking_number", "12345678")]));
        assert!(matches!(r, LookupResult::Ok(v) if v["eta"] == "2026-05-20"));
        assert!(matches!(
            db.lookup("nope", &Map::new()),
            LookupResult::Error(_)
        ));
        assert!(matches!(
            db.lookup("parcel_status", &Map::new()),
            LookupResult::Error(_)
        ));
    }

    #[test]
    fn sqlite_file_is_created_and_seeded_once() {
        let dir = std::env::temp_dir().join(format!("ivr-dialog-test-{}", std::process::id()));
        let path = dir.join("sub/ivr.sqlite");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let db = SqliteBackend::open(&path).unwrap();
            db.lookup(
                "reschedule",
                &params(&[("tracking_number", "87654321"), ("date", "2026-06-01")]),
            );
        }
        let db = SqliteBackend::open(&path).unwrap();
        let r = db.lookup("parcel_status", &params(&[("tracking_number", "87654321")]));
        assert!(matches!(r, LookupResult::Ok(v) if v["eta"] == "2026-06-01"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A one-shot-per-connection HTTP server answering with the given responses in order.
    fn serve(responses: Vec<&'static str>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for resp in responses {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                if resp == "HANG" {
                    std::thread::sleep(Duration::from_millis(600));
                    continue;
                }
                let _ = s.write_all(resp.as_bytes());
            }
        });
        format!("http://{addr}/hook")
    }

    fn http(body: &str, status: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn webhook_ok_retry_and_failures() {
        let ok: &'static str =
            Box::leak(http(r#"{"found":true,"status":"x"}"#, "200 OK").into_boxed_str());
        let err500: &'static str =
            Box::leak(http("oops", "500 Internal Server Error").into_boxed_str());
        let junk: &'static str = Box::leak(http("not json", "200 OK").into_boxed_str());

        let url = serve(vec![err500, ok]);
        let hook = WebhookBackend::new(&url, Duration::from_secs(2), 1);
        let r = hook.lookup("parcel_status", &params(&[("tracking_number", "1")]));
        assert_eq!(r, LookupResult::Ok(json!({"found": true, "status": "x"})));

        let url = serve(vec![junk]);
        let hook = WebhookBackend::new(&url, Duration::from_secs(2), 0);
        assert!(
            matches!(hook.lookup("x", &Map::new()), LookupResult::Error(e) if e.contains("bad JSON"))
        );

        let url = serve(vec!["HANG"]);
        let hook = WebhookBackend::new(&url, Duration::from_millis(200), 0);
        assert_eq!(hook.lookup("x", &Map::new()), LookupResult::Timeout);

        // Nothing listening.
        let hook = WebhookBackend::new("http://127.0.0.1:9/", Duration::from_millis(200), 1);
        assert!(matches!(
            hook.lookup("x", &Map::new()),
            LookupResult::Error(_) | LookupResult::Timeout
        ));
    }
}
