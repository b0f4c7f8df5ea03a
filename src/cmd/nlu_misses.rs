//! `ivr nlu-misses`: the learning loop. What callers said that understanding could not act
//! on (no match, out of scope, a clarify question), from the call records, grouped into
//! clusters of similar requests with a count and an example each, so a flow author knows
//! which examples or FAQ entries to add.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use ivr_dialog::{Language, MissKind, TextEmbedder, for_matching};
use serde::Serialize;

use crate::config::Config;
use crate::records::RecordStore;

/// Two misses whose embeddings are at least this close are the same request (MiniLM:
/// "can you book me a taxi" / "please order me a cab" ~0.6, unrelated requests < 0.3).
const SAME_REQUEST: f32 = 0.5;

#[derive(Serialize)]
struct Cluster {
    language: String,
    count: usize,
    example: String,
    /// How the misses in it ended: no_match / out_of_scope / clarify counts.
    results: BTreeMap<String, usize>,
    /// Calls handed to an agent for repeated no match among them.
    handoffs: usize,
    #[serde(skip)]
    leader: Option<Vec<f32>>,
}

struct Miss {
    language: Language,
    text: String,
    result: MissKind,
    handed_off: bool,
}

pub fn run(cfg: &Config, since: &str, json: bool) -> Result<ExitCode> {
    let from = crate::records::rfc3339(super::since_ago(since, SystemTime::now())?);
    let store = RecordStore::open(Path::new(&cfg.data_dir))?;
    let mut misses = Vec::new();
    for r in store.list(usize::MAX >> 1)? {
        if r.started_at < from {
            continue;
        }
        let language = r.language.unwrap_or(Language::En);
        let handed_off = r.handoff_reason.as_deref() == Some("repeated no match");
        for m in &r.nlu_misses {
            misses.push(Miss {
                language,
                text: m.text.clone(),
                result: m.result,
                handed_off,
            });
        }
    }
    let clusters = cluster(cfg, &misses);
    if json {
        println!("{}", serde_json::to_string_pretty(&clusters)?);
    } else if clusters.is_empty() {
        println!("no understanding misses since {from}");
    } else {
        println!(
            "{} misses in {} clusters since {from}",
            misses.len(),
            clusters.len()
        );
        println!("{:>5}  {:<4}  {:<34}  example", "count", "lang", "results");
        for c in &clusters {
            let results: Vec<String> = c.results.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "{:>5}  {:<4}  {:<34}  {}",
                c.count,
                c.language,
                results.join(", "),
                c.example
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Leader clustering, biggest first: by sentence embedding where the language has an
/// encoder, else by the normalised words.
fn cluster(cfg: &Config, misses: &[Miss]) -> Vec<Cluster> {
    let mut languages: Vec<Language> = misses.iter().map(|m| m.language).collect();
    languages.dedup();
    let nlu = crate::nlu::Understanding::load(cfg, &languages)
        .map_err(|e| eprintln!("ivr: clustering by words only: {e:#}"))
        .ok();
    let embedders: Vec<(Language, Option<TextEmbedder>)> = Language::ALL
        .iter()
        .map(|&l| (l, nlu.as_ref().and_then(|n| n.embedder(l))))
        .collect();
    let mut clusters: Vec<Cluster> = Vec::new();
    for m in misses {
        let embed = embedders
            .iter()
            .find(|(l, _)| *l == m.language)
            .and_then(|(_, e)| e.as_ref());
        let v = embed.and_then(|e| e(&m.text)).map(|v| v.to_vec());
        let key = for_matching(&m.text);
        let found = clusters.iter_mut().find(|c| {
            c.language == m.language.code()
                && match (&c.leader, &v) {
                    (Some(a), Some(b)) => dot(a, b) >= SAME_REQUEST,
                    _ => for_matching(&c.example) == key,
                }
        });
        let c = match found {
            Some(c) => c,
            None => {
                clusters.push(Cluster {
                    language: m.language.code().to_string(),
                    count: 0,
                    example: m.text.clone(),
                    results: BTreeMap::new(),
                    handoffs: 0,
                    leader: v,
                });
                let last = clusters.len() - 1;
                &mut clusters[last]
            }
        };
        c.count += 1;
        *c.results.entry(kind(m.result).to_string()).or_default() += 1;
        c.handoffs += usize::from(m.handed_off);
    }
    clusters.sort_by(|a, b| b.count.cmp(&a.count).then(a.example.cmp(&b.example)));
    clusters
}

fn kind(k: MissKind) -> &'static str {
    match k {
        MissKind::NoMatch => "no_match",
        MissKind::OutOfScope => "out_of_scope",
        MissKind::Clarify => "clarify",
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(text: &str, result: MissKind) -> Miss {
        Miss {
            language: Language::En,
            text: text.into(),
            result,
            handed_off: false,
        }
    }

    #[test]
    fn similar_requests_cluster_by_meaning_biggest_first() {
        let cfg = Config {
            models_dir: ivr_test_support::models_dir().display().to_string(),
            ..Config::default()
        };
        let misses = [
            miss("can you book me a taxi", MissKind::OutOfScope),
            miss("I need a taxi to the airport", MissKind::NoMatch),
            miss("please order me a cab", MissKind::OutOfScope),
            miss("do you sell gift cards", MissKind::Clarify),
        ];
        let clusters = cluster(&cfg, &misses);
        let shown: Vec<(usize, &str)> = clusters
            .iter()
            .map(|c| (c.count, c.example.as_str()))
            .collect();
        assert_eq!(clusters[0].count, 3, "{shown:?}");
        assert_eq!(clusters[0].results["out_of_scope"], 2);
        assert_eq!(clusters[1].count, 1);
        assert_eq!(clusters[1].example, "do you sell gift cards");
    }

    #[test]
    fn without_an_encoder_identical_words_cluster() {
        let cfg = Config {
            models_dir: "/nonexistent".into(),
            ..Config::default()
        };
        let misses = [
            miss("Taxi, please!", MissKind::NoMatch),
            miss("taxi please", MissKind::NoMatch),
            miss("a cab", MissKind::NoMatch),
        ];
        let clusters = cluster(&cfg, &misses);
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0].count, 2);
    }
}
