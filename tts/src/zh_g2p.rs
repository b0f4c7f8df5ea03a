//! Mandarin grapheme-to-phoneme for Kokoro: jieba segmentation, tone pinyin per character
//! (`pinyin` crate) corrected by word-level readings, tone sandhi (不, 一, third tones), then
//! Kokoro's phoneme symbols (`zh_phonemes`). Words are separated by spaces, punctuation is
//! mapped to the ASCII marks Kokoro knows so the voice keeps the prosody of clause ends.

use std::collections::HashMap;

use jieba_rs::Jieba;
use pinyin::ToPinyin;

use crate::TtsError;
use crate::phonemize::Phonemizer;
use crate::zh_phonemes::syllable_phonemes;
use crate::zh_readings::{CHAR_DEFAULTS, CHAR_READINGS, NEUTRAL_SUFFIXES, WORD_READINGS};

/// One syllable with its reading (toneless pinyin + tone 1-5).
#[derive(Debug, Clone, PartialEq)]
struct Syllable {
    hanzi: char,
    pinyin: String,
    tone: u8,
    /// From the word table: 一/不 sandhi leaves it alone (第一 keeps yi1).
    fixed: bool,
}

/// A segmented clause: words of syllables, punctuation, or Latin letters to spell.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Word(Vec<Syllable>),
    Punct(char),
    Latin(String),
}

/// The Mandarin phonemizer. Building it loads jieba's dictionary (~0.3 s): build one per
/// process and share it (`Arc`); it is `Send + Sync` and `phonemize` takes `&self`.
pub struct MandarinG2p {
    jieba: Jieba,
    words: HashMap<&'static str, Vec<(String, u8)>>,
    /// Single-character words.
    chars: HashMap<char, (String, u8)>,
    /// Any position.
    defaults: HashMap<char, (String, u8)>,
    /// Characters in the longest table word.
    longest_word: usize,
}

impl Default for MandarinG2p {
    fn default() -> Self {
        Self::new()
    }
}

impl MandarinG2p {
    pub fn new() -> Self {
        let mut jieba = Jieba::new();
        let mut words = HashMap::new();
        for (word, reading) in WORD_READINGS {
            let syls: Vec<(String, u8)> = reading.split_whitespace().map(split_tone).collect();
            debug_assert_eq!(syls.len(), word.chars().count(), "{word}");
            // Keep table words whole, so their reading applies.
            jieba.add_word(word, None, None);
            words.insert(*word, syls);
        }
        let chars = CHAR_READINGS
            .iter()
            .map(|(c, r)| (*c, split_tone(r)))
            .collect();
        let defaults = CHAR_DEFAULTS
            .iter()
            .map(|(c, r)| (*c, split_tone(r)))
            .collect();
        let longest_word = WORD_READINGS
            .iter()
            .map(|(w, _)| w.chars().count())
            .max()
            .unwrap_or(1);
        Self {
            jieba,
            words,
            chars,
            defaults,
            longest_word,
        }
    }

