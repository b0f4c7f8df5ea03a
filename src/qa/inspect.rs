//! Scoring one call against the rules: pure, from its record and transcript lines.

use serde::{Deserialize, Serialize};

use super::rules::{Check, QaRules, Rule, Severity};
use crate::records::{CallRecord, Outcome, TranscriptLine};
use ivr_dialog::{MissKind, Pending, Speaker};

/// Hand-off reasons that mean understanding failed (the dialog's own words).
const NO_MATCH_HANDOFFS: [&str; 2] = ["repeated no match", "caller stuck in a loop"];

/// A call's quality inspection: 100 minus the weights of the rules it broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub score: u32,
    /// The rule set's version (`QaRules::version`).
    pub rules: String,
    pub flags: Vec<Flag>,
}

/// One rule a call broke, with what was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub rule: String,
    pub severity: Severity,
    pub weight: u32,
    pub detail: String,
    /// Seconds from the answer where it happened, when one moment is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
}

impl Scorecard {
    #[cfg(test)]
    pub fn flagged(&self, rule: &str) -> bool {
        self.flags.iter().any(|f| f.rule == rule)
    }
}

impl QaRules {
    /// Score one call. `lines` is its transcript (empty if it has none).
    pub fn inspect(&self, r: &CallRecord, lines: &[TranscriptLine]) -> Scorecard {
        let flags: Vec<Flag> = self
            .rules
            .iter()
            .filter_map(|rule| {
                check(&rule.check, r, lines).map(|(detail, at_s)| flag(rule, detail, at_s))
            })
            .collect();
        let lost: u32 = flags.iter().map(|f| f.weight).sum();
        Scorecard {
            score: 100u32.saturating_sub(lost),
            rules: self.version.clone(),
            flags,
        }
    }
}

fn flag(rule: &Rule, detail: String, at_s: Option<f64>) -> Flag {
    Flag {
        rule: rule.id.clone(),
        severity: rule.severity,
        weight: rule.weight,
        detail,
        at_s,
    }
}

/// What was seen, and when, if the check hits.
type Hit = Option<(String, Option<f64>)>;

fn check(c: &Check, r: &CallRecord, lines: &[TranscriptLine]) -> Hit {
    match c {
        Check::CallerRepeated {
            similarity,
            min_chars,
        } => caller_repeated(lines, *similarity, *min_chars),
        Check::NoMatchStreak { min } => no_match_streak(r, *min),
        Check::DeadAir { max_silence_s } => dead_air(lines, *max_silence_s),
        Check::TalkOver { min_overlap_s } => talk_over(lines, *min_overlap_s),
        Check::BargeIns { min } => {
            let n = lines.iter().filter(|l| l.interrupted).count();
            (n >= *min).then(|| (format!("the caller interrupted the bot {n} times"), None))
        }
        Check::NegativeEnd { below } => (!lines.is_empty() && r.sentiment < *below)
            .then(|| (format!("sentiment {:.2} at the end", r.sentiment), None)),
        Check::TransferAfterNoMatch => {
            let reason = r.handoff_reason.as_deref().unwrap_or("");
            (r.outcome == Outcome::Transferred && NO_MATCH_HANDOFFS.contains(&reason))
                .then(|| (format!("transferred: {reason}"), None))
        }
        Check::AbandonedInLookup => (r.outcome == Outcome::Abandoned
            && r.ended_during == Some(Pending::Lookup))
        .then(|| {
            let at = r.path.last().map_or(String::new(), |n| format!(" at {n}"));
            (format!("hung up during a lookup{at}"), None)
        }),
        Check::SlowTurn { max_ms } => slow_turn(r, *max_ms),
        Check::ForbiddenPhrase { phrases, speaker } => lines
            .iter()
            .filter(|l| speaker.is_none_or(|s| l.speaker == s))
            .find_map(|l| {
                let text = normalize(&l.text);
                phrases
                    .iter()
                    .map(|p| normalize(p))
                    .find(|p| !p.is_empty() && text.contains(p.as_str()))
                    .map(|p| (format!("{} said \"{p}\"", who(l.speaker)), Some(l.start)))
            }),
        Check::RequiredPhrase {
            phrases,
            speaker,
            within_s,
        } => {
            let speaker = speaker.unwrap_or(Speaker::Bot);
            let said = lines
                .iter()
                .filter(|l| l.speaker == speaker && within_s.is_none_or(|w| l.start <= w))
                .any(|l| {
                    let text = normalize(&l.text);
                    phrases
                        .iter()
                        .map(|p| normalize(p))
                        .any(|p| !p.is_empty() && text.contains(p.as_str()))
                });
            let window = within_s.map_or(String::new(), |w| format!(" in the first {w:.0} s"));
            (!lines.is_empty() && !said).then(|| {
                (
                    format!(
                        "{} never said \"{}\"{window}",
                        who(speaker),
                        phrases.join("\" / \"")
                    ),
                    None,
                )
            })
        }
    }
}

