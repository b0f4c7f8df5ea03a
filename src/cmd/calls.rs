use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;
use crate::records::RecordStore;

#[derive(clap::Subcommand)]
pub enum CallsCommand {
    /// The most recent calls, one line each.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One call's record (JSON) and its transcript.
    Show { id: String },
}

pub fn run(cmd: CallsCommand, cfg: &Config) -> Result<ExitCode> {
    let store = RecordStore::open(&PathBuf::from(&cfg.data_dir))?;
    match cmd {
        CallsCommand::List { limit, json } => {
            let calls = store.list(limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&calls)?);
            } else {
                println!(
                    "{:<36}  {:<24}  {:<12}  {:>7}  {:<20}  intents",
                    "id", "started", "outcome", "secs", "caller"
                );
                for c in calls {
                    println!(
                        "{:<36}  {:<24}  {:<12}  {:>7.1}  {:<20}  {}",
                        c.id,
                        c.started_at,
                        c.outcome.as_str(),
                        c.duration_s,
                        c.caller,
                        c.intents.join(",")
                    );
                }
            }
        }
        CallsCommand::Show { id } => {
            let Some(rec) = store.get(&id)? else {
                eprintln!("ivr: no call {id}; `ivr calls list` shows the ids");
                return Ok(ExitCode::FAILURE);
            };
            println!("{}", serde_json::to_string_pretty(&rec)?);
            if let Some(p) = &rec.transcript_path {
                match std::fs::read_to_string(p) {
                    Ok(t) => {
                        println!("--- transcript ({p})");
                        print!("{t}");
                    }
                    Err(e) => println!("--- transcript {p} unreadable: {e}"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
