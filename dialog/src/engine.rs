//! The dialog state machine: `Dialog::handle(event, now) -> Vec<Action>`.
//!
//! Pure: no I/O, no clock reads. Time comes in as `now`. The dialog owns its timers, one
//! slot per kind (as quinn-proto's `TimerTable`): the call loop asks `poll_timeout()` when
//! to wake it and calls `handle_timeout(now)` then. Lookups and transfers go out as
//! actions and come back as result events. Actions in one returned
//! batch are ordered: the call loop plays `Say`s in order and performs `Transfer` /
//! `Hangup` only after the preceding `Say`s have finished playing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Language;
use crate::flow::{Flow, Node, NodeId, NodeKind, Outcome, Reading, is_global, placeholders};
use crate::intent::{Decision, IntentScore, Utterance};
use crate::sentiment::RunningSentiment;
use crate::slots::{Date, SlotKind};

/// Result of an integration lookup, sent back by the call loop.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupResult {
    /// The integration's JSON answer (must be an object; anything else is junk).
    Ok(Value),
    Error(String),
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferFailure {
    Busy,
    NoAnswer,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferResult {
    Ok,
    Failed(TransferFailure),
}

/// What happened on the call, sent by the call loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The VAD heard the caller start speaking (cancels the no-input timer).
    SpeechStarted,
    /// A final transcript with the ASR's confidence (0..1) and, when the flow matches by
    /// meaning too, the transcript's sentence embedding (see `Flow::semantic_examples`).
    Speech {
        text: String,
        confidence: f32,
        embedding: Option<Arc<[f32]>>,
    },
    /// One DTMF key: `0`-`9`, `*`, `#`.
    Digit(char),
    /// The loop's own no-input detection (alternative to the engine's timer).
    NoInput,
    /// The caller barged in: the current prompt was cut at this offset.
    BargeIn {
        offset_ms: u64,
    },
    /// All queued prompts have finished playing (starts the no-input timer).
    PromptFinished,
    LookupResult {
        request: u64,
        result: LookupResult,
    },
    TransferResult(TransferResult),
    /// The caller hung up.
    Hangup,
}

/// What kind of answer the bot is listening for. The ASR endpointer adapts its trailing
/// silence to it (short for yes/no and complete digit strings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Expect {
    YesNo,
    Digits {
        min: usize,
        max: usize,
    },
    Date,
    Time,
    Amount,
    Choice {
        options: Vec<String>,
    },
    FreeText,
    /// Open question routed by intent (menu).
    Intent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    pub expect: Expect,
    /// What the ASR may bias towards, written to work as Whisper's initial prompt (joined
    /// with ", " if there are several; the engine gives one phrase): "track my parcel,
    /// reschedule my delivery, report damage, opening hours, agent." for a menu, "Tracking
    /// number: 4 0 7 1 9 3 5 2." for a digit slot, "Yes or no." for a question. Short: prompt
    /// tokens cost decode time.
    pub hints: Vec<String>,
    /// Most DTMF keys that make a complete answer (0 = keypad not used except 0 and *).
    pub dtmf_max_digits: usize,
}

/// Context handed to the human agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffContext {
    pub intent: Option<String>,
    pub slots: BTreeMap<String, String>,
    pub transcript: Vec<Turn>,
    pub sentiment: f32,
    pub reason: String,
}

/// What the call loop must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Speak. `cacheable`: a fixed prompt from the flow (TTS cache key = text).
    Say {
        text: String,
        barge_in: bool,
        cacheable: bool,
    },
    /// Open the ears for an answer of this kind.
    Listen(Expectation),
    /// Run an integration off the state machine; answer with `Event::LookupResult`.
    Lookup {
        request: u64,
        integration: String,
        params: serde_json::Map<String, Value>,
    },
    /// Hand the call to a human (skill group name or SIP URI); answer with
    /// `Event::TransferResult`.
    Transfer {
        target: String,
        reason: String,
        context: HandoffContext,
    },
    Hangup {
        outcome: Outcome,
    },
    /// Relative TTS speaking rate (1.0 normal, < 1 slower).
    SetSpeakingRate {
        rate: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Bot,
    Caller,
}

/// What the caller gave in one turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "input")]
pub enum TurnInput {
    /// Recognised speech (a typed line in `chat`).
    Speech { text: String },
    /// One keypad key. `means`: the answer it stands for where the node maps keys to
    /// words (1 = "yes" on a confirmation); the dialog then routes that word.
    Digits { keys: String, means: Option<String> },
    /// The no-input timer ran out.
    NoInput,
}

/// Who said what in one turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "speaker")]
pub enum Said {
    Bot { text: String },
    Caller(TurnInput),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    #[serde(flatten)]
    pub said: Said,
    /// Since the call started.
    pub offset_ms: u64,
    /// Bot turns cut by barge-in: how much had been played.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_at_ms: Option<u64>,
    /// Caller turns: sentiment of this turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<f32>,
}

impl Turn {
    pub fn speaker(&self) -> Speaker {
        match self.said {
            Said::Bot { .. } => Speaker::Bot,
            Said::Caller(_) => Speaker::Caller,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentHit {
    pub intent: String,
    pub confidence: f32,
    pub offset_ms: u64,
}

/// Everything the call record needs; available at any time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    pub flow: String,
    pub node: String,
    pub intents: Vec<IntentHit>,
    /// Knowledge-base answers, in order.
    pub faqs: Vec<FaqHit>,
    /// Caller turns understanding could not act on (no match, out of scope, clarify).
    pub misses: Vec<NluMiss>,
    pub slots: BTreeMap<String, String>,
    /// `None` while the call is going on.
    pub outcome: Option<Outcome>,
    pub handoff_reason: Option<String>,
    pub sentiment: f32,
    pub turns: Vec<Turn>,
    pub speaking_rate: f32,
    /// Nodes entered, in order (a node re-entered right away counted once): the funnel.
    pub path: Vec<String>,
    /// What the bot was doing when the call ended, if it was not listening.
    pub ended_during: Option<Pending>,
    /// The caller's answer to the flow's survey (1-5), if they gave one.
    pub csat: Option<u8>,
}

/// Work the bot had in flight: a caller who hangs up during it left while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    Lookup,
    Transfer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    NoInput,
    InterDigit,
    LookupGuard,
}

impl TimerKind {
    const ALL: [TimerKind; 3] = [Self::NoInput, Self::InterDigit, Self::LookupGuard];
}

/// One deadline per timer kind: starting a timer replaces its earlier deadline, so there
/// are no ids to hand out and no stale expiries to filter.
#[derive(Debug, Clone, Copy, Default)]
struct TimerTable([Option<Instant>; TimerKind::ALL.len()]);

impl TimerTable {
    fn set(&mut self, kind: TimerKind, at: Instant) {
        self.0[kind as usize] = Some(at);
    }

    fn stop(&mut self, kind: TimerKind) {
        self.0[kind as usize] = None;
    }

