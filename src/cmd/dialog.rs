use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use ivr_dialog::ChatSession;
use ivr_dialog::Decision;
use ivr_dialog::{Date, Flow, SqliteBackend};

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum DialogCommand {
    /// Talk to a flow in text: each stdin line is a caller turn.
    /// `#123` = keypad digits, `/silence` = no input, `/hangup` = caller hangs up.
    Chat {
        #[arg(long)]
        flow: Option<PathBuf>,
        /// One JSON object per bot turn.
        #[arg(long)]
        json: bool,
        /// The call's date for relative dates (YYYY-MM-DD; default today, UTC).
        #[arg(long)]
        date: Option<String>,
        /// Use the configured backend instead of a fresh in-memory copy of the demo
        /// database: the webhook if `dialog.webhook_url` is set, else the SQLite file
        /// `dialog.database`, relative to `data_dir` (default data/ivr.sqlite, the
        /// database `ivr serve` uses).
        #[arg(long)]
        persist: bool,
    },
    /// Validate a flow file; problems are reported as file:line:col.
    CheckFlow { file: PathBuf },
    /// Intent accuracy on a TSV of utterance<TAB>intent (`none` = should not match).
    IntentEval {
        file: PathBuf,
        #[arg(long)]
        flow: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn load_flow(path: Option<&Path>, cfg: &Config) -> Result<Flow> {
    match path {
        Some(p) => Ok(Flow::load(p)?),
        None => Ok(cfg.dialog.load_flow()?),
    }
}

pub fn run(cmd: DialogCommand, cfg: &Config) -> Result<ExitCode> {
    match cmd {
        DialogCommand::Chat {
            flow,
            json,
            date,
            persist,
        } => {
            let flow = load_flow(flow.as_deref(), cfg)?;
            let today = match date {
                Some(d) => {
                    Date::parse_iso(&d).ok_or_else(|| anyhow!("--date {d}: want YYYY-MM-DD"))?
                }
                None => Date::today_utc(),
            };
            let backend: Box<dyn ivr_dialog::Backend> = if persist {
                cfg.dialog.backend_in(Path::new(&cfg.data_dir))?
            } else {
                Box::new(SqliteBackend::in_memory()?)
            };
            chat(Arc::new(flow), today, backend, json)
        }
        DialogCommand::CheckFlow { file } => match Flow::load(&file) {
            Ok(f) => {
                println!(
                    "{}: ok ({} nodes, {} intents, {} fixed prompts)",
                    file.display(),
                    f.nodes.len(),
                    f.intents.len(),
                    f.all_fixed_prompts().len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        DialogCommand::IntentEval { file, flow, json } => {
            let flow = load_flow(flow.as_deref(), cfg)?;
            intent_eval(&flow, &file, json)
        }
    }
}

fn chat(
    flow: Arc<Flow>,
    today: Date,
    backend: Box<dyn ivr_dialog::Backend>,
    json: bool,
) -> Result<ExitCode> {
    let mut session = ChatSession::new(flow, today, backend);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let print = |out: &mut std::io::StdoutLock, t: &ivr_dialog::ChatTurn| -> Result<()> {
        if json {
            writeln!(out, "{}", serde_json::to_string(t)?)?;
        } else {
            if !t.say.is_empty() {
                writeln!(out, "{}", t.say)?;
            }
            if let Some(d) = &t.detail {
                writeln!(out, "[{d}]")?;
            }
        }
        out.flush()?;
        Ok(())
    };
    let greeting = session.start();
    print(&mut out, &greeting)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        if session.is_ended() {
            break;
        }
        match session.input(&line) {
            Some(turn) => print(&mut out, &turn)?,
            None => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn intent_eval(flow: &Flow, file: &Path, json: bool) -> Result<ExitCode> {
    let src =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let known: Vec<String> = flow.matcher.intent_names().map(str::to_string).collect();
    let th = flow.settings.thresholds;
    let (mut total, mut correct, mut clarified, mut accepted_ok, mut wrong_accepted) =
        (0, 0, 0, 0, 0);
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, line) in src.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((utt, label)) = line.split_once('\t') else {
            anyhow::bail!("{}:{}: want utterance<TAB>intent", file.display(), i + 1);
        };
        let label = label.trim();
        if label != "none" && !known.iter().any(|k| k == label) {
            anyhow::bail!("{}:{}: unknown intent `{label}`", file.display(), i + 1);
        }
        total += 1;
        let got = match flow.matcher.decide(utt, None, th) {
            Decision::Accept(s) => {
                if s.intent == label {
                    accepted_ok += 1;
                } else {
                    wrong_accepted += 1;
                }
                s.intent
            }
            Decision::Clarify(s) => {
                clarified += 1;
                s.intent
            }
            Decision::NoMatch => "none".to_string(),
        };
        if got == label {
            correct += 1;
        } else {
            *confusion.entry((label.to_string(), got)).or_default() += 1;
        }
    }
    if total == 0 {
        anyhow::bail!("{}: no labelled utterances", file.display());
    }
    let pct = |n: usize| 100.0 * n as f64 / total as f64;
    if json {
        let conf: Vec<_> = confusion
            .iter()
            .map(|((e, g), n)| serde_json::json!({"expected": e, "got": g, "count": n}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "total": total, "accuracy": pct(correct) / 100.0,
                "accepted_correct": pct(accepted_ok) / 100.0,
                "clarify_rate": pct(clarified) / 100.0,
                "wrong_accepted": pct(wrong_accepted) / 100.0,
                "confusions": conf,
            })
        );
    } else {
        println!("utterances:        {total}");
        println!(
            "accuracy (top-1):  {:.1} %  ({correct}/{total})",
            pct(correct)
        );
        println!("accepted, correct: {:.1} %", pct(accepted_ok));
        println!("clarify rate:      {:.1} %  ({clarified})", pct(clarified));
        println!(
            "accepted, wrong:   {:.1} %  ({wrong_accepted})",
            pct(wrong_accepted)
        );
        if confusion.is_empty() {
            println!("confusions:        none");
        } else {
            println!("confusions (expected -> got: count):");
            for ((e, g), n) in &confusion {
                println!("  {e} -> {g}: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
