//! Voice of the customer over a set of calls: what callers call about (intents), the
//! words they use (keyword heat), how they feel about each (sentiment per topic), how it
//! changes day by day, how fast they speak, and what the bot could not understand. Pure,
//! over `VocRow`s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::records::VocRow;

/// How many keywords and unmatched requests the page lists.
const TOP_KEYWORDS: usize = 30;
const TOP_MISSES: usize = 20;
/// A call's sentiment below this counts as negative.
const NEGATIVE: f32 = -0.3;
/// Caller speech-rate bands, words per second (slow speakers, e.g. elderly callers, first).
const RATE_BANDS: [(f32, &str); 4] = [
    (1.5, "< 1.5 w/s"),
    (2.5, "1.5-2.5 w/s"),
    (3.5, "2.5-3.5 w/s"),
    (f32::INFINITY, ">= 3.5 w/s"),
];

/// A topic (an intent, or "(none)") or a keyword, with how callers felt about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    pub name: String,
    pub calls: usize,
    pub average_sentiment: f32,
    /// Share of its calls with negative sentiment (0..1).
    pub negative_share: f32,
    /// Mean caller speech rate over its calls that measured one.
    pub speech_rate_wps: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub day: String,
    pub calls: usize,
    pub average_sentiment: f32,
    /// Calls per topic that day, for the period's top topics.
    pub topics: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Voc {
    pub calls: usize,
    /// Most frequent first.
    pub topics: Vec<Topic>,
    pub keywords: Vec<Topic>,
    pub days: Vec<Day>,
    pub speech_rate_wps: Option<f32>,
    /// Calls per speech-rate band (label, calls).
    pub speech_rate_bands: Vec<(String, usize)>,
    /// What callers said that matched nothing, most frequent first (text, times).
    pub unmatched: Vec<(String, usize)>,
}

/// Running sums for one topic or keyword.
#[derive(Default)]
struct Tally {
    calls: usize,
    sentiment: f32,
    negative: usize,
    rate_sum: f32,
    rated: usize,
}

impl Tally {
    fn add(&mut self, r: &VocRow) {
        self.calls += 1;
        self.sentiment += r.sentiment;
        self.negative += usize::from(r.sentiment < NEGATIVE);
        if let Some(w) = r.speech_rate {
            self.rate_sum += w;
            self.rated += 1;
        }
    }

    fn topic(self, name: String) -> Topic {
        let n = self.calls.max(1) as f32;
        Topic {
            name,
            calls: self.calls,
            average_sentiment: self.sentiment / n,
            negative_share: self.negative as f32 / n,
            speech_rate_wps: (self.rated > 0).then(|| self.rate_sum / self.rated as f32),
        }
    }
}

fn ranked(tallies: BTreeMap<String, Tally>, top: usize) -> Vec<Topic> {
    let mut v: Vec<Topic> = tallies.into_iter().map(|(k, t)| t.topic(k)).collect();
    v.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    v.truncate(top);
    v
}

/// A call's topics: its distinct intents, or "(none)".
fn topics_of(r: &VocRow) -> Vec<String> {
    let mut t = r.intents.clone();
    t.sort_unstable();
    t.dedup();
    if t.is_empty() {
        t.push("(none)".into());
    }
    t
}

