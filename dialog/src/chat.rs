//! A text driver for the engine (`ivr chat`, scripted-conversation tests): each input line
//! is a caller turn; lookups run synchronously on the given backend; time is virtual.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::{Action, Dialog, Event, TransferResult};
use crate::flow::{Flow, Outcome};
use crate::integrations::Backend;
use crate::slots::Date;

/// Turns a caller's words into the sentence embedding the flow's semantic stage compares
/// (`None` when it cannot: the rules decide alone). Runs wherever the caller runs it: the
/// binary calls it on an inference thread, never on the call loop.
pub type TextEmbedder = Arc<dyn Fn(&str) -> Option<Arc<[f32]>> + Send + Sync>;

/// One bot turn, as printed by `ivr chat --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatTurn {
    pub node: String,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    pub slots: BTreeMap<String, String>,
    /// The knowledge-base entry answered in this turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq: Option<String>,
    pub say: String,
    /// "transfer" | "hangup" | null
    pub action: Option<&'static str>,
    pub sentiment: f32,
    /// Transfer target / hang-up outcome, for humans reading plain mode.
    #[serde(skip)]
    pub detail: Option<String>,
    #[serde(skip)]
    pub speaking_rate: Option<f32>,
}

pub struct ChatSession {
    dialog: Dialog,
    backend: Box<dyn Backend>,
    /// Embeds each typed line for the flow's semantic stage (none: rules only).
    embedder: Option<TextEmbedder>,
    /// Knowledge-base answers already reported in a turn.
    faqs_reported: usize,
    now: Instant,
    ended: bool,
}

impl ChatSession {
    pub fn new(flow: Arc<Flow>, today: Date, backend: Box<dyn Backend>) -> ChatSession {
        // The only clock read: the virtual clock's origin.
        let now = Instant::now();
        ChatSession {
            dialog: Dialog::new(flow, today, now),
            backend,
            embedder: None,
            faqs_reported: 0,
            now,
            ended: false,
        }
    }

    /// Embed every caller line with `embedder`, as a call embeds its transcripts.
    pub fn with_embedder(mut self, embedder: TextEmbedder) -> ChatSession {
        self.embedder = Some(embedder);
        self
    }

    pub fn dialog(&self) -> &Dialog {
        &self.dialog
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The greeting.
    pub fn start(&mut self) -> ChatTurn {
        let actions = self.dialog.start(self.now);
        self.run(actions)
    }

    /// One caller line: text, `#123` keypad digits, `/silence`, `/hangup`.
    /// `None` when the call is over (or the caller hung up).
    pub fn input(&mut self, line: &str) -> Option<ChatTurn> {
        if self.ended {
            return None;
        }
        self.now += Duration::from_secs(2);
        let line = line.trim();
        let actions = if line == "/hangup" {
            self.dialog.handle(Event::Hangup, self.now);
            self.ended = true;
            return None;
        } else if line == "/silence" {
            match self.dialog.poll_timeout() {
                Some(at) => {
                    self.now = self.now.max(at);
                    self.dialog.handle_timeout(self.now)
                }
                None => self.dialog.handle(Event::NoInput, self.now),
            }
        } else if let Some(keys) = line.strip_prefix('#') {
            let mut acts = Vec::new();
            for c in keys.chars().filter(|c| !c.is_whitespace()) {
                self.now += Duration::from_millis(300);
                acts.extend(self.dialog.handle(Event::Digit(c), self.now));
            }
            // A line is a complete turn: when the keys got no answer yet, let the
            // timer they started (inter-digit; a key press stops the no-input one) expire.
            if acts.is_empty()
                && let Some(at) = self.dialog.poll_timeout()
            {
                self.now = self.now.max(at);
                acts.extend(self.dialog.handle_timeout(self.now));
            }
            acts
        } else {
            self.dialog.handle(
                Event::Speech {
                    text: line.to_string(),
                    confidence: 1.0,
                    embedding: self.embedder.as_ref().and_then(|e| e(line)),
                },
                self.now,
            )
        };
        Some(self.run(actions))
    }

    /// Execute actions like a call loop would, collecting one bot turn.
    fn run(&mut self, actions: Vec<Action>) -> ChatTurn {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        let mut says: Vec<String> = Vec::new();
        let mut action = None;
        let mut detail = None;
        let mut rate = None;
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Say { text, .. } => says.push(text),
                Action::Listen(_) => {}
                Action::SetSpeakingRate { rate: r } => rate = Some(r),
                Action::Lookup {
                    request,
                    integration,
                    params,
                } => {
                    let result = self.backend.lookup(&integration, &params);
                    self.now += Duration::from_millis(50);
                    queue.extend(
                        self.dialog
                            .handle(Event::LookupResult { request, result }, self.now),
                    );
                }
                Action::Transfer { target, reason, .. } => {
                    action = Some("transfer");
                    detail = Some(format!("transfer to {target}: {reason}"));
                    // In chat the agent always answers.
                    queue.extend(
                        self.dialog
                            .handle(Event::TransferResult(TransferResult::Ok), self.now),
                    );
                    self.ended = true;
                }
                Action::Hangup { outcome } => {
                    action = Some("hangup");
                    detail = Some(format!(
                        "hang up: {}",
                        match outcome {
                            Outcome::Contained => "contained",
                            Outcome::Transferred => "transferred",
                            Outcome::Abandoned => "abandoned",
                            Outcome::Failed => "failed",
                        }
                    ));
                    self.ended = true;
                }
            }
        }
        if !self.ended {
            // The prompts "finished playing": starts the no-input timer.
            self.dialog.handle(Event::PromptFinished, self.now);
        }
        let intent = self.dialog.current_intent();
        ChatTurn {
            node: self.dialog.current_node().to_string(),
            intent: intent.map(|(i, _)| i.to_string()),
            confidence: intent.map(|(_, c)| (c * 1000.0).round() / 1000.0),
            slots: self.dialog.slots().clone(),
            faq: {
                let answered = self.dialog.faqs_answered();
                let new = answered.get(self.faqs_reported..).and_then(|a| a.last());
                let faq = new.map(|h| h.faq.clone());
                self.faqs_reported = answered.len();
                faq
            },
            say: says.join(" "),
            action,
            sentiment: (self.dialog.sentiment() * 1000.0).round() / 1000.0,
            detail,
            speaking_rate: rate,
        }
    }
}
