//! One pinyin syllable (toneless spelling + tone 1-5) -> Kokoro v1.0's Mandarin phonemes.
//!
//! Kokoro's Mandarin voices were trained on an IPA-like transcription (the scheme of the
//! `misaki` package's zh module): aspiration as `ʰ`, affricates as single letters (`ʦ ʨ ꭧ`),
//! the apical vowel of zhi/zi as `ɨ`, and the tone as one arrow right after the syllable's
//! vowel (nucleus): `→` 1st, `↗` 2nd, `↓` 3rd, `↘` 4th, nothing for the neutral tone.

/// Tone arrow written after the syllable's vowel; the neutral tone (5) has none.
fn tone_mark(tone: u8) -> &'static str {
    match tone {
        1 => "→",
        2 => "↗",
        3 => "↓",
        4 => "↘",
        _ => "",
    }
}

const INITIALS: [(&str, &str); 21] = [
    // two-letter initials first: "zh" must not be read as "z" + "h..."
    ("zh", "ꭧ"),
    ("ch", "ꭧʰ"),
    ("sh", "ʂ"),
    ("b", "p"),
    ("p", "pʰ"),
    ("m", "m"),
    ("f", "f"),
    ("d", "t"),
    ("t", "tʰ"),
    ("n", "n"),
    ("l", "l"),
    ("g", "k"),
    ("k", "kʰ"),
    ("h", "x"),
    ("j", "ʨ"),
    ("q", "ʨʰ"),
    ("x", "ɕ"),
    ("r", "ɻ"),
    ("z", "ʦ"),
    ("c", "ʦʰ"),
    ("s", "s"),
];

/// Final (in its full, unabbreviated spelling) -> (before the tone, after the tone).
fn final_parts(fin: &str) -> Option<(&'static str, &'static str)> {
    Some(match fin {
        "a" => ("a", ""),
        "ai" => ("ai", ""),
        "an" => ("a", "n"),
        "ang" => ("a", "ŋ"),
        "ao" => ("au", ""),
        "e" => ("ɤ", ""),
        "ei" => ("ei", ""),
        "en" => ("ə", "n"),
        "eng" => ("ə", "ŋ"),
        "er" => ("ɚ", ""),
        "i" => ("i", ""),
        "ia" => ("ja", ""),
        "ian" => ("jɛ", "n"),
        "iang" => ("ja", "ŋ"),
        "iao" => ("jau", ""),
        "ie" => ("je", ""),
        "in" => ("i", "n"),
        "iou" => ("jou", ""),
        "ing" => ("i", "ŋ"),
        "iong" => ("jʊ", "ŋ"),
        "ong" => ("ʊ", "ŋ"),
        "ou" => ("ou", ""),
        "u" => ("u", ""),
        "ua" => ("wa", ""),
        "uai" => ("wai", ""),
        "uan" => ("wa", "n"),
        "uang" => ("wa", "ŋ"),
        "uei" => ("wei", ""),
        "uen" => ("wə", "n"),
        "ueng" => ("wə", "ŋ"),
        "uo" | "o" => ("wo", ""),
        "ü" => ("y", ""),
        "üe" => ("ɥe", ""),
        "üan" => ("ɥɛ", "n"),
        "ün" => ("y", "n"),
        "ê" => ("ɛ", ""),
        _ => return None,
    })
}

/// Undo pinyin's spelling abbreviations: y-/w- syllables, ü written u after j/q/x,
/// and the contracted finals iu, ui, un.
fn full_final(initial: &str, written: &str) -> String {
    let f = written.replace('v', "ü");
    match initial {
        "y" => match f.as_str() {
            "i" | "in" | "ing" => f,
            "u" | "ü" => "ü".into(),
            "ue" | "üe" => "üe".into(),
            "uan" | "üan" => "üan".into(),
            "un" | "ün" => "ün".into(),
            "ou" => "iou".into(),
            _ => format!("i{f}"),
        },
        "w" => match f.as_str() {
            "u" => f,
            "o" => "uo".into(),
            "ei" => "uei".into(),
            "en" => "uen".into(),
            _ => format!("u{f}"),
        },
        "j" | "q" | "x" => match f.as_str() {
            "u" => "ü".into(),
            "ue" => "üe".into(),
            "uan" => "üan".into(),
            "un" => "ün".into(),
            "iu" => "iou".into(),
            _ => f,
        },
        _ => match f.as_str() {
            "iu" => "iou".into(),
            "ui" => "uei".into(),
            "un" => "uen".into(),
            _ => f,
        },
    }
}

