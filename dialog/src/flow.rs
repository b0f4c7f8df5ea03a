//! The flow DSL: one TOML file per flow, compiled into `Flow` (node graph + intent
//! matcher). Every problem is reported as `file:line:col: message`; an invalid flow
//! never loads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

use crate::intent::{Decision, IntentMatcher, IntentScore, Thresholds, Utterance};
use crate::language::Language;
use crate::semantic::{SemanticClassifier, SemanticLabel, SemanticScores};
use crate::slots::SlotKind;
use crate::two_stage::{self, Candidates, SEMANTIC_POLICY, SemanticPolicy};

/// The demo flow (parcel delivery hotline), the default when no flow is configured.
pub const DEMO_FLOW: &str = include_str!("../../fixtures/flows/parcel.toml");

/// Flows embedded in the binary, by the name `builtin:NAME` gives: (name, source, the
/// file it was embedded from, for error positions).
pub const BUILTIN_FLOWS: &[(&str, &str, &str)] = &[
    ("parcel", DEMO_FLOW, "fixtures/flows/parcel.toml"),
    ("parcel-zh", DEMO_FLOW_ZH, "fixtures/flows/parcel-zh.toml"),
];

/// Global commands, available in every state. Flows may add examples under
/// `[intents.<name>]` (without `goto`).
pub const GLOBAL_INTENTS: &[(&str, &[&str])] = &[
    (
        "agent",
        &[
            "agent",
            "operator",
            "human",
            "representative",
            "speak to an agent",
            "talk to a person",
            "real person",
            "talk to someone",
            "speak to a human",
            "customer service",
            "customer service representative",
            "let me talk to a real person",
            "can i speak to somebody",
            "transfer me",
            "put me through to someone",
        ],
    ),
    (
        "repeat",
        &[
            "repeat",
            "repeat that",
            "say that again",
            "can you repeat",
            "come again",
            "pardon",
            "what did you say",
            "sorry what",
            "one more time",
            "i didnt catch that",
        ],
    ),
    (
        "goodbye",
        &[
            "goodbye",
            "bye",
            "bye bye",
            "thats all",
            "thats all thanks",
            "im done",
            "hang up",
            "end the call",
            "nothing else",
            "no thats it",
            "see you",
            "have a nice day",
        ],
    ),
    (
        "back",
        &[
            "go back",
            "back",
            "previous",
            "previous step",
            "undo that",
            "back up",
        ],
    ),
    (
        "main_menu",
        &[
            "main menu",
            "start over",
            "start again",
            "from the beginning",
            "menu",
        ],
    ),
    (
        "slower",
        &[
            "speak slower",
            "slower",
            "slow down",
            "talk slower",
            "too fast",
            "more slowly",
            "youre talking too fast",
        ],
    ),
    (
        "faster",
        &[
            "speak faster",
            "faster",
            "speed up",
            "talk faster",
            "too slow",
            "hurry up",
        ],
    ),
];

/// A menu's ASR hint words: each intent's first example, then the agent command.
fn menu_hints(
    intents: &[String],
    matcher_input: &[(String, Vec<String>, Vec<String>)],
    agent_hint: &str,
) -> Vec<String> {
    let mut hints: Vec<String> = intents
        .iter()
        .filter_map(|name| {
            matcher_input
                .iter()
                .find(|(n, _, _)| n == name)
                .and_then(|(_, ex, _)| ex.first())
                .map(|e| e.trim().to_lowercase())
        })
        .filter(|e| !e.is_empty())
        .collect();
    hints.push(agent_hint.into());
    hints
}

/// The Mandarin demo flow: the same hotline, `language = "zh"`.
pub const DEMO_FLOW_ZH: &str = include_str!("../../fixtures/flows/parcel-zh.toml");

pub fn is_global(name: &str) -> bool {
    GLOBAL_INTENTS.iter().any(|(n, _)| *n == name)
}

/// One problem in a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Why a flow did not load: every problem found, with the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FlowError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, p.line, p.col, p.message)?;
        }
        Ok(())
    }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

// ---- raw TOML shape ----

