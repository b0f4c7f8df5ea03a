//! Contact-centre KPIs of a set of calls: pure computations over `KpiRow`s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::records::{KpiRow, Outcome};

/// How many intents the overview lists.
const TOP_INTENTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub calls: usize,
    /// Share of calls the bot handled end to end (0..1; 0 with no calls).
    pub containment_rate: f64,
    pub transfer_rate: f64,
    /// Share of all calls transferred for each hand-off reason ("unspecified" if none).
    pub transfer_rate_by_reason: BTreeMap<String, f64>,
    pub abandonment_rate: f64,
    pub failure_rate: f64,
    /// Mean call duration in seconds over calls that lasted (duration > 0).
    pub average_handle_time_s: Option<f64>,
    /// Voice-to-voice latency over every bot turn (`first_audio_ms`), nearest rank.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub turns_measured: usize,
    /// Calls by hour of day of their start (UTC), index 0-23.
    pub calls_by_hour: [usize; 24],
    /// Most frequent intents (count of calls with it), most frequent first.
    pub top_intents: Vec<(String, usize)>,
    /// Most frequent knowledge-base answers (count of calls), most frequent first.
    pub top_faqs: Vec<(String, usize)>,
    /// Mean post-call rating (1-5) over the calls that gave one, and how many did.
    pub csat: Option<f64>,
    pub csat_responses: usize,
    /// Mean QA score over the scored calls, and how many were scored.
    pub qa_average_score: Option<f64>,
    pub qa_scored: usize,
    /// Calls each QA rule flagged, most flagged first.
    pub qa_flags: Vec<(String, usize)>,
}

impl Kpis {
    pub fn compute<R: std::borrow::Borrow<KpiRow>>(rows: &[R]) -> Self {
        let rows: Vec<&KpiRow> = rows.iter().map(|r| r.borrow()).collect();
        let n = rows.len();
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let count = |o: Outcome| rows.iter().filter(|r| r.outcome == o).count();
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.outcome == Outcome::Transferred) {
            let reason = r
                .handoff_reason
                .clone()
                .unwrap_or_else(|| "unspecified".into());
            *by_reason.entry(reason).or_default() += 1;
        }
        let durations: Vec<f64> = rows
            .iter()
            .map(|r| r.duration_s)
            .filter(|d| *d > 0.0)
            .collect();
        let mut latencies: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.first_audio_ms.iter().copied())
            .filter(|v| v.is_finite())
            .collect();
        latencies.sort_by(f64::total_cmp);
        let mut calls_by_hour = [0usize; 24];
        for r in &rows {
            if let Some(slot) = calls_by_hour.get_mut(r.hour as usize) {
                *slot += 1;
            }
        }
        let ratings: Vec<f64> = rows.iter().filter_map(|r| r.csat).map(f64::from).collect();
        let scores: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.qa_score)
            .map(f64::from)
            .collect();
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let mut qa_flags = calls_per_name(rows.iter().map(|r| &r.qa_flags));
        qa_flags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            calls: n,
            containment_rate: share(count(Outcome::Contained)),
            transfer_rate: share(count(Outcome::Transferred)),
            transfer_rate_by_reason: by_reason.into_iter().map(|(k, v)| (k, share(v))).collect(),
            abandonment_rate: share(count(Outcome::Abandoned)),
            failure_rate: share(count(Outcome::Failed)),
            average_handle_time_s: (!durations.is_empty())
                .then(|| durations.iter().sum::<f64>() / durations.len() as f64),
            latency_p50_ms: percentile(&latencies, 50.0),
            latency_p95_ms: percentile(&latencies, 95.0),
            turns_measured: latencies.len(),
            calls_by_hour,
            top_intents: top(rows.iter().map(|r| &r.intents)),
            top_faqs: top(rows.iter().map(|r| &r.faqs)),
            csat: mean(&ratings),
            csat_responses: ratings.len(),
            qa_average_score: mean(&scores),
            qa_scored: scores.len(),
            qa_flags,
        }
    }
}

