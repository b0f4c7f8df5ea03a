//! Text normalisation for speech (English): numbers, digit strings, dates, times, money,
//! abbreviations, and a small prompt markup:
//!
//! - `{digits:1Z 999}` reads every digit/letter one by one (tracking numbers, codes);
//! - `{pause:500}` / `{pause:500ms}` / `{pause:1.5s}` inserts silence.
//!
//! Plain digit strings of 5+ digits, or with a leading zero, are read digit by digit (account
//! and tracking numbers); shorter ones as cardinals. Characters an English voice cannot say
//! (emoji, symbols, other scripts) are dropped, so they are skipped rather than spelled out.

/// One piece of normalised prompt: words to speak, or a pause.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// Silence, in milliseconds.
    Pause(u32),
}

/// Longest pause the markup may ask for (a typo must not stall a call).
pub const MAX_PAUSE_MS: u32 = 5_000;

/// Normalise prompt text (with markup) into speakable pieces.
pub fn normalize(text: &str) -> Vec<Piece> {
    normalize_markup(text, normalize_words, spell_chars)
}

/// The markup parser shared by the languages: `words` normalises plain text, `spell` the
/// content of `{digits:...}`.
pub(crate) fn normalize_markup(
    text: &str,
    words: impl Fn(&str) -> String,
    spell: impl Fn(&str) -> String,
) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close_rel) = rest[open..].find('}') else {
            break;
        };
        let close = open + close_rel;
        push_text(&mut pieces, &words(&rest[..open]));
        let inner = &rest[open + 1..close];
        match inner.split_once(':') {
            Some((name, arg)) if name.trim().eq_ignore_ascii_case("digits") => {
                push_text(&mut pieces, &spell(arg));
            }
            Some((name, arg)) if name.trim().eq_ignore_ascii_case("pause") => {
                if let Some(ms) = parse_pause(arg) {
                    pieces.push(Piece::Pause(ms));
                }
            }
            // Unknown markup: speak its content rather than lose it.
            _ => push_text(&mut pieces, &words(inner)),
        }
        rest = &rest[close + 1..];
    }
    push_text(&mut pieces, &words(rest));
    pieces
}