type S = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    flow: RawHeader,
    #[serde(default)]
    slots: BTreeMap<String, Spanned<RawSlot>>,
    #[serde(default)]
    intents: BTreeMap<String, Spanned<RawIntent>>,
    nodes: BTreeMap<String, Spanned<RawNode>>,
    /// The knowledge base: questions answered from any menu without a flow of their own.
    #[serde(default)]
    faq: Vec<Spanned<RawFaq>>,
    /// Requests the bot does not serve: when a caller's words are nearest to one of these,
    /// the semantic stage finds no match (an honest "I can't help with that").
    #[serde(default)]
    out_of_scope: RawOutOfScope,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutOfScope {
    #[serde(default)]
    examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaq {
    id: S,
    questions: Vec<S>,
    answer: String,
    /// Asked when the caller may mean this entry (default: "Do you mean: <question 1>?").
    clarify: Option<String>,
    /// Where to go after the answer (default: `[flow] after_faq`).
    next: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    /// What the callers speak: chooses the understanding and the engine's own sentences.
    #[serde(default)]
    language: Language,
    start: S,
    agent: S,
    goodbye: S,
    main_menu: Option<S>,
    transfer_failed: Option<S>,
    /// Where the bot goes after an FAQ answer (an "anything else?" menu); default main_menu.
    after_faq: Option<S>,
    /// A post-call satisfaction question (an `ask` node whose slot is the rating, 1-5),
    /// asked once, before goodbye, of callers who were served.
    survey: Option<S>,
    #[serde(default = "d_no_input_ms")]
    no_input_timeout_ms: u64,
    #[serde(default = "d_inter_digit_ms")]
    inter_digit_timeout_ms: u64,
    #[serde(default = "d_lookup_ms")]
    lookup_timeout_ms: u64,
    #[serde(default = "d_three")]
    max_no_input: u32,
    #[serde(default = "d_three")]
    max_no_match: u32,
    accept_threshold: Option<f32>,
    clarify_threshold: Option<f32>,
    /// Hand off when the running sentiment falls to this (-1..0).
    #[serde(default = "d_anger")]
    sentiment_handoff: f32,
    /// Spoken when the caller is handed to an agent because of a failure.
    #[serde(default)]
    default_no_input: Vec<String>,
    #[serde(default)]
    default_no_match: Vec<String>,
}

fn d_no_input_ms() -> u64 {
    6000
}
fn d_inter_digit_ms() -> u64 {
    3000
}
fn d_lookup_ms() -> u64 {
    5000
}
fn d_three() -> u32 {
    3
}
fn d_anger() -> f32 {
    -0.5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlot {
    kind: S,
    min_len: Option<usize>,
    max_len: Option<usize>,
    #[serde(default)]
    future_only: bool,
    #[serde(default)]
    options: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    hints: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    #[serde(default)]
    examples: Vec<S>,
    #[serde(default)]
    keywords: Vec<String>,
    clarify: Option<String>,
    goto: Option<S>,
    #[serde(default)]
    fills: Vec<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(rename = "if")]
    cond: S,
    goto: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    #[serde(rename = "type")]
    kind: S,
    prompt: Option<String>,
    barge_in: Option<bool>,
    #[serde(default)]
    no_input: Vec<String>,
    #[serde(default)]
    no_match: Vec<String>,
    max_tries: Option<u32>,
    on_fail: Option<S>,
    /// Where to go at once when the caller says nothing (instead of reprompting and, in
    /// the end, handing off): e.g. a survey nobody answers.
    on_no_input: Option<S>,
    next: Option<S>,
    slot: Option<S>,
    intents: Option<Vec<S>>,
    #[serde(default)]
    dtmf: BTreeMap<String, S>,
    yes: Option<S>,
    no: Option<S>,
    #[serde(default)]
    slots: Vec<S>,
    no_clear: Option<Vec<S>>,
    integration: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, S>,
    result: Option<String>,
    on_error: Option<S>,
    fallback: Option<String>,
    target: Option<String>,
    reason: Option<String>,
    outcome: Option<S>,
    #[serde(default)]
    set: BTreeMap<String, S>,
    #[serde(default)]
    clear: Vec<S>,
    #[serde(default)]
    cases: Vec<RawCase>,
    default: Option<S>,
    #[serde(default)]
    completes: bool,
    #[serde(default)]
    hints: Vec<String>,
}

// ---- compiled flow ----

pub type NodeId = usize;

/// How the call ended (also used for hang-up nodes, and as the call record's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The bot handled the call.
    Contained,
    /// Handed to a human.
    Transferred,
    /// The caller left before being served.
    Abandoned,
    /// The call could not be served (e.g. the transfer failed).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Contained => "contained",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
            Outcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "contained" => Outcome::Contained,
            "transferred" => Outcome::Transferred,
            "abandoned" => Outcome::Abandoned,
            "failed" => Outcome::Failed,
            _ => return None,
        })
    }
}

/// A condition on slots / lookup results: `name`, `!name`, `name == value`, `name != value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    IsSet(String),
    NotSet(String),
    Eq(String, String),
    Ne(String, String),
}

impl Condition {
    fn parse(s: &str) -> Option<Condition> {
        let s = s.trim();
        let unq = |v: &str| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
        if let Some((a, b)) = s.split_once("!=") {
            return Some(Condition::Ne(a.trim().to_string(), unq(b)));
        }
        if let Some((a, b)) = s.split_once("==") {
            return Some(Condition::Eq(a.trim().to_string(), unq(b)));
        }
        if let Some(a) = s.strip_prefix('!') {
            return Some(Condition::NotSet(a.trim().to_string()));
        }
        (!s.is_empty() && !s.contains(' ')).then(|| Condition::IsSet(s.to_string()))
    }

    pub fn slot(&self) -> &str {
        match self {
            Condition::IsSet(s)
            | Condition::NotSet(s)
            | Condition::Eq(s, _)
            | Condition::Ne(s, _) => s,
        }
    }

