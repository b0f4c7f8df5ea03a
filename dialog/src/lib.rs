//! ivr-dialog: the bot's brain. Flow DSL (TOML), intent and slot matching, the dialog
//! state machine (`handle(event, now) -> actions`, no I/O, no clock), hand-off rules,
//! sentiment, and the business integrations (SQLite, webhook) the binary executes.
//! Knows nothing of audio.

mod chat;
mod engine;
mod flow;
mod integrations;
mod intent;
mod language;
mod normalize;
mod semantic;
mod sentiment;
mod slots;
mod two_stage;
mod zh;

pub use chat::{ChatSession, ChatTurn, TextEmbedder};
pub use engine::{
    Action, CallSummary, Dialog, Event, Expect, Expectation, FaqHit, HandoffContext, IntentHit,
    LookupResult, MissKind, NluMiss, Pending, Said, Speaker, TransferFailure, TransferResult, Turn,
    TurnInput,
};
pub use flow::{BUILTIN_FLOWS, DEMO_FLOW, DEMO_FLOW_ZH, FaqDef, Flow, FlowError, Outcome, Reading};
pub use integrations::{Backend, DEMO_PARCELS, SqliteBackend, WebhookBackend};
pub use intent::{Decision, IntentScore, Thresholds, Utterance};
pub use language::{Language, Messages};
pub use normalize::{digits_in, for_matching, word_errors};
pub use semantic::{DimensionMismatch, SemanticClassifier, SemanticLabel, SemanticScores};
pub use slots::Date;
pub use two_stage::{SEMANTIC_POLICY, SemanticPolicy};

use serde::{Deserialize, Serialize};

/// Dialog settings (`[dialog]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogConfig {
    /// Flow file; empty = the embedded demo flow.
    pub flow: String,
    /// SQLite database for the default lookup backend (created and seeded on first use).
    /// A relative path is under the data dir (`data_dir`, top level of ivr.toml): the
    /// default is `<data_dir>/ivr.sqlite`.
    pub database: String,
    /// Webhook URL for lookups; empty = use the SQLite database.
    pub webhook_url: String,
    /// Per-attempt webhook timeout.
    pub webhook_timeout_ms: u64,
    /// Extra webhook attempts after a failure (network error, 5xx, bad JSON).
    pub webhook_retries: u32,
    /// Calls to these user parts run their own flow; other calls run `flow`.
    pub routes: Vec<Route>,
}

/// `[[dialog.routes]]`: which flow answers calls to one user part of the Request-URI
/// (a dialled number, DID or name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The Request-URI user part, exactly (e.g. "kuaidi", "4008001234").
    pub user: String,
    /// A flow file, or `builtin:NAME` for a flow embedded in the binary (see
    /// [`flow::BUILTIN_FLOWS`]).
    pub flow: String,
}

impl DialogConfig {
    /// The database file: `database` as given when absolute, else under `data_dir`
    /// (the same rule `ivr serve` applies to every path in the config).
    pub fn database_path(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        let p = std::path::Path::new(&self.database);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            data_dir.join(p)
        }
    }

    /// The lookup backend this config asks for, with a relative `database` resolved
    /// against the working directory. Prefer [`DialogConfig::backend_in`].
    pub fn backend(&self) -> Result<Box<dyn Backend>, integrations::IntegrationError> {
        self.backend_in(std::path::Path::new(""))
    }

    /// The lookup backend this config asks for: the webhook when `webhook_url` is set,
    /// else the SQLite database at [`DialogConfig::database_path`].
    pub fn backend_in(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<Box<dyn Backend>, integrations::IntegrationError> {
        if self.webhook_url.is_empty() {
            Ok(Box::new(SqliteBackend::open(
                &self.database_path(data_dir),
            )?))
        } else {
            Ok(Box::new(WebhookBackend::new(
                &self.webhook_url,
                std::time::Duration::from_millis(self.webhook_timeout_ms),
                self.webhook_retries,
            )))
        }
    }

    /// The configured default flow, or the embedded demo flow.
    pub fn load_flow(&self) -> Result<Flow, FlowError> {
        if self.flow.is_empty() {
            Flow::builtin("parcel")
        } else {
            Flow::from_source(&self.flow)
        }
    }

    /// Every route's flow, each file loaded once (routes may share one), in route order.
    pub fn load_routes(&self) -> Result<Vec<(String, std::sync::Arc<Flow>)>, FlowError> {
        let mut loaded: Vec<(&str, std::sync::Arc<Flow>)> = Vec::new();
        let mut out = Vec::with_capacity(self.routes.len());
        for r in &self.routes {
            let flow = match loaded.iter().find(|(src, _)| *src == r.flow) {
                Some((_, f)) => f.clone(),
                None => {
                    let f = std::sync::Arc::new(Flow::from_source(&r.flow)?);
                    loaded.push((&r.flow, f.clone()));
                    f
                }
            };
            out.push((r.user.clone(), flow));
        }
        Ok(out)
    }
}

impl Default for DialogConfig {
    fn default() -> Self {
        Self {
            flow: String::new(),
            database: "ivr.sqlite".into(),
            webhook_url: String::new(),
            webhook_timeout_ms: 2000,
            webhook_retries: 1,
            // The embedded default answers both demo hotlines: calls to `kuaidi` (快递)
            // in Mandarin, every other user part in English.
            routes: vec![Route {
                user: "kuaidi".into(),
                flow: "builtin:parcel-zh".into(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn routes_load_each_flow_once_and_name_what_is_wrong() {
        let route = |user: &str, flow: &str| Route {
            user: user.into(),
            flow: flow.into(),
        };
        let c = DialogConfig {
            routes: vec![route("a", "builtin:parcel"), route("b", "builtin:parcel")],
            ..DialogConfig::default()
        };
        let flows = c.load_routes().unwrap();
        assert_eq!(flows.len(), 2);
        assert!(std::sync::Arc::ptr_eq(&flows[0].1, &flows[1].1));
        let bad = DialogConfig {
            routes: vec![route("x", "builtin:nope")],
            ..DialogConfig::default()
        };
        let e = bad.load_routes().unwrap_err().to_string();
        assert!(
            e.contains("builtin:nope") && e.contains("builtin:parcel"),
            "{e}"
        );
        let missing = DialogConfig {
            routes: vec![route("x", "/nonexistent/flow.toml")],
            ..DialogConfig::default()
        };
        let e = missing.load_routes().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/flow.toml"), "{e}");
    }

    #[test]
    fn default_database_lives_in_the_data_dir() {
        let c = DialogConfig::default();
        assert_eq!(c.database, "ivr.sqlite");
        assert_eq!(
            c.database_path(Path::new("data")),
            Path::new("data/ivr.sqlite")
        );
        let abs = DialogConfig {
            database: "/var/lib/ivr/parcels.sqlite".into(),
            ..DialogConfig::default()
        };
        assert_eq!(
            abs.database_path(Path::new("data")),
            Path::new("/var/lib/ivr/parcels.sqlite")
        );
    }
}
