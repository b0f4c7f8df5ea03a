//! Intent matching robust to ASR errors: normalised phrase rules (an example phrase inside
//! the utterance), keywords, and fuzzy token overlap weighted by how discriminative each
//! token is (IDF over intents). Fuzzy token equality covers misspellings and homophones
//! (edit distance, a consonant skeleton, and split words: "re schedule" ~ "reschedule").

use std::collections::{HashMap, HashSet};

use crate::normalize::for_matching;
use crate::slots::levenshtein;
use crate::two_stage;

/// Function words that carry no intent.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "i",
    "im",
    "ive",
    "me",
    "my",
    "mine",
    "to",
    "is",
    "it",
    "its",
    "be",
    "am",
    "are",
    "was",
    "can",
    "could",
    "you",
    "your",
    "please",
    "would",
    "like",
    "want",
    "wanna",
    "id",
    "ill",
    "do",
    "does",
    "of",
    "on",
    "in",
    "at",
    "and",
    "so",
    "um",
    "uh",
    "umm",
    "er",
    "hi",
    "hello",
    "hey",
    "just",
    "need",
    "some",
    "that",
    "this",
    "with",
    "about",
    "okay",
    "ok",
    "well",
    "yeah",
    "hmm",
    "there",
    "for",
    "we",
    "our",
    "us",
    "have",
    "has",
    "got",
    "get",
    "gonna",
    "let",
    "lets",
    "know",
    "if",
    "or",
    "any",
    "thanks",
    "thank",
    "sir",
    "madam",
    "oh",
    "will",
    "should",
    "mm",
    "good",
    "morning",
    "afternoon",
    "evening",
    "be",
    "able",
    "try",
    "trying",
    "one",
    "up",
    "out",
    "kind",
    "sort",
    "maybe",
    "really",
    "actually",
    "still",
];

/// Common words that are no mishearing of a flow word, though they look like one
/// ("dont" and "dented" share a consonant skeleton).
const NEVER_FUZZY: &[&str] = &[
    "dont", "didnt", "doesnt", "cant", "wont", "isnt", "arent", "wasnt", "havent", "hasnt", "not",
    "no", "number", "sorry", "know", "what", "which", "who", "how", "why",
];

/// Light stemming so "tracking", "tracked", "tracks" meet "track".
pub fn stem(w: &str) -> String {
    let w = w.to_string();
    for suf in ["ing", "ed", "es", "s"] {
        if w.len() > suf.len() + 3
            && let Some(base) = w.strip_suffix(suf)
        {
            // "packages" -> "packag" and "package" -> "packag": strip a trailing e too.
            return base.trim_end_matches('e').to_string();
        }
    }
    if w.len() > 4 {
        return w.trim_end_matches('e').to_string();
    }
    w
}

/// Consonant skeleton: first letter, then consonants with similar sounds merged and
/// repeats collapsed ("truck" and "track" -> "trk"; "parcel" and "parsel" -> "prsl").
fn skeleton(w: &str) -> String {
    let mut out = String::new();
    let mut last = ' ';
    for (i, c) in w.chars().enumerate() {
        let m = match c {
            'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'h' | 'w' if i > 0 => continue,
            'c' | 'k' | 'q' | 'g' => 'k',
            's' | 'z' | 'x' => 's',
            'b' | 'p' => 'p',
            'd' | 't' => 't',
            'f' | 'v' => 'f',
            'm' | 'n' => 'n',
            c => c,
        };
        if m != last {
            out.push(m);
        }
        last = m;
    }
    out
}

