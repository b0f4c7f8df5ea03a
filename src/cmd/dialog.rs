use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use ivr_dialog::ChatSession;
use ivr_dialog::Reading;
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
    /// What callers said that understanding could not act on, from the call records,
    /// grouped by similarity (the learning loop: add these as examples or FAQ entries).
    NluMisses {
        /// How far back (7d, 12h, ...).
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Intent accuracy on a TSV of utterance<TAB>intent (`none` = should not match).
    IntentEval {
        file: PathBuf,
        #[arg(long)]
        flow: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Stage 1 only: no sentence embeddings.
        #[arg(long)]
        rules_only: bool,
        /// Print each utterance's best scores per stage (TSV), for calibrating thresholds.
        #[arg(long)]
        explain: bool,
    },
}

fn load_flow(path: Option<&Path>, cfg: &Config) -> Result<Flow> {
    match path {
        Some(p) => Ok(Flow::load(p)?),
        None => Ok(cfg.dialog.load_flow()?),
    }
}

/// Turn on `flow`'s semantic stage as `ivr serve` does; the embedder for caller lines.
/// Without its model (not fetched yet) the text tools go on with the rules alone, and say
/// so: `ivr serve` refuses to start instead.
fn understanding(cfg: &Config, flow: &Flow) -> Result<Option<ivr_dialog::TextEmbedder>> {
    let loaded = crate::nlu::Understanding::load(cfg, &[flow.language]).and_then(|nlu| {
        nlu.attach(flow)?;
        Ok(nlu)
    });
    match loaded {
        Ok(nlu) => Ok(nlu.embedder(flow.language)),
        Err(e) => {
            eprintln!("ivr: semantic matching off, rules only: {e:#}");
            Ok(None)
        }
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
            let embedder = understanding(cfg, &flow)?;
            chat(Arc::new(flow), today, backend, embedder, json)
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
        DialogCommand::NluMisses { since, json } => super::nlu_misses::run(cfg, &since, json),
        DialogCommand::IntentEval {
            file,
            flow,
            json,
            rules_only,
            explain,
        } => {
            let flow = load_flow(flow.as_deref(), cfg)?;
            let embedder = if rules_only {
                None
            } else {
                understanding(cfg, &flow)?
            };
            if explain {
                return explain_scores(&flow, &file, embedder.as_ref());
            }
            intent_eval(&flow, &file, embedder.as_ref(), json)
        }
    }
}

fn chat(
    flow: Arc<Flow>,
    today: Date,
    backend: Box<dyn ivr_dialog::Backend>,
    embedder: Option<ivr_dialog::TextEmbedder>,
    json: bool,
) -> Result<ExitCode> {
    let mut session = ChatSession::new(flow, today, backend);
    if let Some(e) = embedder {
        session = session.with_embedder(e);
    }
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

/// (line number, utterance, label) of a labelled set: utterance<TAB>label lines, blank
/// lines and `#` comments skipped.
fn labelled_lines(file: &Path) -> Result<Vec<(usize, String, String)>> {
    let src =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((text, label)) = line.split_once('\t') else {
            anyhow::bail!("{}:{}: want utterance<TAB>label", file.display(), i + 1);
        };
        out.push((i + 1, text.to_string(), label.trim().to_string()));
    }
    Ok(out)
}