/// For each name, how many calls list it (a call listing it twice counts once).
fn calls_per_name<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for list in lists {
        let mut seen: Vec<&str> = list.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for name in seen {
            *counts.entry(name).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The most frequent names, most frequent first (ties by name).
fn top<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<(String, usize)> {
    let mut v = calls_per_name(lists);
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP_INTENTS);
    v
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        outcome: Outcome,
        reason: Option<&str>,
        dur: f64,
        hour: u8,
        intents: &[&str],
        lat: &[f64],
    ) -> KpiRow {
        KpiRow {
            outcome,
            handoff_reason: reason.map(Into::into),
            duration_s: dur,
            hour,
            intents: intents.iter().map(|s| s.to_string()).collect(),
            first_audio_ms: lat.to_vec(),
            qa_score: None,
            qa_flags: Vec::new(),
            faqs: Vec::new(),
            csat: None,
        }
    }

    #[test]
    fn rates_handle_time_hours_and_intents() {
        let rows = vec![
            row(
                Outcome::Contained,
                None,
                60.0,
                9,
                &["track", "track"],
                &[500.0, 700.0],
            ),
            row(Outcome::Contained, None, 40.0, 9, &["hours"], &[600.0]),
            row(
                Outcome::Transferred,
                Some("caller_asked"),
                30.0,
                10,
                &["agent"],
                &[],
            ),
            row(
                Outcome::Transferred,
                Some("no_match"),
                20.0,
                23,
                &["track"],
                &[900.0],
            ),
            row(Outcome::Abandoned, None, 0.0, 23, &[], &[]),
        ];
        let k = Kpis::compute(&rows);
        assert_eq!(k.calls, 5);
        assert!((k.containment_rate - 0.4).abs() < 1e-9);
        assert!((k.transfer_rate - 0.4).abs() < 1e-9);
        assert!((k.abandonment_rate - 0.2).abs() < 1e-9);
        assert_eq!(k.failure_rate, 0.0);
        assert_eq!(k.transfer_rate_by_reason["caller_asked"], 0.2);
        assert_eq!(k.transfer_rate_by_reason["no_match"], 0.2);
        // The abandoned call with duration 0 is not averaged in.
        assert_eq!(k.average_handle_time_s, Some(37.5));
        assert_eq!(k.turns_measured, 4);
        assert_eq!(k.latency_p50_ms, Some(600.0));
        assert_eq!(k.latency_p95_ms, Some(900.0));
        assert_eq!(k.calls_by_hour[9], 2);
        assert_eq!(k.calls_by_hour[23], 2);
        assert_eq!(k.calls_by_hour.iter().sum::<usize>(), 5);
        // "track" twice in one call counts once for that call.
        assert_eq!(k.top_intents[0], ("track".to_string(), 2));
        assert_eq!(k.top_intents.len(), 3);
    }

    #[test]
    fn csat_qa_and_faqs() {
        let mut rows: Vec<KpiRow> = (0..4)
            .map(|_| row(Outcome::Contained, None, 10.0, 9, &[], &[]))
            .collect();
        rows[0].csat = Some(5);
        rows[1].csat = Some(2);
        rows[0].qa_score = Some(100);
        rows[1].qa_score = Some(70);
        rows[2].qa_score = Some(40);
        rows[1].qa_flags = vec!["dead_air".into()];
        rows[2].qa_flags = vec!["dead_air".into(), "slow_turn".into()];
        rows[0].faqs = vec!["prices".into(), "prices".into()];
        rows[3].faqs = vec!["customs".into(), "prices".into()];
        let k = Kpis::compute(&rows);
        // Calls without a rating are not counted as low ratings.
        assert_eq!((k.csat, k.csat_responses), (Some(3.5), 2));
        assert_eq!((k.qa_average_score, k.qa_scored), (Some(70.0), 3));
        assert_eq!(
            k.qa_flags,
            vec![("dead_air".to_string(), 2), ("slow_turn".to_string(), 1)]
        );
        assert_eq!(k.top_faqs[0], ("prices".to_string(), 2));
    }

    #[test]
    fn no_calls_gives_zero_rates_and_no_latency() {
        let k = Kpis::compute::<KpiRow>(&[]);
        assert_eq!(k.calls, 0);
        assert_eq!(k.containment_rate, 0.0);
        assert_eq!(k.average_handle_time_s, None);
        assert_eq!(k.latency_p95_ms, None);
        assert!(k.top_intents.is_empty());
        assert_eq!((k.csat, k.qa_average_score), (None, None));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