    fn is_set(&self, kind: TimerKind) -> bool {
        self.0[kind as usize].is_some()
    }

    fn clear(&mut self) {
        self.0 = Default::default();
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, taken out of the table.
    fn take_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .filter(|k| self.0[*k as usize].is_some_and(|at| at <= now))
            .min_by_key(|k| self.0[*k as usize])?;
        self.stop(kind);
        Some(kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Wait {
    Listen,
    Lookup { request: u64 },
    Transfer,
    Ended,
}

/// Loop guards: no caller is ever stuck.
const MAX_AUTO_STEPS: usize = 64;
const MAX_NODE_VISITS: u32 = 6;
const MAX_TOTAL_NO_MATCH: u32 = 6;
const GLOBAL_IN_SLOT_THRESHOLD: f32 = 0.8;
/// A different request while asking for a slot switches without asking only from here.
const TOPIC_SWITCH_THRESHOLD: f32 = 0.75;

/// A clarify question waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
enum Clarifying {
    /// "Do you want to track a parcel?" about what the caller said first.
    Intent {
        intent: String,
        score: f32,
        original: String,
    },
    /// "Do you mean: how much does shipping cost?"
    Faq { id: String, score: f32 },
}

/// What understanding made of one caller turn that it could not act on: the learning
/// loop's input (`ivr nlu-misses`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NluMiss {
    pub text: String,
    pub result: MissKind,
    /// The node that was listening.
    pub node: String,
    pub offset_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissKind {
    NoMatch,
    /// Recognised as a request the flow does not serve.
    OutOfScope,
    Clarify,
}

/// A knowledge-base answer given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqHit {
    pub faq: String,
    pub confidence: f32,
    pub offset_ms: u64,
}

/// One call's dialog. `Clone` so the call loop can probe a speculative transcript
/// (`would_accept`) without touching the real state.
#[derive(Clone)]
pub struct Dialog {
    flow: Arc<Flow>,
    today: Date,
    start: Instant,
    node: NodeId,
    wait: Wait,
    slots: BTreeMap<String, String>,
    intent: Option<(String, f32)>,
    intents: Vec<IntentHit>,
    clarify: Option<Clarifying>,
    faqs: Vec<FaqHit>,
    misses: Vec<NluMiss>,
    no_input: u32,
    no_match: u32,
    total_no_match: u32,
    visits: BTreeMap<NodeId, u32>,
    history: Vec<NodeId>,
    path: Vec<NodeId>,
    /// Set when the call ends during a lookup or transfer.
    ended_during: Option<Pending>,
    last_says: Vec<Action>,
    dtmf: String,
    timers: TimerTable,
    next_request: u64,
    rate: f32,
    sentiment: RunningSentiment,
    turns: Vec<Turn>,
    outcome: Option<Outcome>,
    handoff_reason: Option<String>,
    completed: bool,
    started: bool,
}

impl Dialog {
    /// A new call. `today` is the call's date (for "tomorrow"); `now` the call's start.
    pub fn new(flow: Arc<Flow>, today: Date, now: Instant) -> Dialog {
        let start_node = flow.settings.start;
        Dialog {
            flow,
            today,
            start: now,
            node: start_node,
            wait: Wait::Listen,
            slots: BTreeMap::new(),
            intent: None,
            intents: Vec::new(),
            clarify: None,
            faqs: Vec::new(),
            misses: Vec::new(),
            no_input: 0,
            no_match: 0,
            total_no_match: 0,
            visits: BTreeMap::new(),
            history: Vec::new(),
            path: Vec::new(),
            ended_during: None,
            last_says: Vec::new(),
            dtmf: String::new(),
            timers: TimerTable::default(),
            next_request: 1,
            rate: 1.0,
            sentiment: RunningSentiment::default(),
            turns: Vec::new(),
            outcome: None,
            handoff_reason: None,
            completed: false,
            started: false,
        }
    }

    /// Answer the call: the greeting. Call once, first.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let start = self.flow.settings.start;
            self.enter(start, now, &mut out);
        }
        out
    }

    /// Would `text` be understood as the answer to the current question (no "sorry, I
    /// didn't get that", no clarifying question)? Asked with a speculative transcript
    /// while the caller pauses: if yes, the call loop ends the turn on a short silence
    /// instead of the full trailing silence. Pure: runs the turn on a copy.
    pub fn would_accept(
        &self,
        text: &str,
        confidence: f32,
        embedding: Option<Arc<[f32]>>,
        now: Instant,
    ) -> bool {
        if self.wait != Wait::Listen || text.trim().is_empty() {
            return false;
        }
        let mut probe = self.clone();
        probe.handle(
            Event::Speech {
                text: text.to_owned(),
                confidence,
                embedding,
            },
            now,
        );
        probe.total_no_match == self.total_no_match && probe.clarify.is_none()
    }

    pub fn is_ended(&self) -> bool {
        self.wait == Wait::Ended
    }

    pub fn current_node(&self) -> &str {
        &self.flow.nodes[self.node].name
    }

    /// Knowledge-base answers given so far.
    pub fn faqs_answered(&self) -> &[FaqHit] {
        &self.faqs
    }

    /// The last recognised intent and its confidence.
    pub fn current_intent(&self) -> Option<(&str, f32)> {
        self.intent.as_ref().map(|(i, c)| (i.as_str(), *c))
    }

    pub fn slots(&self) -> &BTreeMap<String, String> {
        &self.slots
    }

    pub fn sentiment(&self) -> f32 {
        self.sentiment.value
    }

