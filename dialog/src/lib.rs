//! ivr-dialog: the bot's brain. Flow DSL (TOML), intent and slot matching, the dialog
//! state machine (`handle(event, now) -> actions`, no I/O, no clock), hand-off rules,
//! sentiment, and the business integrations (SQLite, webhook) the binary executes.
//! Knows nothing of audio.

pub mod normalize;

use serde::{Deserialize, Serialize};

/// Dialog settings (`[dialog]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogConfig {
    /// Flow file; empty = the embedded demo flow.
    pub flow: String,
    /// SQLite database for the default lookup backend.
    pub database: String,
}

impl Default for DialogConfig {
    fn default() -> Self {
        Self {
            flow: String::new(),
            database: "data/ivr.sqlite".into(),
        }
    }
}
