//! What a replay reports: the call turn by turn and as a whole, built from the dialog's
//! typed turn log and what the shell measured.

use std::collections::BTreeMap;

use ivr_dialog::{Outcome, Said, TurnInput};
use serde::Serialize;

use super::fixture::CallerMedia;
use super::shell::{Cost, Shell};
use crate::call::TranscriptLine;
use crate::call::core::CallCore;
use crate::records::CallRecord;

/// One turn: the caller's input and the bot's answer. Turn 0 is the greeting.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub turn: usize,
    /// Virtual time of the caller's input (seconds from the answer).
    pub at_s: f64,
    pub input: InputKind,
    /// What the caller said (ASR), the keys pressed (`#123`), or "" (no input, start).
    pub transcript: String,
    /// The dialog's current intent after the turn.
    pub intent: Option<String>,
    pub intent_confidence: Option<f32>,
    pub slots: BTreeMap<String, String>,
    pub node: String,
    /// What the bot said in reply, prompt by prompt.
    pub say: Vec<String>,
    /// The caller's input cut the bot's previous prompt short.
    pub barged_in: bool,
    /// A prompt of this turn was cut short by the caller.
    pub interrupted: bool,
    /// Measured compute: recognitions (speculative ones included) and live synthesis.
    pub asr_ms: f64,
    pub asr_runs: u32,
    pub tts_ms: f64,
    pub compute_ms: f64,
    /// Virtual time from the end of the caller's speech to the first bot audio frame.
    pub response_ms: Option<f64>,
    /// The reply's first prompt came from the prompt cache.
    pub cached: Option<bool>,
}