/// Similarity of two (stemmed) tokens in [0, 1].
fn token_sim(a: &str, b: &str) -> f32 {
    if a == b {
        return 1.0;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la < 3 || lb < 3 {
        return 0.0;
    }
    // The edit distance is at least the length difference: below 0.6 similarity (the
    // lowest either rule accepts) there is no need to compute it.
    if 5 * la.abs_diff(lb) > 2 * la.max(lb) {
        return 0.0;
    }
    let d = levenshtein(a, b) as f32;
    let ratio = 1.0 - d / la.max(lb) as f32;
    let mut s = if ratio >= 0.7 { ratio } else { 0.0 };
    if la >= 4 && lb >= 4 && ratio >= 0.6 && skeleton(a) == skeleton(b) {
        s = s.max(0.8);
    }
    s
}

/// Answers and courtesies every call has: not what callers call about.
const NOT_KEYWORDS: &[&str] = &[
    "yes", "yeah", "yep", "nope", "thanks", "thank", "okay", "hello", "goodbye", "bye", "that",
    "thats", "this", "all", "just", "what", "have", "for", "and", "with", "correct", "right",
    "sure", "good", "great", "fine", "need", "much", "some", "about", "there",
];

/// Words worth counting in voice-of-customer analysis: normalised, stop words, digit
/// strings and words under three letters left out.
pub fn keywords(text: &str) -> Vec<String> {
    for_matching(text)
        .split(' ')
        .filter(|w| {
            w.len() >= 3
                && !STOP.contains(w)
                && !NOT_KEYWORDS.contains(w)
                && !w.bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

/// The words of an utterance as the matcher sees them.
pub fn content_tokens(text: &str) -> Vec<String> {
    for_matching(text)
        .split(' ')
        .filter(|w| !w.is_empty() && !STOP.contains(w))
        .map(stem)
        .collect()
}

struct Example {
    /// Normalised phrase with stop words, for phrase rules.
    phrase: String,
    /// `phrase` between spaces, to find it as whole words inside an utterance.
    padded: String,
    tokens: Vec<String>,
    /// Adjacent tokens joined ("re schedule" in an utterance meets "reschedule").
    joined: Vec<String>,
}

impl Example {
    fn new(text: &str) -> Example {
        let phrase = for_matching(text);
        let tokens = content_tokens(text);
        Example {
            padded: format!(" {phrase} "),
            phrase,
            joined: tokens.windows(2).map(|w| w.concat()).collect(),
            tokens,
        }
    }
}

struct Entry {
    name: String,
    examples: Vec<Example>,
    keywords: Vec<String>,
}

/// A ranked intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentScore {
    pub intent: String,
    /// 0..1.
    pub score: f32,
}

/// What the matcher decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Confident enough to act.
    Accept(IntentScore),
    /// Plausible but unsure: ask "Do you want to ...?".
    Clarify(IntentScore),
    NoMatch,
}

/// What the caller said, as understanding sees it: the transcript and, when the flow has a
/// semantic stage, its sentence embedding (computed off the dialog, on an inference thread).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utterance<'a> {
    pub text: &'a str,
    pub embedding: Option<&'a [f32]>,
}

impl<'a> Utterance<'a> {
    /// Text only: the rules decide alone.
    pub fn text(text: &'a str) -> Utterance<'a> {
        Utterance {
            text,
            embedding: None,
        }
    }
}

/// Thresholds for `decide`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Accept at or above this score...
    pub accept: f32,
    /// ...and at least this far ahead of the runner-up.
    pub margin: f32,
    /// Clarify between this and `accept`; below it is a no-match.
    pub clarify: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            accept: 0.6,
            margin: 0.08,
            clarify: 0.4,
        }
    }
}

/// Matches utterances against intents' examples and keywords (stage 1, rules), then, where
/// the rules are not sure, by sentence-embedding similarity to the examples (stage 2).
pub struct IntentMatcher {
    entries: Vec<Entry>,
    idf: HashMap<String, f32>,
    default_idf: f32,
    /// Every (stemmed) word of every example and single-word keyword.
    vocab: HashSet<String>,
    /// Mandarin flows: matched on pinyin instead (`rank` delegates).
    pinyin: Option<crate::zh::PinyinMatcher>,
    /// (label, example text) of every example, for the semantic stage's index.
    example_texts: Vec<(String, String)>,
}

impl IntentMatcher {
    /// The matcher for a flow in `language`: words for English, toneless pinyin for Mandarin.
    pub fn for_language(
        language: crate::Language,
        intents: &[(String, Vec<String>, Vec<String>)],
    ) -> IntentMatcher {
        match language {
            crate::Language::En => IntentMatcher::new(intents),
            crate::Language::Zh => {
                let names: Vec<(String, Vec<String>, Vec<String>)> = intents
                    .iter()
                    .map(|(n, _, _)| (n.clone(), Vec::new(), Vec::new()))
                    .collect();
                IntentMatcher {
                    pinyin: Some(crate::zh::PinyinMatcher::new(intents)),
                    example_texts: example_texts(intents),
                    ..IntentMatcher::new(&names)
                }
            }
        }
    }

