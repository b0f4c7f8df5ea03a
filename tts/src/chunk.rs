//! Split normalised text into the units synthesized one at a time: clauses, so the first
//! audio is ready after one short inference and a barge-in stops synthesis within one clause.

use crate::normalize::Piece;
use crate::phonemize::is_clause_punct;

/// Clauses shorter than this (in words) are merged with the next one of the same sentence:
/// many tiny inferences cost more and sound choppier.
const MIN_WORDS: usize = 3;
/// Longer clauses are cut at word boundaries so one inference never gets huge.
pub const MAX_WORDS: usize = 24;

/// One unit of synthesis.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Words with their clause punctuation; `sentence_end` when it ends with `.`, `?` or `!`
    /// (or ends the text).
    Speak { text: String, sentence_end: bool },
    /// Silence, in milliseconds.
    Pause(u32),
}

/// Split normalised pieces into synthesis chunks. The first clause is never merged, so the
/// caller hears it as soon as possible.
pub fn chunks(pieces: &[Piece]) -> Vec<Chunk> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Pause(ms) => out.push(Chunk::Pause(*ms)),
            Piece::Text(t) => split_text(t, &mut out),
        }
    }
    out
}

fn split_text(text: &str, out: &mut Vec<Chunk>) {
    // 1. clauses, each ending at clause punctuation followed by a space or the end
    let mut clauses: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        if is_clause_punct(c) && chars.peek().is_none_or(|n| n.is_whitespace()) {
            // absorb runs like "?!" or "..."
            while let Some(&n) = chars.peek() {
                if is_clause_punct(n) {
                    cur.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            clauses.push(std::mem::take(&mut cur));
        }
    }
    clauses.push(cur);

    // 2. merge short clauses and cut long ones
    let mut pending = String::new();
    let mut first = out.iter().all(|c| matches!(c, Chunk::Pause(_)));
    for clause in clauses {
        let clause = clause.trim();
        if clause.is_empty() || !clause.chars().any(|c| c.is_alphanumeric()) {
            // punctuation alone: attach to what is pending (keeps the prosody cue)
            if !pending.is_empty() {
                pending.push_str(clause);
            }
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(clause);
        let sentence_end = ends_sentence(&pending);
        let words = pending.split_whitespace().count();
        if first || sentence_end || words >= MIN_WORDS {
            emit(&pending, out);
            pending.clear();
            first = false;
        }
    }
    if !pending.trim().is_empty() {
        emit(&pending, out);
    }
}

fn ends_sentence(s: &str) -> bool {
    s.trim_end().ends_with(['.', '?', '!'])
}

fn emit(text: &str, out: &mut Vec<Chunk>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let parts: Vec<&[&str]> = words.chunks(MAX_WORDS).collect();
    let n = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let text = part.join(" ");
        let last = i + 1 == n;
        let sentence_end = last && (ends_sentence(&text) || !text.ends_with([',', ';', ':']));
        out.push(Chunk::Speak { text, sentence_end });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn texts(t: &str) -> Vec<String> {
        chunks(&normalize(t))
            .into_iter()
            .map(|c| match c {
                Chunk::Speak { text, .. } => text,
                Chunk::Pause(ms) => format!("<{ms}>"),
            })
            .collect()
    }

    #[test]
    fn first_clause_alone_short_ones_merged() {
        assert_eq!(
            texts("Hello, thanks for calling. To pay, say pay, or press one. Bye!"),
            vec![
                "Hello,",
                "thanks for calling.",
                "To pay, say pay,",
                "or press one.",
                "Bye!"
            ]
        );
    }

    #[test]
    fn pauses_and_sentence_flags() {
        let c = chunks(&normalize("One moment.{pause:500} Done"));
        assert_eq!(
            c,
            vec![
                Chunk::Speak {
                    text: "One moment.".into(),
                    sentence_end: true
                },
                Chunk::Pause(500),
                Chunk::Speak {
                    text: "Done".into(),
                    sentence_end: true
                },
            ]
        );
    }

    #[test]
    fn long_text_is_cut() {
        let long = "word ".repeat(100);
        let c = texts(&long);
        assert_eq!(c.len(), 100usize.div_ceil(MAX_WORDS));
        assert!(c.iter().all(|t| t.split_whitespace().count() <= MAX_WORDS));
    }

    #[test]
    fn empty_and_punctuation_only() {
        assert!(texts("").is_empty());
        assert!(texts("... ?!").is_empty());
    }
}