    pub fn eval(&self, slots: &BTreeMap<String, String>) -> bool {
        match self {
            Condition::IsSet(s) => slots.get(s).is_some_and(|v| !v.is_empty()),
            Condition::NotSet(s) => slots.get(s).is_none_or(|v| v.is_empty()),
            Condition::Eq(s, v) => slots.get(s).is_some_and(|x| x == v),
            Condition::Ne(s, v) => slots.get(s).is_none_or(|x| x != v),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Say {
        next: NodeId,
    },
    /// Intent routing.
    Menu {
        intents: Vec<String>,
        dtmf: Vec<(char, String)>,
        yes: Option<NodeId>,
        no: Option<NodeId>,
    },
    Ask {
        slot: String,
        next: NodeId,
    },
    Confirm {
        slots: Vec<String>,
        no_clear: Vec<String>,
        yes: NodeId,
        no: NodeId,
    },
    Lookup {
        integration: String,
        params: Vec<(String, String)>,
        result: String,
        next: NodeId,
        on_error: NodeId,
        fallback: String,
    },
    Transfer {
        target: String,
        reason: String,
    },
    Hangup {
        outcome: Outcome,
    },
    Set {
        values: Vec<(String, String)>,
        next: NodeId,
    },
    Branch {
        cases: Vec<(Condition, NodeId)>,
        default: NodeId,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub prompt: Option<String>,
    pub barge_in: bool,
    pub no_input: Vec<String>,
    pub no_match: Vec<String>,
    pub max_tries: u32,
    /// Where to go when tries run out (default: hand off to the agent node).
    pub on_fail: Option<NodeId>,
    /// Where to go on the first no-input (default: reprompt, then hand off).
    pub on_no_input: Option<NodeId>,
    /// Slots cleared on entry.
    pub clear: Vec<String>,
    /// Reaching this node means the caller was served (outcome contained).
    pub completes: bool,
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotDef {
    pub kind: SlotKind,
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntentDef {
    pub name: String,
    pub goto: Option<NodeId>,
    pub clarify: String,
    pub fills: Vec<String>,
}

/// What a menu made of the caller's words (`Flow::read`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Intent(IntentScore),
    Faq(IntentScore),
    ClarifyIntent(IntentScore),
    ClarifyFaq(IntentScore),
    /// Nearest to the flow's out-of-scope examples: a request it does not serve.
    OutOfScope,
    NoMatch,
}

/// One knowledge-base entry: answered wherever a menu listens.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqDef {
    pub id: String,
    /// A fixed prompt (cached like every other).
    pub answer: String,
    /// "Do you mean ...?" when the caller may mean this entry.
    pub clarify: String,
    /// After the answer (default: `Settings::after_faq`).
    pub next: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub start: NodeId,
    pub agent: NodeId,
    pub goodbye: NodeId,
    pub main_menu: NodeId,
    pub transfer_failed: Option<NodeId>,
    pub after_faq: NodeId,
    /// The survey node and its rating slot.
    pub survey: Option<(NodeId, String)>,
    pub no_input_timeout_ms: u64,
    pub inter_digit_timeout_ms: u64,
    pub lookup_timeout_ms: u64,
    pub max_no_input: u32,
    pub max_no_match: u32,
    pub thresholds: Thresholds,
    pub sentiment_handoff: f32,
    pub default_no_input: Vec<String>,
    pub default_no_match: Vec<String>,
}

/// A compiled, validated flow. Share it between calls with `Arc`.
pub struct Flow {
    pub name: String,
    pub settings: Settings,
    pub nodes: Vec<Node>,
    pub slots: BTreeMap<String, SlotDef>,
    pub intents: Vec<IntentDef>,
    pub matcher: IntentMatcher,
    pub faqs: Vec<FaqDef>,
    /// Matches questions to `faqs` by id, with the same two stages as `matcher`.
    pub faq_matcher: IntentMatcher,
    /// The semantic stage's negative examples: requests the flow does not serve.
    out_of_scope: Vec<String>,
    /// Set once at load, when the binary has embedded `semantic_examples()` (the flow is
    /// shared by then, hence not `&mut`).
    semantic: OnceLock<(SemanticClassifier, SemanticPolicy)>,
    /// `[flow] language`: the binary picks the recogniser and voice for it.
    pub language: Language,
    index: HashMap<String, NodeId>,
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// Fixed messages the engine speaks itself (not from the flow).
pub const MSG_NOT_AVAILABLE: &str = "Sorry, I can't do that right now.";
pub const MSG_CLARIFY_NO: &str = "Okay. What can I help you with?";
/// Said before asking a slot's question again, after a no to a topic-change clarify.
pub const MSG_CLARIFY_NO_BACK: &str = "Okay.";

struct Compiler<'a> {
    src: &'a str,
    problems: Vec<Problem>,
    index: HashMap<String, NodeId>,
}

/// (name, examples, keywords) of one intent, for the matcher.
type MatcherInput = (String, Vec<String>, Vec<String>);

/// The flow's entry points named in `[flow]`.
struct EntryPoints {
    start: NodeId,
    agent: NodeId,
    goodbye: NodeId,
    main_menu: NodeId,
    transfer_failed: Option<NodeId>,
    after_faq: NodeId,
    survey: Option<(NodeId, String)>,
}

/// The names a node may refer to: slots (declared, set by `set` nodes, or `<result>.*`
/// of a lookup) and intents.
struct Names<'a> {
    slots: &'a BTreeMap<String, SlotDef>,
    result_prefixes: BTreeSet<String>,
    set_slots: BTreeSet<String>,
    intents: &'a [IntentDef],
}

impl<'a> Names<'a> {
    fn new(raw: &RawFlow, slots: &'a BTreeMap<String, SlotDef>, intents: &'a [IntentDef]) -> Self {
        Self {
            slots,
            result_prefixes: raw
                .nodes
                .values()
                .filter_map(|n| n.get_ref().result.clone())
                .collect(),
            set_slots: raw
                .nodes
                .values()
                .flat_map(|n| n.get_ref().set.keys().cloned())
                .collect(),
            intents,
        }
    }

    fn slot_known(&self, name: &str) -> bool {
        self.slots.contains_key(name)
            || name
                .split_once('.')
                .is_some_and(|(p, _)| self.result_prefixes.contains(p))
            || self.set_slots.contains(name)
    }

    fn intent_known(&self, name: &str) -> bool {
        self.intents.iter().any(|i| i.name == name)
    }
}

impl Compiler<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, col) = line_col(self.src, span.start);
        self.problems.push(Problem {
            line,
            col,
            message: message.into(),
        });
    }

    /// `[slots.*]`: each slot's kind and hints.
    fn slots(&mut self, raw: &RawFlow) -> BTreeMap<String, SlotDef> {
        let mut slots = BTreeMap::new();
        for (name, s) in &raw.slots {
            let r = s.get_ref();
            let kind = match r.kind.get_ref().as_str() {
                "yes_no" => SlotKind::YesNo,
                "digits" => {
                    let min = r.min_len.unwrap_or(1);
                    let max = r.max_len.unwrap_or(min.max(32));
                    if min == 0 || min > max {
                        self.at(
                            s.span(),
                            format!("slot `{name}`: need 1 <= min_len <= max_len"),
                        );
                    }
                    SlotKind::Digits { min, max }
                }
                "date" => SlotKind::Date {
                    future_only: r.future_only,
                },
                "time" => SlotKind::Time,
                "amount" => SlotKind::Amount,
                "choice" => {
                    if r.options.is_empty() {
                        self.at(s.span(), format!("slot `{name}`: choice needs `options`"));
                    }
                    SlotKind::Choice(r.options.clone().into_iter().collect())
                }
                "text" => SlotKind::FreeText,
                other => {
                    self.at(
                        r.kind.span(),
                        format!(
                            "slot `{name}`: unknown kind `{other}` (yes_no, digits, date, time, amount, choice, text)"
                        ),
                    );
                    SlotKind::FreeText
                }
            };
            slots.insert(
                name.clone(),
                SlotDef {
                    kind,
                    hints: r.hints.clone(),
                },
            );
        }
        slots
    }

    /// The language's global commands, then `[intents.*]`: definitions, and the
    /// matcher's input (name, examples, keywords).
    fn intents(
        &mut self,
        raw: &RawFlow,
        slots: &BTreeMap<String, SlotDef>,
        language: Language,
    ) -> (Vec<IntentDef>, Vec<MatcherInput>) {
        let mut intents = Vec::new();
        let mut matcher_input = Vec::new();
        let mut seen_examples: HashMap<String, String> = HashMap::new();
        for (gname, gex) in language.global_intents() {
            let mut ex: Vec<String> = gex.iter().map(|s| s.to_string()).collect();
            if let Some(extra) = raw.intents.get(*gname) {
                ex.extend(extra.get_ref().examples.iter().map(|e| e.get_ref().clone()));
            }
            for e in &ex {
                seen_examples.insert(language.for_matching(e), gname.to_string());
            }
            matcher_input.push((gname.to_string(), ex, Vec::new()));
            intents.push(IntentDef {
                name: gname.to_string(),
                goto: None,
                clarify: String::new(),
                fills: Vec::new(),
            });
        }
        for (name, it) in &raw.intents {
            let r = it.get_ref();
            if is_global(name) {
                if r.goto.is_some() {
                    self.at(
                        it.span(),
                        format!("intent `{name}` is a global command: no `goto`"),
                    );
                }
                continue;
            }
            let goto = match &r.goto {
                Some(g) => Some(self.node_ref(g, &format!("intent `{name}`"))),
                None => {
                    self.at(it.span(), format!("intent `{name}`: missing `goto`"));
                    None
                }
            };
            if r.examples.is_empty() {
                self.at(it.span(), format!("intent `{name}`: no examples"));
            }
            for e in &r.examples {
                let norm = language.for_matching(e.get_ref());
                if let Some(other) = seen_examples.get(&norm)
                    && other != name
                {
                    self.at(
                        e.span(),
                        format!(
                            "example \"{}\" is in both `{other}` and `{name}`",
                            e.get_ref()
                        ),
                    );
                }
                seen_examples.insert(norm, name.clone());
            }
            for f in &r.fills {
                if !slots.contains_key(f.get_ref()) {
                    self.at(f.span(), format!("undefined slot `{}`", f.get_ref()));
                }
            }
            let human = name.replace('_', " ");
            intents.push(IntentDef {
                name: name.clone(),
                goto,
                clarify: r
                    .clarify
                    .clone()
                    .unwrap_or_else(|| format!("Do you want to {human}?")),
                fills: r.fills.iter().map(|f| f.get_ref().clone()).collect(),
            });
            matcher_input.push((
                name.clone(),
                r.examples.iter().map(|e| e.get_ref().clone()).collect(),
                r.keywords.clone(),
            ));
        }
        (intents, matcher_input)
    }

    /// `[nodes.*]`: each node, and the nodes it can go to (for the reachability check).
    fn nodes(&mut self, raw: &RawFlow, names: &Names<'_>) -> (Vec<Node>, Vec<Vec<NodeId>>) {
        let mut nodes = Vec::new();
        let mut edges: Vec<Vec<NodeId>> = Vec::new();
        for (name, n) in &raw.nodes {
            let r = n.get_ref();
            let span = n.span();
            let mut out_edges = Vec::new();
            let check_template = |c: &mut Compiler<'_>, text: &Option<String>| {
                if let Some(t) = text {
                    for (p, _) in placeholders(t) {
                        if !names.slot_known(&p) {
                            c.at(
                                span.clone(),
                                format!("node `{name}`: undefined slot `{p}` in prompt"),
                            );
                        }
                    }
                }
            };
            check_template(self, &r.prompt);
            for t in r.no_input.iter().chain(r.no_match.iter()) {
                check_template(self, &Some(t.clone()));
            }
            let kind = match r.kind.get_ref().as_str() {
                "say" => {
                    let next = self.required(&r.next, span.clone(), name, "next");
                    out_edges.push(next);
                    if r.prompt.is_none() {
                        self.at(span.clone(), format!("node `{name}`: say needs a `prompt`"));
                    }
                    NodeKind::Say { next }
                }
                "menu" => {
                    let list: Vec<String> = match &r.intents {
                        Some(l) => {
                            for i in l {
                                if !names.intent_known(i.get_ref()) {
                                    self.at(i.span(), format!("unknown intent `{}`", i.get_ref()));
                                }
                            }
                            l.iter().map(|i| i.get_ref().clone()).collect()
                        }
                        None => names
                            .intents
                            .iter()
                            .filter(|i| !is_global(&i.name))
                            .map(|i| i.name.clone())
                            .collect(),
                    };
                    for i in &list {
                        if let Some(g) = names
                            .intents
                            .iter()
                            .find(|d| d.name == *i)
                            .and_then(|d| d.goto)
                        {
                            out_edges.push(g);
                        }
                    }
                    let mut dtmf = Vec::new();
                    for (k, v) in &r.dtmf {
                        let key = k
                            .chars()
                            .next()
                            .filter(|ch| k.len() == 1 && "0123456789*#".contains(*ch));
                        match key {
                            Some(ch) => dtmf.push((ch, v.get_ref().clone())),
                            None => {
                                self.at(v.span(), format!("dtmf key `{k}` is not one of 0-9 * #"))
                            }
                        }
                        if !names.intent_known(v.get_ref()) {
                            self.at(v.span(), format!("unknown intent `{}`", v.get_ref()));
                        }
                    }
                    let yes = r.yes.as_ref().map(|s| self.node_ref(s, "yes"));
                    let no = r.no.as_ref().map(|s| self.node_ref(s, "no"));
                    out_edges.extend(yes);
                    out_edges.extend(no);
                    NodeKind::Menu {
                        intents: list,
                        dtmf,
                        yes,
                        no,
                    }
                }
                "ask" => {
                    let slot = match &r.slot {
                        Some(s) => {
                            if !names.slots.contains_key(s.get_ref()) {
                                self.at(s.span(), format!("undefined slot `{}`", s.get_ref()));
                            }
                            s.get_ref().clone()
                        }
                        None => {
                            self.at(span.clone(), format!("node `{name}`: ask needs a `slot`"));
                            String::new()
                        }
                    };
                    let next = self.required(&r.next, span.clone(), name, "next");
                    out_edges.push(next);
                    NodeKind::Ask { slot, next }
                }
                "confirm" => {
                    for s in r.slots.iter().chain(r.no_clear.iter().flatten()) {
                        if !names.slots.contains_key(s.get_ref()) {
                            self.at(s.span(), format!("undefined slot `{}`", s.get_ref()));
                        }
                    }
                    let yes = self.required(&r.yes, span.clone(), name, "yes");
                    let no = self.required(&r.no, span.clone(), name, "no");
                    out_edges.extend([yes, no]);
                    let list: Vec<String> = r.slots.iter().map(|s| s.get_ref().clone()).collect();
                    NodeKind::Confirm {
                        no_clear: r.no_clear.as_ref().map_or_else(
                            || list.clone(),
                            |l| l.iter().map(|s| s.get_ref().clone()).collect(),
                        ),
                        slots: list,
                        yes,
                        no,
                    }
                }
                "lookup" => {
                    let next = self.required(&r.next, span.clone(), name, "next");
                    let on_error = match &r.on_error {
                        Some(s) => self.node_ref(s, "on_error"),
                        None => self
                            .index
                            .get(raw.flow.agent.get_ref())
                            .copied()
                            .unwrap_or(0),
                    };
                    out_edges.extend([next, on_error]);
                    for v in r.params.values() {
                        for (p, _) in placeholders(v.get_ref()) {
                            if !names.slot_known(&p) {
                                self.at(v.span(), format!("undefined slot `{p}`"));
                            }
                        }
                    }
                    if r.integration.is_none() {
                        self.at(
                            span.clone(),
                            format!("node `{name}`: lookup needs `integration`"),
                        );
                    }
                    NodeKind::Lookup {
                        integration: r.integration.clone().unwrap_or_default(),
                        params: r
                            .params
                            .iter()
                            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                            .collect(),
                        result: r.result.clone().unwrap_or_else(|| "result".into()),
                        next,
                        on_error,
                        fallback: r.fallback.clone().unwrap_or_else(|| {
                            "Sorry, I can't look that up right now.".to_string()
                        }),
                    }
                }
                "transfer" => NodeKind::Transfer {
                    target: r.target.clone().unwrap_or_else(|| {
                        self.at(
                            span.clone(),
                            format!("node `{name}`: transfer needs `target`"),
                        );
                        String::new()
                    }),
                    reason: r.reason.clone().unwrap_or_else(|| "transfer".into()),
                },
                "hangup" => {
                    let outcome = match &r.outcome {
                        Some(o) => Outcome::parse(o.get_ref()).unwrap_or_else(|| {
                            self.at(o.span(), format!("unknown outcome `{}` (contained, transferred, abandoned, failed)", o.get_ref()));
                            Outcome::Contained
                        }),
                        None => Outcome::Contained,
                    };
                    NodeKind::Hangup { outcome }
                }
                "set" => {
                    let next = self.required(&r.next, span.clone(), name, "next");
                    out_edges.push(next);
                    NodeKind::Set {
                        values: r
                            .set
                            .iter()
                            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                            .collect(),
                        next,
                    }
                }
                "branch" => {
                    let mut cases = Vec::new();
                    for case in &r.cases {
                        let target = self.node_ref(&case.goto, "goto");
                        out_edges.push(target);
                        match Condition::parse(case.cond.get_ref()) {
                            Some(cond) => {
                                if !names.slot_known(cond.slot()) {
                                    self.at(case.cond.span(), format!("undefined slot `{}`", cond.slot()));
                                }
                                cases.push((cond, target));
                            }
                            None => self.at(case.cond.span(), format!("bad condition `{}` (name, !name, name == value, name != value)", case.cond.get_ref())),
                        }
                    }
                    let default = self.required(&r.default, span.clone(), name, "default");
                    out_edges.push(default);
                    NodeKind::Branch { cases, default }
                }
                other => {
                    self.at(
                        r.kind.span(),
                        format!("node `{name}`: unknown type `{other}` (say, menu, ask, confirm, lookup, transfer, hangup, set, branch)"),
                    );
                    NodeKind::Hangup {
                        outcome: Outcome::Failed,
                    }
                }
            };
            let listens = matches!(
                kind,
                NodeKind::Menu { .. } | NodeKind::Ask { .. } | NodeKind::Confirm { .. }
            );
            if listens {
                if r.prompt.is_none() {
                    self.at(span.clone(), format!("node `{name}`: needs a `prompt`"));
                }
                if r.no_input.is_empty() && raw.flow.default_no_input.is_empty() {
                    self.at(
                        span.clone(),
                        format!(
                            "node `{name}`: ask without no-input handling (`no_input` prompts)"
                        ),
                    );
                }
            }
            let on_fail = r.on_fail.as_ref().map(|s| self.node_ref(s, "on_fail"));
            out_edges.extend(on_fail);
            let on_no_input = r
                .on_no_input
                .as_ref()
                .map(|s| self.node_ref(s, "on_no_input"));
            out_edges.extend(on_no_input);
            for s in &r.clear {
                if !names.slot_known(s.get_ref()) {
                    self.at(s.span(), format!("undefined slot `{}`", s.get_ref()));
                }
            }
            edges.push(out_edges);
            nodes.push(Node {
                name: name.clone(),
                kind,
                prompt: r.prompt.clone(),
                barge_in: r.barge_in.unwrap_or(true),
                no_input: r.no_input.clone(),
                no_match: r.no_match.clone(),
                max_tries: r.max_tries.unwrap_or(raw.flow.max_no_match),
                on_fail,
                on_no_input,
                clear: r.clear.iter().map(|s| s.get_ref().clone()).collect(),
                completes: r.completes,
                hints: r.hints.clone(),
            });
        }

        (nodes, edges)
    }

    /// `[flow]`'s node references; `agent` must be a transfer node.
    fn entry_points(&mut self, h: &RawHeader, nodes: &[Node]) -> EntryPoints {
        let start = self.node_ref(&h.start, "start");
        let agent = self.node_ref(&h.agent, "agent");
        let goodbye = self.node_ref(&h.goodbye, "goodbye");
        let main_menu = h
            .main_menu
            .as_ref()
            .map_or(start, |s| self.node_ref(s, "main_menu"));
        let transfer_failed = h
            .transfer_failed
            .as_ref()
            .map(|s| self.node_ref(s, "transfer_failed"));
        let after_faq = h
            .after_faq
            .as_ref()
            .map_or(main_menu, |s| self.node_ref(s, "after_faq"));
        if let Some(n) = nodes.get(agent)
            && !matches!(n.kind, NodeKind::Transfer { .. })
        {
            self.at(h.agent.span(), "`agent` must name a transfer node");
        }
        let survey = h.survey.as_ref().and_then(|s| {
            let id = self.node_ref(s, "survey");
            match nodes.get(id).map(|n| &n.kind) {
                Some(NodeKind::Ask { slot, .. }) => Some((id, slot.clone())),
                Some(_) => {
                    self.at(
                        s.span(),
                        "`survey` must name an ask node (its slot is the rating)",
                    );
                    None
                }
                None => None,
            }
        });

        EntryPoints {
            start,
            agent,
            goodbye,
            main_menu,
            transfer_failed,
            after_faq,
            survey,
        }
    }

    /// The knowledge base: ids unique, every entry with questions and an answer, `next`
    /// a known node. Returns the entries and the matcher's input (id, questions).
    fn faqs(&mut self, raw: &RawFlow, language: Language) -> (Vec<FaqDef>, Vec<MatcherInput>) {
        let mut defs: Vec<FaqDef> = Vec::new();
        let mut input = Vec::new();
        for f in &raw.faq {
            let span = f.span();
            let f = f.get_ref();
            let id = f.id.get_ref().trim().to_string();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.at(f.id.span(), "faq id must be letters, digits and `_`");
            } else if defs.iter().any(|d| d.id == id) {
                self.at(f.id.span(), format!("faq `{id}` is defined twice"));
            }
            let questions: Vec<String> = f
                .questions
                .iter()
                .map(|q| q.get_ref().trim().to_string())
                .filter(|q| !q.is_empty())
                .collect();
            if questions.is_empty() {
                self.at(span.clone(), format!("faq `{id}`: no questions"));
            }
            if f.answer.trim().is_empty() || f.answer.contains('{') {
                self.at(
                    span.clone(),
                    format!("faq `{id}`: the answer must be fixed text (no placeholders)"),
                );
            }
            let next = f.next.as_ref().map(|n| self.node_ref(n, "faq next"));
            let clarify = match (&f.clarify, questions.first()) {
                (Some(c), _) => c.trim().to_string(),
                (None, Some(q)) => language.messages().faq_clarify.replace("{}", q),
                (None, None) => String::new(),
            };
            input.push((id.clone(), questions, Vec::new()));
            defs.push(FaqDef {
                id,
                answer: f.answer.trim().to_string(),
                clarify,
                next,
            });
        }
        (defs, input)
    }

    /// Every node is reachable from the start or a global entry point.
    fn check_reachable(&mut self, raw: &RawFlow, edges: &[Vec<NodeId>], e: &EntryPoints) {
        let mut seen = vec![false; edges.len()];
        let mut stack = vec![e.start, e.agent, e.goodbye, e.main_menu];
        stack.extend(e.transfer_failed);
        stack.extend(e.survey.as_ref().map(|(id, _)| *id));
        if !raw.faq.is_empty() {
            stack.push(e.after_faq);
        }
        while let Some(n) = stack.pop() {
            if n < seen.len() && !seen[n] {
                seen[n] = true;
                stack.extend(edges[n].iter().copied());
            }
        }
        for (i, (name, n)) in raw.nodes.iter().enumerate() {
            if !seen[i] {
                self.at(n.span(), format!("node `{name}` is unreachable"));
            }
        }
    }

    fn node_ref(&mut self, s: &S, what: &str) -> NodeId {
        match self.index.get(s.get_ref()) {
            Some(&id) => id,
            None => {
                self.at(
                    s.span(),
                    format!("{what}: unknown target node `{}`", s.get_ref()),
                );
                0
            }
        }
    }

    fn required(
        &mut self,
        v: &Option<S>,
        node_span: std::ops::Range<usize>,
        node: &str,
        field: &str,
    ) -> NodeId {
        match v {
            Some(s) => self.node_ref(s, field),
            None => {
                self.at(node_span, format!("node `{node}`: missing `{field}`"));
                0
            }
        }
    }
}

