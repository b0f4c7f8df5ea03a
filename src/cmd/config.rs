use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the effective config (defaults + file + IVR_* overrides) as TOML.
    Print,
}

pub fn run(cmd: ConfigCommand, cfg: &Config) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Print => print!("{}", toml::to_string_pretty(cfg)?),
    }
    Ok(ExitCode::SUCCESS)
}
