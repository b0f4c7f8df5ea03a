//! Expectation files (TOML beside a fixture) and the check of a replayed call against them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use ivr_dialog::{Language, Outcome};
use serde::{Deserialize, Serialize};

use super::report::{InputKind, ReplayResult, TurnReport};

/// How the simulated agent answers a transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferAnswer {
    #[default]
    Ok,
    Busy,
    NoAnswer,
    Rejected,
}

/// An expectation file (TOML) for one fixture.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// What the call is about (shown in reports).
    #[serde(default)]
    pub description: String,
    /// The call's date (YYYY-MM-DD) for relative dates like "tomorrow".
    pub date: Option<String>,
    /// How the simulated agent answers a transfer.
    #[serde(default)]
    pub transfer: TransferAnswer,
    /// Seconds of virtual time the call may go on after the fixture's audio ends.
    pub tail_s: Option<f64>,
    /// The number (Request-URI user) the caller dialled: picks the flow, as `serve`'s
    /// routes do (`kuaidi` is the Mandarin demo).
    pub called: Option<String>,
    /// Final outcome: contained, transferred, abandoned, failed.
    pub outcome: Option<Outcome>,
    /// Transfer target (skill group) when the call is handed over.
    pub handoff_target: Option<String>,
    /// Substring of the handoff reason.
    pub handoff_reason: Option<String>,
    /// Final slots (subset: only these are checked).
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    /// Intents that must have been recognised during the call.
    #[serde(default)]
    pub intents: Vec<String>,
    /// Exact number of caller turns (greeting not counted).
    pub turns: Option<usize>,
    /// Default error rate limit for `transcript`: words, or characters for Mandarin.
    #[serde(alias = "max_wer")]
    pub max_error_rate: Option<f64>,
    /// Per caller turn, in order.
    #[serde(default, rename = "turn")]
    pub turn: Vec<TurnExpect>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnExpect {
    /// Input kind: speech, dtmf, no_input.
    pub input: Option<InputKind>,
    /// What the caller said; matched by error rate after normalisation (word error
    /// rate; character error rate for Mandarin).
    pub transcript: Option<String>,
    #[serde(alias = "max_wer")]
    pub max_error_rate: Option<f64>,
    /// Substrings that must appear in the normalised transcript.
    #[serde(default)]
    pub transcript_contains: Vec<String>,
    /// Intent after the turn ("none" = no intent yet).
    pub intent: Option<String>,
    /// Slots after the turn (subset).
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    /// Dialog node after the turn.
    pub node: Option<String>,
    /// Substrings of what the bot said in reply (normalised).
    #[serde(default)]
    pub say_contains: Vec<String>,
    /// Substrings the reply must not contain.
    #[serde(default)]
    pub say_not_contains: Vec<String>,
    /// The caller cut the bot's previous prompt short (barge-in).
    pub barged_in: Option<bool>,
}

impl Expectations {
    pub fn load(path: &Path) -> Result<Self> {
        let src = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read expectations {}", path.display()))?;
        toml::from_str(&src).map_err(|e| anyhow!("expectations {}: {e}", path.display()))
    }

    pub fn today(&self) -> Result<ivr_dialog::Date> {
        match &self.date {
            Some(d) => ivr_dialog::Date::parse_iso(d)
                .ok_or_else(|| anyhow!("expectations: date {d:?}: want YYYY-MM-DD")),
            None => Ok(ivr_dialog::Date::today_utc()),
        }
    }
}

/// The expectation file beside a fixture (same name, `.toml`), if any.
pub fn expectations_beside(fixture: &Path) -> Option<PathBuf> {
    let p = fixture.with_extension("toml");
    p.is_file().then_some(p)
}