/// The words a prompt speaks, pauses dropped. Also used to compare ASR transcripts with
/// prompts in spoken form ("$5" and "five dollars" are the same words).
pub fn spoken_text(text: &str) -> String {
    normalize(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t),
            Piece::Pause(_) => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_text(pieces: &mut Vec<Piece>, s: &str) {
    let s = s.trim();
    if s.is_empty() {
        return;
    }
    if let Some(Piece::Text(prev)) = pieces.last_mut() {
        // punctuation right after markup ("{digits:42}.") belongs to the previous words
        if !s.starts_with([',', '.', '?', '!', ';', ':']) {
            prev.push(' ');
        }
        prev.push_str(s);
    } else {
        pieces.push(Piece::Text(s.to_string()));
    }
}

fn parse_pause(arg: &str) -> Option<u32> {
    let a = arg.trim().to_ascii_lowercase();
    let ms = if let Some(v) = a.strip_suffix("ms") {
        v.trim().parse::<f64>().ok()?
    } else if let Some(v) = a.strip_suffix('s') {
        v.trim().parse::<f64>().ok()? * 1000.0
    } else {
        a.parse::<f64>().ok()?
    };
    if !ms.is_finite() || ms <= 0.0 {
        return None;
    }
    Some((ms as u32).min(MAX_PAUSE_MS))
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Cardinal number in words ("one thousand two hundred thirty-four").
pub fn cardinal(n: u64) -> String {
    if n < 20 {
        return ONES[n as usize].to_string();
    }
    if n < 100 {
        let t = TENS[(n / 10) as usize];
        return if n.is_multiple_of(10) {
            t.to_string()
        } else {
            format!("{t}-{}", ONES[(n % 10) as usize])
        };
    }
    if n < 1000 {
        let h = format!("{} hundred", ONES[(n / 100) as usize]);
        return if n.is_multiple_of(100) {
            h
        } else {
            format!("{h} {}", cardinal(n % 100))
        };
    }
    for (scale, name) in [
        (1_000_000_000_000u64, "trillion"),
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1_000, "thousand"),
    ] {
        if n >= scale {
            let head = format!("{} {name}", cardinal(n / scale));
            return if n.is_multiple_of(scale) {
                head
            } else {
                format!("{head} {}", cardinal(n % scale))
            };
        }
    }
    unreachable!("n >= 1000 always matches a scale")
}

/// Ordinal number in words ("twenty-first").
pub fn ordinal(n: u64) -> String {
    let c = cardinal(n);
    let (head, last) = match c.rfind([' ', '-']) {
        Some(i) => c.split_at(i + 1),
        None => ("", c.as_str()),
    };
    let last = match last {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// A year the way people say it ("nineteen ninety-nine", "two thousand five", "twenty twenty-four").
fn year(n: u64) -> String {
    if (2000..2010).contains(&n) || n.is_multiple_of(1000) {
        return cardinal(n);
    }
    let (hi, lo) = (n / 100, n % 100);
    if lo == 0 {
        return format!("{} hundred", cardinal(hi));
    }
    if lo < 10 {
        return format!("{} oh {}", cardinal(hi), cardinal(lo));
    }
    format!("{} {}", cardinal(hi), cardinal(lo))
}

/// Letter names an English espeak voice reads correctly on their own ("A" alone is a schwa).
fn letter_name(c: char) -> String {
    match c.to_ascii_uppercase() {
        'A' => "eigh".to_string(),
        u => u.to_string(),
    }
}

/// Every digit and letter one by one ("1Z9" -> "one Z nine"); groups separated by spaces,
/// dashes or dots get a comma so the voice pauses between them.
pub fn spell_chars(s: &str) -> String {
    let mut groups = Vec::new();
    for group in s.split(|c: char| c.is_whitespace() || c == '-' || c == '.' || c == '/') {
        let words: Vec<String> = group
            .chars()
            .filter_map(|c| {
                if let Some(d) = c.to_digit(10) {
                    Some(ONES[d as usize].to_string())
                } else if c.is_ascii_alphabetic() {
                    Some(letter_name(c))
                } else {
                    None
                }
            })
            .collect();
        if !words.is_empty() {
            groups.push(words.join(" "));
        }
    }
    groups.join(", ")
}

/// Abbreviations (lower case, with their dot) and what to say.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("mr.", "mister"),
    ("mrs.", "missus"),
    ("ms.", "miz"),
    ("dr.", "doctor"),
    ("st.", "street"),
    ("ave.", "avenue"),
    ("rd.", "road"),
    ("blvd.", "boulevard"),
    ("jr.", "junior"),
    ("sr.", "senior"),
    ("no.", "number"),
    ("vs.", "versus"),
    ("approx.", "approximately"),
    ("etc.", "et cetera"),
    ("e.g.", "for example"),
    ("i.e.", "that is"),
    ("dept.", "department"),
    ("min.", "minutes"),
    ("hr.", "hours"),
    ("hrs.", "hours"),
    ("a.m.", "eigh em"),
    ("p.m.", "pee em"),
    ("am", "eigh em"),
    ("pm", "pee em"),
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
    ("jan.", "January"),
    ("feb.", "February"),
    ("mar.", "March"),
    ("apr.", "April"),
    ("jun.", "June"),
    ("jul.", "July"),
    ("aug.", "August"),
    ("sep.", "September"),
    ("sept.", "September"),
    ("oct.", "October"),
    ("nov.", "November"),
    ("dec.", "December"),
    ("id", "I D"),
    ("ok", "okay"),
    ("faq", "F eigh Q"),
    ("&", "and"),
    ("+", "plus"),
    ("=", "equals"),
    ("@", "at"),
    ("%", "percent"),
];

/// Abbreviations that only apply to an all-lower or capitalised token with a dot, or as
/// standalone tokens; "am"/"pm" only after a number (else "I am" would break).
fn abbreviation(core: &str, prev_is_number: bool) -> Option<&'static str> {
    let lower = core.to_lowercase();
    if matches!(lower.as_str(), "am" | "pm") && !prev_is_number {
        return None;
    }
    if matches!(
        lower.as_str(),
        "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun"
    ) && core != capitalise(&lower)
    {
        return None;
    }
    if lower == "id" && core != "ID" {
        return None;
    }
    ABBREVIATIONS
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, v)| *v)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Keep what an English voice can say: Latin letters (with accents), digits, ASCII
/// punctuation and symbols the normaliser handles. Emoji, other scripts, control characters
/// become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' => ',',
            '\u{2026}' => '.',
            '€' | '£' => c,
            c if c.is_ascii_graphic() || c == ' ' => c,
            c if c.is_whitespace() => ' ',
            // Latin-1 supplement and Latin Extended-A/B letters (é, ñ, ß, ...).
            c if c.is_alphabetic() && (c as u32) < 0x0250 => c,
            _ => ' ',
        })
        .collect()
}

