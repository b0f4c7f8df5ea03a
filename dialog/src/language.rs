//! The language a flow speaks (`language = "en" | "zh"` in `[flow]`). It chooses the
//! understanding the engine applies to what the caller says (slot parsers, yes/no,
//! negation, sentiment, global commands, the intent matcher) and the few sentences the
//! engine speaks itself. The binary passes [`Language::code`] to the recogniser and voice.

use serde::{Deserialize, Serialize};

use crate::sentiment::{self, TurnSentiment};
use crate::slots::{self, Date, SlotKind};
use crate::zh;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    /// Mandarin, Simplified Chinese text.
    Zh,
}

/// Sentences the engine says on its own (not from the flow), and its ASR hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Messages {
    pub not_available: &'static str,
    /// After a no to "Do you want to ...?" in a menu.
    pub clarify_no: &'static str,
    /// Before asking a slot's question again after such a no.
    pub clarify_no_back: &'static str,
    /// Re-prompt while a clarify question is pending.
    pub say_yes_or_no: &'static str,
    /// ASR hint for a yes/no answer.
    pub yes_no_hint: &'static str,
    /// ASR hint for a date answer when the flow gives none.
    pub date_hint: &'static str,
    /// ASR hint word for the agent command, appended to every menu's hints.
    pub agent_hint: &'static str,
    /// Said to a request the flow does not serve (then it listens again).
    pub out_of_scope: &'static str,
    /// Clarify question of an FAQ entry without its own: `{}` is its first question.
    pub faq_clarify: &'static str,
}

const EN: Messages = Messages {
    not_available: crate::flow::MSG_NOT_AVAILABLE,
    clarify_no: crate::flow::MSG_CLARIFY_NO,
    clarify_no_back: crate::flow::MSG_CLARIFY_NO_BACK,
    say_yes_or_no: "Please say yes or no.",
    // "Yes or no.", not "yes, no": Whisper tiny.en continues a list-shaped prompt.
    yes_no_hint: "Yes or no.",
    date_hint: "Tomorrow, next Monday, or the 15th",
    agent_hint: "agent",
    faq_clarify: "Do you mean: {}?",
    out_of_scope: "Sorry, that's not something I can help with. I can help with parcels and deliveries, or say agent to talk to a person.",
};

