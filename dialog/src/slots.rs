//! Slot parsers: what the caller said (already transcribed) -> a canonical value string.
//! Digits ("1234"), yes/no, dates (ISO `YYYY-MM-DD`, relative to the call's date), times
//! (`HH:MM`), amounts (`12.50`), enum choices (the option's name) and free text.

use std::fmt;

use crate::normalize::for_matching;

/// A calendar date (proleptic Gregorian). Small on purpose: the dialog needs only
/// day arithmetic and weekdays, not time zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let mut it = s.trim().splitn(3, '-');
        let y = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        Date::new(y, m, d)
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    pub fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }

    pub fn from_days(z: i64) -> Date {
        let z = z + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        Date {
            year: y as i32,
            month: m,
            day: d,
        }
    }

    pub fn add_days(self, n: i64) -> Date {
        Date::from_days(self.to_days() + n)
    }

    /// 0 = Monday .. 6 = Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.to_days() + 3).rem_euclid(7) as u32
    }

    /// Today's date from the system clock (UTC). For the edges (binary), never the engine.
    pub fn today_utc() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_days((secs / 86_400) as i64)
    }

    /// "Tuesday the 5th of May", for prompts.
    pub fn spoken(self) -> String {
        let wd = WEEKDAYS[self.weekday() as usize];
        let mut wd_cap = wd.to_string();
        wd_cap[..1].make_ascii_uppercase();
        let mut month = MONTHS[(self.month - 1) as usize].to_string();
        month[..1].make_ascii_uppercase();
        format!(
            "{wd_cap} the {}{} of {month}",
            self.day,
            crate::normalize::ordinal_suffix(self.day.into())
        )
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// What kind of value a slot holds (from the flow's `[slots.NAME]`).
#[derive(Debug, Clone, PartialEq)]
pub enum SlotKind {
    YesNo,
    /// A digit string of `min..=max` digits.
    Digits {
        min: usize,
        max: usize,
    },
    /// A date; `future_only` rejects today and the past.
    Date {
        future_only: bool,
    },
    Time,
    Amount,
    /// Option name + synonyms (the name itself is a synonym too).
    Choice(Vec<(String, Vec<String>)>),
    FreeText,
}

/// ASR homophones of digit words, accepted only next to other digits in a digit slot.
fn digit_homophone(w: &str) -> Option<char> {
    Some(match w {
        "won" => '1',
        "to" | "too" => '2',
        "tree" | "free" => '3',
        "for" | "fore" => '4',
        "sex" | "sicks" => '6',
        "ate" => '8',
        "nein" => '9',
        _ => return None,
    })
}

/// Every digit in the text, including digit homophones between digits ("four to six" -> 426).
pub fn lenient_digits(text: &str) -> Option<String> {
    let norm = for_matching(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let is_digits = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if is_digits(w) {
            out.push_str(w);
        } else if let Some(d) = digit_homophone(w) {
            let prev =
                i > 0 && (is_digits(words[i - 1]) || digit_homophone(words[i - 1]).is_some());
            let next = words
                .get(i + 1)
                .is_some_and(|n| is_digits(n) || digit_homophone(n).is_some());
            // Both sides: "for" in "press one for agent" is not a digit.
            if prev && next {
                out.push(d);
            }
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ya",
    "yah",
    "sure",
    "correct",
    "right",
    "affirmative",
    "absolutely",
    "definitely",
    "certainly",
    "ok",
    "okay",
    "exactly",
    "indeed",
    "uh huh",
    "mhm",
    "please do",
    "go ahead",
    "that is it",
    "thats it",
    "thats right",
    "that is right",
    "yes please",
    "of course",
    "it is",
    "i do",
    "perfect",
    "fine",
    "sounds good",
    "alright",
    "all right",
    // Forms Whisper writes for short answers ("Yeah.", "Mm-hmm.", "Yeah, sure thing.").
    "yeh",
    "yes sir",
    "yessir",
    "mm hmm",
    "mmhmm",
    "mhmm",
    "uhhuh",
    "aye",
    "sure thing",
    "you got it",
    "go for it",
    "i think so",
    "thats correct",
    "that is correct",
    "thats the one",
    "that is the one",
    "spot on",
    "totally",
];
/// Yes-phrases that contain a negation word ("Sure, why not.").
const YES_DESPITE_NEGATION: &[&str] = &["why not", "dont mind", "do not mind", "no doubt"];
const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "negative",
    "wrong",
    "incorrect",
    "not right",
    "not correct",
    "thats not",
    "that is not",
    "isnt",
    "dont",
    "do not",
    "not really",
    "no thanks",
    "no thank you",
    "nothing",
    "not",
];

fn contains_phrase(hay: &str, phrase: &str) -> bool {
    let h = format!(" {hay} ");
    h.contains(&format!(" {phrase} "))
}

/// Yes or no in the many ways people say it. Negation wins ("not right" is no).
pub fn yes_no(text: &str) -> Option<bool> {
    let norm = for_matching(text);
    if norm.is_empty() {
        return None;
    }
    if YES_DESPITE_NEGATION
        .iter()
        .any(|p| contains_phrase(&norm, p))
        && !["no", "not"]
            .iter()
            .any(|w| norm.starts_with(&format!("{w} ")))
    {
        return Some(true);
    }
    if NO.iter().any(|p| contains_phrase(&norm, p)) {
        return Some(false);
    }
    if YES.iter().any(|p| contains_phrase(&norm, p)) {
        return Some(true);
    }
    None
}

fn month_of(w: &str) -> Option<u32> {
    let short = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == w)
        .or_else(|| short.iter().position(|m| *m == w))
        .or_else(|| (w == "sept").then_some(8))
        .map(|i| i as u32 + 1)
}

fn weekday_of(w: &str) -> Option<u32> {
    WEEKDAYS
        .iter()
        .position(|d| *d == w || (w.len() >= 3 && d.starts_with(w) && w.len() < d.len()))
        .map(|i| i as u32)
}

/// Day-of-month from "5th", "5", "21st".
fn day_number(w: &str) -> Option<u32> {
    let digits: String = w.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &w[digits.len()..];
    if digits.is_empty() || !matches!(rest, "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (1..=31).contains(&n).then_some(n)
}

/// A date relative to `today`: "today", "tomorrow", "the day after tomorrow", "(next|this|on)
/// Monday", "the fifth", "May 5th", "5th of May", "in 3 days", "next week".
pub fn date(text: &str, today: Date) -> Option<Date> {
    let norm = for_matching(text);
    let w: Vec<&str> = norm.split(' ').filter(|s| !s.is_empty()).collect();
    let has = |p: &str| contains_phrase(&norm, p);
    if has("day after tomorrow") {
        return Some(today.add_days(2));
    }
    if has("tomorrow") || has("tmrw") {
        return Some(today.add_days(1));
    }
    if has("today") || has("this afternoon") || has("tonight") {
        return Some(today);
    }
    if has("yesterday") {
        return Some(today.add_days(-1));
    }
    // "in 3 days", "in a week"
    for i in 0..w.len() {
        if w[i] == "in" && i + 2 < w.len() + 1 {
            let n = match w.get(i + 1) {
                Some(&"a") | Some(&"one") => Some(1),
                Some(x) => x.parse::<i64>().ok(),
                None => None,
            };
            if let (Some(n), Some(unit)) = (n, w.get(i + 2))
                && n <= 366
            {
                match unit.trim_end_matches('s') {
                    "day" => return Some(today.add_days(n)),
                    "week" => return Some(today.add_days(7 * n)),
                    _ => {}
                }
            }
        }
    }
    // Month + day in either order.
    for (i, word) in w.iter().enumerate() {
        if let Some(m) = month_of(word) {
            let before = i.checked_sub(1).and_then(|j| day_number(w[j]));
            let before = before.or_else(|| {
                // "5th of May"
                (i >= 2 && w[i - 1] == "of")
                    .then(|| day_number(w[i - 2]))
                    .flatten()
            });
            let after = w.get(i + 1).and_then(|x| day_number(x));
            if let Some(d) = after.or(before) {
                let mut y = today.year;
                let mut cand = Date::new(y, m, d)?;
                if cand < today {
                    y += 1;
                    cand = Date::new(y, m, d)?;
                }
                return Some(cand);
            }
        }
    }
    // Weekdays: "next Monday" = the first Monday after this week? People mean the coming
    // one more often than not; we take the next occurrence strictly after today, and
    // "next" only skips ahead a week when that occurrence is within 2 days... keep it
    // simple and predictable: next occurrence strictly after today.
    for word in &w {
        if let Some(wd) = weekday_of(word) {
            let delta = (i64::from(wd) - i64::from(today.weekday())).rem_euclid(7);
            let delta = if delta == 0 { 7 } else { delta };
            return Some(today.add_days(delta));
        }
    }
    if has("next week") {
        let delta = 7 - i64::from(today.weekday());
        return Some(today.add_days(delta));
    }
    // "the fifth", "on the 21st": the next such day of a month, today included.
    for word in &w {
        if ["st", "nd", "rd", "th"].iter().any(|s| word.ends_with(s))
            && let Some(d) = day_number(word)
        {
            return next_day_of_month(today, d);
        }
    }
    None
}

fn next_day_of_month(today: Date, d: u32) -> Option<Date> {
    let (mut y, mut m) = (today.year, today.month);
    for _ in 0..3 {
        if let Some(c) = Date::new(y, m, d)
            && c >= today
        {
            return Some(c);
        }
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    None
}

/// A time of day as `HH:MM`: "3 pm", "three thirty pm", "15:30", "noon", "half past two",
/// "quarter to five", "9 in the morning".
pub fn time(text: &str) -> Option<String> {
    let raw = text.to_lowercase();
    // "15:30" before normalisation folds the colon away.
    let mut hm: Option<(u32, u32)> = None;
    for tok in raw.split(|c: char| c.is_whitespace()) {
        let t = tok.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != ':');
        if let Some((h, m)) = t.split_once(':') {
            let m = m.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            if let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) {
                hm = Some((h, m));
            }
        }
    }
    let norm = for_matching(&raw);
    let w: Vec<&str> = norm.split(' ').filter(|s| !s.is_empty()).collect();
    let has = |p: &str| contains_phrase(&norm, p);
    if hm.is_none() {
        if has("noon") || has("midday") {
            return Some("12:00".into());
        }
        if has("midnight") {
            return Some("00:00".into());
        }
        for (i, word) in w.iter().enumerate() {
            let Ok(n) = word.parse::<u32>() else { continue };
            let prev = i.checked_sub(1).map(|j| w[j]);
            let prev2 = i.checked_sub(2).map(|j| w[j]);
            hm = match (prev2, prev) {
                (Some("half"), Some("past")) => Some((n, 30)),
                (Some("quarter"), Some("past")) => Some((n, 15)),
                (Some("quarter"), Some("to")) => Some(((n + 23) % 24, 45)),
                _ if (100..=2359).contains(&n) && n % 100 < 60 => Some((n / 100, n % 100)),
                _ if n <= 24 => {
                    // "three thirty" normalises to "330" (handled above); "3 30" likewise.
                    Some((n, 0))
                }
                _ => None,
            };
            if hm.is_some() {
                break;
            }
        }
    }
    let (mut h, m) = hm?;
    if h > 24 || m > 59 {
        return None;
    }
    let pm = has("pm") || has("p m") || has("afternoon") || has("evening") || has("tonight");
    let am = has("am") || has("a m") || has("morning");
    if pm && h < 12 {
        h += 12;
    } else if am && h == 12 {
        h = 0;
    }
    Some(format!("{:02}:{:02}", h % 24, m))
}

/// A money amount as `D.CC`: "$25.50", "twenty five dollars and fifty cents", "25 dollars".
pub fn amount(text: &str) -> Option<String> {
    let raw = text.to_lowercase();
    // "$25.50" / "25.5": keep the decimal point before normalisation folds it.
    for tok in raw.split_whitespace() {
        let t = tok.trim_matches(|c: char| !c.is_ascii_digit() && c != '.');
        if let Some((a, b)) = t.split_once('.')
            && let (Ok(a), true) = (a.parse::<u64>(), !b.is_empty() && b.len() <= 2)
            && let Ok(bv) = b.parse::<u64>()
        {
            let cents = if b.len() == 1 { bv * 10 } else { bv };
            return Some(format!("{a}.{cents:02}"));
        }
    }
    let norm = for_matching(&raw);
    let w: Vec<&str> = norm.split(' ').filter(|s| !s.is_empty()).collect();
    let mut dollars: Option<u64> = None;
    let mut cents: u64 = 0;
    for (i, word) in w.iter().enumerate() {
        let Ok(n) = word.parse::<u64>() else { continue };
        match w.get(i + 1).copied() {
            Some("cents") | Some("cent") => cents = n.min(99),
            _ if dollars.is_none() => dollars = Some(n),
            _ => {}
        }
    }
    if dollars.is_none() && cents == 0 {
        return None;
    }
    Some(format!("{}.{cents:02}", dollars.unwrap_or(0)))
}

/// Levenshtein distance on chars (small strings only: slot synonyms and intent tokens).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// An enum option by name or synonym (phrase match, then fuzzy single words).
pub fn choice(text: &str, options: &[(String, Vec<String>)]) -> Option<String> {
    let norm = for_matching(text);
    if norm.is_empty() {
        return None;
    }
    // Longest matching phrase wins, so "next day air" beats "air".
    let mut best: Option<(usize, &str)> = None;
    for (name, syns) in options {
        for s in std::iter::once(name).chain(syns.iter()) {
            let s = for_matching(s);
            if !s.is_empty() && contains_phrase(&norm, &s) && best.is_none_or(|(l, _)| s.len() > l)
            {
                best = Some((s.len(), name));
            }
        }
    }
    if let Some((_, n)) = best {
        return Some(n.to_string());
    }
    for word in norm.split(' ') {
        if word.len() < 4 {
            continue;
        }
        for (name, syns) in options {
            for s in std::iter::once(name).chain(syns.iter()) {
                let s = for_matching(s);
                if !s.contains(' ') && s.len() >= 4 && levenshtein(word, &s) <= 1 {
                    return Some(name.clone());
                }
            }
        }
    }
    None
}

/// A digit string heard for a slot of `min..=max` digits. The same number twice in a row
/// is taken once: callers repeat their number ("1 2 3 4 5 6 7 8, 12345678"), and Whisper
/// sometimes writes one reading twice, as a number and digit by digit (heard on a Mandarin
/// call: "12345678 1 2 3 4 5 6 7 8").
pub fn digits_within(d: String, min: usize, max: usize) -> Option<String> {
    let fits = |n: usize| n >= min && n <= max;
    if fits(d.len()) {
        return Some(d);
    }
    let (first, second) = d.split_at(d.len() / 2);
    (d.len().is_multiple_of(2) && first == second && fits(first.len())).then(|| first.to_string())
}

/// Parse `text` as a value of `kind`. `None` = no match.
pub fn parse(kind: &SlotKind, text: &str, today: Date) -> Option<String> {
    match kind {
        SlotKind::YesNo => yes_no(text).map(|b| if b { "yes" } else { "no" }.to_string()),
        SlotKind::Digits { min, max } => digits_within(lenient_digits(text)?, *min, *max),
        SlotKind::Date { future_only } => {
            let d = date(text, today)?;
            (!*future_only || d > today).then(|| d.to_string())
        }
        SlotKind::Time => time(text),
        SlotKind::Amount => amount(text),
        SlotKind::Choice(opts) => choice(text, opts),
        SlotKind::FreeText => {
            let t = text.trim();
            // Must contain at least one letter or digit: "..." or noise tags are not text.
            t.chars()
                .any(char::is_alphanumeric)
                .then(|| t.chars().take(500).collect())
        }
    }
}

/// Spoken form of a slot value for prompts: `digits` reads digit by digit, `date` as
/// "Tuesday the 5th of May", others verbatim.
pub fn render(value: &str, format: &str) -> String {
    match format {
        "digits" => value
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(String::from)
            .collect::<Vec<_>>()
            .join(" "),
        "date" => Date::parse_iso(value).map_or_else(|| value.to_string(), Date::spoken),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    #[test]
    fn date_arithmetic() {
        assert_eq!(d("1970-01-01").to_days(), 0);
        assert_eq!(Date::from_days(0), d("1970-01-01"));
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2025-12-31").add_days(1), d("2026-01-01"));
        assert_eq!(d("2026-05-04").weekday(), 0); // a Monday
        assert_eq!(d("2026-05-05").spoken(), "Tuesday the 5th of May");
        assert!(Date::parse_iso("2026-02-30").is_none());
        assert!(Date::parse_iso("junk").is_none());
    }

    #[test]
    fn relative_dates() {
        let today = d("2026-05-06"); // Wednesday
        assert_eq!(date("tomorrow please", today), Some(d("2026-05-07")));
        assert_eq!(date("the day after tomorrow", today), Some(d("2026-05-08")));
        assert_eq!(date("next Monday", today), Some(d("2026-05-11")));
        assert_eq!(date("on friday", today), Some(d("2026-05-08")));
        assert_eq!(date("wednesday", today), Some(d("2026-05-13")));
        assert_eq!(date("the fifth", today), Some(d("2026-06-05")));
        assert_eq!(date("the twenty first", today), Some(d("2026-05-21")));
        assert_eq!(date("May 5th", today), Some(d("2027-05-05")));
        assert_eq!(date("the 9th of May", today), Some(d("2026-05-09")));
        assert_eq!(date("june twelfth", today), Some(d("2026-06-12")));
        assert_eq!(date("in three days", today), Some(d("2026-05-09")));
        assert_eq!(date("next week", today), Some(d("2026-05-11")));
        assert_eq!(date("whenever", today), None);
        assert_eq!(date("", today), None);
    }

    #[test]
    fn digits_with_homophones() {
        assert_eq!(
            lenient_digits("one two three four").as_deref(),
            Some("1234")
        );
        assert_eq!(lenient_digits("four to six").as_deref(), Some("426"));
        assert_eq!(lenient_digits("press one for agent").as_deref(), Some("1"));
        assert_eq!(
            lenient_digits("double five oh seven").as_deref(),
            Some("5507")
        );
        assert_eq!(lenient_digits("hello"), None);
        let k = SlotKind::Digits { min: 8, max: 8 };
        let today = d("2026-05-06");
        assert_eq!(parse(&k, "1234 5678", today).as_deref(), Some("12345678"));
        assert_eq!(parse(&k, "123", today), None);
    }

    #[test]
    fn yes_no_forms() {
        for y in [
            "yes",
            "Yeah.",
            "yep that's right",
            "correct",
            "sure",
            "uh huh",
            "Okay",
        ] {
            assert_eq!(yes_no(y), Some(true), "{y}");
        }
        // As Whisper writes short answers: capitals, punctuation, hyphens, fillers.
        for y in [
            "Yes.",
            "Yes!",
            "YES",
            "Yes?",
            "Yes, please.",
            "Yeah.",
            "Yeah, yeah.",
            "Yeah, that's right.",
            "Yep!",
            "Yup.",
            "Sure.",
            "Sure thing.",
            "Sure, why not.",
            "That's right.",
            "That's correct.",
            "Correct.",
            "Right.",
            "Absolutely.",
            "Of course.",
            "Exactly.",
            "Uh-huh.",
            "Mm-hmm.",
            "Mhm.",
            "Okay.",
            "OK.",
            "All right.",
            "Alright.",
            "Yes, it is.",
            "Yes, I do.",
            "Yes, thank you.",
            "I think so.",
            "You got it.",
            "Um, yes.",
            "Yes sir.",
        ] {
            assert_eq!(yes_no(y), Some(true), "{y}");
        }
        for n in [
            "No.",
            "No!",
            "NO",
            "No, thank you.",
            "No thanks.",
            "Nope.",
            "Nah.",
            "Not really.",
            "I don't think so.",
            "That's wrong.",
            "Incorrect.",
            "That's not it.",
            "No, that's not right.",
            "Absolutely not.",
            "Of course not.",
            "No, why not ask again",
            "Please don't.",
        ] {
            assert_eq!(yes_no(n), Some(false), "{n}");
        }
        for n in [
            "no",
            "Nope.",
            "that's not right",
            "wrong",
            "no, it's 4 5 6",
            "not correct",
        ] {
            assert_eq!(yes_no(n), Some(false), "{n}");
        }
        assert_eq!(yes_no("banana"), None);
        assert_eq!(yes_no("can you repeat that please"), None);
        assert_eq!(yes_no("1, 2, 3, 4, 5, 6, 7, 8."), None);
        assert_eq!(yes_no(""), None);
    }

    #[test]
    fn times_and_amounts() {
        assert_eq!(time("3 pm").as_deref(), Some("15:00"));
        assert_eq!(time("at 15:30").as_deref(), Some("15:30"));
        assert_eq!(
            time("three thirty in the afternoon").as_deref(),
            Some("15:30")
        );
        assert_eq!(time("half past two").as_deref(), Some("02:30"));
        assert_eq!(time("quarter to five pm").as_deref(), Some("16:45"));
        assert_eq!(time("noon").as_deref(), Some("12:00"));
        assert_eq!(time("no idea"), None);
        assert_eq!(amount("$25.50").as_deref(), Some("25.50"));
        assert_eq!(
            amount("twenty five dollars and fifty cents").as_deref(),
            Some("25.50")
        );
        assert_eq!(amount("forty dollars").as_deref(), Some("40.00"));
        assert_eq!(amount("nothing"), None);
    }

    #[test]
    fn choices_with_synonyms() {
        let opts = vec![
            (
                "morning".to_string(),
                vec!["am".to_string(), "before noon".to_string()],
            ),
            (
                "afternoon".to_string(),
                vec!["pm".to_string(), "after lunch".to_string()],
            ),
        ];
        assert_eq!(
            choice("in the morning please", &opts).as_deref(),
            Some("morning")
        );
        assert_eq!(choice("after lunch", &opts).as_deref(), Some("afternoon"));
        assert_eq!(choice("afternon", &opts).as_deref(), Some("afternoon"));
        assert_eq!(choice("whenever", &opts), None);
    }

    #[test]
    fn free_text_and_render() {
        let today = d("2026-05-06");
        assert_eq!(parse(&SlotKind::FreeText, "  ...  ", today), None);
        assert_eq!(
            parse(&SlotKind::FreeText, "the box was crushed", today).as_deref(),
            Some("the box was crushed")
        );
        assert_eq!(render("123", "digits"), "1 2 3");
        assert_eq!(render("2026-05-05", "date"), "Tuesday the 5th of May");
        assert_eq!(render("x", "date"), "x");
    }
}
