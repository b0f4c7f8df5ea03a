//! Mandarin sentiment lexicon for the hand-off rule: the same scale and the same
//! `TurnSentiment` as the English lexicon (valences -4..4, anger words flagged), matched as
//! substrings (Chinese has no word spaces), negated by 不 / 没 / 别 just before.

use crate::sentiment::TurnSentiment;

use super::text::fold_width;

/// (word, valence, anger). Longer entries first where one contains another.
const LEXICON: &[(&str, f32, bool)] = &[
    // Anger: one of these, unnegated, hands the caller to a person.
    ("气死我了", -3.4, true),
    ("气死了", -3.4, true),
    ("太差了", -3.1, true),
    ("太差劲", -3.1, true),
    ("差劲", -2.8, true),
    ("什么破", -3.0, true),
    ("破玩意", -3.0, true),
    ("什么玩意", -3.0, true),
    ("垃圾", -3.0, true),
    ("废物", -3.0, true),
    ("混蛋", -3.2, true),
    ("骗子", -3.0, true),
    ("坑人", -3.0, true),
    ("忽悠", -2.6, true),
    ("烦死了", -3.0, true),
    ("受不了", -2.8, true),
    ("太过分", -3.0, true),
    ("过分", -2.6, true),
    ("离谱", -2.8, true),
    ("恶心", -3.0, true),
    ("他妈的", -3.4, true),
    ("妈的", -3.2, true),
    ("滚", -3.0, true),
    ("愤怒", -3.0, true),
    ("生气", -2.6, true),
    ("火大", -2.8, true),
    ("搞什么", -2.8, true),
    ("无语", -2.5, true),
    ("没用", -2.8, true),
    ("投诉你们", -3.0, true),
    // Negative, not angry by itself.
    ("投诉", -1.5, false),
    ("不满意", -2.2, false),
    ("失望", -2.3, false),
    ("着急", -1.5, false),
    ("担心", -1.4, false),
    ("麻烦", -1.0, false),
    ("问题", -0.8, false),
    ("太慢", -1.6, false),
    ("丢了", -1.4, false),
    ("坏了", -0.6, false),
    ("差", -2.0, false),
    ("烦", -2.0, false),
    // Positive.
    ("太好了", 3.0, false),
    ("非常感谢", 2.6, false),
    ("谢谢", 1.9, false),
    ("感谢", 2.0, false),
    ("辛苦了", 2.0, false),
    ("满意", 2.2, false),
    ("不错", 1.9, false),
    ("很好", 2.2, false),
    ("好的", 0.6, false),
    ("棒", 2.5, false),
];

const NEGATORS: &[char] = &['不', '没', '别', '未'];
const BOOSTERS: &[&str] = &["太", "非常", "特别", "真", "超", "很", "十分", "简直"];

/// Score one utterance.
pub fn score(text: &str) -> TurnSentiment {
    let t: String = fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut taken = vec![false; t.len()];
    let mut sum = 0.0f32;
    let mut angry = false;
    for (word, valence, anger) in LEXICON {
        for (i, _) in t.match_indices(word) {
            if taken[i..i + word.len()].iter().any(|x| *x) {
                continue; // part of a longer entry already counted
            }
            taken[i..i + word.len()].iter_mut().for_each(|x| *x = true);
            let before: String = t[..i]
                .chars()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let mut v = *valence;
            if BOOSTERS.iter().any(|b| before.contains(b)) && !word.starts_with('太') {
                v *= 1.4;
            }
            // "不生气" / "没问题": negated. Entries that start with a negator ("不满意",
            // "不错", "没用") carry it already.
            let negated = !word.starts_with(NEGATORS)
                && before.chars().rev().take(2).any(|c| NEGATORS.contains(&c));
            if negated {
                v *= -0.6;
            } else if *anger {
                angry = true;
            }
            sum += v;
        }
    }
    if sum < 0.0 && (text.contains('!') || text.contains('！')) {
        sum *= 1.2;
    }
    let score = if sum == 0.0 {
        0.0
    } else {
        sum / (sum * sum + 15.0).sqrt()
    };
    TurnSentiment { score, angry }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anger_negation_and_praise() {
        for s in [
            "气死我了",
            "你们服务太差了",
            "什么破系统！",
            "垃圾公司",
            "我要投诉你们",
        ] {
            let t = score(s);
            assert!(t.angry && t.score <= -0.5, "{s}: {t:?}");
        }
        let t = score("我不生气");
        assert!(!t.angry && t.score > 0.0, "{t:?}");
        assert!(score("谢谢，太好了").score > 0.5);
        let t = score("我要查快递");
        assert_eq!((t.score, t.angry), (0.0, false));
        // A complaint is negative but no reason to hand off on its own.
        let t = score("我想投诉一下包裹坏了");
        assert!(!t.angry && t.score < 0.0 && t.score > -0.5, "{t:?}");
    }
}
