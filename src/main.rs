//! `ivr`: the command-line entry point. Parses arguments, loads the config, sets up
//! logging, and hands each subcommand to its module under `cmd/`.

mod call;
mod cmd;
mod config;
mod console;
mod doctor;
mod http;
mod logging;
mod nlu;
mod paths;
mod qa;
mod records;
mod replay;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ivr",
    version,
    about = "On-device speech IVR voice bot for SIP telephony"
)]
struct Cli {
    /// Config file (TOML). Every field has an embedded default; IVR_* variables override.
    #[arg(long, global = true, env = "IVR_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer SIP calls with the voice bot (the main job).
    Serve(serve::ServeArgs),
    /// Check that models, libraries and ports are ready; print the fix for each problem.
    Doctor,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Model helpers (fetching is `make models`).
    #[command(subcommand)]
    Models(cmd::models::ModelsCommand),
    /// Call records.
    #[command(subcommand)]
    Calls(cmd::calls::CallsCommand),
    /// Quality inspection: a call's scorecard, the rules, rescoring after a rule change.
    #[command(subcommand)]
    Qa(cmd::qa::QaCommand),
    /// The console's KPIs, QA, funnel and voice of the customer as one HTML file.
    Report(cmd::report::ReportArgs),
    #[command(flatten)]
    Media(cmd::media::MediaCommand),
    #[command(flatten)]
    Asr(cmd::asr::AsrCommand),
    #[command(flatten)]
    Tts(cmd::tts::TtsCommand),
    #[command(flatten)]
    Dialog(cmd::dialog::DialogCommand),
    #[command(flatten)]
    Replay(cmd::replay::ReplayCommand),
    #[command(flatten)]
    Console(cmd::console::ConsoleCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let cfg = match config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ivr: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(a) => serve::run(a, cfg),
        Command::Doctor => doctor::run(&cfg),
        Command::Config(c) => cmd::config::run(c, &cfg),
        Command::Models(c) => cmd::models::run(c, &cfg),
        Command::Calls(c) => cmd::calls::run(c, &cfg),
        Command::Qa(c) => cmd::qa::run(c, &cfg),
        Command::Report(a) => cmd::report::run(a, &cfg),
        Command::Media(c) => cmd::media::run(c, &cfg),
        Command::Asr(c) => cmd::asr::run(c, &cfg),
        Command::Tts(c) => cmd::tts::run(c, &cfg),
        Command::Dialog(c) => cmd::dialog::run(c, &cfg),
        Command::Replay(c) => cmd::replay::run(c, &cfg),
        Command::Console(c) => cmd::console::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ivr: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
