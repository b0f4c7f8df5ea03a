use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::paths;

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
        ModelsCommand::Convert { input, output } => {
            let input = input.unwrap_or_else(|| paths::model(cfg, "whisper-tiny.en-ct2"));
            let output = output.unwrap_or_else(|| paths::model(cfg, &cfg.asr.model));
            let started = std::time::Instant::now();
            let summary = ivr_asr::convert_ct2_to_ggml(&input, &output).with_context(|| {
                format!("converting {} -> {}", input.display(), output.display())
            })?;
            println!(
                "wrote {} ({} tensors, {:.1} MB, n_vocab {}, d {}, layers {}/{}) in {:.1} s",
                output.display(),
                summary.tensors,
                summary.bytes as f64 / 1e6,
                summary.n_vocab,
                summary.n_state,
                summary.n_audio_layer,
                summary.n_text_layer,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
