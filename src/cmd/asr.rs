use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum AsrCommand {
    /// Transcribe a WAV file with the on-device recogniser.
    Transcribe {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Word error rate, latency and real-time factor on a manifest (path<TAB>reference).
    AsrEval {
        manifest: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: AsrCommand, _cfg: &Config) -> Result<ExitCode> {
    match cmd {
        AsrCommand::Transcribe { .. } | AsrCommand::AsrEval { .. } => {
            anyhow::bail!("not built yet (issue 5)")
        }
    }
}
