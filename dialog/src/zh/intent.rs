//! Mandarin intent matching on toneless pinyin. Whisper writes Mandarin homophones freely
//! (查询快递 -> 查寻快滴, 人工 -> 仁工), so utterance and examples are compared as
//! sounds, not characters: segmented (jieba), stop words dropped, each character read as
//! toneless pinyin with the confusions of Mandarin speakers and recognisers folded
//! (zh/z, ch/c, sh/s, n/l, an/ang, en/eng, in/ing). Syllables and syllable pairs are the
//! features, weighted by how specific they are to one intent; an example scores by an
//! F-measure leaning on recall, like the English matcher.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use jieba_rs::Jieba;
use pinyin::ToPinyin;

use crate::intent::IntentScore;

use super::text::{digit_value, fold_width, is_han};

/// Words that carry no request: pronouns, particles, politeness, fillers.
const STOP: &[&str] = &[
    "我",
    "你",
    "您",
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "嗯",
    "哦",
    "喂",
    "请",
    "请问",
    "一下",
    "想",
    "要",
    "我想",
    "我要",
    "想要",
    "帮",
    "帮我",
    "给我",
    "麻烦",
    "麻烦你",
    "你好",
    "您好",
    "能",
    "能不能",
    "可以",
    "是",
    "个",
    "这个",
    "那个",
    "就",
    "都",
    "也",
    "还",
    "和",
    "跟",
    "有",
    "一个",
    "下",
    "么",
    "那",
    "这",
    "呃",
    "额",
    "哎",
    "诶",
    "谢谢",
    "我们",
    "你们",
    "它",
    "他",
    "她",
    "些",
    "一些",
    "那么",
    "然后",
    "就是",
    "那个",
    "嘛",
    "哈",
    "啦",
    "好",
    "好的",
    "对",
    "是的",
    "现在",
    "我的",
    "你们的",
];

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// One toneless syllable with the usual confusions folded.
pub fn fold_syllable(py: &str) -> String {
    let mut s = py.replace('ü', "v");
    for (from, to) in [("zh", "z"), ("ch", "c"), ("sh", "s")] {
        if let Some(rest) = s.strip_prefix(from) {
            s = format!("{to}{rest}");
        }
    }
    if let Some(rest) = s.strip_prefix('n')
        && !rest.is_empty()
    {
        s = format!("l{rest}");
    }
    for (from, to) in [("ang", "an"), ("eng", "en"), ("ing", "in")] {
        if let Some(base) = s.strip_suffix(from) {
            s = format!("{base}{to}");
            break;
        }
    }
    s
}

/// Readings of words whose characters the per-character table reads otherwise
/// (重 is zhong alone, chong in 重复).
const WORD_READINGS: &[(&str, &[&str])] = &[
    ("重复", &["chong", "fu"]),
    ("重新", &["chong", "xin"]),
    ("还没", &["hai", "mei"]),
    ("还有", &["hai", "you"]),
    ("还是", &["hai", "shi"]),
    ("银行", &["yin", "hang"]),
];

/// Answers and courtesies every call has: not what callers call about.
const NOT_KEYWORDS: &[&str] = &[
    "是的",
    "没有",
    "没有了",
    "谢谢",
    "好的",
    "再见",
    "你好",
    "您好",
    "可以",
    "对的",
    "不用",
    "知道",
    "那个",
    "这个",
    "一下",
    "拜拜",
];

/// Words worth counting in voice-of-customer analysis: jieba words of two or more
/// characters, stop words and digit strings left out ("快递", "坏了", "改时间").
pub fn keywords(text: &str) -> Vec<String> {
    let text = fold_width(text).to_lowercase();
    jieba()
        .cut(&text, false)
        .into_iter()
        .map(|t| t.word.trim())
        .filter(|w| {
            w.chars().count() >= 2
                && !STOP.contains(w)
                && !NOT_KEYWORDS.contains(w)
                && w.chars().all(|c| is_han(c) || c.is_ascii_alphabetic())
        })
        .map(str::to_string)
        .collect()
}

/// The folded syllables of what was said, without stop words, digit strings and
/// punctuation. ASCII words (Whisper's "OK") are kept as they are.
pub fn syllables(text: &str) -> Vec<String> {
    syllables_with(text, false)
}

