//! Hallucination guard: Whisper writes fluent text for silence, noise and music, and
//! greedy decoding can loop. Three defences: don't decode non-speech, drop phantom
//! phrases when the evidence for speech is weak, and cut repetition loops.

use serde::Serialize;

use crate::script::is_han;

/// What the guard did to a transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
pub enum GuardAction {
    /// Not decoded: too short or too quiet to hold speech.
    NotSpeech(String),
    /// Whisper's own no-speech probability was high and its text unsure.
    NoSpeech,
    /// A known phantom phrase ("thanks for watching", "[BLANK_AUDIO]", ...).
    Phantom(String),
    /// A repetition loop was cut back to one occurrence (words; hanzi in Chinese text).
    RepetitionCut { removed_words: usize },
}

/// Shortest audio worth decoding.
const MIN_SAMPLES: usize = 16_000 / 10; // 100 ms: whisper.cpp refuses less
/// RMS below this (about -60 dBFS) is line silence, not speech.
const MIN_RMS: f32 = 0.001;

/// Before decoding: `Some` if the audio cannot hold speech.
pub fn precheck(audio: &[f32]) -> Option<GuardAction> {
    if audio.len() < MIN_SAMPLES {
        return Some(GuardAction::NotSpeech(format!(
            "{} ms of audio (< 100 ms)",
            audio.len() / 16
        )));
    }
    let rms = (audio.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / audio.len() as f64)
        .sqrt() as f32;
    if rms < MIN_RMS {
        return Some(GuardAction::NotSpeech(format!(
            "silence (RMS {:.1} dBFS)",
            20.0 * rms.max(1e-9).log10()
        )));
    }
    None
}

/// Phrases Whisper produces from non-speech that no IVR caller says.
const ALWAYS_PHANTOM: &[&str] = &[
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "subscribe to",
    "like and subscribe",
    "see you in the next video",
    "subtitles by",
    "transcribed by",
    "amara org",
    "blank audio",
];

/// Phrases that are real answers too ("thank you", "bye"), but also Whisper's favourite
/// output for noise: dropped only when the evidence for speech is weak.
const WEAK_PHANTOM: &[&str] = &[
    "thank you",
    "thanks",
    "you",
    "bye",
    "bye bye",
    "so",
    "oh",
    "uh",
    "um",
    "hmm",
    "the end",
    "i",
    "okay",
    "",
];

fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim().replace('\'', "")
}

/// Remove non-speech annotations: [BLANK_AUDIO], (music), *laughs*, ♪ ... ♪.
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut star = false;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '*' => star = !star,
            '♪' | '♫' => {}
            _ if depth == 0 && !star => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Phrases Whisper writes in Chinese for silence, noise and music: subtitle credits and
/// video sign-offs from its training data, and the zh prompt echoed. Matched on the
/// text with punctuation and spaces removed, anywhere in it: no caller says them.
const ALWAYS_PHANTOM_ZH: &[&str] = &[
    "字幕由amara",
    "amaraorg社区",
    "字幕提供",
    "字幕制作",
    "字幕志愿者",
    "字幕组",
    "中文字幕",
    "字幕by",
    "请不吝点赞",
    "点赞订阅",
    "订阅转发",
    "打赏支持",
    "明镜与点点",
    "点点栏目",
    "明镜需要您的支持",
    "欢迎订阅",
    "优优独播剧场",
    "televisionseriesexclusive",
    "谢谢观看",
    "感谢观看",
    "多谢观看",
    "谢谢收看",
    "感谢收看",
    "多谢收看",
    "下集更精彩",
    "下期再见",
    // The zh prompt (以下是普通话的句子。) echoed back, whole or in part ("它是普通话的句子").
    "普通话的句子",
];

/// Whole Chinese utterances that are Whisper's, not a caller's, whatever its confidence.
const WHOLE_PHANTOM_ZH: &[&str] = &["谢谢大家", "大家好", "谢谢大家的收看", "好了"];

/// Real short answers that are also Whisper's output for noise: dropped only on weak
/// evidence for speech, like `WEAK_PHANTOM`.
const WEAK_PHANTOM_ZH: &[&str] = &["谢谢", "谢谢你", "嗯", "啊", "呃", "哦", "唉", "拜拜"];

