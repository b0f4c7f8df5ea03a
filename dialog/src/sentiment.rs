//! Lexicon sentiment per caller turn, with negation and intensifiers, normalised to
//! [-1, 1] (VADER-style `s / sqrt(s^2 + 15)`), and a running call sentiment.

use crate::normalize::for_matching;

/// Word valences (-4..4). Anger words are flagged separately: they trigger hand-off.
const LEXICON: &[(&str, f32)] = &[
    ("good", 1.9),
    ("great", 3.1),
    ("excellent", 3.2),
    ("perfect", 2.7),
    ("thanks", 1.9),
    ("thank", 1.5),
    ("helpful", 1.8),
    ("happy", 2.7),
    ("glad", 2.0),
    ("nice", 1.8),
    ("wonderful", 2.7),
    ("awesome", 3.1),
    ("love", 3.2),
    ("lovely", 2.8),
    ("appreciate", 2.0),
    ("brilliant", 2.8),
    ("fine", 0.8),
    ("pleased", 2.0),
    ("bad", -2.5),
    ("poor", -2.1),
    ("wrong", -2.1),
    ("problem", -1.7),
    ("late", -1.2),
    ("lost", -1.3),
    ("missing", -1.2),
    ("disappointed", -2.3),
    ("disappointing", -2.2),
    ("annoyed", -2.1),
    ("annoying", -2.2),
    ("frustrated", -2.4),
    ("frustrating", -2.3),
    ("upset", -2.3),
    ("unhappy", -2.4),
    ("sad", -2.1),
    ("worried", -1.5),
    ("confused", -1.0),
    ("broken", -1.2),
    ("damaged", -1.0),
    ("complaint", -1.6),
    ("complain", -1.6),
    ("waste", -1.8),
    ("slow", -1.0),
];

const ANGER: &[(&str, f32)] = &[
    ("angry", -3.0),
    ("furious", -3.5),
    ("livid", -3.5),
    ("outraged", -3.4),
    ("ridiculous", -2.9),
    ("useless", -3.0),
    ("terrible", -3.1),
    ("horrible", -3.1),
    ("awful", -3.0),
    ("worst", -3.1),
    ("hate", -3.0),
    ("stupid", -2.9),
    ("idiot", -3.0),
    ("idiots", -3.0),
    ("incompetent", -3.0),
    ("pathetic", -3.0),
    ("unacceptable", -3.0),
    ("disgusting", -3.2),
    ("disgrace", -3.0),
    ("joke", -1.5),
    ("damn", -2.5),
    ("hell", -2.0),
    ("crap", -2.8),
    ("rubbish", -2.5),
    ("sick", -2.0),
    ("fed", -1.0),
    ("scam", -3.0),
    ("shit", -3.0),
    ("bloody", -2.0),
];

const NEGATORS: &[&str] = &[
    "not", "no", "never", "dont", "isnt", "wasnt", "arent", "didnt", "cant", "cannot", "wont",
    "nothing", "hardly",
];
const BOOSTERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "absolutely",
    "completely",
    "utterly",
    "incredibly",
];

/// One caller turn's sentiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnSentiment {
    /// -1 (very negative) .. 1 (very positive).
    pub score: f32,
    /// An anger word was used (not negated).
    pub angry: bool,
}

fn valence(word: &str) -> Option<(f32, bool)> {
    if let Some((_, v)) = ANGER.iter().find(|(w, _)| *w == word) {
        return Some((*v, true));
    }
    LEXICON
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, v)| (*v, false))
}

/// Score one utterance.
pub fn score(text: &str) -> TurnSentiment {
    let norm = for_matching(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let mut sum = 0.0f32;
    let mut angry = false;
    for (i, w) in words.iter().enumerate() {
        let Some((mut v, is_anger)) = valence(w) else {
            continue;
        };
        let window = &words[i.saturating_sub(3)..i];
        if window.iter().any(|p| BOOSTERS.contains(p)) {
            v *= 1.4;
        }
        let negated = window.iter().any(|p| NEGATORS.contains(p));
        if negated {
            // "not good" is mildly negative, "not bad" mildly positive.
            v *= -0.6;
        } else if is_anger {
            angry = true;
        }
        sum += v;
    }
    // Shouting shows up in transcripts only as "!" if at all.
    if sum < 0.0 && text.contains('!') {
        sum *= 1.2;
    }
    let score = if sum == 0.0 {
        0.0
    } else {
        sum / (sum * sum + 15.0).sqrt()
    };
    TurnSentiment { score, angry }
}

/// Running call sentiment: an exponential moving average, so recent turns count most
/// but one neutral turn does not erase a string of complaints.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningSentiment {
    pub value: f32,
    pub turns: u32,
}

impl RunningSentiment {
    pub fn update(&mut self, turn: TurnSentiment) {
        self.value = if self.turns == 0 {
            turn.score
        } else {
            0.6 * self.value + 0.4 * turn.score
        };
        self.turns += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labelled sentences: -1 negative, 0 neutral, 1 positive.
    const LABELLED: &[(&str, i32)] = &[
        ("thank you so much, that was really helpful", 1),
        ("great, thanks", 1),
        ("perfect, I appreciate it", 1),
        ("that's wonderful news", 1),
        ("lovely, thank you", 1),
        ("this is not bad at all", 1),
        ("I'm happy with that", 1),
        ("awesome", 1),
        ("track my parcel", 0),
        ("one two three four five six seven eight", 0),
        ("tomorrow please", 0),
        ("what are your opening hours", 0),
        ("I want to reschedule my delivery", 0),
        ("yes", 0),
        ("can I speak to someone", 0),
        ("my tracking number is 12345678", 0),
        ("this is ridiculous", -1),
        ("you are useless", -1),
        ("I'm furious, this is the worst service ever", -1),
        ("my parcel is late again and I'm really annoyed", -1),
        ("this is unacceptable", -1),
        ("I hate this stupid machine", -1),
        ("the box arrived broken and I'm very disappointed", -1),
        ("that's not good enough", -1),
        ("I'm so frustrated", -1),
        ("absolutely terrible", -1),
    ];

    #[test]
    fn labelled_sentences() {
        let mut correct = 0;
        for (text, label) in LABELLED {
            let s = score(text).score;
            let got = if s > 0.2 {
                1
            } else if s < -0.2 {
                -1
            } else {
                0
            };
            if got == *label {
                correct += 1;
            } else {
                eprintln!("miss: {text:?} -> {s}");
            }
        }
        assert!(
            correct * 100 >= LABELLED.len() * 90,
            "{correct}/{}",
            LABELLED.len()
        );
    }

    #[test]
    fn anger_and_negation() {
        assert!(score("this is ridiculous, you are useless").angry);
        assert!(!score("that's not stupid").angry);
        assert!(!score("where is my parcel").angry);
        assert!(score("not good").score < 0.0);
        assert!(score("not bad").score > 0.0);
        assert_eq!(score("").score, 0.0);
    }

    #[test]
    fn running_average() {
        let mut r = RunningSentiment::default();
        r.update(score("great"));
        assert!(r.value > 0.5);
        r.update(score("this is terrible and useless"));
        r.update(score("ridiculous"));
        assert!(r.value < -0.2, "{}", r.value);
    }
}