/// What the caller gave in a replay turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Turn 0: the greeting, before any input.
    Start,
    Speech,
    Dtmf,
    NoInput,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Speech => "speech",
            Self::Dtmf => "dtmf",
            Self::NoInput => "no_input",
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The call as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummaryReport {
    /// The replayed flow's language.
    pub language: ivr_dialog::Language,
    pub outcome: Outcome,
    pub slots: BTreeMap<String, String>,
    pub intents: Vec<String>,
    pub handoff_target: Option<String>,
    pub handoff_reason: Option<String>,
    pub sentiment: f32,
    /// Virtual length of the call (seconds).
    pub duration_s: f64,
    /// How it ended: bot hangup, transfer, caller hangup (fixture over), max duration.
    pub ended_by: String,
    pub caller_turns: usize,
    /// Over the caller turns that needed recognition or synthesis.
    pub compute_ms_p50: Option<f64>,
    pub compute_ms_p95: Option<f64>,
    pub response_ms_p50: Option<f64>,
    /// Wall time the replay took.
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayResult {
    pub fixture: String,
    pub input: String,
    pub turns: Vec<TurnReport>,
    pub summary: CallSummaryReport,
    #[serde(skip)]
    pub bot_audio: Vec<i16>,
    #[serde(skip)]
    pub transcript_lines: Vec<TranscriptLine>,
    #[serde(skip)]
    pub record: Option<CallRecord>,
}

/// Percentile (nearest rank) of unsorted values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

/// Splits the dialog's turn log into caller turns and fills each with the state,
/// compute and latency observed while it was current.
pub(super) fn build_result(
    core: &CallCore,
    shell: &Shell<'_>,
    fixture: &str,
    media: &CallerMedia,
    duration_s: f64,
) -> ReplayResult {
    let summary = core.dialog().summary();
    let dturns = &summary.turns;
    // Replay turn k covers dialog turns [starts[k], starts[k+1]): a caller input (keys
    // pressed one after the other count as one) and everything the bot said after it.
    let mut starts = vec![0usize];
    let mut bot_since = true;
    for (i, t) in dturns.iter().enumerate() {
        match t.said {
            Said::Bot { .. } => bot_since = true,
            Said::Caller(_) => {
                if bot_since {
                    starts.push(i);
                }
                bot_since = false;
            }
        }
    }
    starts.dedup();
    let turn_of = |dialog_index: usize| -> usize {
        starts.iter().rposition(|&s| s <= dialog_index).unwrap_or(0)
    };
    let mut turns = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(dturns.len());
        let slice = &dturns[start.min(end)..end];
        let mut input = if k == 0 {
            InputKind::Start
        } else {
            InputKind::Speech
        };
        let mut words = Vec::new();
        let mut digits = String::new();
        let mut keyed = Vec::new();
        let mut say = Vec::new();
        let mut interrupted = false;
        for t in slice {
            match &t.said {
                Said::Caller(TurnInput::Digits { keys, means }) => {
                    input = InputKind::Dtmf;
                    match means {
                        None => digits.push_str(keys),
                        Some(word) => keyed.push(format!("({word})")),
                    }
                }
                Said::Caller(TurnInput::NoInput) => input = InputKind::NoInput,
                Said::Caller(TurnInput::Speech { text }) => words.push(text.clone()),
                Said::Bot { text } => {
                    interrupted |= t.interrupted_at_ms.is_some();
                    say.push(text.clone());
                }
            }
        }
        let mut transcript = words.join(" ");
        if !digits.is_empty() || !keyed.is_empty() {
            let keys = std::iter::once(format!("#{digits}"))
                .filter(|s| s.len() > 1)
                .chain(keyed)
                .collect::<Vec<_>>()
                .join(" ");
            transcript = if transcript.is_empty() {
                keys
            } else {
                format!("{transcript} {keys}")
            };
        }
        // State when the turn ended: the last snapshot taken before the next caller
        // input was logged.
        let state = shell
            .snapshots
            .iter()
            .rev()
            .find(|s| s.dialog_turns <= end)
            .or(shell.snapshots.first());
        let (mut asr_ms, mut asr_runs, mut tts_ms) = (0.0, 0u32, 0.0);
        for (at, c) in &shell.costs {
            match c {
                // A recognition ran just before the caller turn it produced was logged.
                Cost::Asr(ms) if turn_of(*at) == k => {
                    asr_ms += ms;
                    asr_runs += 1;
                }
                // A synthesis ran just after the bot turn it speaks was logged.
                Cost::Tts(ms) if turn_of(at.saturating_sub(1)) == k => tts_ms += ms,
                _ => {}
            }
        }
        let lat = shell
            .latencies
            .iter()
            .find(|(at, _)| turn_of(at.saturating_sub(1)) == k && k > 0);
        let at_s = slice
            .iter()
            .find(|t| matches!(t.said, Said::Caller(_)))
            .map_or(0.0, |t| t.offset_ms as f64 / 1000.0);
        let prev_interrupted = k > 0 && turns.last().is_some_and(|p: &TurnReport| p.interrupted);
        turns.push(TurnReport {
            turn: k,
            at_s,
            input,
            transcript,
            intent: state.and_then(|s| s.intent.as_ref().map(|i| i.0.clone())),
            intent_confidence: state.and_then(|s| s.intent.as_ref().map(|i| i.1)),
            slots: state.map(|s| s.slots.clone()).unwrap_or_default(),
            node: state.map(|s| s.node.clone()).unwrap_or_default(),
            say,
            barged_in: prev_interrupted,
            interrupted,
            asr_ms,
            asr_runs,
            tts_ms,
            compute_ms: asr_ms + tts_ms,
            response_ms: lat.and_then(|(_, l)| l.first_audio_ms),
            cached: lat.map(|(_, l)| l.cached),
        });
    }
    let compute: Vec<f64> = turns
        .iter()
        // Turns that needed no recognition or synthesis (no input, keys with a cached
        // reply) would only pull the percentiles down.
        .filter(|t| t.turn > 0 && t.compute_ms > 0.0)
        .map(|t| t.compute_ms)
        .collect();
    let response: Vec<f64> = turns.iter().filter_map(|t| t.response_ms).collect();
    let outcome = summary.outcome.unwrap_or(Outcome::Abandoned);
    let mut intents: Vec<String> = Vec::new();
    for i in &summary.intents {
        if !intents.contains(&i.intent) {
            intents.push(i.intent.clone());
        }
    }
    ReplayResult {
        fixture: fixture.to_string(),
        input: media.description.clone(),
        summary: CallSummaryReport {
            language: shell.language,
            outcome,
            slots: summary.slots.clone(),
            intents,
            handoff_target: shell.handoff_target.clone(),
            handoff_reason: summary.handoff_reason.clone(),
            sentiment: summary.sentiment,
            duration_s,
            ended_by: shell.ended_by.clone().unwrap_or_default(),
            caller_turns: turns.len().saturating_sub(1),
            compute_ms_p50: percentile(&compute, 50.0),
            compute_ms_p95: percentile(&compute, 95.0),
            response_ms_p50: percentile(&response, 50.0),
            wall_s: 0.0,
        },
        turns,
        bot_audio: Vec::new(),
        transcript_lines: Vec::new(),
        record: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 95.0), Some(4.0));
        assert_eq!(percentile(&[5.0], 0.0), Some(5.0));
    }
}
