//! One module per area; each owns its subcommands' arguments and their `run`.

pub mod asr;
pub mod calls;
pub mod config;
pub mod console;
pub mod dialog;
pub mod media;
pub mod models;
pub mod nlu_misses;
pub mod qa;
pub mod replay;
pub mod report;
pub mod tts;

use std::time::SystemTime;

use anyhow::{Context, Result};

/// The start of a `--since 7d` window ending `now` (the epoch if it reaches past it).
pub fn since_ago(arg: &str, now: SystemTime) -> Result<SystemTime> {
    let age = humantime::parse_duration(arg)
        .with_context(|| format!("--since {arg}: want a duration such as 7d or 24h"))?;
    Ok(now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH))
}