    /// `intents`: (name, examples, keywords).
    pub fn new(intents: &[(String, Vec<String>, Vec<String>)]) -> IntentMatcher {
        let entries: Vec<Entry> = intents
            .iter()
            .map(|(name, examples, keywords)| Entry {
                name: name.clone(),
                examples: examples
                    .iter()
                    .map(|e| Example::new(e))
                    .filter(|e| !e.phrase.is_empty())
                    .collect(),
                keywords: keywords.iter().map(|k| stem(&for_matching(k))).collect(),
            })
            .collect();
        // IDF over intents: a token used by every intent ("parcel") says little.
        let mut df: HashMap<String, usize> = HashMap::new();
        for e in &entries {
            let set: HashSet<&String> = e.examples.iter().flat_map(|x| x.tokens.iter()).collect();
            for t in set {
                *df.entry(t.clone()).or_default() += 1;
            }
        }
        let n = entries.len().max(1) as f32;
        let idf: HashMap<String, f32> = df
            .into_iter()
            .map(|(t, d)| (t, (1.0 + n / d as f32).ln()))
            .collect();
        let default_idf = (1.0 + n).ln() * 0.5;
        let vocab: HashSet<String> = entries
            .iter()
            .flat_map(|e| {
                e.examples
                    .iter()
                    .flat_map(|x| x.tokens.iter())
                    .chain(e.keywords.iter().filter(|k| !k.contains(' ')))
            })
            .cloned()
            .collect();
        IntentMatcher {
            entries,
            idf,
            default_idf,
            vocab,
            pinyin: None,
            example_texts: example_texts(intents),
        }
    }

    /// (label, text) of every example: what the binary embeds for `set_semantic`.
    pub fn example_texts(&self) -> &[(String, String)] {
        &self.example_texts
    }

    /// Similarity of an utterance word `u` to a flow word `c`. An utterance word that is
    /// itself one of the flow's words was heard as that word: it does not also fuzzily
    /// stand for a different flow word ("track" is not a mishearing of "cracked"), except
    /// for a shared stem ("deliver" / "delivery"). Unknown words ("powerful", "trekking",
    /// "truck") stay fuzzy: those are the ASR's mishearings.
    fn sim(&self, u: &str, c: &str) -> f32 {
        if u == c {
            return 1.0;
        }
        if NEVER_FUZZY.contains(&u) {
            return 0.0;
        }
        if self.vocab.contains(u) {
            let (short, long) = if u.len() <= c.len() { (u, c) } else { (c, u) };
            if short.len() < 4 || !long.starts_with(short) {
                return 0.0;
            }
        }
        token_sim(u, c)
    }

    fn weight(&self, t: &str) -> f32 {
        self.idf.get(t).copied().unwrap_or(self.default_idf)
    }

    /// Best similarity of the example word `t` to any utterance word (or adjacent pair,
    /// joined).
    fn recall_sim(&self, t: &str, utt: &[String], joined: &[String]) -> f32 {
        utt.iter()
            .chain(joined.iter())
            .map(|u| self.sim(u, t))
            .fold(0.0, f32::max)
    }

    /// Best similarity of the utterance word `u` to any example word (or adjacent pair,
    /// joined).
    fn precision_sim(&self, u: &str, ex: &[String], ex_joined: &[String]) -> f32 {
        ex.iter()
            .chain(ex_joined.iter())
            .map(|c| self.sim(u, c))
            .fold(0.0, f32::max)
    }

    /// `padded`: the utterance's phrase between spaces.
    fn example_score(&self, padded: &str, utt: &[String], joined: &[String], ex: &Example) -> f32 {
        if padded == ex.padded {
            return 1.0;
        }
        if ex.phrase.contains(' ') && padded.contains(&ex.padded) {
            // Phrase rule: the whole example is inside the utterance.
            return 0.92;
        }
        if ex.tokens.is_empty() || utt.is_empty() {
            return 0.0;
        }
        let ex_joined = &ex.joined;
        let (mut rn, mut rd) = (0.0, 0.0);
        for t in &ex.tokens {
            let w = self.weight(t);
            rn += w * self.recall_sim(t, utt, joined);
            rd += w;
        }
        let (mut pn, mut pd) = (0.0, 0.0);
        for t in utt {
            // Unknown words (names, noise) count less against the match than known ones.
            let w = if self.idf.contains_key(t) {
                self.weight(t)
            } else {
                self.default_idf * 0.5
            };
            pn += w * self.precision_sim(t, &ex.tokens, ex_joined);
            pd += w;
        }
        let recall = if rd > 0.0 { rn / rd } else { 0.0 };
        let precision = if pd > 0.0 { pn / pd } else { 0.0 };
        // F-measure leaning on recall (beta 1.5): the example's words should be there,
        // extra words in the utterance (fillers, numbers, names) cost less.
        const B2: f32 = 2.25;
        if recall + precision <= 0.0 {
            0.0
        } else {
            (1.0 + B2) * precision * recall / (B2 * precision + recall)
        }
    }