    pub fn summary(&self) -> CallSummary {
        CallSummary {
            flow: self.flow.name.clone(),
            node: self.current_node().to_string(),
            intents: self.intents.clone(),
            faqs: self.faqs.clone(),
            misses: self.misses.clone(),
            slots: self.slots.clone(),
            outcome: self.outcome,
            handoff_reason: self.handoff_reason.clone(),
            sentiment: self.sentiment.value,
            turns: self.turns.clone(),
            speaking_rate: self.rate,
            path: self
                .path
                .iter()
                .map(|&id| self.flow.nodes[id].name.clone())
                .collect(),
            ended_during: self.ended_during,
            csat: self.flow.settings.survey.as_ref().and_then(|(_, slot)| {
                self.slots
                    .get(slot)
                    .and_then(|v| v.trim().parse::<u8>().ok())
                    .filter(|r| (1..=5).contains(r))
            }),
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Feed one event; get the actions to perform, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.started {
            out.extend(self.start(now));
        }
        if self.wait == Wait::Ended {
            return out;
        }
        match event {
            Event::Hangup => {
                self.cancel_all_timers();
                self.ended_during = match self.wait {
                    Wait::Lookup { .. } => Some(Pending::Lookup),
                    Wait::Transfer => Some(Pending::Transfer),
                    Wait::Listen | Wait::Ended => None,
                };
                if self.outcome.is_none() || self.wait != Wait::Transfer {
                    self.outcome = Some(if self.completed {
                        Outcome::Contained
                    } else {
                        Outcome::Abandoned
                    });
                }
                self.wait = Wait::Ended;
            }
            Event::PromptFinished => {
                if self.wait == Wait::Listen
                    && self.dtmf.is_empty()
                    && !self.has_timer(TimerKind::NoInput)
                {
                    let at = now + Duration::from_millis(self.flow.settings.no_input_timeout_ms);
                    self.start_timer(TimerKind::NoInput, at);
                }
            }
            Event::SpeechStarted => self.cancel_timer(TimerKind::NoInput),
            Event::BargeIn { offset_ms } => {
                self.cancel_timer(TimerKind::NoInput);
                if let Some(t) = self
                    .turns
                    .iter_mut()
                    .rev()
                    .find(|t| t.speaker() == Speaker::Bot)
                {
                    t.interrupted_at_ms = Some(offset_ms);
                }
            }
            Event::NoInput => {
                self.cancel_timer(TimerKind::NoInput);
                if self.wait == Wait::Listen {
                    self.on_no_input(now, &mut out);
                }
            }
            Event::Speech {
                text,
                confidence,
                embedding,
            } => {
                self.cancel_timer(TimerKind::NoInput);
                let utt = Utterance {
                    text: &text,
                    embedding: embedding.as_deref(),
                };
                self.on_speech(&utt, confidence, now, &mut out);
            }
            Event::Digit(c) => {
                self.cancel_timer(TimerKind::NoInput);
                self.on_digit(c, now, &mut out);
            }
            Event::LookupResult { request, result } => {
                self.on_lookup(request, result, now, &mut out);
            }
            Event::TransferResult(r) => {
                if self.wait == Wait::Transfer {
                    match r {
                        TransferResult::Ok => {
                            self.outcome = Some(Outcome::Transferred);
                            self.wait = Wait::Ended;
                        }
                        TransferResult::Failed(why) => {
                            tracing::warn!(?why, "transfer failed");
                            self.outcome = Some(Outcome::Failed);
                            let reason = format!(
                                "{} (transfer failed: {})",
                                self.handoff_reason.clone().unwrap_or_default(),
                                match why {
                                    TransferFailure::Busy => "busy",
                                    TransferFailure::NoAnswer => "no answer",
                                    TransferFailure::Rejected => "rejected",
                                }
                            );
                            self.handoff_reason = Some(reason);
                            self.wait = Wait::Listen;
                            match self.flow.settings.transfer_failed {
                                Some(n) => self.enter(n, now, &mut out),
                                None => {
                                    self.say(
                                        "Sorry, no one is available right now. Goodbye.",
                                        false,
                                        now,
                                        &mut out,
                                    );
                                    out.push(Action::Hangup {
                                        outcome: Outcome::Failed,
                                    });
                                    self.wait = Wait::Ended;
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    // ---- timers ----

    /// When the dialog next needs `handle_timeout` (no-input, inter-digit or lookup
    /// guard timer), if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.wait == Wait::Ended {
            return None;
        }
        self.timers.next()
    }

    /// Fire the timers due at `now`, earliest first; get the actions to perform.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        // Each kind at most once per call: a timer re-armed while firing waits for the
        // next call even if it is already due (a zero timeout in a flow cannot spin).
        for _ in TimerKind::ALL {
            if self.wait == Wait::Ended {
                break;
            }
            let Some(kind) = self.timers.take_expired(now) else {
                break;
            };
            match kind {
                TimerKind::NoInput => self.on_no_input(now, &mut out),
                TimerKind::InterDigit => self.submit_dtmf(now, &mut out),
                TimerKind::LookupGuard => {
                    if let Wait::Lookup { request } = self.wait {
                        self.on_lookup(request, LookupResult::Timeout, now, &mut out);
                    }
                }
            }
        }
        out
    }

    fn has_timer(&self, kind: TimerKind) -> bool {
        self.timers.is_set(kind)
    }

    fn start_timer(&mut self, kind: TimerKind, at: Instant) {
        self.timers.set(kind, at);
    }

    fn cancel_timer(&mut self, kind: TimerKind) {
        self.timers.stop(kind);
    }

    fn cancel_all_timers(&mut self) {
        self.timers.clear();
    }

    // ---- speaking ----

    fn render(&self, text: &str) -> String {
        let mut s = text.to_string();
        for (name, fmt) in placeholders(text) {
            let key = if fmt.is_empty() {
                format!("{{{name}}}")
            } else {
                format!("{{{name}:{fmt}}}")
            };
            let value = self
                .slots
                .get(&name)
                .map(|v| self.flow.language.render(v, &fmt))
                .unwrap_or_default();
            s = s.replace(&key, &value);
        }
        s
    }

    fn say(&mut self, template: &str, barge_in: bool, now: Instant, out: &mut Vec<Action>) {
        let text = self.render(template);
        if text.trim().is_empty() {
            return;
        }
        self.push_bot_turn(&text, now);
        let action = Action::Say {
            text,
            barge_in,
            cacheable: !template.contains('{'),
        };
        self.last_says.push(action.clone());
        out.push(action);
    }

    fn node(&self) -> &Node {
        &self.flow.nodes[self.node]
    }

    fn expectation(&self) -> Expectation {
        let node = self.node();
        // "Yes or no.", not "yes, no": Whisper tiny.en continues a list-shaped prompt, and
        // a plain "yes" came out as "yes, no," (a no) on a telephone-band test clip.
        let yes_no = || vec![self.flow.language.messages().yes_no_hint.to_string()];
        let (expect, hints, dtmf_max_digits) = match &node.kind {
            // A clarify question, in a menu or while asking for a slot.
            _ if self.clarify.is_some() => (Expect::YesNo, yes_no(), 1),
            NodeKind::Ask { slot, .. } => {
                let def = self.flow.slots.get(slot);
                let mut hints = node.hints.clone();
                if let Some(d) = def {
                    for h in &d.hints {
                        if !hints.contains(h) {
                            hints.push(h.clone());
                        }
                    }
                }
                match def.map(|d| &d.kind) {
                    Some(SlotKind::YesNo) => (Expect::YesNo, yes_no(), 1),
                    Some(SlotKind::Digits { min, max }) => (
                        Expect::Digits {
                            min: *min,
                            max: *max,
                        },
                        vec![digits_hint(
                            self.flow.language,
                            hints.first().map_or(slot.as_str(), |h| h),
                            *max,
                        )],
                        *max,
                    ),
                    Some(SlotKind::Date { .. }) => {
                        if hints.is_empty() {
                            hints.push(self.flow.language.messages().date_hint.into());
                        }
                        (Expect::Date, phrase(&hints), 0)
                    }
                    Some(SlotKind::Time) => (Expect::Time, phrase(&hints), 0),
                    Some(SlotKind::Amount) => (Expect::Amount, phrase(&hints), 0),
                    Some(SlotKind::Choice(opts)) => {
                        let options: Vec<String> = opts.iter().map(|(n, _)| n.clone()).collect();
                        if hints.is_empty() {
                            hints = options.clone();
                        }
                        (Expect::Choice { options }, phrase(&hints), 1)
                    }
                    Some(SlotKind::FreeText) | None => (Expect::FreeText, phrase(&hints), 0),
                }
            }
            NodeKind::Confirm { .. } => (Expect::YesNo, yes_no(), 1),
            _ => (Expect::Intent, phrase(&node.hints), 1),
        };
        Expectation {
            expect,
            hints,
            dtmf_max_digits,
        }
    }

    fn listen(&mut self, out: &mut Vec<Action>) {
        self.wait = Wait::Listen;
        self.dtmf.clear();
        out.push(Action::Listen(self.expectation()));
    }

    // ---- node transitions ----

    fn enter(&mut self, mut id: NodeId, now: Instant, out: &mut Vec<Action>) {
        let flow = Arc::clone(&self.flow);
        for _ in 0..MAX_AUTO_STEPS {
            // A served caller is asked for a rating once, on the way to goodbye.
            if let Some((survey, _)) = &flow.settings.survey
                && id == flow.settings.goodbye
                && self.completed
                && !self.visits.contains_key(survey)
            {
                id = *survey;
            }
            let node = &flow.nodes[id];
            let visits = self.visits.entry(id).or_default();
            *visits += 1;
            if *visits > MAX_NODE_VISITS && id != flow.settings.agent && id != flow.settings.goodbye
            {
                tracing::warn!(node = %node.name, "node visited too often, handing off");
                self.handoff_reason = Some("caller stuck in a loop".into());
                id = flow.settings.agent;
                continue;
            }
            self.node = id;
            if self.path.last() != Some(&id) {
                self.path.push(id);
            }
            self.clarify = None;
            self.no_input = 0;
            self.no_match = 0;
            for s in &node.clear {
                self.slots.remove(s);
            }
            if node.completes {
                self.completed = true;
            }
            match &node.kind {
                NodeKind::Say { next } => {
                    if let Some(p) = &node.prompt {
                        self.say(p, node.barge_in, now, out);
                    }
                    id = *next;
                }
                NodeKind::Set { values, next } => {
                    for (k, v) in values {
                        let v = self.render(v);
                        self.slots.insert(k.clone(), v);
                    }
                    id = *next;
                }
                NodeKind::Branch { cases, default } => {
                    id = cases
                        .iter()
                        .find(|(c, _)| c.eval(&self.slots))
                        .map_or(*default, |(_, t)| *t);
                }
                NodeKind::Ask { slot, next } if self.slots.contains_key(slot) => {
                    // Already given (e.g. in the first utterance).
                    id = *next;
                }
                NodeKind::Menu { .. } | NodeKind::Ask { .. } | NodeKind::Confirm { .. } => {
                    if self.history.last() != Some(&id) {
                        self.history.push(id);
                    }
                    self.last_says.clear();
                    if let Some(p) = &node.prompt {
                        self.say(p, node.barge_in, now, out);
                    }
                    self.listen(out);
                    return;
                }
                NodeKind::Lookup {
                    integration,
                    params,
                    ..
                } => {
                    if let Some(p) = &node.prompt {
                        self.say(p, node.barge_in, now, out);
                    }
                    let request = self.next_request;
                    self.next_request += 1;
                    let params = params
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(self.render(v))))
                        .collect();
                    out.push(Action::Lookup {
                        request,
                        integration: integration.clone(),
                        params,
                    });
                    // Guard: the loop should answer (with Timeout if need be); never hang.
                    let at = now + Duration::from_millis(flow.settings.lookup_timeout_ms + 1000);
                    self.start_timer(TimerKind::LookupGuard, at);
                    self.wait = Wait::Lookup { request };
                    return;
                }
                NodeKind::Transfer { target, reason } => {
                    if let Some(p) = &node.prompt {
                        self.say(p, node.barge_in, now, out);
                    }
                    let reason = self
                        .handoff_reason
                        .clone()
                        .unwrap_or_else(|| reason.clone());
                    self.handoff_reason = Some(reason.clone());
                    self.cancel_all_timers();
                    out.push(Action::Transfer {
                        target: target.clone(),
                        reason: reason.clone(),
                        context: HandoffContext {
                            intent: self.intent.as_ref().map(|(i, _)| i.clone()),
                            slots: self.slots.clone(),
                            transcript: self.turns.clone(),
                            sentiment: self.sentiment.value,
                            reason,
                        },
                    });
                    self.outcome = Some(Outcome::Transferred);
                    self.wait = Wait::Transfer;
                    return;
                }
                NodeKind::Hangup { outcome } => {
                    if let Some(p) = &node.prompt {
                        self.say(p, node.barge_in, now, out);
                    }
                    self.cancel_all_timers();
                    let outcome = match (*outcome, self.outcome) {
                        // A failed transfer stays failed.
                        (_, Some(Outcome::Failed)) => Outcome::Failed,
                        (o, _) => o,
                    };
                    out.push(Action::Hangup { outcome });
                    self.outcome = Some(outcome);
                    self.wait = Wait::Ended;
                    return;
                }
            }
        }
        // A flow cycling through say/set/branch nodes: hand off rather than spin.
        tracing::error!("flow loops without listening; handing off");
        self.handoff_reason = Some("flow error".into());
        let agent = flow.settings.agent;
        if self.node != agent {
            self.visits.insert(agent, 0);
            self.enter(agent, now, out);
        }
    }

    fn handoff(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        self.handoff_reason = Some(reason.to_string());
        let agent = self.flow.settings.agent;
        self.enter(agent, now, out);
    }

    /// Record what the bot says in the call's transcript.
    fn push_bot_turn(&mut self, text: &str, now: Instant) {
        self.turns.push(Turn {
            said: Said::Bot {
                text: text.to_string(),
            },
            offset_ms: self.ms(now),
            interrupted_at_ms: None,
            sentiment: None,
        });
    }

    fn repeat(&mut self, out: &mut Vec<Action>, now: Instant) {
        let says = self.last_says.clone();
        for s in says {
            if let Action::Say { text, .. } = &s {
                self.push_bot_turn(text, now);
            }
            out.push(s);
        }
        self.listen(out);
    }

    /// The escalating no-input / no-match message for the current node.
    fn reprompt(&mut self, no_input: bool, count: u32, now: Instant, out: &mut Vec<Action>) {
        let flow = Arc::clone(&self.flow);
        let node = &flow.nodes[self.node];
        let (own, default) = if no_input {
            (&node.no_input, &flow.settings.default_no_input)
        } else {
            (&node.no_match, &flow.settings.default_no_match)
        };
        let i = (count as usize).saturating_sub(1);
        self.last_says.clear();
        if self.clarify.is_some() {
            self.say(
                flow.language.messages().say_yes_or_no,
                node.barge_in,
                now,
                out,
            );
        } else if let Some(m) = own.get(i.min(own.len().saturating_sub(1))) {
            self.say(m, node.barge_in, now, out);
        } else {
            if let Some(m) = default.get(i.min(default.len().saturating_sub(1))) {
                self.say(m, node.barge_in, now, out);
            }
            if let Some(p) = &node.prompt {
                self.say(p, node.barge_in, now, out);
            }
        }
        self.listen(out);
    }

    fn on_no_input(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.wait != Wait::Listen {
            return;
        }
        self.no_input += 1;
        self.turns.push(Turn {
            said: Said::Caller(TurnInput::NoInput),
            offset_ms: self.ms(now),
            interrupted_at_ms: None,
            sentiment: None,
        });
        if let Some(next) = self.node().on_no_input {
            self.enter(next, now, out);
        } else if self.no_input >= self.flow.settings.max_no_input {
            self.handoff("no input", now, out);
        } else {
            let n = self.no_input;
            self.reprompt(true, n, now, out);
        }
    }

    fn on_no_match(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.no_match_with(None, now, out);
    }

    /// A request the flow does not serve: an honest "I can't help with that" and the
    /// offer of an agent, instead of "I didn't understand"; it counts as a no-match.
    fn on_out_of_scope(&mut self, now: Instant, out: &mut Vec<Action>) {
        let message = self.flow.language.messages().out_of_scope;
        self.no_match_with(Some(message), now, out);
    }

    fn no_match_with(&mut self, message: Option<&str>, now: Instant, out: &mut Vec<Action>) {
        self.no_match += 1;
        self.total_no_match += 1;
        let max = self
            .node()
            .max_tries
            .min(self.flow.settings.max_no_match)
            .max(1);
        if self.no_match >= max || self.total_no_match >= MAX_TOTAL_NO_MATCH {
            match self.node().on_fail {
                Some(n) => self.enter(n, now, out),
                None => self.handoff("repeated no match", now, out),
            }
        } else if let Some(m) = message {
            self.last_says.clear();
            let barge = self.node().barge_in;
            self.say(m, barge, now, out);
            self.listen(out);
        } else {
            let n = self.no_match;
            self.reprompt(false, n, now, out);
        }
    }

    // ---- caller input ----

    fn on_speech(&mut self, utt: &Utterance, confidence: f32, now: Instant, out: &mut Vec<Action>) {
        let text = utt.text;
        let turn = self.flow.language.sentiment(text);
        self.turns.push(Turn {
            said: Said::Caller(TurnInput::Speech {
                text: text.to_string(),
            }),
            offset_ms: self.ms(now),
            interrupted_at_ms: None,
            sentiment: Some(turn.score),
        });
        if self.wait != Wait::Listen {
            return; // mid-lookup or transferring: nothing to route
        }
        self.sentiment.update(turn);
        let angry_now = turn.angry && turn.score <= -0.5;
        let sour = self.sentiment.turns >= 2
            && self.sentiment.value <= self.flow.settings.sentiment_handoff;
        if angry_now || sour {
            self.handoff("negative sentiment", now, out);
            return;
        }
        if text.trim().is_empty() || !text.chars().any(char::is_alphanumeric) {
            self.on_no_match(now, out);
            return;
        }
        let flow = Arc::clone(&self.flow);

        // A pending clarify question: yes/no, an implicit yes, or a fresh request.
        if let Some(pending) = self.clarify.take() {
            match self.clarify_answer(&pending, utt) {
                Some(true) => {
                    match pending {
                        // The answer may carry the slot too ("1 2 3 4 5 6 7 8", "yes, tomorrow").
                        Clarifying::Intent {
                            intent,
                            score,
                            original,
                        } => self.accept_intent_from(&intent, score, &[&original, text], now, out),
                        Clarifying::Faq { id, score } => self.answer_faq(&id, score, now, out),
                    }
                    return;
                }
                Some(false) => {
                    self.clarify_declined(now, out);
                    return;
                }
                None => {} // a fresh request: route it below
            }
        }

        let node = &flow.nodes[self.node];
        match &node.kind {
            NodeKind::Menu { yes, no, .. } => {
                let allowed = self.menu_intents();
                let reading = flow.read(utt, Some(&allowed));
                // yes / no answers in menus that take them ("anything else?"), unless the
                // words clearly are a request.
                if !matches!(reading, Reading::Intent(_) | Reading::Faq(_)) {
                    match (flow.language.yes_no(text), yes, no) {
                        (Some(true), Some(y), _) => {
                            self.enter(*y, now, out);
                            return;
                        }
                        (Some(false), _, Some(n)) => {
                            self.enter(*n, now, out);
                            return;
                        }
                        _ => {}
                    }
                }
                match reading {
                    Reading::Intent(s) => {
                        let conf = s.score * (0.5 + 0.5 * confidence.clamp(0.0, 1.0));
                        self.accept_intent(&s.intent, conf, text, now, out)
                    }
                    Reading::Faq(f) => self.answer_faq(&f.intent, f.score, now, out),
                    Reading::ClarifyIntent(s) if !is_global(&s.intent) => {
                        let question = flow
                            .intent(&s.intent)
                            .map(|d| d.clarify.clone())
                            .unwrap_or_default();
                        self.clarify_intent(&s, &question, text, true, now, out);
                    }
                    Reading::ClarifyFaq(f) => self.clarify_faq(&f, text, now, out),
                    Reading::OutOfScope => {
                        self.miss(text, MissKind::OutOfScope, now);
                        self.on_out_of_scope(now, out)
                    }
                    Reading::ClarifyIntent(_) | Reading::NoMatch => {
                        self.miss(text, MissKind::NoMatch, now);
                        self.on_no_match(now, out)
                    }
                }
            }
            NodeKind::Ask { slot, next } => {
                if self.try_global(utt, now, out) {
                    return;
                }
                let kind = flow
                    .slots
                    .get(slot)
                    .map(|d| d.kind.clone())
                    .unwrap_or(SlotKind::FreeText);
                match flow.language.parse_slot(&kind, text, self.today) {
                    Some(v) => {
                        self.slots.insert(slot.clone(), v);
                        self.enter(*next, now, out);
                    }
                    // Free text takes anything: no topic change there.
                    None if kind != SlotKind::FreeText => self.topic_change(utt, now, out),
                    None => self.on_no_match(now, out),
                }
            }
            NodeKind::Confirm {
                slots: list,
                no_clear,
                yes,
                no,
            } => {
                // A correction: "no, it's 4 5 6 ..." (or just the new value).
                let mut corrected = false;
                for s in list {
                    let Some(def) = flow.slots.get(s) else {
                        continue;
                    };
                    if matches!(def.kind, SlotKind::YesNo | SlotKind::FreeText) {
                        continue;
                    }
                    if let Some(v) = flow.language.parse_slot(&def.kind, text, self.today)
                        && self.slots.get(s) != Some(&v)
                    {
                        self.slots.insert(s.clone(), v);
                        corrected = true;
                    }
                }
                if corrected {
                    let here = self.node;
                    self.visits
                        .entry(here)
                        .and_modify(|v| *v = v.saturating_sub(1));
                    self.enter(here, now, out);
                    return;
                }
                match flow.language.yes_no(text) {
                    Some(true) => self.enter(*yes, now, out),
                    Some(false) => {
                        for s in no_clear {
                            self.slots.remove(s);
                        }
                        self.enter(*no, now, out);
                    }
                    None => {
                        if !self.try_global(utt, now, out) {
                            self.on_no_match(now, out);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Speak a knowledge-base answer, then go where the entry (or the flow) says: by
    /// default the "anything else?" menu.
    fn answer_faq(&mut self, id: &str, score: f32, now: Instant, out: &mut Vec<Action>) {
        let flow = Arc::clone(&self.flow);
        let Some(faq) = flow.faq(id) else {
            self.on_no_match(now, out);
            return;
        };
        self.faqs.push(FaqHit {
            faq: id.to_string(),
            confidence: score,
            offset_ms: self.ms(now),
        });
        // An answered question is a served caller.
        self.completed = true;
        self.last_says.clear();
        let barge = self.node().barge_in;
        self.say(&faq.answer, barge, now, out);
        self.enter(faq.next.unwrap_or(flow.settings.after_faq), now, out);
    }

    /// Ask `question` ("Do you want to track a parcel?") about what the caller said.
    fn clarify_intent(
        &mut self,
        s: &IntentScore,
        question: &str,
        text: &str,
        barge_in: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.miss(text, MissKind::Clarify, now);
        self.clarify = Some(Clarifying::Intent {
            intent: s.intent.clone(),
            score: s.score,
            original: text.to_string(),
        });
        self.last_says.clear();
        self.say(question, barge_in, now, out);
        self.listen(out);
    }

    /// "Do you mean: <the entry's first question>?"
    fn clarify_faq(&mut self, f: &IntentScore, text: &str, now: Instant, out: &mut Vec<Action>) {
        let flow = Arc::clone(&self.flow);
        let Some(question) = flow.faq(&f.intent).map(|d| d.clarify.clone()) else {
            self.on_no_match(now, out);
            return;
        };
        self.miss(text, MissKind::Clarify, now);
        self.clarify = Some(Clarifying::Faq {
            id: f.intent.clone(),
            score: f.score,
        });
        self.last_says.clear();
        self.say(&question, true, now, out);
        self.listen(out);
    }

    fn miss(&mut self, text: &str, result: MissKind, now: Instant) {
        self.misses.push(NluMiss {
            text: text.to_string(),
            result,
            node: self.current_node().to_string(),
            offset_ms: self.ms(now),
        });
    }

    /// The intents a menu node routes to, plus the global commands.
    fn menu_intents(&self) -> Vec<String> {
        let mut allowed = match &self.node().kind {
            NodeKind::Menu { intents, .. } => intents.clone(),
            // Elsewhere (a topic change while asking for a slot): every routable intent.
            _ => self
                .flow
                .intents
                .iter()
                .filter(|i| !is_global(&i.name) && i.goto.is_some())
                .map(|i| i.name.clone())
                .collect(),
        };
        allowed.extend(
            self.flow
                .intents
                .iter()
                .filter(|i| is_global(&i.name))
                .map(|i| i.name.clone()),
        );
        allowed
    }

    /// The caller said no to "Do you want to ...?": in a menu, ask what they want; while
    /// asking for a slot, back to that question.
    fn clarify_declined(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.last_says.clear();
        if matches!(self.node().kind, NodeKind::Menu { .. }) {
            self.say(self.flow.language.messages().clarify_no, true, now, out);
            self.listen(out);
        } else {
            self.say(
                self.flow.language.messages().clarify_no_back,
                true,
                now,
                out,
            );
            let here = self.node;
            self.visits
                .entry(here)
                .and_modify(|v| *v = v.saturating_sub(1));
            self.enter(here, now, out);
        }
    }

    /// While asking for a slot, the answer is not a value: maybe a different request
    /// ("actually, what are your opening hours?"). A clear one switches to that intent; a
    /// plausible one gets its clarify question; the current intent again, or nothing
    /// recognisable, is a no-match.
    fn topic_change(&mut self, utt: &Utterance, now: Instant, out: &mut Vec<Action>) {
        let text = utt.text;
        let flow = Arc::clone(&self.flow);
        let current = self.intent.as_ref().map(|(i, _)| i.clone());
        let allowed = self.menu_intents();
        match flow.decide_intent(utt, Some(&allowed)) {
            Decision::Accept(s)
                if Some(&s.intent) != current.as_ref() && s.score >= TOPIC_SWITCH_THRESHOLD =>
            {
                tracing::info!(from = ?current, to = %s.intent, "topic change while asking");
                self.accept_intent(&s.intent, s.score, text, now, out);
            }
            // Unsure, or sure only by a keyword: ask first, a wrong switch mid-task costs more.
            Decision::Accept(s) | Decision::Clarify(s) if Some(&s.intent) != current.as_ref() => {
                let question = flow
                    .intent(&s.intent)
                    .map(|d| d.clarify.clone())
                    .unwrap_or_default();
                if question.is_empty() {
                    self.on_no_match(now, out);
                    return;
                }
                let barge = self.node().barge_in;
                self.clarify_intent(&s, &question, text, barge, now, out);
            }
            _ => {
                self.miss(text, MissKind::NoMatch, now);
                self.on_no_match(now, out)
            }
        }
    }

    /// How `text` answers "Do you want to <intent>?": `Some(true)` yes, `Some(false)` no,
    /// `None` neither (a different request, or noise).
    ///
    /// Callers often don't answer the question but carry on with the task: a tracking
    /// number, a delivery date, or the request again in other words. Anything that fills
    /// one of the intent's slots, or that the matcher reads as the same intent, is a yes.
    fn clarify_answer(&self, pending: &Clarifying, utt: &Utterance) -> Option<bool> {
        let text = utt.text;
        let flow = &self.flow;
        let allowed = self.menu_intents();
        let intent = match pending {
            Clarifying::Intent { intent, .. } => intent.as_str(),
            Clarifying::Faq { id, .. } => {
                return match flow.language.yes_no(text) {
                    Some(answer) => Some(answer),
                    // The same question again, in other words.
                    None => match flow.read(utt, Some(&[])) {
                        Reading::Faq(s) | Reading::ClarifyFaq(s) if s.intent == *id => Some(true),
                        _ => None,
                    },
                };
            }
        };
        match flow.language.yes_no(text) {
            Some(true) => return Some(true),
            // "No, I want to report damage": a no with a clear request is that request.
            Some(false) => {
                return match flow.decide_intent(utt, Some(&allowed)) {
                    Decision::Accept(_) => None,
                    _ => Some(false),
                };
            }
            None => {}
        }
        if let Some(def) = flow.intent(intent) {
            for s in &def.fills {
                let Some(d) = flow.slots.get(s) else { continue };
                let fills = match &d.kind {
                    SlotKind::FreeText | SlotKind::YesNo => false,
                    // Digits, even too few (the endpointer may cut a long number short):
                    // the caller is answering with a number, the intent will ask again.
                    SlotKind::Digits { .. } => flow.language.lenient_digits(text).is_some(),
                    SlotKind::Date { .. } => {
                        !flow.language.negated(text)
                            && flow
                                .language
                                .parse_slot(&d.kind, text, self.today)
                                .is_some()
                    }
                    k => flow.language.parse_slot(k, text, self.today).is_some(),
                };
                if fills {
                    return Some(true);
                }
            }
        }
        match flow.decide_intent(utt, Some(&allowed)) {
            Decision::Accept(s) | Decision::Clarify(s) if s.intent == intent => Some(true),
            _ => None,
        }
    }

    /// Global commands inside slot filling: only when clearly meant.
    fn try_global(&mut self, utt: &Utterance, now: Instant, out: &mut Vec<Action>) -> bool {
        let text = utt.text;
        let globals: Vec<String> = self
            .flow
            .intents
            .iter()
            .filter(|i| is_global(&i.name))
            .map(|i| i.name.clone())
            .collect();
        let ranked = self.flow.matcher.rank(text, Some(&globals));
        match ranked.first() {
            Some(s) if s.score >= GLOBAL_IN_SLOT_THRESHOLD => {
                let name = s.intent.clone();
                self.run_global(&name, s.score, now, out);
                true
            }
            _ => false,
        }
    }

    fn run_global(&mut self, name: &str, score: f32, now: Instant, out: &mut Vec<Action>) {
        self.intents.push(IntentHit {
            intent: name.to_string(),
            confidence: score,
            offset_ms: self.ms(now),
        });
        match name {
            "agent" => {
                self.intent.get_or_insert(("agent".into(), score));
                self.handoff("caller asked for an agent", now, out)
            }
            "repeat" => self.repeat(out, now),
            "slower" | "faster" => {
                self.rate = if name == "slower" {
                    (self.rate - 0.15).max(0.7)
                } else {
                    (self.rate + 0.15).min(1.3)
                };
                out.push(Action::SetSpeakingRate { rate: self.rate });
                self.repeat(out, now);
            }
            "goodbye" => {
                let g = self.flow.settings.goodbye;
                if !self.completed {
                    self.outcome = Some(Outcome::Abandoned);
                }
                self.enter(g, now, out);
                if !self.completed
                    && let Some(Action::Hangup { outcome }) = out.last_mut()
                {
                    *outcome = Outcome::Abandoned;
                    self.outcome = Some(Outcome::Abandoned);
                }
            }
            "back" => {
                self.history.pop();
                let target = self.history.pop().unwrap_or(self.flow.settings.main_menu);
                if let NodeKind::Ask { slot, .. } = &self.flow.nodes[target].kind {
                    let slot = slot.clone();
                    self.slots.remove(&slot);
                }
                self.enter(target, now, out);
            }
            "main_menu" => {
                self.intent = None;
                let m = self.flow.settings.main_menu;
                self.enter(m, now, out);
            }
            _ => self.on_no_match(now, out),
        }
    }

    fn accept_intent(
        &mut self,
        name: &str,
        confidence: f32,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.accept_intent_from(name, confidence, &[text], now, out);
    }

    /// Accept `name`, filling its slots from `texts` (later texts win: the request, then
    /// the answer to a clarify question).
    fn accept_intent_from(
        &mut self,
        name: &str,
        confidence: f32,
        texts: &[&str],
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if is_global(name) {
            self.run_global(name, confidence, now, out);
            return;
        }
        let flow = Arc::clone(&self.flow);
        let Some(def) = flow.intent(name) else {
            self.on_no_match(now, out);
            return;
        };
        self.intent = Some((name.to_string(), confidence));
        self.intents.push(IntentHit {
            intent: name.to_string(),
            confidence,
            offset_ms: self.ms(now),
        });
        // Slots given along with the request ("track parcel 1234 5678").
        for text in texts {
            for s in &def.fills {
                if let Some(d) = flow.slots.get(s)
                    && !matches!(d.kind, SlotKind::FreeText | SlotKind::YesNo)
                    // "I won't be home tomorrow" names the day the caller does NOT want.
                    && !(matches!(d.kind, SlotKind::Date { .. }) && flow.language.negated(text))
                    && let Some(v) = flow.language.parse_slot(&d.kind, text, self.today)
                {
                    self.slots.insert(s.clone(), v);
                }
            }
        }
        match def.goto {
            Some(g) => self.enter(g, now, out),
            None => self.on_no_match(now, out),
        }
    }

    fn on_digit(&mut self, c: char, now: Instant, out: &mut Vec<Action>) {
        if self.wait != Wait::Listen || !"0123456789*#".contains(c) {
            return;
        }
        self.turns.push(Turn {
            said: Said::Caller(TurnInput::Digits {
                keys: c.to_string(),
                means: None,
            }),
            offset_ms: self.ms(now),
            interrupted_at_ms: None,
            sentiment: None,
        });
        let flow = Arc::clone(&self.flow);
        let node = &flow.nodes[self.node];
        let digit_slot = match &node.kind {
            NodeKind::Ask { slot, .. } => match flow.slots.get(slot).map(|d| &d.kind) {
                Some(SlotKind::Digits { max, .. }) => Some(*max),
                _ => None,
            },
            _ => None,
        };
        if let Some(max) = digit_slot
            && self.clarify.is_none()
        {
            match c {
                '*' => {
                    self.cancel_timer(TimerKind::InterDigit);
                    self.repeat(out, now);
                }
                '#' => {
                    self.cancel_timer(TimerKind::InterDigit);
                    self.submit_dtmf(now, out);
                }
                d => {
                    self.dtmf.push(d);
                    if self.dtmf.len() >= max {
                        self.cancel_timer(TimerKind::InterDigit);
                        self.submit_dtmf(now, out);
                    } else {
                        let at = now + Duration::from_millis(flow.settings.inter_digit_timeout_ms);
                        self.start_timer(TimerKind::InterDigit, at);
                    }
                }
            }
            return;
        }
        match c {
            '0' => {
                self.intents.push(IntentHit {
                    intent: "agent".into(),
                    confidence: 1.0,
                    offset_ms: self.ms(now),
                });
                self.handoff("caller asked for an agent", now, out);
            }
            '*' => self.repeat(out, now),
            _ => {
                if let Some(pending) = self.clarify.take() {
                    match (c, pending) {
                        (
                            '1',
                            Clarifying::Intent {
                                intent,
                                score,
                                original,
                            },
                        ) => self.accept_intent(&intent, score, &original, now, out),
                        ('1', Clarifying::Faq { id, score }) => {
                            self.answer_faq(&id, score, now, out)
                        }
                        _ => self.clarify_declined(now, out),
                    }
                    return;
                }
                match &node.kind {
                    NodeKind::Menu { dtmf, .. } => match dtmf.iter().find(|(k, _)| *k == c) {
                        Some((_, intent)) => {
                            let intent = intent.clone();
                            self.accept_intent(&intent, 1.0, "", now, out);
                        }
                        None => self.on_no_match(now, out),
                    },
                    NodeKind::Confirm { .. } => {
                        let word = match c {
                            '1' => "yes",
                            '2' => "no",
                            _ => "",
                        };
                        if word.is_empty() {
                            self.on_no_match(now, out);
                        } else {
                            // Same path as speech, minus sentiment and transcript.
                            self.turns.pop();
                            self.on_speech_keyed(c, word, now, out);
                        }
                    }
                    NodeKind::Ask { slot, next } => {
                        let opts = match flow.slots.get(slot).map(|d| &d.kind) {
                            Some(SlotKind::Choice(o)) => Some(o.clone()),
                            Some(SlotKind::YesNo) => Some(vec![
                                ("yes".to_string(), vec![]),
                                ("no".to_string(), vec![]),
                            ]),
                            _ => None,
                        };
                        let pick = opts.and_then(|o| {
                            c.to_digit(10).and_then(|d| {
                                o.get((d as usize).wrapping_sub(1)).map(|(n, _)| n.clone())
                            })
                        });
                        match pick {
                            Some(v) => {
                                self.slots.insert(slot.clone(), v);
                                self.enter(*next, now, out);
                            }
                            None => self.on_no_match(now, out),
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A keypad answer routed like the equivalent word, without sentiment scoring.
    fn on_speech_keyed(&mut self, key: char, word: &str, now: Instant, out: &mut Vec<Action>) {
        self.turns.push(Turn {
            said: Said::Caller(TurnInput::Digits {
                keys: key.to_string(),
                means: Some(word.to_string()),
            }),
            offset_ms: self.ms(now),
            interrupted_at_ms: None,
            sentiment: None,
        });
        let before = self.sentiment;
        self.on_speech(&Utterance::text(word), 1.0, now, out);
        self.sentiment = before;
        // on_speech pushed a duplicate transcript turn for the word: drop it.
        if let Some(pos) = self.turns.iter().rposition(
            |t| matches!(&t.said, Said::Caller(TurnInput::Speech { text }) if text == word),
        ) {
            self.turns.remove(pos);
        }
    }

    fn submit_dtmf(&mut self, now: Instant, out: &mut Vec<Action>) {
        let digits = std::mem::take(&mut self.dtmf);
        if self.wait != Wait::Listen {
            return;
        }
        if digits == "0" {
            self.handoff("caller asked for an agent", now, out);
            return;
        }
        let flow = Arc::clone(&self.flow);
        if let NodeKind::Ask { slot, next } = &flow.nodes[self.node].kind
            && let Some(SlotKind::Digits { min, max }) = flow.slots.get(slot).map(|d| &d.kind)
        {
            if digits.len() >= *min && digits.len() <= *max {
                self.slots.insert(slot.clone(), digits);
                self.enter(*next, now, out);
            } else {
                self.on_no_match(now, out);
            }
        }
    }

    fn on_lookup(
        &mut self,
        request: u64,
        result: LookupResult,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if self.wait != (Wait::Lookup { request }) {
            return; // stale answer
        }
        self.cancel_timer(TimerKind::LookupGuard);
        let flow = Arc::clone(&self.flow);
        let NodeKind::Lookup {
            integration,
            result: prefix,
            next,
            on_error,
            fallback,
            ..
        } = &flow.nodes[self.node].kind
        else {
            return;
        };
        let err = match result {
            LookupResult::Ok(Value::Object(map)) => {
                for (k, v) in map.iter() {
                    flatten(&format!("{prefix}.{k}"), v, &mut self.slots);
                }
                self.wait = Wait::Listen;
                self.enter(*next, now, out);
                return;
            }
            LookupResult::Ok(other) => format!("junk answer (not a JSON object): {other}"),
            LookupResult::Error(e) => e,
            LookupResult::Timeout => "timed out".to_string(),
        };
        tracing::error!(integration = %integration, error = %err, "lookup failed");
        self.wait = Wait::Listen;
        let barge = flow.nodes[self.node].barge_in;
        self.say(fallback, barge, now, out);
        if *on_error == flow.settings.agent {
            self.handoff_reason = Some(format!("lookup {integration} failed"));
        }
        self.enter(*on_error, now, out);
    }
}

/// Hint words as one prompt phrase that ends like a finished sentence: "track my parcel,
/// report damage, agent." Without the full stop Whisper tiny.en tended to continue the
/// list ("I'd like to track my parcel, I'd like to track my parcel, ...").
fn phrase(items: &[String]) -> Vec<String> {
    let mut p = items
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if p.is_empty() {
        return Vec::new();
    }
    if !p.ends_with(['.', '?', '!', '。', '？', '！']) {
        p.push('.');
    }
    vec![p]
}

/// The recogniser's context while a digit string is asked for: the label and an example
/// number of the slot's length, written the way the answer should come back. The example
/// digits are arbitrary on purpose: not a sequence a caller is likely to say, nor a parcel
/// in the demo database, so a prompt the recogniser echoes on noise cannot pass for a real
/// number. English: spaced numerals, "Tracking number: 4 0 7 1 9 3 5 2.".
/// Mandarin: hanzi digits, unspaced, "快递单号：四零七一九三五二。"; with Arabic digits in the hint
/// Whisper base merged spoken digits into numbers and looped ("26 8 1 3 5 7" for
/// 二四六八一三五七), with hanzi it wrote them one by one (measured on six Kokoro voices
/// through G.711, 16 of 18 strings read back right against 6 of 18 with Arabic digits).
fn digits_hint(language: Language, label: &str, max: usize) -> String {
    const EXAMPLE: &str = "4071935268";
    if language == Language::Zh {
        const HANZI: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
        let n = max.clamp(1, EXAMPLE.len());
        let digits: String = EXAMPLE
            .bytes()
            .take(n)
            .map(|b| HANZI[usize::from(b - b'0')])
            .collect();
        return format!("{}：{digits}。", label.trim());
    }
    let label = label.replace('_', " ");
    let mut label = label.trim().to_string();
    if let Some(first) = label.get(..1) {
        label = first.to_uppercase() + &label[1..];
    }
    let n = max.clamp(1, EXAMPLE.len());
    let digits: Vec<&str> = (0..n).map(|i| &EXAMPLE[i..=i]).collect();
    format!("{label}: {}.", digits.join(" "))
}

/// Lookup results become slots: `parcel.status`, `parcel.eta`, nested `a.b.c`.
fn flatten(key: &str, v: &Value, slots: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{key}.{k}"), x, slots);
            }
        }
        Value::String(s) => {
            slots.insert(key.to_string(), s.clone());
        }
        Value::Null => {}
        other => {
            slots.insert(key.to_string(), other.to_string());
        }
    }
}