/// `text` lowercased with everything but letters and digits removed: "请不吝点赞 订阅".
fn compact(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What loop detection counts: a word between spaces, or in Chinese text one hanzi (with the
/// punctuation after it) or one run of Latin letters/digits ("12线" is "12", "线").
#[derive(Debug, Clone, Copy)]
struct Unit<'a> {
    text: &'a str,
    space_before: bool,
}

fn units(text: &str) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        if !word.chars().any(is_han) {
            out.push(Unit {
                text: word,
                space_before: true,
            });
            continue;
        }
        let mut start = 0;
        let mut prev: Option<char> = None;
        for (i, c) in word.char_indices() {
            let split = prev.is_some_and(|p| {
                is_han(c) || (c.is_alphanumeric() && (is_han(p) || !p.is_alphanumeric()))
            });
            if split && i > start {
                out.push(Unit {
                    text: &word[start..i],
                    space_before: start == 0,
                });
                start = i;
            }
            prev = Some(c);
        }
        out.push(Unit {
            text: &word[start..],
            space_before: start == 0,
        });
    }
    out
}

fn join(units: &[Unit<'_>]) -> String {
    let mut out = String::new();
    for (i, u) in units.iter().enumerate() {
        if i > 0 && u.space_before {
            out.push(' ');
        }
        out.push_str(u.text);
    }
    out
}

/// How long a repeat must be to count as a loop, in units.
#[derive(Debug, Clone, Copy)]
struct LoopRules {
    /// Longest repeated unit sequence looked for.
    max_unit: usize,
    /// The shortest phrase that, said twice as a whole utterance, is kept once.
    min_whole: usize,
    /// Characters are shorter than words: Chinese loops must repeat more units.
    chinese: bool,
}

impl LoopRules {
    fn for_text(text: &str) -> Self {
        if text.chars().any(is_han) {
            Self {
                max_unit: 16,
                min_whole: 4,
                chinese: true,
            }
        } else {
            Self {
                max_unit: 8,
                min_whole: 4,
                chinese: false,
            }
        }
    }

    /// Short repeats are real speech ("five five five", "no no no", "是的是的", "喂喂喂").
    fn is_loop(&self, unit: usize, reps: usize) -> bool {
        if self.chinese {
            (reps >= 4 && unit * reps >= 12) || (reps >= 3 && unit >= 5) || reps >= 10
        } else {
            (reps >= 4 && unit * reps >= 8) || reps >= 8
        }
    }
}

/// Cut a unit sequence repeated back to back into a loop (`LoopRules::is_loop`): kept once.
fn cut_repetitions<'a>(units: &[Unit<'a>], rules: LoopRules) -> (Vec<Unit<'a>>, usize) {
    let key: Vec<String> = units.iter().map(|u| fold(u.text)).collect();
    let mut out: Vec<Unit<'a>> = Vec::with_capacity(units.len());
    let mut removed = 0;
    let mut i = 0;
    while i < units.len() {
        let mut best: Option<(usize, usize)> = None; // (unit, repeats)
        for unit in 1..=rules.max_unit {
            if i + unit * 2 > units.len() {
                break;
            }
            let mut reps = 1;
            while i + unit * (reps + 1) <= units.len()
                && key[i..i + unit] == key[i + unit * reps..i + unit * (reps + 1)]
            {
                reps += 1;
            }
            if rules.is_loop(unit, reps) && best.is_none_or(|(u, r)| unit * reps > u * r) {
                best = Some((unit, reps));
            }
        }
        match best {
            Some((unit, reps)) => {
                out.extend_from_slice(&units[i..i + unit]);
                removed += unit * (reps - 1);
                i += unit * reps;
            }
            None => {
                out.push(units[i]);
                i += 1;
            }
        }
    }
    (out, removed)
}

/// The length of the unit (>= `min_whole` units) that the whole utterance repeats, if it is
/// two or more copies of one phrase, maybe ending in part of a third: "1 2 3 4 5 6 7 8 1 2 3
/// 4 5 6 7 8". Whisper does this when an initial prompt primes it with a similar phrase; a
/// caller does not say a whole request twice in one breath.
fn whole_repeat(key: &[String], min_whole: usize) -> Option<usize> {
    // The smallest period decides: "the the the ..." (period 1) is `cut_repetitions`' job.
    (1..=key.len() / 2)
        .find(|&unit| key.iter().enumerate().all(|(i, w)| *w == key[i % unit]))
        .filter(|&unit| unit >= min_whole)
}

