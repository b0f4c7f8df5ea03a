use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum DialogCommand {
    /// Talk to a flow in text: each stdin line is a caller turn.
    Chat {
        #[arg(long)]
        flow: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Validate a flow file; problems are reported as file:line:col.
    CheckFlow { file: PathBuf },
    /// Intent accuracy on a TSV of utterance<TAB>intent.
    IntentEval {
        file: PathBuf,
        #[arg(long)]
        flow: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DialogCommand, _cfg: &Config) -> Result<ExitCode> {
    match cmd {
        DialogCommand::Chat { .. }
        | DialogCommand::CheckFlow { .. }
        | DialogCommand::IntentEval { .. } => anyhow::bail!("not built yet (issue 7)"),
    }
}
