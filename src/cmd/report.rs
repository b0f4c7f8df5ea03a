//! `ivr report`: a self-contained HTML report of the console's numbers for a period.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::records::{Period, RecordStore, Scope};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The period: calls that started within this long ago (e.g. 7d, 24h).
    #[arg(long, default_value = "7d")]
    since: String,
    /// Only calls served in this language (en, zh).
    #[arg(long)]
    language: Option<String>,
    /// Only calls of this flow.
    #[arg(long)]
    flow: Option<String>,
    /// Where to write the HTML file.
    #[arg(short, long, default_value = "report.html")]
    output: PathBuf,
}

pub fn run(a: ReportArgs, cfg: &Config) -> Result<ExitCode> {
    let now = SystemTime::now();
    let language = a
        .language
        .as_deref()
        .map(|l| {
            ivr_dialog::Language::from_code(l)
                .with_context(|| format!("--language {l}: expected en or zh"))
        })
        .transpose()?;
    let scope = Scope {
        period: Period {
            since: super::since_ago(&a.since, now)?,
            until: now,
        },
        language,
        flow: a.flow,
    };
    let store = RecordStore::open(Path::new(&cfg.data_dir))?;
    let html = crate::console::report_html(&store, &scope)?;
    std::fs::write(&a.output, html)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    println!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
