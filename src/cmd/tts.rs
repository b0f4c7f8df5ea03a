use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum TtsCommand {
    /// Speak TEXT with the on-device voice into a WAV file.
    Say {
        text: String,
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Output sample rate: 8000, 16000 or 22050.
        #[arg(long, default_value_t = 8000)]
        rate: u32,
        /// Speaking rate (1.0 = normal, 0.8 = slower).
        #[arg(long, default_value_t = 1.0)]
        speed: f32,
        /// Print {"ttfa_ms":..,"rtf":..,"seconds":..}.
        #[arg(long)]
        json: bool,
        /// Play through the sound device (cargo feature `playback`).
        #[arg(long)]
        play: bool,
    },
}

pub fn run(cmd: TtsCommand, _cfg: &Config) -> Result<ExitCode> {
    match cmd {
        TtsCommand::Say { .. } => anyhow::bail!("say: not built yet (issue 6)"),
    }
}