    /// Tone pinyin after sandhi, words separated by spaces, punctuation kept
    /// (`您好，` -> `nin2 hao3 ,`). For tests and `ivr say --debug`-style inspection.
    pub fn pinyin(&self, text: &str) -> String {
        let items = self.items(text);
        let mut out = Vec::new();
        for item in &items {
            match item {
                Item::Word(syls) => out.push(
                    syls.iter()
                        .map(|s| format!("{}{}", s.pinyin, s.tone))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                Item::Punct(p) => out.push(p.to_string()),
                Item::Latin(l) => out.push(l.clone()),
            }
        }
        out.join(" ")
    }

    /// Kokoro phonemes for a clause of (normalised) Mandarin text.
    pub fn phonemes(&self, text: &str) -> String {
        let mut out = String::new();
        for item in self.items(text) {
            match item {
                Item::Word(syls) => {
                    if !out.is_empty() && !out.ends_with(' ') {
                        out.push(' ');
                    }
                    for s in &syls {
                        match syllable_phonemes(&s.pinyin, s.tone) {
                            Some(p) => out.push_str(&p),
                            None => tracing::debug!(syllable = %s.pinyin, "not pinyin; skipped"),
                        }
                    }
                }
                Item::Punct(p) => {
                    let trimmed = out.trim_end().len();
                    out.truncate(trimmed);
                    out.push(p);
                    out.push(' ');
                }
                Item::Latin(word) => {
                    for c in word.chars() {
                        if let Some(name) = letter_name(c) {
                            if !out.is_empty() && !out.ends_with(' ') {
                                out.push(' ');
                            }
                            out.push_str(name);
                        }
                    }
                }
            }
        }
        out.trim().to_string()
    }

    fn items(&self, text: &str) -> Vec<Item> {
        let text: String = text.chars().map(ascii_digit_to_hanzi).collect();
        let mut items = Vec::new();
        for token in self.jieba.cut(&text, true) {
            let w = token.word;
            if w.chars().all(is_hanzi) {
                items.push(Item::Word(self.word_reading(w)));
            } else if w.chars().all(|c| c.is_ascii_alphabetic()) {
                items.push(Item::Latin(w.to_string()));
            } else {
                for c in w.chars() {
                    if let Some(p) = kokoro_punct(c) {
                        items.push(Item::Punct(p));
                    } else if is_hanzi(c) {
                        items.push(Item::Word(self.word_reading(&c.to_string())));
                    } else if c.is_ascii_alphabetic() {
                        items.push(Item::Latin(c.to_string()));
                    }
                    // anything else (spaces, symbols, emoji) is not spoken
                }
            }
        }
        yi_bu_sandhi(&mut items);
        third_tone_sandhi(&mut items);
        items
    }

    /// Readings of one jieba word: table words inside it (longest first, so 银行卡 gets
    /// 银行's reading), the crate's per-character reading for the rest.
    fn word_reading(&self, word: &str) -> Vec<Syllable> {
        let chars: Vec<char> = word.chars().collect();
        let n = chars.len();
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            let longest = self.longest_word.min(n - i);
            let found = (2..=longest).rev().find_map(|len| {
                let key: String = chars[i..i + len].iter().collect();
                self.words.get(key.as_str()).map(|r| (len, r))
            });
            if let Some((len, reading)) = found {
                for (hanzi, (pinyin, tone)) in chars[i..i + len].iter().zip(reading) {
                    out.push(Syllable {
                        hanzi: *hanzi,
                        pinyin: pinyin.clone(),
                        tone: *tone,
                        fixed: true,
                    });
                }
                i += len;
                continue;
            }
            let hanzi = chars[i];
            let (pinyin, mut tone) = match (n, self.chars.get(&hanzi)) {
                (1, Some((p, t))) => (p.clone(), *t),
                _ if self.defaults.contains_key(&hanzi) => self.defaults[&hanzi].clone(),
                _ => hanzi
                    .to_pinyin()
                    .map(|p| split_tone(p.with_tone_num_end()))
                    .unwrap_or_default(),
            };
            // 我们, 好吗: particles and suffixes; 谢谢您, 看看: reduplicated syllables
            let reduplicated = i > 0 && chars[i - 1] == hanzi && !DIGITS.contains(hanzi);
            if i > 0 && (NEUTRAL_SUFFIXES.contains(&hanzi) || reduplicated) {
                tone = 5;
            }
            if !pinyin.is_empty() {
                out.push(Syllable {
                    hanzi,
                    pinyin,
                    tone,
                    fixed: false,
                });
            }
            i += 1;
        }
        out
    }
}

impl Phonemizer for MandarinG2p {
    fn phonemize(&self, text: &str) -> Result<String, TtsError> {
        Ok(self.phonemes(text))
    }
}

/// "hao3" -> ("hao", 3); no digit = neutral tone (5).
fn split_tone(p: &str) -> (String, u8) {
    match p.chars().last().and_then(|c| c.to_digit(10)) {
        Some(t @ 1..=5) => (p[..p.len() - 1].to_string(), t as u8),
        _ => (p.to_string(), 5),
    }
}