fn who(s: Speaker) -> &'static str {
    match s {
        Speaker::Bot => "the bot",
        Speaker::Caller => "the caller",
    }
}

/// Lower case, letters and digits (any script) with single spaces between words.
fn normalize(text: &str) -> String {
    let kept: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .flat_map(char::to_lowercase)
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn caller_repeated(lines: &[TranscriptLine], similarity: f64, min_chars: usize) -> Hit {
    let caller: Vec<(&TranscriptLine, String)> = lines
        .iter()
        .filter(|l| l.speaker == Speaker::Caller)
        .map(|l| (l, normalize(&l.text)))
        .collect();
    caller.windows(2).find_map(|w| {
        let ((_, a), (second, b)) = (&w[0], &w[1]);
        let long_enough = a.chars().count() >= min_chars && b.chars().count() >= min_chars;
        (long_enough && strsim::normalized_levenshtein(a, b) >= similarity).then(|| {
            (
                format!("the caller repeated \"{}\"", second.text),
                Some(second.start),
            )
        })
    })
}

fn no_match_streak(r: &CallRecord, min: usize) -> Hit {
    // The dialog counts no-matches per prompt: a streak is consecutive misses at one node.
    let mut best: Option<(usize, &str)> = None;
    let mut run = 0;
    let mut node = "";
    for m in &r.nlu_misses {
        if m.result == MissKind::NoMatch && (run == 0 || m.node == node) {
            run += 1;
        } else if m.result == MissKind::NoMatch {
            run = 1;
        } else {
            run = 0;
        }
        node = &m.node;
        if run >= min && best.is_none_or(|(n, _)| run > n) {
            best = Some((run, node));
        }
    }
    best.map(|(n, node)| (format!("{n} no-matches in a row at {node}"), None))
}

fn dead_air(lines: &[TranscriptLine], max_silence_s: f64) -> Hit {
    let mut spans: Vec<(f64, f64)> = lines.iter().map(|l| (l.start, l.end)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut heard_until = match spans.first() {
        Some(&(_, end)) => end,
        None => return None,
    };
    let mut worst: Option<(f64, f64)> = None;
    for &(start, end) in &spans[1..] {
        let gap = start - heard_until;
        if gap > max_silence_s && worst.is_none_or(|(g, _)| gap > g) {
            worst = Some((gap, heard_until));
        }
        heard_until = heard_until.max(end);
    }
    worst.map(|(gap, at)| (format!("{gap:.1} s with nobody speaking"), Some(at)))
}

fn talk_over(lines: &[TranscriptLine], min_overlap_s: f64) -> Hit {
    let caller = lines.iter().filter(|l| l.speaker == Speaker::Caller);
    for c in caller {
        let over = lines.iter().find(|b| {
            b.speaker == Speaker::Bot
                && b.start > c.start
                && b.start < c.end
                && b.end.min(c.end) - b.start >= min_overlap_s
        });
        if let Some(b) = over {
            let secs = b.end.min(c.end) - b.start;
            return Some((
                format!("the bot spoke over the caller for {secs:.1} s"),
                Some(b.start),
            ));
        }
    }
    None
}

fn slow_turn(r: &CallRecord, max_ms: f64) -> Hit {
    let slow: Vec<_> = r
        .turns
        .iter()
        .filter_map(|t| {
            t.first_audio_ms
                .filter(|&ms| ms > max_ms)
                .map(|ms| (t.turn, ms))
        })
        .collect();
    let (turn, worst) = slow.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((
        format!(
            "{} slow turn(s); worst: turn {turn}, {worst:.0} ms to first audio",
            slow.len()
        ),
        None,
    ))
}
