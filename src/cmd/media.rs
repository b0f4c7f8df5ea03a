use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ivr_media::write_wav_mono;
use ivr_media::{pick_stream, read_rtp_streams};

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

fn parse_ssrc(s: &str) -> Result<u32> {
    let s = s.trim();
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    v.with_context(|| format!("--ssrc {s:?}: expected 0x-prefixed hex or decimal"))
}

pub fn run(cmd: MediaCommand, _cfg: &Config) -> Result<ExitCode> {
    match cmd {
        MediaCommand::Pcap2wav {
            input,
            output,
            ssrc,
        } => {
            let ssrc = ssrc.as_deref().map(parse_ssrc).transpose()?;
            let streams = read_rtp_streams(&input)?;
            for s in &streams {
                eprintln!(
                    "stream ssrc=0x{:08X} {} -> {} packets={} codec={}",
                    s.ssrc,
                    s.src,
                    s.dst,
                    s.packets.len(),
                    s.codec().map_or("none", |c| c.name())
                );
            }
            let Some(stream) = pick_stream(&streams, ssrc) else {
                match ssrc {
                    Some(x) => bail!("{}: no RTP stream with SSRC 0x{x:08X}", input.display()),
                    None => bail!("{}: no G.711 RTP stream found", input.display()),
                }
            };
            let pcm = stream.decode();
            if pcm.is_empty() {
                bail!(
                    "{}: stream 0x{:08X} has no G.711 audio",
                    input.display(),
                    stream.ssrc
                );
            }
            write_wav_mono(&output, ivr_media::SAMPLE_RATE, &pcm)?;
            eprintln!(
                "wrote {} ({:.2} s, 8 kHz mono, ssrc 0x{:08X})",
                output.display(),
                pcm.len() as f64 / ivr_media::SAMPLE_RATE as f64,
                stream.ssrc
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
