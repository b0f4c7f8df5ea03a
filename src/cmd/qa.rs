//! `ivr qa`: quality inspection from the command line: one call's scorecard, the rules in
//! force, and rescoring stored calls after the rules changed.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::config::Config;
use crate::qa::{QaRules, Scorecard, inspect_stored};
use crate::records::{Period, RecordStore};

/// Records rescored per transaction (bounded memory over any number of calls).
const RESCORE_BATCH: usize = 500;

#[derive(clap::Subcommand)]
pub enum QaCommand {
    /// One call's QA scorecard (as scored when written, or with the current rules).
    Show {
        id: String,
        /// Score with the rules in force now instead of showing the stored scorecard.
        #[arg(long)]
        now: bool,
        #[arg(long)]
        json: bool,
    },
    /// Score stored calls again with the current rules (after changing `[qa]`).
    Rescore {
        /// Only calls that started within this long ago (e.g. 30d); all calls if absent.
        #[arg(long)]
        since: Option<String>,
    },
    /// The rules in force (the config's `[qa]`, or the embedded default), as TOML.
    Rules,
}

pub fn run(cmd: QaCommand, cfg: &Config) -> Result<ExitCode> {
    let rules = QaRules::from_config(&cfg.qa)?;
    match cmd {
        QaCommand::Rules => {
            #[derive(serde::Serialize)]
            struct Section {
                qa: crate::qa::QaConfig,
            }
            println!(
                "# QA rules version {} (paste into the config to change them)",
                rules.version
            );
            let section = Section {
                qa: crate::qa::QaConfig { rules: rules.rules },
            };
            print!("{}", toml::to_string(&section)?);
            Ok(ExitCode::SUCCESS)
        }
        QaCommand::Show { id, now, json } => {
            let store = RecordStore::open(Path::new(&cfg.data_dir))?;
            let Some(rec) = store.get(&id)? else {
                eprintln!("ivr: no call {id}; `ivr calls list` shows the ids");
                return Ok(ExitCode::FAILURE);
            };
            let card = match (&rec.qa, now) {
                (Some(card), false) => card.clone(),
                _ => inspect_stored(&rules, &store, &rec),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&card)?);
            } else {
                print!("{}", render(&id, &card, &rules));
            }
            Ok(ExitCode::SUCCESS)
        }
        QaCommand::Rescore { since } => {
            let store = RecordStore::open(Path::new(&cfg.data_dir))?;
            let now = SystemTime::now();
            let period = Period {
                since: match since {
                    Some(s) => super::since_ago(&s, now)?,
                    None => SystemTime::UNIX_EPOCH,
                },
                // A day ahead: calls whose clock ran ahead of this one are rescored too.
                until: now + Duration::from_secs(86_400),
            };
            let (n, changed) = rescore(&store, &rules, &period)?;
            println!(
                "rescored {n} calls with rules {}; {changed} changed score or flags",
                rules.version
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Rescore every call in `period`; returns (calls, calls whose scorecard changed).
pub fn rescore(store: &RecordStore, rules: &QaRules, period: &Period) -> Result<(usize, usize)> {
    let (mut n, mut changed) = (0, 0);
    let mut after: Option<(String, String)> = None;
    loop {
        let cursor = after.as_ref().map(|(s, i)| (s.as_str(), i.as_str()));
        let mut batch = store.records_in(period, cursor, RESCORE_BATCH)?;
        let Some(last) = batch.last() else { break };
        after = Some((last.started_at.clone(), last.id.clone()));
        for r in &mut batch {
            let card = inspect_stored(rules, store, r);
            let same =
                r.qa.as_ref()
                    .is_some_and(|old| old.score == card.score && old.flags == card.flags);
            changed += usize::from(!same);
            r.qa = Some(card);
        }
        n += batch.len();
        store.save_all(&batch)?;
    }
    Ok((n, changed))
}

fn render(id: &str, card: &Scorecard, rules: &QaRules) -> String {
    let mut out = format!(
        "call {id}: QA score {}/100 (rules {})\n",
        card.score, card.rules
    );
    if card.rules != rules.version {
        out.push_str(&format!(
            "  (scored with other rules than those in force, {}: `ivr qa rescore` or --now)\n",
            rules.version
        ));
    }
    if card.flags.is_empty() {
        out.push_str("  no rule flagged this call\n");
    }
    for f in &card.flags {
        let at = f.at_s.map_or(String::new(), |s| format!(" at {s:.1} s"));
        out.push_str(&format!(
            "  -{:<3} {:<8} {:<24} {}{at}\n",
            f.weight,
            f.severity.as_str(),
            f.rule,
            f.detail
        ));
    }
    out
}