/// label, then per matcher (intents, FAQ): rules' best and its score, the semantic
/// stage's best two and their probabilities, and the out-of-scope probability.
fn explain_scores(
    flow: &Flow,
    file: &Path,
    embedder: Option<&ivr_dialog::TextEmbedder>,
) -> Result<ExitCode> {
    let src = labelled_lines(file)?;
    println!(
        "label\tmatcher\trules\trules_score\tsem1\tsem1_p\tsem2\tsem2_p\tout_of_scope_p\ttext"
    );
    for (_, text, label) in &src {
        let text = text.as_str();
        let embedding = embedder.and_then(|e| e(text));
        let utt = ivr_dialog::Utterance {
            text,
            embedding: embedding.as_deref(),
        };
        let scores = flow.semantic_scores(&utt).unwrap_or_default();
        let cell = |v: &[ivr_dialog::IntentScore], i: usize| {
            v.get(i).map_or("-\t0".to_string(), |s| {
                format!("{}\t{:.3}", s.intent, s.score)
            })
        };
        for (name, m, sem) in [
            ("intent", &flow.matcher, &scores.intents),
            ("faq", &flow.faq_matcher, &scores.faqs),
        ] {
            println!(
                "{}\t{name}\t{}\t{}\t{}\t{:.3}\t{text}",
                label,
                cell(&m.rank(text, None), 0),
                cell(sem, 0),
                cell(sem, 1),
                scores.out_of_scope
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How one labelled utterance came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Right,
    /// A clarify question about the right label: costs a turn, never a wrong answer.
    ClarifyRight,
    ClarifyWrong,
    NoMatch,
    /// Acted on the wrong label (for `none`: any acceptance).
    Wrong,
}

#[derive(Default)]
struct Tally {
    total: usize,
    right: usize,
    clarify_right: usize,
    clarify_wrong: usize,
    no_match: usize,
    wrong: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        self.total += 1;
        match v {
            Verdict::Right => self.right += 1,
            Verdict::ClarifyRight => self.clarify_right += 1,
            Verdict::ClarifyWrong => self.clarify_wrong += 1,
            Verdict::NoMatch => self.no_match += 1,
            Verdict::Wrong => self.wrong += 1,
        }
    }

    fn json(&self) -> serde_json::Value {
        let r = |n: usize| n as f64 / self.total.max(1) as f64;
        serde_json::json!({
            "total": self.total, "right": r(self.right),
            "clarify_right": r(self.clarify_right), "clarify_wrong": r(self.clarify_wrong),
            "no_match": r(self.no_match), "wrong": r(self.wrong),
        })
    }

    fn print(&self, what: &str) {
        if self.total == 0 {
            return;
        }
        let p = |n: usize| 100.0 * n as f64 / self.total as f64;
        println!(
            "{what:<14} {:>4}  right {:5.1} %  clarify-right {:4.1} %  clarify-wrong {:4.1} %  no-match {:4.1} %  wrong {:4.1} %",
            self.total,
            p(self.right),
            p(self.clarify_right),
            p(self.clarify_wrong),
            p(self.no_match),
            p(self.wrong)
        );
    }
}

/// Score a TSV of utterance<TAB>label (an intent, an FAQ id, or `none` for out of
/// scope) the way a menu reads callers: both matchers, both stages when `embedder` is
/// given. Intents, FAQ ids and out-of-scope lines are tallied apart.
fn intent_eval(
    flow: &Flow,
    file: &Path,
    embedder: Option<&ivr_dialog::TextEmbedder>,
    json: bool,
) -> Result<ExitCode> {
    let src = labelled_lines(file)?;
    let intents: Vec<String> = flow.matcher.intent_names().map(str::to_string).collect();
    let faqs: Vec<String> = flow.faqs.iter().map(|f| f.id.clone()).collect();
    let (mut by_intent, mut by_faq, mut oos) =
        (Tally::default(), Tally::default(), Tally::default());
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (line_no, text, label) in &src {
        let (text, label) = (text.as_str(), label.as_str());
        let is_faq = faqs.iter().any(|f| f == label);
        if label != "none" && !is_faq && !intents.iter().any(|k| k == label) {
            anyhow::bail!(
                "{}:{line_no}: unknown intent or FAQ id `{label}`",
                file.display()
            );
        }
        let embedding = embedder.and_then(|e| e(text));
        let utt = ivr_dialog::Utterance {
            text,
            embedding: embedding.as_deref(),
        };
        let (verdict, got) = match flow.read(&utt, None) {
            Reading::Intent(s) | Reading::Faq(s) if s.intent == label => (Verdict::Right, s.intent),
            Reading::Intent(s) | Reading::Faq(s) => (Verdict::Wrong, s.intent),
            Reading::ClarifyIntent(s) | Reading::ClarifyFaq(s) if s.intent == label => {
                (Verdict::ClarifyRight, format!("clarify:{}", s.intent))
            }
            Reading::ClarifyIntent(s) | Reading::ClarifyFaq(s) => {
                (Verdict::ClarifyWrong, format!("clarify:{}", s.intent))
            }
            Reading::NoMatch | Reading::OutOfScope if label == "none" => {
                (Verdict::Right, "none".into())
            }
            Reading::NoMatch | Reading::OutOfScope => (Verdict::NoMatch, "none".into()),
        };
        match (label, is_faq) {
            ("none", _) => oos.add(verdict),
            (_, true) => by_faq.add(verdict),
            _ => by_intent.add(verdict),
        }
        if verdict != Verdict::Right {
            *confusion.entry((label.to_string(), got)).or_default() += 1;
        }
    }
    let total = by_intent.total + by_faq.total + oos.total;
    if total == 0 {
        anyhow::bail!("{}: no labelled utterances", file.display());
    }
    if json {
        let conf: Vec<_> = confusion
            .iter()
            .map(|((e, g), n)| serde_json::json!({"expected": e, "got": g, "count": n}))
            .collect();
        let right = by_intent.right + by_faq.right + oos.right;
        println!(
            "{}",
            serde_json::json!({
                "total": total,
                "accuracy": right as f64 / total as f64,
                "semantic": embedder.is_some(),
                "intents": by_intent.json(),
                "faqs": by_faq.json(),
                "out_of_scope": oos.json(),
                "confusions": conf,
            })
        );
    } else {
        println!(
            "{} ({} stage{})",
            file.display(),
            if embedder.is_some() {
                "rules + semantic"
            } else {
                "rules"
            },
            if embedder.is_some() { "s" } else { "" }
        );
        by_intent.print("intents");
        by_faq.print("faq ids");
        oos.print("out of scope");
        if confusion.is_empty() {
            println!("confusions: none");
        } else {
            println!("confusions (expected -> got: count):");
            for ((e, g), n) in &confusion {
                println!("  {e} -> {g}: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
