use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum MediaCommand {
    /// Decode the G.711 RTP streams of a pcap/pcapng capture to a WAV file.
    Pcap2wav {
        input: PathBuf,
        output: PathBuf,
        /// Pick this SSRC (hex 0x... or decimal); default: the longest audio stream.
        #[arg(long)]
        ssrc: Option<String>,
    },
}

pub fn run(cmd: MediaCommand, _cfg: &Config) -> Result<ExitCode> {
    match cmd {
        MediaCommand::Pcap2wav { .. } => anyhow::bail!("pcap2wav: not built yet (issue 4)"),
    }
}