fn is_month(word: &str) -> bool {
    let w = word.trim_end_matches(['.', ',']).to_lowercase();
    MONTHS.iter().any(|m| {
        let m = m.to_lowercase();
        w == m || (w.len() >= 3 && m.starts_with(&w) && word.ends_with('.'))
    })
}

/// Normalise plain text (no markup) into words and clause punctuation.
pub fn normalize_words(text: &str) -> String {
    let cleaned = clean(text);
    let tokens: Vec<&str> = cleaned.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut prev_core = String::new();
    for (i, tok) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).copied().unwrap_or("");
        let (lead, core, trail) = split_punct(tok);
        let prev_is_number = prev_core.chars().any(|c| c.is_ascii_digit())
            || prev_core.eq_ignore_ascii_case("o'clock");
        let after_month = is_month(&prev_core);
        let spoken = speak_token(core, prev_is_number, after_month, next);
        let mut word = String::new();
        if !lead.is_empty() {
            word.push_str(lead);
        }
        word.push_str(&spoken);
        word.push_str(&trail);
        if !word.trim().is_empty() {
            out.push(word);
        }
        prev_core = core.to_string();
    }
    // Quotes, brackets and stray symbols carry no sound: drop them; keep clause punctuation.
    let joined = out.join(" ");
    joined
        .chars()
        .map(|c| match c {
            '"' | '(' | ')' | '[' | ']' | '{' | '}' | '*' | '_' | '<' | '>' | '|' | '\\' | '^'
            | '`' | '~' | '#' | '/' => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Split leading quotes/brackets and trailing punctuation off a token. A trailing dot stays
/// on the core when the token is a known abbreviation ("Dr.") and then also ends the clause
/// only if it was doubled; otherwise it moves to the trail.
fn split_punct(tok: &str) -> (&str, &str, String) {
    let lead_end = tok
        .char_indices()
        .find(|(_, c)| !matches!(c, '"' | '(' | '[' | '\''))
        .map_or(tok.len(), |(i, _)| i);
    let (lead, rest) = tok.split_at(lead_end);
    let mut core = rest;
    let mut trail = String::new();
    while let Some(c) = core.chars().last() {
        if matches!(c, ',' | ';' | ':' | '?' | '!' | '"' | ')' | ']' | '\'') {
            // keep "o'clock"-style inner apostrophes; only a trailing one is stripped
            trail.insert(0, c);
            core = &core[..core.len() - c.len_utf8()];
        } else if c == '.' {
            let lower = core.to_lowercase();
            if ABBREVIATIONS.iter().any(|(k, _)| *k == lower) || is_month(core) {
                break;
            }
            trail.insert(0, c);
            core = &core[..core.len() - 1];
        } else {
            break;
        }
    }
    (lead, core, trail)
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Number with optional thousands commas ("1,234") -> value, if well formed.
fn parse_grouped(s: &str) -> Option<u64> {
    if !s.contains(',') {
        return parse_u64(s);
    }
    let mut parts = s.split(',');
    let first = parts.next()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    let mut digits = first.to_string();
    for p in parts {
        if p.len() != 3 {
            return None;
        }
        digits.push_str(p);
    }
    parse_u64(&digits)
}

/// Digits read one by one.
fn digits_words(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10).map(|d| ONES[d as usize]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A plain number token: grouped cardinal, decimal, or digit string.
fn number_words(s: &str) -> Option<String> {
    if let Some((int, frac)) = s.split_once('.') {
        let i = parse_grouped(int)?;
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(format!("{} point {}", cardinal(i), digits_words(frac)));
    }
    if s.contains(',') {
        return parse_grouped(s).map(cardinal);
    }
    let v = parse_u64(s)?;
    if s.len() >= 5 || (s.len() > 1 && s.starts_with('0')) {
        return Some(digits_words(s));
    }
    if s.len() == 4 && (1900..2100).contains(&v) {
        return Some(year(v));
    }
    Some(cardinal(v))
}

fn money_words(amount: &str, unit: (&str, &str), sub: (&str, &str)) -> Option<String> {
    let (int, frac) = match amount.split_once('.') {
        Some((i, f)) => (i, f),
        None => (amount, ""),
    };
    let whole = if int.is_empty() {
        0
    } else {
        parse_grouped(int)?
    };
    let cents = match frac.len() {
        0 => 0,
        1 => parse_u64(frac)? * 10,
        2 => parse_u64(frac)?,
        _ => return None,
    };
    let plural = |n: u64, (one, many): (&str, &str)| {
        format!("{} {}", cardinal(n), if n == 1 { one } else { many })
    };
    Some(match (whole, cents) {
        (w, 0) => plural(w, unit),
        (0, c) => plural(c, sub),
        (w, c) => format!("{} and {}", plural(w, unit), plural(c, sub)),
    })
}

fn time_words(h: u64, m: u64, has_meridiem: bool) -> Option<String> {
    if h > 24 || m > 59 {
        return None;
    }
    Some(match m {
        0 if has_meridiem || h <= 12 => {
            if has_meridiem {
                cardinal(h)
            } else {
                format!("{} o'clock", cardinal(h))
            }
        }
        0 => format!("{} hundred", cardinal(h)),
        m if m < 10 => format!("{} oh {}", cardinal(h), cardinal(m)),
        m => format!("{} {}", cardinal(h), cardinal(m)),
    })
}

fn date_words(year_v: Option<u64>, month: u64, day: u64) -> Option<String> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let md = format!("{} {}", MONTHS[(month - 1) as usize], ordinal(day));
    Some(match year_v {
        Some(y) => format!("{md}, {}", year(y)),
        None => md,
    })
}

fn is_meridiem(word: &str) -> bool {
    let w = word
        .trim_end_matches(['.', ',', '?', '!', ';'])
        .to_lowercase();
    matches!(w.as_str(), "am" | "pm" | "a.m" | "p.m")
}

/// Words for one token's core (no surrounding punctuation).
fn speak_token(core: &str, prev_is_number: bool, after_month: bool, next: &str) -> String {
    if core.is_empty() {
        return String::new();
    }
    if let Some(a) = abbreviation(core, prev_is_number) {
        return a.to_string();
    }
    // money
    for (sym, unit, sub) in [
        ('$', ("dollar", "dollars"), ("cent", "cents")),
        ('€', ("euro", "euros"), ("cent", "cents")),
        ('£', ("pound", "pounds"), ("penny", "pence")),
    ] {
        if let Some(amount) = core.strip_prefix(sym)
            && let Some(w) = money_words(amount, unit, sub)
        {
            return w;
        }
    }
    // percent
    if let Some(n) = core.strip_suffix('%')
        && let Some(w) = number_words(n)
    {
        return format!("{w} percent");
    }
    // negative number
    if let Some(n) = core.strip_prefix('-')
        && let Some(w) = number_words(n)
    {
        return format!("minus {w}");
    }
    // "#5" -> number five
    if let Some(n) = core.strip_prefix('#')
        && let Some(w) = number_words(n)
    {
        return format!("number {w}");
    }
    let lower = core.to_lowercase();
    // time, optionally glued to am/pm ("3:30pm")
    let (clock, meridiem) = if let Some(c) = lower.strip_suffix("am") {
        (c, Some("eigh em"))
    } else if let Some(c) = lower.strip_suffix("pm") {
        (c, Some("pee em"))
    } else {
        (lower.as_str(), None)
    };
    if let Some((h, m)) = clock.split_once(':')
        && m.len() == 2
        && let (Some(h), Some(m)) = (parse_u64(h), parse_u64(m))
        && let Some(w) = time_words(h, m, meridiem.is_some() || is_meridiem(next))
    {
        return match meridiem {
            Some(md) => format!("{w} {md}"),
            None => w,
        };
    }
    if meridiem.is_some()
        && let Some(h) = parse_u64(clock)
        && (1..=12).contains(&h)
    {
        return format!("{} {}", cardinal(h), meridiem.unwrap_or_default());
    }
    // ISO date 2024-03-05
    let dash: Vec<&str> = core.split('-').collect();
    if dash.len() == 3
        && dash[0].len() == 4
        && let (Some(y), Some(mo), Some(d)) =
            (parse_u64(dash[0]), parse_u64(dash[1]), parse_u64(dash[2]))
        && let Some(w) = date_words(Some(y), mo, d)
    {
        return w;
    }
    // US date 3/5/2024 or 3/5
    let slash: Vec<&str> = core.split('/').collect();
    if (2..=3).contains(&slash.len()) && slash.iter().all(|p| parse_u64(p).is_some()) {
        let mo = parse_u64(slash[0]).unwrap_or(0);
        let d = parse_u64(slash[1]).unwrap_or(0);
        let y = slash
            .get(2)
            .and_then(|p| parse_u64(p))
            .map(|y| if y < 100 { 2000 + y } else { y });
        if let Some(w) = date_words(y, mo, d) {
            return w;
        }
    }
    // phone-like digit groups 555-123-4567
    if dash.len() >= 2 && dash.iter().all(|p| parse_u64(p).is_some()) {
        return spell_chars(core);
    }
    // ordinals 1st 2nd 23rd 4th
    for suf in ["st", "nd", "rd", "th"] {
        if let Some(n) = lower.strip_suffix(suf)
            && let Some(v) = parse_u64(n)
        {
            return ordinal(v);
        }
    }
    if let Some(w) = number_words(core) {
        if after_month && let Some(v) = parse_u64(core).filter(|v| (1..=31).contains(v)) {
            return ordinal(v);
        }
        return w;
    }
    // hyphenated words with numbers ("8-digit", "24-hour"): each part on its own
    let code_like = |p: &&str| {
        let letters = p.chars().any(|c| c.is_alphabetic());
        let digits = p.chars().any(|c| c.is_ascii_digit());
        (letters && digits) || (p.len() <= 3 && p.chars().all(|c| c.is_ascii_uppercase()))
    };
    if dash.len() >= 2 && dash.iter().all(|p| !p.is_empty()) && !dash.iter().any(code_like) {
        return dash
            .iter()
            .map(|p| speak_token(p, false, false, ""))
            .collect::<Vec<_>>()
            .join(" ");
    }
    let has_digit = core.chars().any(|c| c.is_ascii_digit());
    let has_alpha = core.chars().any(|c| c.is_alphabetic());
    if has_digit && has_alpha {
        // codes such as 1Z999AA1 or AB-123: read character by character
        return spell_chars(core);
    }
    if has_digit {
        // stray digits inside symbols ("12:3:4", "1.2.3"): read them one by one
        return spell_chars(core);
    }
    // words with joining symbols
    let mut w = core
        .replace('&', " and ")
        .replace('@', " at ")
        .replace('+', " plus ");
    if w.chars().all(|c| !c.is_alphanumeric()) {
        // a lone symbol we have no word for
        w.clear();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> String {
        spoken_text(t)
    }

    #[test]
    fn cardinals_and_ordinals() {
        assert_eq!(cardinal(0), "zero");
        assert_eq!(cardinal(21), "twenty-one");
        assert_eq!(cardinal(105), "one hundred five");
        assert_eq!(cardinal(1234), "one thousand two hundred thirty-four");
        assert_eq!(cardinal(2_000_000), "two million");
        assert_eq!(ordinal(1), "first");
        assert_eq!(ordinal(22), "twenty-second");
        assert_eq!(ordinal(30), "thirtieth");
        assert_eq!(ordinal(12), "twelfth");
        assert_eq!(ordinal(100), "one hundredth");
    }

    #[test]
    fn digit_strings_read_digit_by_digit() {
        assert_eq!(s("Order 12345."), "Order one two three four five.");
        assert_eq!(s("code 0042"), "code zero zero four two");
        assert_eq!(s("{digits:1Z 99}"), "one Z, nine nine");
        assert_eq!(
            s("call 555-123-4567"),
            "call five five five, one two three, four five six seven"
        );
        assert_eq!(
            s("tracking 1Z999AA1"),
            "tracking one Z nine nine nine eigh eigh one"
        );
    }

    #[test]
    fn numbers_money_percent() {
        assert_eq!(s("You have 3 messages."), "You have three messages.");
        assert_eq!(s("$12.50"), "twelve dollars and fifty cents");
        assert_eq!(s("$1"), "one dollar");
        assert_eq!(s("$0.99"), "ninety-nine cents");
        assert_eq!(s("$1,250"), "one thousand two hundred fifty dollars");
        assert_eq!(
            s("1,234 items"),
            "one thousand two hundred thirty-four items"
        );
        assert_eq!(s("3.5%"), "three point five percent");
        assert_eq!(s("-4"), "minus four");
        assert_eq!(s("#3"), "number three");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(s("on 2024-03-05"), "on March fifth, twenty twenty-four");
        assert_eq!(s("on 3/5/2024"), "on March fifth, twenty twenty-four");
        assert_eq!(s("on March 5, 2024"), "on March fifth, twenty twenty-four");
        assert_eq!(s("the 21st"), "the twenty-first");
        assert_eq!(s("at 3:30 pm"), "at three thirty pee em");
        assert_eq!(s("at 3:30pm"), "at three thirty pee em");
        assert_eq!(s("at 9:05 a.m."), "at nine oh five eigh em");
        assert_eq!(s("at 10am"), "at ten eigh em");
        assert_eq!(s("at 4:00"), "at four o'clock");
        assert_eq!(s("in 1999"), "in nineteen ninety-nine");
        assert_eq!(s("in 2005"), "in two thousand five");
    }

    #[test]
    fn abbreviations() {
        assert_eq!(s("Dr. Smith on Main St."), "doctor Smith on Main street");
        assert_eq!(s("I am here"), "I am here");
        assert_eq!(s("your ID please"), "your I D please");
        assert_eq!(s("Tom & Jerry"), "Tom and Jerry");
        assert_eq!(s("your 8-digit number"), "your eight digit number");
        assert_eq!(s("well-known AB-12"), "well known eigh B, one two");
    }

    #[test]
    fn markup_pauses() {
        let p = normalize("Hello.{pause:300ms} Your code is {digits:42}. {pause:2s}Bye");
        assert_eq!(
            p,
            vec![
                Piece::Text("Hello.".into()),
                Piece::Pause(300),
                Piece::Text("Your code is four two.".into()),
                Piece::Pause(2000),
                Piece::Text("Bye".into()),
            ]
        );
        assert_eq!(normalize("{pause:99s}"), vec![Piece::Pause(MAX_PAUSE_MS)]);
        assert_eq!(normalize("{pause:abc}"), vec![]);
        assert_eq!(s("{unknown} thing {"), "unknown thing");
    }

    #[test]
    fn bad_input_is_skipped() {
        assert_eq!(s(""), "");
        assert_eq!(s("Hello 😀 world"), "Hello world");
        assert_eq!(s("Привет мир"), "");
        assert_eq!(s("café ok"), "café okay");
        assert_eq!(s("\u{0}\u{7}tab\there"), "tab here");
        assert_eq!(s("99999999999999999999999"), s("99999999999999999999999"));
        // never panics on odd number shapes
        for t in [
            "1,2,3", "1.2.3", "12:3", "$", "$.", "$1.234", "-", "#", "3/99/1", "1-", "--5",
        ] {
            let _ = s(t);
        }
    }
}