/// How far `hyp` is from what the caller said: the word error rate, or for Mandarin (no
/// spaces between words) the character error rate.
pub fn transcript_error_rate(language: Language, reference: &str, hyp: &str) -> f64 {
    match language {
        Language::En => word_error_rate(reference, hyp),
        Language::Zh => {
            let e = ivr_asr::char_errors(reference, hyp);
            if e.reference_chars == 0 {
                return if ivr_asr::normalize_zh_for_scoring(hyp).is_empty() {
                    0.0
                } else {
                    1.0
                };
            }
            e.errors as f64 / e.reference_chars as f64
        }
    }
}

/// Word error rate of `hyp` against `reference`, both normalised for matching.
pub fn word_error_rate(reference: &str, hyp: &str) -> f64 {
    let r: Vec<String> = ivr_dialog::for_matching(reference)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let h: Vec<String> = ivr_dialog::for_matching(hyp)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    ivr_dialog::word_errors(&r, &h) as f64 / r.len() as f64
}

fn norm(s: &str) -> String {
    ivr_dialog::for_matching(s)
}

/// Checks a replayed call against its expectations; one line per failure.
pub fn check(result: &ReplayResult, exp: &Expectations) -> Vec<String> {
    let mut fails = Vec::new();
    let s = &result.summary;
    if let Some(o) = exp.outcome
        && o != s.outcome
    {
        fails.push(format!(
            "outcome: expected {}, got {}",
            o.as_str(),
            s.outcome.as_str()
        ));
    }
    if let Some(t) = &exp.handoff_target
        && s.handoff_target.as_deref() != Some(t.as_str())
    {
        fails.push(format!(
            "handoff target: expected {t}, got {}",
            s.handoff_target.as_deref().unwrap_or("none")
        ));
    }
    if let Some(r) = &exp.handoff_reason
        && !s
            .handoff_reason
            .as_deref()
            .is_some_and(|x| x.contains(r.as_str()))
    {
        fails.push(format!(
            "handoff reason: expected it to contain {r:?}, got {:?}",
            s.handoff_reason.as_deref().unwrap_or("none")
        ));
    }
    check_slots("final slots", &exp.slots, &s.slots, &mut fails);
    for i in &exp.intents {
        if !s.intents.contains(i) {
            fails.push(format!("intents: expected {i} among {:?}", s.intents));
        }
    }
    let caller_turns: Vec<&TurnReport> = result.turns.iter().filter(|t| t.turn > 0).collect();
    if let Some(n) = exp.turns
        && n != caller_turns.len()
    {
        fails.push(format!(
            "turns: expected {n} caller turns, got {} ({})",
            caller_turns.len(),
            caller_turns
                .iter()
                .map(|t| format!("{:?}", t.transcript))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let default_rate = exp.max_error_rate.unwrap_or(0.5);
    let unit = match s.language {
        Language::En => "WER",
        Language::Zh => "CER",
    };
    for (i, te) in exp.turn.iter().enumerate() {
        let n = i + 1;
        let Some(t) = caller_turns.get(i) else {
            fails.push(format!(
                "turn {n}: expected a caller turn{}, but the call had only {} caller turns",
                te.transcript
                    .as_deref()
                    .map_or(String::new(), |x| format!(" ({x:?})")),
                caller_turns.len()
            ));
            continue;
        };
        let ctx = format!("turn {n} (heard {:?})", t.transcript);
        if let Some(k) = &te.input
            && k != &t.input
        {
            fails.push(format!("{ctx}: input: expected {k}, got {}", t.input));
        }
        if let Some(x) = &te.transcript {
            let rate = transcript_error_rate(s.language, x, &t.transcript);
            let max = te.max_error_rate.unwrap_or(default_rate);
            if rate > max {
                fails.push(format!(
                    "{ctx}: transcript: expected ~{x:?} ({unit} {rate:.2} > {max:.2})"
                ));
            }
        }
        for c in &te.transcript_contains {
            if !norm(&t.transcript).contains(&norm(c)) {
                fails.push(format!("{ctx}: transcript: expected it to contain {c:?}"));
            }
        }
        if let Some(x) = &te.intent {
            let got = t.intent.as_deref().unwrap_or("none");
            if x != got {
                fails.push(format!("{ctx}: intent: expected {x}, got {got}"));
            }
        }
        check_slots(&format!("{ctx}: slots"), &te.slots, &t.slots, &mut fails);
        if let Some(x) = &te.node
            && x != &t.node
        {
            fails.push(format!("{ctx}: node: expected {x}, got {}", t.node));
        }
        let said = norm(&t.say.join(" "));
        for c in &te.say_contains {
            if !said.contains(&norm(c)) {
                fails.push(format!(
                    "{ctx}: bot reply: expected it to contain {c:?}, bot said {:?}",
                    t.say.join(" ")
                ));
            }
        }
        for c in &te.say_not_contains {
            if said.contains(&norm(c)) {
                fails.push(format!(
                    "{ctx}: bot reply: expected it NOT to contain {c:?}, bot said {:?}",
                    t.say.join(" ")
                ));
            }
        }
        if let Some(b) = te.barged_in
            && b != t.barged_in
        {
            fails.push(format!(
                "{ctx}: barged_in: expected {b}, got {}",
                t.barged_in
            ));
        }
    }
    fails
}

fn check_slots(
    what: &str,
    want: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
    fails: &mut Vec<String>,
) {
    for (k, v) in want {
        match got.get(k) {
            Some(g) if g == v => {}
            Some(g) => fails.push(format!("{what}: {k}: expected {v:?}, got {g:?}")),
            None => fails.push(format!("{what}: {k}: expected {v:?}, but it is not set")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate_after_normalisation() {
        assert_eq!(word_error_rate("one two three", "1 2 3"), 0.0);
        assert_eq!(word_error_rate("Yes, please.", "yes please"), 0.0);
        assert!((word_error_rate("track my parcel", "track my powerful") - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("", "noise"), 1.0);
        assert!(word_error_rate("goodbye", "hello there my friend") > 1.0);
    }

    #[test]
    fn mandarin_transcripts_are_scored_by_character() {
        let zh = |r, h| transcript_error_rate(Language::Zh, r, h);
        // Spaces, punctuation and numerals written as digits are not errors.
        assert_eq!(zh("我想查一下我的快递。", "我想查一下 我的快递"), 0.0);
        assert_eq!(zh("一二三四五六七八", "12345678"), 0.0);
        // One wrong character in nine.
        assert!((zh("我想查一下我的快递", "我想查一下我的快地") - 1.0 / 9.0).abs() < 1e-9);
        assert_eq!(zh("", ""), 0.0);
        assert_eq!(zh("", "谢谢"), 1.0);
        // English stays by word.
        assert_eq!(
            transcript_error_rate(Language::En, "track it", "track"),
            0.5
        );
    }

    #[test]
    fn old_and_new_names_of_the_error_limit_are_read() {
        let old: Expectations = toml::from_str("max_wer = 0.3\n[[turn]]\nmax_wer = 0.2\n").unwrap();
        assert_eq!(old.max_error_rate, Some(0.3));
        assert_eq!(old.turn[0].max_error_rate, Some(0.2));
        let new: Expectations =
            toml::from_str("called = \"kuaidi\"\nmax_error_rate = 0.1\n").unwrap();
        assert_eq!(new.called.as_deref(), Some("kuaidi"));
        assert_eq!(new.max_error_rate, Some(0.1));
    }

    #[test]
    fn expectation_files_reject_unknown_keys() {
        let ok: Expectations = toml::from_str(
            "outcome = \"contained\"\n[[turn]]\nintent = \"x\"\nsay_contains = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(ok.turn.len(), 1);
        assert!(toml::from_str::<Expectations>("outcome = \"x\"\ntypo = 1\n").is_err());
        assert!(toml::from_str::<Expectations>("[[turn]]\nintnet = \"x\"\n").is_err());
        let bad_date: Expectations = toml::from_str("date = \"tomorrow\"\n").unwrap();
        assert!(bad_date.today().is_err());
    }
}
