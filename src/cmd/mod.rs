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