impl Voc {
    pub fn compute<R: std::borrow::Borrow<VocRow>>(rows: &[R]) -> Self {
        let rows: Vec<&VocRow> = rows.iter().map(|r| r.borrow()).collect();
        let mut topics: BTreeMap<String, Tally> = BTreeMap::new();
        let mut keywords: BTreeMap<String, Tally> = BTreeMap::new();
        let mut days: BTreeMap<String, (Tally, BTreeMap<String, usize>)> = BTreeMap::new();
        let mut all = Tally::default();
        let mut bands = vec![0usize; RATE_BANDS.len()];
        let mut unmatched: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for &r in &rows {
            all.add(r);
            let t = topics_of(r);
            for name in &t {
                topics.entry(name.clone()).or_default().add(r);
            }
            for k in &r.keywords {
                keywords.entry(k.clone()).or_default().add(r);
            }
            let (day, per_topic) = days.entry(r.day.clone()).or_default();
            day.add(r);
            for name in t {
                *per_topic.entry(name).or_default() += 1;
            }
            if let Some(w) = r.speech_rate
                && let Some(b) = RATE_BANDS.iter().position(|(hi, _)| w < *hi)
            {
                bands[b] += 1;
            }
            for m in &r.misses {
                let key = ivr_dialog::for_matching(m);
                if key.is_empty() {
                    continue;
                }
                let e = unmatched.entry(key).or_insert_with(|| (m.clone(), 0));
                e.1 += 1;
            }
        }
        let topics = ranked(topics, usize::MAX);
        let top_names: Vec<&str> = topics.iter().take(5).map(|t| t.name.as_str()).collect();
        let days = days
            .into_iter()
            .map(|(day, (tally, per_topic))| {
                let n = tally.calls.max(1) as f32;
                Day {
                    day,
                    calls: tally.calls,
                    average_sentiment: tally.sentiment / n,
                    topics: per_topic
                        .into_iter()
                        .filter(|(k, _)| top_names.contains(&k.as_str()))
                        .collect(),
                }
            })
            .collect();
        let mut unmatched: Vec<(String, usize)> = unmatched.into_values().collect();
        unmatched.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        unmatched.truncate(TOP_MISSES);
        Self {
            calls: rows.len(),
            speech_rate_wps: (all.rated > 0).then(|| all.rate_sum / all.rated as f32),
            topics,
            keywords: ranked(keywords, TOP_KEYWORDS),
            days,
            speech_rate_bands: RATE_BANDS
                .iter()
                .zip(bands)
                .map(|((_, label), n)| (label.to_string(), n))
                .collect(),
            unmatched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, intents: &[&str], sentiment: f32, rate: Option<f32>, kw: &[&str]) -> VocRow {
        VocRow {
            day: day.into(),
            intents: intents.iter().map(|s| s.to_string()).collect(),
            sentiment,
            speech_rate: rate,
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            misses: Vec::new(),
        }
    }

    #[test]
    fn topics_keywords_days_rates_and_misses() {
        let mut rows = vec![
            row("2026-12-01", &["track_parcel"], 0.2, Some(2.0), &["parcel"]),
            row(
                "2026-12-01",
                &["report_damage"],
                -0.8,
                Some(1.2),
                &["parcel", "damaged"],
            ),
            row(
                "2026-12-02",
                &["report_damage", "report_damage"],
                -0.4,
                None,
                &["damaged"],
            ),
            row("2026-12-02", &[], 0.0, Some(4.0), &[]),
        ];
        rows[3].misses = vec!["Can I book a taxi?".into(), "can i book a taxi".into()];
        let v = Voc::compute(&rows);
        assert_eq!(v.calls, 4);
        let damage = v.topics.iter().find(|t| t.name == "report_damage").unwrap();
        assert_eq!(damage.calls, 2, "an intent twice in one call counts once");
        assert!((damage.average_sentiment + 0.6).abs() < 1e-6);
        assert_eq!(damage.negative_share, 1.0);
        assert_eq!(damage.speech_rate_wps, Some(1.2));
        assert!(v.topics.iter().any(|t| t.name == "(none)"));
        assert_eq!(v.keywords[0].name, "damaged");
        assert_eq!(v.keywords[0].calls, 2);
        assert_eq!(v.days.len(), 2);
        assert_eq!(v.days[1].topics["report_damage"], 1);
        let bands: Vec<usize> = v.speech_rate_bands.iter().map(|b| b.1).collect();
        assert_eq!(bands, vec![1, 1, 0, 1]);
        assert_eq!(v.unmatched, vec![("Can I book a taxi?".to_string(), 2)]);
    }
}