/// Phonemes of one syllable, e.g. `("hao", 3)` -> `xau↓`, `("zhi", 1)` -> `ꭧɨ→`.
/// `None` for a spelling that is not Mandarin pinyin.
pub fn syllable_phonemes(pinyin: &str, tone: u8) -> Option<String> {
    let py = pinyin.trim().to_lowercase();
    let t = tone_mark(tone);
    // syllabic nasals and interjections
    match py.as_str() {
        "m" | "n" | "ng" | "hm" | "hng" => {
            let (h, n) = py.split_at(usize::from(py.starts_with('h')));
            let nasal = if n == "m" {
                "m"
            } else if n == "n" {
                "n"
            } else {
                "ŋ"
            };
            let h = if h.is_empty() { "" } else { "h" };
            return Some(format!("{h}{nasal}{t}"));
        }
        "o" => return Some(format!("ɔ{t}")),
        "yo" | "io" => return Some(format!("jɔ{t}")),
        _ => {}
    }
    let (initial, ipa_initial, rest) = INITIALS
        .iter()
        .find(|(p, _)| py.starts_with(p) && py.len() > p.len())
        .map(|(p, ipa)| (*p, *ipa, &py[p.len()..]))
        .or_else(|| {
            ["y", "w"]
                .into_iter()
                .find(|p| py.starts_with(p) && py.len() > 1)
                .map(|p| (p, "", &py[1..]))
        })
        .unwrap_or(("", "", py.as_str()));
    if rest.is_empty() {
        return None;
    }
    let fin = full_final(initial, rest);
    let (nucleus, coda) =
        if fin == "i" && matches!(initial, "zh" | "ch" | "sh" | "r" | "z" | "c" | "s") {
            ("ɨ", "")
        } else {
            final_parts(&fin)?
        };
    Some(format!("{ipa_initial}{nucleus}{t}{coda}"))
}

#[cfg(test)]
mod tests {
    use super::syllable_phonemes as p;

    #[test]
    fn initials_finals_and_tones() {
        assert_eq!(p("ni", 3).as_deref(), Some("ni↓"));
        assert_eq!(p("hao", 3).as_deref(), Some("xau↓"));
        assert_eq!(p("nin", 2).as_deref(), Some("ni↗n"));
        assert_eq!(p("zhong", 1).as_deref(), Some("ꭧʊ→ŋ"));
        assert_eq!(p("chi", 1).as_deref(), Some("ꭧʰɨ→"));
        assert_eq!(p("si", 4).as_deref(), Some("sɨ↘"));
        assert_eq!(p("ri", 4).as_deref(), Some("ɻɨ↘"));
        assert_eq!(p("ji", 1).as_deref(), Some("ʨi→"));
        assert_eq!(p("qu", 4).as_deref(), Some("ʨʰy↘"));
        assert_eq!(p("xue", 2).as_deref(), Some("ɕɥe↗"));
        assert_eq!(p("lv", 4).as_deref(), Some("ly↘"));
        assert_eq!(p("lü", 4).as_deref(), Some("ly↘"));
        assert_eq!(p("de", 5).as_deref(), Some("tɤ"));
        assert_eq!(p("er", 4).as_deref(), Some("ɚ↘"));
    }

    #[test]
    fn abbreviated_spellings_are_expanded() {
        assert_eq!(p("yi", 1).as_deref(), Some("i→"));
        assert_eq!(p("you", 3).as_deref(), Some("jou↓"));
        assert_eq!(p("yuan", 2).as_deref(), Some("ɥɛ↗n"));
        assert_eq!(p("yun", 4).as_deref(), Some("y↘n"));
        assert_eq!(p("wei", 4).as_deref(), Some("wei↘"));
        assert_eq!(p("wen", 4).as_deref(), Some("wə↘n"));
        assert_eq!(p("wo", 3).as_deref(), Some("wo↓"));
        assert_eq!(p("liu", 4).as_deref(), Some("ljou↘"));
        assert_eq!(p("gui", 4).as_deref(), Some("kwei↘"));
        assert_eq!(p("kun", 4).as_deref(), Some("kʰwə↘n"));
        assert_eq!(p("jun", 1).as_deref(), Some("ʨy→n"));
        assert_eq!(p("bo", 1).as_deref(), Some("pwo→"));
        assert_eq!(p("xiong", 2).as_deref(), Some("ɕjʊ↗ŋ"));
    }

    #[test]
    fn nasals_interjections_and_junk() {
        assert_eq!(p("ng", 2).as_deref(), Some("ŋ↗"));
        assert_eq!(p("m", 2).as_deref(), Some("m↗"));
        assert_eq!(p("o", 4).as_deref(), Some("ɔ↘"));
        assert_eq!(p("xyz", 1), None);
        assert_eq!(p("", 1), None);
        assert_eq!(p("zh", 1), None);
    }
}
