//! Split normalised Mandarin into synthesis units at Chinese (and ASCII) clause punctuation,
//! so the first audio is ready after one short inference and a barge-in stops synthesis
//! within one clause. Mandarin has no spaces: lengths are counted in characters.

use crate::chunk::Chunk;
use crate::normalize::Piece;
use crate::zh_normalize::DIGIT_GROUP_PAUSE;

/// Clauses with fewer speakable characters are merged with the next one of the same
/// sentence (the first clause never is: the caller hears it soonest).
const MIN_CHARS: usize = 4;
/// A first clause at least this long is also cut at a digit-group pause.
const FIRST_CUT_CHARS: usize = 8;
/// Longer clauses are cut (Kokoro takes at most ~500 phoneme tokens, ~3-4 per character).
pub const MAX_CHARS: usize = 60;

fn is_clause_punct(c: char) -> bool {
    matches!(
        c,
        '，' | '。' | '！' | '？' | '；' | '、' | '：' | '…' | ',' | '.' | '!' | '?' | ';'
    )
}

fn ends_sentence(s: &str) -> bool {
    s.trim_end()
        .ends_with(['。', '！', '？', '.', '!', '?', '…'])
}

fn speakable(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphanumeric()).count()
}

/// Synthesis chunks of normalised Mandarin pieces.
pub fn zh_chunks(pieces: &[Piece]) -> Vec<Chunk> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Pause(ms) => out.push(Chunk::Pause(*ms)),
            Piece::Text(t) => split(t, &mut out),
        }
    }
    out
}

fn split(text: &str, out: &mut Vec<Chunk>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let first_piece = out.iter().all(|c| matches!(c, Chunk::Pause(_)));
    while let Some(c) = chars.next() {
        cur.push(c);
        // A long first clause is cut at its first digit-group pause too: the caller hears
        // "您的单号是SF幺二三四" while the rest of the number is synthesized.
        let cut_first = first_piece
            && clauses.is_empty()
            && c == DIGIT_GROUP_PAUSE
            && speakable(&cur) >= FIRST_CUT_CHARS;
        if is_clause_punct(c) || cut_first {
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

    let mut pending = String::new();
    let mut first = out.iter().all(|c| matches!(c, Chunk::Pause(_)));
    for clause in clauses {
        let clause = clause.trim();
        if clause.is_empty() {
            continue;
        }
        if speakable(clause) == 0 {
            // punctuation alone: keep it with what is pending (the prosody cue)
            pending.push_str(clause);
            continue;
        }
        pending.push_str(clause);
        if first || ends_sentence(&pending) || speakable(&pending) >= MIN_CHARS {
            emit(&pending, out);
            pending.clear();
            first = false;
        }
    }
    if speakable(&pending) > 0 {
        emit(&pending, out);
    }
}

fn emit(text: &str, out: &mut Vec<Chunk>) {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<String> = chars
        .chunks(MAX_CHARS)
        .map(|p| p.iter().collect())
        .collect();
    let n = parts.len();
    for (i, text) in parts.into_iter().enumerate() {
        let sentence_end =
            i + 1 == n && (ends_sentence(&text) || !text.trim_end().ends_with(is_clause_punct));
        out.push(Chunk::Speak { text, sentence_end });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zh_normalize::normalize_zh;

    fn texts(t: &str) -> Vec<String> {
        zh_chunks(&normalize_zh(t))
            .into_iter()
            .map(|c| match c {
                Chunk::Speak { text, .. } => text,
                Chunk::Pause(ms) => format!("<{ms}>"),
            })
            .collect()
    }

    #[test]
    fn clauses_at_chinese_punctuation() {
        assert_eq!(
            texts("您好，请问有什么可以帮您？好的，我帮您查一下。"),
            vec!["您好，", "请问有什么可以帮您？", "好的，我帮您查一下。"]
        );
        // digit-group pauses cut only a long first clause, once
        assert_eq!(
            texts("好的，电话13800138000。"),
            vec!["好的，", "电话幺三八·零零幺三·八零零零。"]
        );
        assert_eq!(
            texts("电话13800138000，请记下。"),
            vec!["电话幺三八·零零幺三·", "八零零零，", "请记下。"]
        );
    }

    #[test]
    fn sentence_flags_pauses_and_long_text() {
        let c = zh_chunks(&normalize_zh("请稍等。{pause:500}好了"));
        assert_eq!(
            c,
            vec![
                Chunk::Speak {
                    text: "请稍等。".into(),
                    sentence_end: true
                },
                Chunk::Pause(500),
                Chunk::Speak {
                    text: "好了".into(),
                    sentence_end: true
                },
            ]
        );
        let long = "很".repeat(150);
        let parts = texts(&long);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CHARS));
        assert!(texts("").is_empty());
        assert!(texts("。。！").is_empty());
    }
}