/// All folded syllables, stop words included (for keywords such as "坏了").
pub(super) fn all_syllables(text: &str) -> Vec<String> {
    syllables_with(text, true)
}

fn syllables_with(text: &str, keep_stop: bool) -> Vec<String> {
    let text = fold_width(text).to_lowercase();
    let mut out = Vec::new();
    // Dictionary words only (no HMM): the HMM glues fillers to verbs ("我想查", "要查")
    // and treats a misheard word differently from the right one.
    for token in jieba().cut(&text, false) {
        let w = token.word.trim();
        if w.is_empty() || (!keep_stop && STOP.contains(&w)) {
            continue;
        }
        if let Some((_, r)) = WORD_READINGS.iter().find(|(word, _)| *word == w) {
            out.extend(r.iter().map(|p| fold_syllable(p)));
            continue;
        }
        // Digit strings are slot values ("查快递幺二三四"), not request words.
        if w.chars().count() >= 2 && w.chars().all(|c| digit_value(c).is_some()) {
            continue;
        }
        if w.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let mut ascii = String::new();
        for c in w.chars() {
            if is_han(c) {
                if let Some(p) = c.to_pinyin() {
                    out.push(fold_syllable(p.plain()));
                }
            } else if c.is_ascii_alphabetic() {
                ascii.push(c);
            }
        }
        if !ascii.is_empty() {
            out.push(ascii);
        }
    }
    out
}

/// Unigram and adjacent-pair features of a syllable sequence.
fn features(syl: &[String]) -> HashSet<String> {
    let mut f: HashSet<String> = syl.iter().cloned().collect();
    f.extend(syl.windows(2).map(|w| format!("{}_{}", w[0], w[1])));
    f
}

/// A pair says far more than a single syllable ("kuai_di" vs "di").
fn kind_weight(feature: &str) -> f32 {
    if feature.contains('_') { 1.0 } else { 0.4 }
}

