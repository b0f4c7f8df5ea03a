//! Character error rate for Chinese transcripts: both sides normalised the same way, so
//! only recognition errors count, not how Whisper chose to write the same words.

use chinese_number::{ChineseCountMethod, ChineseToNumber};
use serde::Serialize;

use crate::language::OutputScript;
use crate::script;

/// Errors of one hypothesis against its reference, in characters after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CharErrors {
    /// Substitutions + insertions + deletions.
    pub errors: usize,
    pub reference_chars: usize,
}

/// The characters that are scored: Simplified script, full-width forms folded, letters
/// lowercased, punctuation and spaces dropped, and hanzi numerals written as Arabic digits
/// (Whisper writes "12线" where the transcript has "一二线", "20" for "二十").
pub fn normalize_zh_for_scoring(text: &str) -> Vec<char> {
    let simplified = script::convert(text, OutputScript::Simplified);
    let folded: Vec<char> = simplified
        .chars()
        .map(fold_width)
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut out = Vec::with_capacity(folded.len());
    let mut i = 0;
    while i < folded.len() {
        if numeral_value(folded[i]).is_some() || is_unit(folded[i]) {
            let start = i;
            while i < folded.len() && (numeral_value(folded[i]).is_some() || is_unit(folded[i])) {
                i += 1;
            }
            out.extend(numerals_to_digits(&folded[start..i]));
        } else {
            out.push(folded[i]);
            i += 1;
        }
    }
    out
}

/// Character errors of `hypothesis` against `reference`, both normalised.
pub fn char_errors(reference: &str, hypothesis: &str) -> CharErrors {
    let r = normalize_zh_for_scoring(reference);
    let h = normalize_zh_for_scoring(hypothesis);
    CharErrors {
        errors: edit_distance(&r, &h),
        reference_chars: r.len(),
    }
}

/// Full-width ASCII (U+FF01..U+FF5E) to ASCII.
fn fold_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn numeral_value(c: char) -> Option<u8> {
    Some(match c {
        '零' | '〇' | '洞' => 0,
        '一' | '幺' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn is_unit(c: char) -> bool {
    matches!(c, '十' | '百' | '千' | '万' | '亿')
}

/// A run of hanzi numerals: digit by digit ("一二" -> "12", "幺零" -> "10"), or as a
/// positional number when it has units ("二十" -> "20", "一百零五" -> "105"). A run the
/// number parser refuses ("万万") is kept as written.
fn numerals_to_digits(run: &[char]) -> Vec<char> {
    if !run.iter().any(|&c| is_unit(c)) {
        return run
            .iter()
            .filter_map(|&c| numeral_value(c))
            .map(|d| char::from(b'0' + d))
            .collect();
    }
    let text: String = run
        .iter()
        .map(|&c| match c {
            '两' => '二',
            '幺' => '一',
            '〇' | '洞' => '零',
            other => other,
        })
        .collect();
    let parsed: Result<u64, _> = text.to_number(ChineseCountMethod::TenThousand);
    match parsed {
        Ok(n) => n.to_string().chars().collect(),
        Err(_) => run.to_vec(),
    }
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize_zh_for_scoring(s).into_iter().collect()
    }

    #[test]
    fn punctuation_spaces_script_and_numerals_are_normalised() {
        assert_eq!(
            norm("一二线城市，虽然 也处于调整中。"),
            "12线城市虽然也处于调整中"
        );
        assert_eq!(norm("12线城市虽然也处于调整中"), "12线城市虽然也处于调整中");
        assert_eq!(
            norm("甚至出現交易幾乎停滯的情況"),
            "甚至出现交易几乎停滞的情况"
        );
        assert_eq!(norm("二十号"), "20号");
        assert_eq!(norm("一百零五元"), "105元");
        assert_eq!(norm("两千"), "2000");
        assert_eq!(norm("幺三八"), "138");
        assert_eq!(norm("１２３ABC"), "123abc");
    }

    #[test]
    fn errors_are_counted_in_characters() {
        let e = char_errors("甚至出现交易几乎停滞的情况", "甚至出現交易幾乎停滯的情況。");
        assert_eq!(
            e,
            CharErrors {
                errors: 0,
                reference_chars: 13
            }
        );
        let e = char_errors("一二线城市虽然也处于调整中", "12线城市虽然也处于调整中");
        assert_eq!(e.errors, 0);
        // One substitution (市 -> 是), one deletion (中).
        let e = char_errors("一二线城市虽然也处于调整中", "一二线城是虽然也处于调整");
        assert_eq!(
            e,
            CharErrors {
                errors: 2,
                reference_chars: 13
            }
        );
        assert_eq!(char_errors("你好", "").errors, 2);
        assert_eq!(char_errors("", "你好").errors, 2);
    }
}
