use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum ModelsCommand {
    /// Convert a CTranslate2 Whisper model (model.bin, vocabulary.txt) to ggml for whisper.cpp.
    Convert {
        /// CT2 model directory (default: <models>/whisper-tiny.en-ct2).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Output ggml file (default: <models>/<asr.model>).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn run(cmd: ModelsCommand, cfg: &Config) -> Result<ExitCode> {
    match cmd {
        ModelsCommand::Convert {
            input: _,
            output: _,
        } => {
            let _ = cfg;
            anyhow::bail!("models convert: not built yet (issue 5)")
        }
    }
}