/// A loop that ran into the token cap: the text ends in two or more copies of a unit of
/// 1..=`max_unit` units (at least 4 units in all), maybe followed by part of another copy
/// ("7, 3, 9, 1, 3, 9, 1, 3, 9, 1, 3, 9,", "$42.50. $0.50. $0.50. $0.50. $", "的情况的情况的情况").
/// Returns the units to keep (the first copy stays: it is usually what was said) or `None`
/// if the tail does not repeat. Only used when decoding hit the cap, so a caller's real
/// "1 2 1 2" is never touched.
fn cut_runaway_tail(units: &[Unit<'_>], rules: LoopRules) -> Option<usize> {
    let key: Vec<String> = units.iter().map(|u| fold(u.text)).collect();
    let n = key.len();
    let mut best: Option<usize> = None; // units kept
    for unit in 1..=rules.max_unit {
        // `partial` units at the very end are a cut-off copy of the unit's first units;
        // the last of them may itself be cut mid-word ("$" of "$0.50.").
        for partial in 0..=unit {
            let Some(full_end) = n.checked_sub(partial) else {
                break;
            };
            if full_end < unit * 2 {
                break;
            }
            let first = full_end - unit;
            let mut copies = 1;
            while copies * unit + unit <= full_end
                && key[full_end - (copies + 1) * unit..full_end - copies * unit]
                    == key[first..full_end]
            {
                copies += 1;
            }
            // "3 3 7 7" at the end of a number is speech; a loop repeats longer.
            if copies < 2 || copies * unit + partial < 4 {
                continue;
            }
            let tail_ok = (0..partial).all(|j| {
                let (got, want) = (&key[full_end + j], &key[first + j]);
                got == want || (j + 1 == partial && want.starts_with(got.as_str()))
            });
            if !tail_ok {
                continue;
            }
            let keep = full_end - (copies - 1) * unit;
            if best.is_none_or(|b| keep < b) {
                best = Some(keep);
            }
        }
    }
    best
}

/// Units in `text` as the guard counts them (words; hanzi in Chinese): what survives a
/// cut, and the speech rate.
pub fn unit_count(text: &str) -> usize {
    units(text).len()
}

/// After decoding: the text to keep and what was done. `hit_token_cap`: decoding stopped
/// at the token cap instead of end-of-text, the mark of a runaway loop.
pub fn filter(
    raw: &str,
    confidence: f32,
    no_speech_prob: Option<f32>,
    hit_token_cap: bool,
) -> (String, Option<GuardAction>) {
    let text = strip_annotations(raw);
    let folded = fold(&text);
    let no_speech = no_speech_prob.unwrap_or(0.0);
    if folded.is_empty() {
        let action = (!raw.trim().is_empty()).then(|| GuardAction::Phantom(raw.trim().to_owned()));
        return (String::new(), action);
    }
    if no_speech > 0.6 && confidence < 0.5 {
        return (String::new(), Some(GuardAction::NoSpeech));
    }
    let compacted = compact(&text);
    if ALWAYS_PHANTOM.iter().any(|p| folded.contains(p))
        || ALWAYS_PHANTOM_ZH.iter().any(|p| compacted.contains(p))
        || WHOLE_PHANTOM_ZH.contains(&compacted.as_str())
    {
        return (String::new(), Some(GuardAction::Phantom(text)));
    }
    let weak = no_speech > 0.3 || confidence < 0.5;
    if weak
        && (WEAK_PHANTOM.contains(&folded.as_str())
            || WEAK_PHANTOM_ZH.contains(&compacted.as_str()))
    {
        return (String::new(), Some(GuardAction::Phantom(text)));
    }
    let rules = LoopRules::for_text(&text);
    let mut units = units(&text);
    let mut tail_removed = 0;
    if hit_token_cap {
        // The last unit may be junk the cap cut off ("... 3 0 9 1 7 7 7" where the loop
        // was "3 0 9 1 7 7 5 4"): try without it too.
        let n = units.len();
        let keep = cut_runaway_tail(&units, rules)
            .or_else(|| cut_runaway_tail(&units[..n.saturating_sub(1)], rules));
        if let Some(keep) = keep {
            tail_removed = n - keep;
            units.truncate(keep);
        }
    }
    let key: Vec<String> = units.iter().map(|u| fold(u.text)).collect();
    if let Some(unit) = whole_repeat(&key, rules.min_whole) {
        return (
            join(&units[..unit]),
            Some(GuardAction::RepetitionCut {
                removed_words: tail_removed + units.len() - unit,
            }),
        );
    }
    let (kept, removed) = cut_repetitions(&units, rules);
    let removed = removed + tail_removed;
    if removed > 0 {
        return (
            join(&kept),
            Some(GuardAction::RepetitionCut {
                removed_words: removed,
            }),
        );
    }
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_blips_are_not_decoded() {
        assert!(matches!(precheck(&[]), Some(GuardAction::NotSpeech(_))));
        assert!(matches!(
            precheck(&vec![0.0; 16_000]),
            Some(GuardAction::NotSpeech(_))
        ));
        assert!(matches!(
            precheck(&vec![0.5; 800]),
            Some(GuardAction::NotSpeech(_))
        ));
        let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.1).sin() * 0.3).collect();
        assert_eq!(precheck(&tone), None);
    }

    #[test]
    fn phantoms_dropped() {
        assert_eq!(filter(" Thanks for watching!", 0.9, Some(0.1), false).0, "");
        assert_eq!(filter("[BLANK_AUDIO]", 0.9, Some(0.1), false).0, "");
        assert_eq!(filter("(music)", 0.9, Some(0.1), false).0, "");
        // "Thank you." is a real answer when Whisper is sure it heard speech...
        assert_eq!(filter("Thank you.", 0.8, Some(0.05), false).0, "Thank you.");
        // ...and a phantom when it is not.
        assert_eq!(filter("Thank you.", 0.3, Some(0.05), false).0, "");
        assert_eq!(filter("Thank you.", 0.8, Some(0.5), false).0, "");
        assert_eq!(
            filter("Yes, please.", 0.3, Some(0.7), false),
            (String::new(), Some(GuardAction::NoSpeech))
        );
    }

    #[test]
    fn repetition_loops_are_cut_but_real_repeats_kept() {
        let (t, a) = filter("my number is 5 5 5 and", 0.9, Some(0.0), false);
        assert_eq!((t.as_str(), a), ("my number is 5 5 5 and", None));
        assert_eq!(filter("no no no", 0.9, Some(0.0), false).0, "no no no");
        let looped = "I want to pay I want to pay I want to pay I want to pay I want to pay";
        let (t, a) = filter(looped, 0.9, Some(0.0), false);
        assert_eq!(t, "I want to pay");
        assert_eq!(a, Some(GuardAction::RepetitionCut { removed_words: 16 }));
        let (t, _) = filter(
            "the the the the the the the the the the",
            0.9,
            Some(0.0),
            false,
        );
        assert_eq!(t, "the");
    }

    #[test]
    fn a_whole_utterance_said_twice_is_kept_once() {
        let (t, a) = filter("1 2 3 4 5 6 7 8 1 2 3 4 5 6 7 8", 0.9, Some(0.0), false);
        assert_eq!(t, "1 2 3 4 5 6 7 8");
        assert_eq!(a, Some(GuardAction::RepetitionCut { removed_words: 8 }));
        let (t, _) = filter(
            "1 2 3 4 5 6 7 8 1 2 3 4 5 6 7 8 1 2 3",
            0.9,
            Some(0.0),
            false,
        );
        assert_eq!(t, "1 2 3 4 5 6 7 8");
        let (t, _) = filter(
            "I'd like to track my parcel, I'd like to track my parcel,",
            0.9,
            Some(0.0),
            false,
        );
        assert_eq!(t, "I'd like to track my parcel,");
        // Short real repeats and a number said with a repeated group stay as they are.
        assert_eq!(filter("yes yes", 0.9, Some(0.0), false).0, "yes yes");
        assert_eq!(
            filter("5 5 5 5 1 2", 0.9, Some(0.0), false).0,
            "5 5 5 5 1 2"
        );
    }

    #[test]
    fn runaway_tails_are_cut_when_decoding_hit_the_token_cap() {
        // Both seen from tiny.en on Piper speech (tests/tts_roundtrip.rs).
        let looped = "Your confirmation code is 7, 3, 9, 1, 3, 9, 1, 3, 9, 1, 3, 9,";
        let (t, a) = filter(looped, 0.8, Some(0.1), true);
        assert_eq!(t, "Your confirmation code is 7, 3, 9, 1,");
        assert_eq!(a, Some(GuardAction::RepetitionCut { removed_words: 8 }));
        let (t, _) = filter(
            "Your balance is $42.50. $0.50. $0.50. $0.50. $",
            0.8,
            Some(0.1),
            true,
        );
        assert_eq!(t, "Your balance is $42.50. $0.50.");
        // The cap cut the loop's last copy with a wrong last digit (seen with a digits prompt).
        let (t, _) = filter(
            "3 0 9 1 7 7 5 4 3 0 9 1 7 7 5 4 3 0 9 1 7 7 5 4 3 0 9 1 7 7 7",
            0.8,
            Some(0.1),
            true,
        );
        assert_eq!(t, "3 0 9 1 7 7 5 4");
        // Without the cap the same words may be what was said.
        assert_eq!(filter(looped, 0.8, Some(0.1), false).0, looped);
        // At the cap, a tail that does not repeat is kept.
        let long = "my tracking number is 4 8 2 1 3 3 7 7";
        assert_eq!(filter(long, 0.8, Some(0.1), true).0, long);
    }

    #[test]
    fn annotations_stripped_text_kept() {
        assert_eq!(
            filter("[music] I need help *sighs*", 0.9, Some(0.0), false).0,
            "I need help"
        );
    }

    #[test]
    fn chinese_phantoms_dropped() {
        for phantom in [
            "字幕由Amara.org社区提供",
            "小编字幕由Amara.org社区提供",
            "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
            "谢谢观看！",
            "谢谢大家。",
            "优优独播剧场——YoYo Television Series Exclusive",
            "中文字幕——Yo Yo Television Series Exclusive",
            "以下是普通话的句子。",
            "它是普通话的句子。",
        ] {
            assert_eq!(filter(phantom, 0.9, Some(0.05), false).0, "", "{phantom}");
        }
        // A short real answer survives when Whisper is sure, not when it is unsure.
        assert_eq!(filter("谢谢。", 0.8, Some(0.05), false).0, "谢谢。");
        assert_eq!(filter("谢谢。", 0.3, Some(0.05), false).0, "");
        // Ordinary requests are kept as written.
        let t = "我想查一下我的快递。";
        assert_eq!(filter(t, 0.8, Some(0.05), false), (t.to_owned(), None));
    }

    #[test]
    fn chinese_loops_are_cut_on_characters() {
        let looped = "我要查快递我要查快递我要查快递我要查快递";
        let (t, a) = filter(looped, 0.8, Some(0.05), false);
        assert_eq!(t, "我要查快递");
        assert_eq!(a, Some(GuardAction::RepetitionCut { removed_words: 15 }));
        // The same character over and over.
        let (t, _) = filter("的的的的的的的的的的的的", 0.8, Some(0.05), false);
        assert_eq!(t, "的");
        // A loop after a real start.
        let (t, _) = filter(
            "甚至出现交易几乎停滞的情况，情况，情况，情况，情况，情况，",
            0.8,
            Some(0.05),
            false,
        );
        assert_eq!(t, "甚至出现交易几乎停滞的情况，");
        // At the token cap, a repeated tail cut mid-copy.
        let (t, _) = filter(
            "甚至出现交易几乎停滞的情况的情况的情况的情",
            0.8,
            Some(0.05),
            true,
        );
        assert_eq!(t, "甚至出现交易几乎停滞的情况");
        // Real short repeats stay: "是的是的", "喂喂喂", "好的，好的".
        for real in ["是的是的", "喂喂喂", "好的，好的。", "一二一二", "对对对对"]
        {
            assert_eq!(filter(real, 0.8, Some(0.05), false).0, real, "{real}");
        }
        // Digits inside Chinese text are one unit: a repeated number group is not a loop.
        let t = "单号是1212 1212 1212";
        assert_eq!(filter(t, 0.8, Some(0.05), false).0, t);
    }

    #[test]
    fn units_split_hanzi_and_keep_latin_runs() {
        let u: Vec<&str> = units("我要12线, ok 好的。")
            .iter()
            .map(|u| u.text)
            .collect();
        assert_eq!(u, ["我", "要", "12", "线,", "ok", "好", "的。"]);
        assert_eq!(join(&units("我要12线, ok 好的。")), "我要12线, ok 好的。");
        assert_eq!(unit_count("I want to pay"), 4);
        assert_eq!(unit_count("我想查快递"), 5);
    }
}