const ZH: Messages = Messages {
    not_available: "抱歉，这个现在办不了。",
    clarify_no: "好的。请问有什么可以帮您？",
    clarify_no_back: "好的。",
    say_yes_or_no: "请说是，或者不是。",
    yes_no_hint: "是的。不是。",
    date_hint: "明天，下周一，或者十五号。",
    agent_hint: "转人工",
    faq_clarify: "您是想问{}吗？",
    out_of_scope: "抱歉，这个问题我帮不上忙。我可以帮您查快递、改送货时间，或者说转人工。",
};

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 2] = [Language::En, Language::Zh];

    /// The code the recogniser and the voice are configured with: "en", "zh".
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }

    /// The language of a code ("en", "zh"; case-insensitive).
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    pub fn messages(self) -> &'static Messages {
        match self {
            Language::En => &EN,
            Language::Zh => &ZH,
        }
    }

    /// The built-in global commands (agent, repeat, goodbye, ...) with their phrasings.
    pub fn global_intents(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Language::En => crate::flow::GLOBAL_INTENTS,
            Language::Zh => zh::GLOBAL_INTENTS,
        }
    }

    /// One form per phrasing, for spotting an example listed under two intents.
    pub fn for_matching(self, text: &str) -> String {
        match self {
            Language::En => crate::normalize::for_matching(text),
            Language::Zh => zh::fold_width(text)
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect(),
        }
    }

    /// The words of `text` worth counting across calls (keyword heat): segmented for
    /// Mandarin, stop words and digit strings left out.
    pub fn keywords(self, text: &str) -> Vec<String> {
        match self {
            Language::En => crate::intent::keywords(text),
            Language::Zh => crate::zh::keywords(text),
        }
    }

    /// Whether `text` has a word that can carry a request (not only fillers, greetings
    /// and function words: "嗯嗯", "you know, um"). The semantic stage reads only those:
    /// an embedding of noise lands near some class anyway.
    pub fn has_content(self, text: &str) -> bool {
        match self {
            Language::En => !crate::intent::content_tokens(text).is_empty(),
            // Jieba keeps "啊啊啊" and "喂喂喂" as one word, past the stop-word list.
            Language::Zh => {
                const FILLERS: &str = "啊呀嗯哦喂哈呃唉诶嘛呢吧噢哎";
                text.chars()
                    .any(|c| c.is_alphanumeric() && !FILLERS.contains(c))
                    && !crate::zh::syllables(text).is_empty()
            }
        }
    }

    pub fn yes_no(self, text: &str) -> Option<bool> {
        match self {
            Language::En => slots::yes_no(text),
            Language::Zh => zh::yes_no(text),
        }
    }

    /// Every digit the caller said, leniently (homophones between digits count).
    pub fn lenient_digits(self, text: &str) -> Option<String> {
        match self {
            Language::En => slots::lenient_digits(text),
            Language::Zh => zh::digits(text),
        }
    }

    /// Parse `text` as a value of `kind` (canonical forms as in [`slots::parse`]).
    pub fn parse_slot(self, kind: &SlotKind, text: &str, today: Date) -> Option<String> {
        if self == Language::En {
            return slots::parse(kind, text, today);
        }
        match kind {
            SlotKind::YesNo => zh::yes_no(text).map(|b| if b { "yes" } else { "no" }.to_string()),
            SlotKind::Digits { min, max } => slots::digits_within(zh::digits(text)?, *min, *max),
            SlotKind::Date { future_only } => {
                let d = zh::date(text, today)?;
                (!*future_only || d > today).then(|| d.to_string())
            }
            SlotKind::Time => zh::time(text),
            SlotKind::Amount => zh::amount(text),
            SlotKind::Choice(opts) => zh::choice(text, opts),
            SlotKind::FreeText => slots::parse(kind, text, today),
        }
    }

    /// Does the caller negate what they say ("I won't be home tomorrow", "明天不在家")?
    pub fn negated(self, text: &str) -> bool {
        match self {
            Language::En => crate::normalize::for_matching(text).split(' ').any(|w| {
                matches!(
                    w,
                    "not" | "no" | "wont" | "cant" | "dont" | "isnt" | "never" | "cannot" | "aint"
                )
            }),
            Language::Zh => zh::negated(text),
        }
    }

    pub fn sentiment(self, text: &str) -> TurnSentiment {
        match self {
            Language::En => sentiment::score(text),
            Language::Zh => zh::sentiment(text),
        }
    }

    /// A slot value as a prompt says it (`{slot:digits}`, `{slot:date}`).
    pub fn render(self, value: &str, format: &str) -> String {
        match (self, format) {
            (Language::Zh, "date") => {
                Date::parse_iso(value).map_or_else(|| value.to_string(), zh::render_date)
            }
            _ => slots::render(value, format),
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Language, String> {
        Language::from_code(s).ok_or_else(|| format!("unknown language `{s}` (en, zh)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_serde() {
        assert_eq!(Language::default(), Language::En);
        assert_eq!(Language::Zh.code(), "zh");
        assert_eq!(Language::from_code("ZH"), Some(Language::Zh));
        assert_eq!("en".parse::<Language>(), Ok(Language::En));
        assert!("fr".parse::<Language>().is_err());
        assert_eq!(serde_json::to_string(&Language::Zh).unwrap(), "\"zh\"");
        #[derive(Deserialize)]
        struct T {
            language: Language,
        }
        let t: T = toml::from_str("language = \"zh\"").unwrap();
        assert_eq!(t.language, Language::Zh);
    }

    #[test]
    fn dispatch_by_language() {
        let today = Date::new(2026, 5, 6).unwrap();
        let digits = SlotKind::Digits { min: 8, max: 8 };
        assert_eq!(
            Language::Zh
                .parse_slot(&digits, "幺二三四五六七八", today)
                .as_deref(),
            Some("12345678")
        );
        assert_eq!(
            Language::En.parse_slot(&digits, "幺二三四五六七八", today),
            None
        );
        // One number written twice (heard from Whisper base on a Mandarin call), or said
        // twice, is taken once; two different numbers are not.
        assert_eq!(
            Language::Zh
                .parse_slot(&digits, "12345678 1 2 3 4 5 6 7 8", today)
                .as_deref(),
            Some("12345678")
        );
        assert_eq!(
            Language::En
                .parse_slot(&digits, "1 2 3 4 5 6 7 8, 12345678", today)
                .as_deref(),
            Some("12345678")
        );
        assert_eq!(
            Language::Zh.parse_slot(&digits, "12345678 87654321", today),
            None
        );
        assert_eq!(
            Language::En
                .parse_slot(&digits, "one two three four five six seven eight", today)
                .as_deref(),
            Some("12345678")
        );
        let date = SlotKind::Date { future_only: true };
        assert_eq!(
            Language::Zh.parse_slot(&date, "明天", today).as_deref(),
            Some("2026-05-07")
        );
        assert_eq!(Language::Zh.parse_slot(&date, "今天", today), None);
        assert_eq!(Language::Zh.yes_no("对的"), Some(true));
        assert_eq!(Language::En.yes_no("对的"), None);
        assert!(Language::Zh.negated("明天不在家"));
        assert!(Language::En.negated("I won't be home"));
        assert!(Language::Zh.sentiment("气死我了").angry);
        assert_eq!(Language::Zh.render("2026-05-08", "date"), "5月8日星期五");
        assert_eq!(
            Language::En.render("2026-05-08", "date"),
            "Friday the 8th of May"
        );
        assert_eq!(Language::Zh.render("1234", "digits"), "1 2 3 4");
        assert_eq!(Language::Zh.global_intents()[0].0, "agent");
    }
}