    /// All intents in `allowed` (or all), best first.
    pub fn rank(&self, text: &str, allowed: Option<&[String]>) -> Vec<IntentScore> {
        if let Some(p) = &self.pinyin {
            return p.rank(text, allowed);
        }
        let padded = format!(" {} ", for_matching(text));
        let utt = content_tokens(text);
        let joined: Vec<String> = utt.windows(2).map(|w| w.concat()).collect();
        let mut out: Vec<IntentScore> = self
            .entries
            .iter()
            .filter(|e| allowed.is_none_or(|a| a.contains(&e.name)))
            .map(|e| {
                let mut s = e
                    .examples
                    .iter()
                    .map(|ex| self.example_score(&padded, &utt, &joined, ex))
                    .fold(0.0, f32::max);
                let kw_hits = e
                    .keywords
                    .iter()
                    .filter(|k| {
                        if k.contains(' ') {
                            padded.contains(&format!(" {k} "))
                        } else {
                            utt.iter()
                                .chain(joined.iter())
                                .any(|u| self.sim(u, k) >= 0.8)
                        }
                    })
                    .count();
                if kw_hits > 0 {
                    s = s.max(0.62 + 0.08 * (kw_hits.min(3) as f32 - 1.0)) + 0.05;
                }
                IntentScore {
                    intent: e.name.clone(),
                    score: s.min(1.0),
                }
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }

    /// Rank, then apply thresholds: the rules alone (stage 1). Both stages decide in
    /// `Flow::read` / `Flow::decide_intent`.
    pub fn decide(&self, text: &str, allowed: Option<&[String]>, th: Thresholds) -> Decision {
        two_stage::threshold(&self.rank(text, allowed), th)
    }

    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }
}

fn example_texts(intents: &[(String, Vec<String>, Vec<String>)]) -> Vec<(String, String)> {
    intents
        .iter()
        .flat_map(|(name, examples, _)| examples.iter().map(move |e| (name.clone(), e.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> IntentMatcher {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        IntentMatcher::new(&[
            (
                "track_parcel".into(),
                s(&["track my parcel", "where is my package", "parcel status"]),
                s(&["track", "where"]),
            ),
            (
                "opening_hours".into(),
                s(&["what are your opening hours", "when are you open"]),
                s(&["hours", "open"]),
            ),
        ])
    }

    #[test]
    fn exact_fuzzy_and_none() {
        let m = matcher();
        let th = Thresholds::default();
        assert!(
            matches!(m.decide("track my parcel", None, th), Decision::Accept(s) if s.intent == "track_parcel")
        );
        assert!(
            matches!(m.decide("truck my parcel please", None, th), Decision::Accept(s) if s.intent == "track_parcel")
        );
        assert!(
            matches!(m.decide("when do you open", None, th), Decision::Accept(s) if s.intent == "opening_hours")
        );
        assert_eq!(
            m.decide("purple elephants dancing", None, th),
            Decision::NoMatch
        );
        assert_eq!(m.decide("", None, th), Decision::NoMatch);
    }

    #[test]
    fn a_heard_flow_word_is_not_a_mishearing_of_another() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let m = IntentMatcher::new(&[
            (
                "track_parcel".into(),
                s(&["track my parcel", "where is my parcel"]),
                s(&["track", "tracking"]),
            ),
            (
                "report_damage".into(),
                s(&["my parcel is damaged", "the screen is cracked"]),
                s(&["damaged", "cracked", "broken"]),
            ),
        ]);
        let th = Thresholds::default();
        // Whisper's "parcel" -> "powerful": "track" alone must route, with nothing
        // competing ("track" is not a fuzzy "cracked").
        for utt in [
            "I'd like to track my powerful",
            "Track my pastel.",
            "trekking my parcel",
        ] {
            let ranked = m.rank(utt, None);
            assert!(
                matches!(m.decide(utt, None, th), Decision::Accept(ref s) if s.intent == "track_parcel"),
                "{utt}: {ranked:?}"
            );
            assert!(ranked[1].score + 0.3 < ranked[0].score, "{utt}: {ranked:?}");
        }
        assert!(
            matches!(m.decide("my tv screen is cracked", None, th), Decision::Accept(s) if s.intent == "report_damage")
        );
        // Unknown words still match fuzzily; shared stems still match.
        assert!(m.sim("truck", "track") >= 0.8);
        assert_eq!(m.sim("track", "crack"), 0.0);
        assert_eq!(m.sim("dont", "dent"), 0.0);
        assert!(m.sim("parcel", "parcels") >= 0.8);
    }

    #[test]
    fn stems_and_skeletons() {
        assert_eq!(stem("tracking"), "track");
        assert_eq!(stem("packages"), stem("package"));
        assert_eq!(skeleton("truck"), skeleton("track"));
        assert!(token_sim("parcel", "parsel") >= 0.8);
        assert_eq!(token_sim("hours", "track"), 0.0);
    }
}