fn is_hanzi(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

fn ascii_digit_to_hanzi(c: char) -> char {
    match c {
        '0'..='9' => {
            ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'][c as usize - '0' as usize]
        }
        _ => c,
    }
}

/// Chinese and ASCII punctuation -> the marks in Kokoro's vocabulary.
fn kokoro_punct(c: char) -> Option<char> {
    Some(match c {
        '，' | '、' | '·' | ',' => ',',
        '。' | '．' | '.' => '.',
        '！' | '!' => '!',
        '？' | '?' => '?',
        '；' | ';' => ';',
        '：' | ':' => ':',
        '…' => '…',
        '—' | '–' => '—',
        '“' | '「' | '《' | '【' | '"' => '“',
        '”' | '」' | '》' | '】' => '”',
        '（' | '(' => '(',
        '）' | ')' => ')',
        _ => return None,
    })
}

/// English letter names in Kokoro's (misaki) English phonemes: "SF" -> ɛs ɛf.
fn letter_name(c: char) -> Option<&'static str> {
    const NAMES: [&str; 26] = [
        "ˈA",
        "bˈi",
        "sˈi",
        "dˈi",
        "ˈi",
        "ˈɛf",
        "ʤˈi",
        "ˈAʧ",
        "ˈI",
        "ʤˈA",
        "kˈA",
        "ˈɛl",
        "ˈɛm",
        "ˈɛn",
        "ˈO",
        "pˈi",
        "kjˈu",
        "ˈɑɹ",
        "ˈɛs",
        "tˈi",
        "jˈu",
        "vˈi",
        "dˈʌbəlju",
        "ˈɛks",
        "wˈI",
        "zˈi",
    ];
    let c = c.to_ascii_uppercase();
    c.is_ascii_uppercase()
        .then(|| NAMES[(c as u8 - b'A') as usize])
}

/// Positions of syllables in a flat view: (item index, syllable index); `None` marks
/// punctuation or Latin (a break for sandhi).
fn flat(items: &[Item]) -> Vec<Option<(usize, usize)>> {
    let mut v = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Word(s) => v.extend((0..s.len()).map(|j| Some((i, j)))),
            _ => v.push(None),
        }
    }
    v
}

fn syl(items: &[Item], at: Option<(usize, usize)>) -> Option<&Syllable> {
    let (i, j) = at?;
    match &items[i] {
        Item::Word(s) => s.get(j),
        _ => None,
    }
}

const NUMERALS_BEFORE_YI: &str = "零一二三四五六七八九十百千万亿两幺第";
const DIGITS: &str = "零一二三四五六七八九幺";

/// 不 -> bu2 before a 4th tone, bu5 in "X不X"; 一 -> yi1 in numbers and at the end,
/// yi2 before a 4th (or neutral) tone, yi4 before the others, yi5 in "X一X" (看一看).
fn yi_bu_sandhi(items: &mut [Item]) {
    let pos = flat(items);
    let mut changes = Vec::new();
    for k in 0..pos.len() {
        let Some(cur) = syl(items, pos[k]) else {
            continue;
        };
        if cur.fixed || !(cur.hanzi == '不' || cur.hanzi == '一') {
            continue;
        }
        let prev = k.checked_sub(1).and_then(|p| syl(items, pos[p]));
        let next = pos.get(k + 1).and_then(|n| syl(items, *n));
        let reduplicated = matches!((prev, next), (Some(p), Some(n)) if p.hanzi == n.hanzi);
        let tone = if cur.hanzi == '不' {
            match next {
                _ if reduplicated => 5,
                Some(n) if n.tone == 4 => 2,
                _ => 4,
            }
        } else {
            match next {
                _ if reduplicated => 5,
                _ if prev.is_some_and(|p| NUMERALS_BEFORE_YI.contains(p.hanzi)) => 1,
                None => 1,
                Some(n) if DIGITS.contains(n.hanzi) => 1,
                Some(n) if n.tone == 4 || n.tone == 5 => 2,
                Some(_) => 4,
            }
        };
        changes.push((pos[k], tone));
    }
    for (at, tone) in changes {
        if let Some((i, j)) = at
            && let Item::Word(s) = &mut items[i]
        {
            s[j].tone = tone;
        }
    }
}