/// Template placeholders `{name}` / `{name:format}` in a prompt.
pub fn placeholders(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else { break };
        let inner = &after[..j];
        let (name, fmt) = inner.split_once(':').unwrap_or((inner, ""));
        out.push((name.trim().to_string(), fmt.trim().to_string()));
        rest = &after[j + 1..];
    }
    out
}

impl Flow {
    /// The embedded demo flow.
    pub fn demo() -> Flow {
        match Flow::from_toml(DEMO_FLOW, "fixtures/flows/parcel.toml") {
            Ok(f) => f,
            // The demo flow is checked by tests; a broken one is a build defect.
            Err(e) => panic!("embedded demo flow is invalid:\n{e}"),
        }
    }

    /// An embedded flow by name (see [`BUILTIN_FLOWS`]).
    pub fn builtin(name: &str) -> Result<Flow, FlowError> {
        match BUILTIN_FLOWS.iter().find(|(n, ..)| *n == name) {
            Some((_, src, file)) => Flow::from_toml(src, file),
            None => Err(FlowError {
                file: format!("builtin:{name}"),
                problems: vec![Problem {
                    line: 1,
                    col: 1,
                    message: format!(
                        "no embedded flow {name:?}; embedded: {}",
                        BUILTIN_FLOWS
                            .iter()
                            .map(|(n, ..)| format!("builtin:{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }],
            }),
        }
    }

    /// `builtin:NAME` or a flow file's path.
    pub fn from_source(source: &str) -> Result<Flow, FlowError> {
        match source.strip_prefix("builtin:") {
            Some(name) => Flow::builtin(name),
            None => Flow::load(std::path::Path::new(source)),
        }
    }

    /// Read and compile a flow file.
    pub fn load(path: &std::path::Path) -> Result<Flow, FlowError> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| FlowError {
            file: name.clone(),
            problems: vec![Problem {
                line: 1,
                col: 1,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Flow::from_toml(&src, &name)
    }

    /// Compile and validate. `file` names the source in errors.
    pub fn from_toml(src: &str, file: &str) -> Result<Flow, FlowError> {
        let fail = |problems| FlowError {
            file: file.to_string(),
            problems,
        };
        let raw: RawFlow = match toml::from_str(src) {
            Ok(r) => r,
            Err(e) => {
                let (line, col) = e.span().map_or((1, 1), |s| line_col(src, s.start));
                return Err(fail(vec![Problem {
                    line,
                    col,
                    message: e.message().trim().to_string(),
                }]));
            }
        };
        let mut c = Compiler {
            src,
            problems: Vec::new(),
            index: raw
                .nodes
                .keys()
                .enumerate()
                .map(|(i, k)| (k.clone(), i))
                .collect(),
        };

        let language = raw.flow.language;
        let slots = c.slots(&raw);
        let (intents, matcher_input) = c.intents(&raw, &slots, language);
        let names = Names::new(&raw, &slots, &intents);
        let (mut nodes, edges) = c.nodes(&raw, &names);
        // ASR hints for menus without their own: the key words of what the caller may ask
        // for here ("track my parcel, reschedule my delivery, ..., agent"), which steer
        // Whisper towards the domain words it otherwise mishears ("parcel" -> "powerful").
        for node in &mut nodes {
            if let NodeKind::Menu { intents: list, .. } = &node.kind
                && node.hints.is_empty()
            {
                node.hints = menu_hints(list, &matcher_input, language.messages().agent_hint);
            }
        }

        let h = &raw.flow;
        let entry = c.entry_points(h, &nodes);
        let (faqs, faq_input) = c.faqs(&raw, language);
        if c.problems.is_empty() {
            c.check_reachable(&raw, &edges, &entry);
        }

        if !c.problems.is_empty() {
            c.problems.sort_by_key(|p| (p.line, p.col));
            return Err(fail(c.problems));
        }
        let d = Thresholds::default();
        let settings = Settings {
            start: entry.start,
            agent: entry.agent,
            goodbye: entry.goodbye,
            main_menu: entry.main_menu,
            transfer_failed: entry.transfer_failed,
            after_faq: entry.after_faq,
            survey: entry.survey.clone(),
            no_input_timeout_ms: h.no_input_timeout_ms,
            inter_digit_timeout_ms: h.inter_digit_timeout_ms,
            lookup_timeout_ms: h.lookup_timeout_ms,
            max_no_input: h.max_no_input.max(1),
            max_no_match: h.max_no_match.max(1),
            thresholds: Thresholds {
                accept: h.accept_threshold.unwrap_or(d.accept),
                margin: d.margin,
                clarify: h.clarify_threshold.unwrap_or(d.clarify),
            },
            sentiment_handoff: h.sentiment_handoff,
            default_no_input: h.default_no_input.clone(),
            default_no_match: h.default_no_match.clone(),
        };
        Ok(Flow {
            name: h.name.clone(),
            settings,
            nodes,
            slots,
            intents,
            matcher: IntentMatcher::for_language(language, &matcher_input),
            faqs,
            faq_matcher: IntentMatcher::for_language(language, &faq_input),
            out_of_scope: raw
                .out_of_scope
                .examples
                .iter()
                .map(|e| e.trim())
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect(),
            semantic: OnceLock::new(),
            language,
            index: c.index,
        })
    }

    /// The embedded Mandarin demo flow (`fixtures/flows/parcel-zh.toml`).
    pub fn demo_zh() -> Flow {
        match Flow::from_toml(DEMO_FLOW_ZH, "fixtures/flows/parcel-zh.toml") {
            Ok(f) => f,
            Err(e) => panic!("embedded Mandarin demo flow is invalid:\n{e}"),
        }
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.index.get(name).copied()
    }

    pub fn intent(&self, name: &str) -> Option<&IntentDef> {
        self.intents.iter().find(|i| i.name == name)
    }

    pub fn faq(&self, id: &str) -> Option<&FaqDef> {
        self.faqs.iter().find(|f| f.id == id)
    }

    /// The texts the semantic stage learns from, with what each stands for: intent
    /// examples, FAQ questions and the out-of-scope examples.
    pub fn semantic_examples(&self) -> Vec<(SemanticLabel, String)> {
        let intents = self
            .matcher
            .example_texts()
            .iter()
            .map(|(n, t)| (SemanticLabel::Intent(n.clone()), t.clone()));
        let faqs = self
            .faq_matcher
            .example_texts()
            .iter()
            .map(|(id, t)| (SemanticLabel::Faq(id.clone()), t.clone()));
        let negatives = self
            .out_of_scope
            .iter()
            .map(|t| (SemanticLabel::OutOfScope, t.clone()));
        intents.chain(faqs).chain(negatives).collect()
    }

    /// Turn on the semantic stage (once; at load, before the first call).
    pub fn set_semantic(&self, classifier: SemanticClassifier, policy: SemanticPolicy) {
        if !classifier.is_empty() {
            let _ = self.semantic.set((classifier, policy));
        }
    }

    fn policy(&self) -> SemanticPolicy {
        self.semantic.get().map_or(SEMANTIC_POLICY, |(_, p)| *p)
    }

    pub fn has_semantic(&self) -> bool {
        self.semantic.get().is_some()
    }

    /// The semantic stage's probabilities for `utt` (None: no stage or no embedding).
    pub fn semantic_scores(&self, utt: &Utterance) -> Option<SemanticScores> {
        let (classifier, _) = self.semantic.get()?;
        let embedding = utt.embedding?;
        if !self.language.has_content(utt.text) {
            return Some(SemanticScores::default());
        }
        Some(classifier.scores(embedding))
    }

    /// What a caller's words in a menu mean: an intent of `allowed` (or any), a
    /// knowledge-base entry, a clarify question about one of them, or nothing. Both stages
    /// when the flow and the utterance have embeddings (see `two_stage`).
    pub fn read(&self, utt: &Utterance, allowed: Option<&[String]>) -> Reading {
        let scores = self.semantic_scores(utt);
        let allow = |v: &[IntentScore], allowed: Option<&[String]>| -> Vec<IntentScore> {
            v.iter()
                .filter(|s| allowed.is_none_or(|a| a.contains(&s.intent)))
                .cloned()
                .collect()
        };
        let sources = [
            Candidates {
                rules: self.matcher.rank(utt.text, allowed),
                semantic: scores
                    .as_ref()
                    .map(|s| allow(&s.intents, allowed))
                    .unwrap_or_default(),
            },
            Candidates {
                rules: self.faq_matcher.rank(utt.text, None),
                semantic: scores.as_ref().map(|s| s.faqs.clone()).unwrap_or_default(),
            },
        ];
        let (source, decision) = two_stage::decide(
            &sources,
            scores.as_ref().map(|s| s.out_of_scope),
            self.settings.thresholds,
            self.policy(),
        );
        match (source, decision) {
            (0, Decision::Accept(s)) => Reading::Intent(s),
            (_, Decision::Accept(s)) => Reading::Faq(s),
            (0, Decision::Clarify(s)) => Reading::ClarifyIntent(s),
            (_, Decision::Clarify(s)) => Reading::ClarifyFaq(s),
            (_, Decision::NoMatch)
                if scores
                    .as_ref()
                    .is_some_and(|s| s.out_of_scope >= self.policy().accept) =>
            {
                Reading::OutOfScope
            }
            (_, Decision::NoMatch) => Reading::NoMatch,
        }
    }

    /// Which intent of `allowed` (or any) the words are, by both stages; no FAQ entries.
    pub fn decide_intent(&self, utt: &Utterance, allowed: Option<&[String]>) -> Decision {
        let scores = self.semantic_scores(utt);
        let source = Candidates {
            rules: self.matcher.rank(utt.text, allowed),
            semantic: scores
                .as_ref()
                .map(|s| {
                    s.intents
                        .iter()
                        .filter(|x| allowed.is_none_or(|a| a.contains(&x.intent)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        };
        two_stage::decide(
            &[source],
            scores.as_ref().map(|s| s.out_of_scope),
            self.settings.thresholds,
            self.policy(),
        )
        .1
    }

    /// Every prompt the flow can speak that has no `{placeholders}`: synthesize these
    /// once at load (TTS cache prewarming).
    pub fn all_fixed_prompts(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .prompt_texts()
            .into_iter()
            .filter(|t| !t.contains('{') && !t.trim().is_empty())
            .map(str::to_string)
            .collect();
        set.into_iter().collect()
    }

    /// The fixed opening of every templated prompt, up to its last clause punctuation
    /// before the first placeholder: "您的单号是，" of "您的单号是，{n:digits}，对吗？". A voice
    /// caches these and plays one at once while it synthesizes the rest of the prompt.
    pub fn prompt_lead_ins(&self) -> Vec<String> {
        const CLAUSE_END: &[char] = &[
            '，', '。', '！', '？', '；', '：', '、', ',', '.', '!', '?', ';', ':',
        ];
        let set: BTreeSet<String> = self
            .prompt_texts()
            .into_iter()
            .filter_map(|t| {
                let head = &t[..t.find('{')?];
                let end = head.rfind(CLAUSE_END)?;
                let cut = end + head[end..].chars().next()?.len_utf8();
                let lead_in = &head[..cut];
                lead_in
                    .chars()
                    .any(char::is_alphanumeric)
                    .then(|| lead_in.to_string())
            })
            .collect();
        set.into_iter().collect()
    }

    /// Every prompt text the flow can say (templates with their placeholders).
    fn prompt_texts(&self) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if let Some(p) = &n.prompt {
                all.push(p);
            }
            for p in n.no_input.iter().chain(n.no_match.iter()) {
                all.push(p);
            }
            if let NodeKind::Lookup { fallback, .. } = &n.kind {
                all.push(fallback);
            }
        }
        for p in self
            .settings
            .default_no_input
            .iter()
            .chain(self.settings.default_no_match.iter())
        {
            all.push(p);
        }
        for i in &self.intents {
            all.push(&i.clarify);
        }
        for f in &self.faqs {
            all.push(&f.answer);
        }
        let m = self.language.messages();
        all.push(m.out_of_scope);
        all.push(m.clarify_no);
        all.push(m.clarify_no_back);
        all.push(m.not_available);
        all
    }
}