fn contains_seq(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

struct Example {
    syl: Vec<String>,
    feats: HashSet<String>,
}

struct Entry {
    name: String,
    examples: Vec<Example>,
    keywords: Vec<Vec<String>>,
}

/// Intent matcher for Mandarin flows; `IntentMatcher` delegates to it.
pub struct PinyinMatcher {
    entries: Vec<Entry>,
    idf: HashMap<String, f32>,
    default_idf: f32,
}

impl PinyinMatcher {
    /// `intents`: (name, examples, keywords), as for the English matcher.
    pub fn new(intents: &[(String, Vec<String>, Vec<String>)]) -> PinyinMatcher {
        let entries: Vec<Entry> = intents
            .iter()
            .map(|(name, examples, keywords)| Entry {
                name: name.clone(),
                examples: examples
                    .iter()
                    .map(|e| syllables(e))
                    .filter(|s| !s.is_empty())
                    .map(|syl| Example {
                        feats: features(&syl),
                        syl,
                    })
                    .collect(),
                // Whole keywords, particles included ("坏了", not a lone "huai"), and at
                // least two syllables: one syllable has too many homophones.
                keywords: keywords
                    .iter()
                    .map(|k| all_syllables(k))
                    .filter(|k| k.len() >= 2)
                    .collect(),
            })
            .collect();
        let mut df: HashMap<String, usize> = HashMap::new();
        for e in &entries {
            let set: HashSet<&String> = e.examples.iter().flat_map(|x| x.feats.iter()).collect();
            for f in set {
                *df.entry(f.clone()).or_default() += 1;
            }
        }
        let n = entries.len().max(1) as f32;
        let idf = df
            .into_iter()
            .map(|(f, d)| (f, (1.0 + n / d as f32).ln()))
            .collect();
        PinyinMatcher {
            entries,
            idf,
            default_idf: (1.0 + n).ln() * 0.5,
        }
    }

    fn weight(&self, f: &str) -> f32 {
        kind_weight(f) * self.idf.get(f).copied().unwrap_or(self.default_idf)
    }

    fn example_score(&self, utt: &[String], utt_feats: &HashSet<String>, ex: &Example) -> f32 {
        if utt == ex.syl.as_slice() {
            return 1.0;
        }
        if ex.syl.len() >= 2 && 4 * ex.syl.len() >= 3 * utt.len() && contains_seq(utt, &ex.syl) {
            // The whole example is inside the utterance, and is nearly all of it ("快递" is
            // not all of "快递破了").
            return 0.92;
        }
        let (mut rn, mut rd) = (0.0, 0.0);
        for f in &ex.feats {
            let w = self.weight(f);
            rd += w;
            if utt_feats.contains(f) {
                rn += w;
            }
        }
        let (mut pn, mut pd) = (0.0, 0.0);
        for f in utt_feats {
            // Unknown sounds count fully against the match: a syllable is no name or noise
            // to discount, it is a different request ("附近有什么好吃的" is not "你说什么").
            let w = self.weight(f);
            pd += w;
            if ex.feats.contains(f) {
                pn += w;
            }
        }
        let recall = if rd > 0.0 { rn / rd } else { 0.0 };
        let precision = if pd > 0.0 { pn / pd } else { 0.0 };
        // Balanced F1, not the English matcher's recall-leaning F(1.5): fillers are gone
        // with the stop words, so an extra syllable is another request ("快递发货了没有"
        // is no "没有了"), and a short example must not win a long utterance on recall.
        const B2: f32 = 1.0;
        if recall + precision <= 0.0 {
            0.0
        } else {
            (1.0 + B2) * precision * recall / (B2 * precision + recall)
        }
    }

    /// All intents in `allowed` (or all), best first.
    pub fn rank(&self, text: &str, allowed: Option<&[String]>) -> Vec<IntentScore> {
        let utt = syllables(text);
        let utt_all = all_syllables(text);
        let utt_feats = features(&utt);
        let mut out: Vec<IntentScore> = self
            .entries
            .iter()
            .filter(|e| allowed.is_none_or(|a| a.contains(&e.name)))
            .map(|e| {
                let mut s = if utt.is_empty() {
                    0.0
                } else {
                    e.examples
                        .iter()
                        .map(|ex| self.example_score(&utt, &utt_feats, ex))
                        .fold(0.0, f32::max)
                };
                let hits = e
                    .keywords
                    .iter()
                    .filter(|k| contains_seq(&utt_all, k))
                    .count();
                if hits > 0 {
                    s = s.max(0.62 + 0.08 * (hits.min(3) as f32 - 1.0)) + 0.05;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_merges_the_usual_confusions() {
        assert_eq!(fold_syllable("zhang"), fold_syllable("zan"));
        assert_eq!(fold_syllable("shi"), "si");
        assert_eq!(fold_syllable("chen"), fold_syllable("ceng"));
        assert_eq!(fold_syllable("nan"), fold_syllable("lang"));
        assert_eq!(fold_syllable("xing"), "xin");
        assert_eq!(fold_syllable("ni"), "li");
        assert_eq!(syllables("查询快递"), syllables("查寻快滴"));
        assert_eq!(syllables("我想查一下快递"), syllables("查快递"));
        assert_eq!(syllables("查快递12345678"), syllables("查快递"));
        assert!(syllables("你好").is_empty());
    }

    #[test]
    fn homophones_route_and_nonsense_does_not() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let m = PinyinMatcher::new(&[
            (
                "track_parcel".into(),
                s(&["查询快递", "我的快递到哪了", "查物流"]),
                s(&["物流"]),
            ),
            (
                "opening_hours".into(),
                s(&["营业时间", "你们几点开门"]),
                s(&["营业时间"]),
            ),
        ]);
        let best = |t: &str| m.rank(t, None).into_iter().next().expect("ranked");
        assert_eq!(best("查寻快滴").intent, "track_parcel");
        assert!(best("查寻快滴").score >= 0.9);
        assert_eq!(best("你们几点开门啊").intent, "opening_hours");
        assert_eq!(best("赢业时间是什么").intent, "opening_hours");
        assert!(
            best("今天天气怎么样").score < 0.4,
            "{:?}",
            best("今天天气怎么样")
        );
        assert_eq!(best("").score, 0.0);
    }
}
