//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), text or JSON.

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// whisper.cpp and rsipstack log every model load and SIP message at info: too loud for
/// an operator's console. `RUST_LOG` replaces this entirely.
const DEFAULT_FILTER: &str = "info,whisper_rs=warn,rsipstack=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests calling main twice) is harmless: ignore the error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