/// Third-tone sandhi inside prosodic groups: a word, joined with a neighbouring
/// one-syllable word (我很好 is one group), up to 4 syllables. In a run of third tones
/// every one but the last becomes second (你好 -> ni2 hao3, 很好 -> hen2 hao3).
fn third_tone_sandhi(items: &mut [Item]) {
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut cur: Vec<(usize, usize)> = Vec::new();
    let mut cur_single = false;
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Word(s) => {
                let single = s.len() == 1;
                let joins = !cur.is_empty() && (single || cur_single) && cur.len() + s.len() <= 4;
                if !joins && !cur.is_empty() {
                    groups.push(std::mem::take(&mut cur));
                }
                cur_single = if joins { false } else { single };
                cur.extend((0..s.len()).map(|j| (i, j)));
            }
            _ => {
                if !cur.is_empty() {
                    groups.push(std::mem::take(&mut cur));
                }
                cur_single = false;
            }
        }
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    for g in groups {
        for w in g.windows(2) {
            let next_tone = match &items[w[1].0] {
                Item::Word(s) => s[w[1].1].tone,
                _ => 0,
            };
            if let Item::Word(s) = &mut items[w[0].0]
                && s[w[0].1].tone == 3
                && next_tone == 3
            {
                s[w[0].1].tone = 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn g2p() -> &'static MandarinG2p {
        static G: OnceLock<MandarinG2p> = OnceLock::new();
        G.get_or_init(MandarinG2p::new)
    }
    fn py(t: &str) -> String {
        g2p().pinyin(t)
    }

    #[test]
    fn greetings_and_sandhi_of_third_tones() {
        assert_eq!(py("您好"), "nin2 hao3");
        assert_eq!(py("你好"), "ni2 hao3");
        assert_eq!(py("我很好"), "wo2 hen2 hao3");
        assert_eq!(py("快递"), "kuai4 di4");
        assert_eq!(py("可以"), "ke2 yi3");
    }

    #[test]
    fn polyphones_by_word() {
        assert_eq!(py("银行"), "yin2 hang2");
        assert_eq!(py("重新"), "chong2 xin1");
        assert_eq!(py("还有"), "hai2 you3");
        assert!(
            py("请您还款").ends_with("huan2 kuan3"),
            "{}",
            py("请您还款")
        );
        assert_eq!(py("觉得"), "jue2 de5");
        assert_eq!(py("睡觉"), "shui4 jiao4");
        assert_eq!(py("调整"), "tiao2 zheng3");
        assert_eq!(py("很长"), "hen3 chang2");
        assert_eq!(py("银行卡"), "yin2 hang2 ka3");
        assert_eq!(py("看看"), "kan4 kan5");
        assert!(py("我们").ends_with("men5"));
        assert!(py("好的").ends_with("de5"), "{}", py("好的"));
        assert!(py("谢谢您").starts_with("xie4 xie5"));
    }

    #[test]
    fn bu_and_yi() {
        assert_eq!(py("不是"), "bu2 shi4");
        assert_eq!(py("不好"), "bu4 hao3");
        assert_eq!(py("是不是"), "shi4 bu5 shi4");
        assert_eq!(py("一个"), "yi2 ge4");
        assert_eq!(py("一天"), "yi4 tian1");
        assert_eq!(py("一起"), "yi4 qi3");
        assert_eq!(py("第一"), "di4 yi1");
        assert_eq!(py("十一"), "shi2 yi1");
        assert!(py("看一看").contains("yi5"), "{}", py("看一看"));
        assert_eq!(py("幺一二"), "yao1 yi1 er4");
        assert_eq!(py("统一"), "tong3 yi1");
    }

    #[test]
    fn phonemes_for_kokoro() {
        let p = g2p().phonemes("您好，请问有什么可以帮您？");
        assert!(p.starts_with("ni↗nxau↓, ʨʰi↓ŋwə↘n "), "{p}");
        assert!(p.ends_with('?'), "{p}");
        // every symbol must be in Kokoro's vocabulary (checked in kokoro.rs too); here: no
        // digits and no hanzi left over
        assert!(!p.chars().any(|c| c.is_ascii_digit() || is_hanzi(c)), "{p}");
        assert_eq!(g2p().phonemes("不是"), "pu↗ʂɨ↘");
        assert_eq!(g2p().phonemes("SF快递"), "ˈɛs ˈɛf kʰwai↘ti↘");
        assert_eq!(g2p().phonemes(""), "");
        assert_eq!(g2p().phonemes("🙂！"), "!");
    }
}
