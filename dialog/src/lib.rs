//! ivr-dialog: the bot's brain. Flow DSL (TOML), intent and slot matching, the dialog
//! state machine (`handle(event, now) -> actions`, no I/O, no clock), hand-off rules,
//! sentiment, and the business integrations (SQLite, webhook) the binary executes.
//! Knows nothing of audio.

pub mod chat;
pub mod engine;
pub mod flow;
pub mod integrations;
pub mod intent;
pub mod normalize;
pub mod sentiment;
pub mod slots;

pub use engine::{
    Action, CallSummary, Dialog, Event, Expect, Expectation, HandoffContext, IntentHit,
    LookupResult, Speaker, TimerId, TransferFailure, TransferResult, Turn,
};
pub use flow::{Flow, FlowError, Outcome};
pub use integrations::{Backend, SqliteBackend, WebhookBackend};
pub use slots::Date;

use serde::{Deserialize, Serialize};

/// Dialog settings (`[dialog]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogConfig {
    /// Flow file; empty = the embedded demo flow.
    pub flow: String,
    /// SQLite database for the default lookup backend (created and seeded on first use).
    pub database: String,
    /// Webhook URL for lookups; empty = use the SQLite database.
    pub webhook_url: String,
    /// Per-attempt webhook timeout.
    pub webhook_timeout_ms: u64,
    /// Extra webhook attempts after a failure (network error, 5xx, bad JSON).
    pub webhook_retries: u32,
}

impl DialogConfig {
    /// The lookup backend this config asks for.
    pub fn backend(&self) -> Result<Box<dyn Backend>, integrations::IntegrationError> {
        if self.webhook_url.is_empty() {
            Ok(Box::new(SqliteBackend::open(std::path::Path::new(
                &self.database,
            ))?))
        } else {
            Ok(Box::new(WebhookBackend::new(
                &self.webhook_url,
                std::time::Duration::from_millis(self.webhook_timeout_ms),
                self.webhook_retries,
            )))
        }
    }

    /// The configured flow, or the embedded demo flow.
    pub fn load_flow(&self) -> Result<Flow, FlowError> {
        if self.flow.is_empty() {
            Flow::from_toml(flow::DEMO_FLOW, "fixtures/flows/parcel.toml")
        } else {
            Flow::load(std::path::Path::new(&self.flow))
        }
    }
}

impl Default for DialogConfig {
    fn default() -> Self {
        Self {
            flow: String::new(),
            database: "data/ivr.sqlite".into(),
            webhook_url: String::new(),
            webhook_timeout_ms: 2000,
            webhook_retries: 1,
        }
    }
}
