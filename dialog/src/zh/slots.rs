//! Mandarin slot parsers: the same canonical values as the English ones in `slots.rs`
//! (digit strings, yes/no, ISO dates relative to the call's date, `HH:MM`, `D.CC`), from
//! what Mandarin callers say and Whisper writes ("幺二三", "12345678", "下周三", "十二月二十号",
//! "下午三点半", "一百二十块").

use std::sync::OnceLock;

use crate::slots::{self, Date};

use super::intent::all_syllables;
use super::text::{
    cardinal, cardinal_after, cardinal_before, digit_value, fold_width, has_han,
    is_digit_separator, weak_digit_value,
};

/// Text for the parsers: full-width folded, without spaces (Chinese has no word spaces,
/// Whisper sometimes inserts them).
fn squeeze(text: &str) -> String {
    fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Every digit string in the text, concatenated ("单号是幺二三 四五六，七八" -> "12345678").
/// A lone Chinese numeral is a word, not a digit ("查一下", "两个"); a lone Arabic digit
/// counts. A digit homophone (要 for 幺, 以 for 一: Whisper writes both) counts between
/// two digits, or at either end of a string when two digits follow or precede it.
pub fn digits(text: &str) -> Option<String> {
    let chars: Vec<char> = fold_width(text).chars().collect();
    let strong = |i: usize| chars.get(i).copied().and_then(digit_value);
    let mut out = String::new();
    let mut run = String::new();
    let mut run_has_arabic = false;
    let flush = |run: &mut String, has_arabic: &mut bool, out: &mut String| {
        if run.chars().count() >= 2 || (*has_arabic && !run.is_empty()) {
            out.push_str(run);
        }
        run.clear();
        *has_arabic = false;
    };
    for (i, &c) in chars.iter().enumerate() {
        if let Some(d) = digit_value(c) {
            run.push(d);
            run_has_arabic |= c.is_ascii_digit();
            continue;
        }
        let before = |k: usize| i >= k && strong(i - k).is_some();
        let after = |k: usize| strong(i + k).is_some();
        if let Some(d) = weak_digit_value(c)
            && ((before(1) && after(1)) || (after(1) && after(2)) || (before(1) && before(2)))
        {
            run.push(d);
            continue;
        }
        // A separator inside a run ("1234 5678", "一二三，四五六") keeps it going.
        if is_digit_separator(c) && !run.is_empty() && strong(i + 1).is_some() {
            continue;
        }
        flush(&mut run, &mut run_has_arabic, &mut out);
    }
    flush(&mut run, &mut run_has_arabic, &mut out);
    (!out.is_empty()).then_some(out)
}

/// Yes-phrases that contain a negation character.
const YES_DESPITE_NEGATION: &[&str] = &["没错", "没问题", "没有问题", "不错", "没毛病", "可不是"];
const NO: &[&str] = &[
    "不是",
    "不对",
    "不用",
    "不要",
    "没有",
    "不行",
    "不需要",
    "不可以",
    "不好",
    "错了",
    "算了",
    "不必",
    "不了",
    "别",
    "否",
];
const YES: &[&str] = &[
    "是的", "是", "对的", "对", "好的", "好", "可以", "嗯", "行", "确认", "正确", "需要", "当然",
    "没错", "ok", "okay", "yes",
];
/// Politeness that contains yes/no characters but answers nothing.
const NOT_AN_ANSWER: &[&str] = &["对不起", "不好意思", "你好", "您好"];

/// Yes or no. Negation wins ("不是" is no), except in set phrases ("没错", "没问题").
pub fn yes_no(text: &str) -> Option<bool> {
    let mut t = squeeze(text).to_lowercase();
    if !has_han(&t) {
        return slots::yes_no(text);
    }
    for p in NOT_AN_ANSWER {
        t = t.replace(p, "，");
    }
    let bare: String = t.chars().filter(|c| c.is_alphanumeric()).collect();
    if bare.chars().all(|c| c == '不') && !bare.is_empty() {
        return Some(false);
    }
    if YES_DESPITE_NEGATION.iter().any(|p| t.contains(p)) {
        return Some(true);
    }
    if NO.iter().any(|p| t.contains(p)) {
        return Some(false);
    }
    if YES.iter().any(|p| t.contains(p)) {
        return Some(true);
    }
    yes_no_by_sound(&t)
}

/// Whole short answers, for when Whisper wrote them with homophones ("美有了" for 没有了,
/// heard from a Kokoro voice over G.711): the characters say nothing, the sound does.
const ANSWERS_BY_SOUND: &[(&str, bool)] = &[
    ("没有了", false),
    ("没有", false),
    ("不是", false),
    ("不对", false),
    ("不用了", false),
    ("不用", false),
    ("是的", true),
    ("对的", true),
    ("好的", true),
    ("可以", true),
];

/// The answer whose folded toneless pinyin is the whole utterance (a trailing 谢谢 allowed).
fn yes_no_by_sound(text: &str) -> Option<bool> {
    // The answers' syllables are segmented once, not on every turn.
    static ANSWERS: OnceLock<Vec<(Vec<String>, bool)>> = OnceLock::new();
    let answers = ANSWERS.get_or_init(|| {
        ANSWERS_BY_SOUND
            .iter()
            .map(|&(answer, yes)| (all_syllables(answer), yes))
            .collect()
    });
    let mut heard = all_syllables(text);
    if heard.ends_with(&["xie".to_string(), "xie".to_string()]) {
        heard.truncate(heard.len() - 2);
    }
    if heard.is_empty() {
        return None;
    }
    answers
        .iter()
        .find(|(answer, _)| *answer == heard)
        .map(|&(_, yes)| yes)
}

/// Does the caller negate what they say ("明天不在家": not a delivery day)?
pub fn negated(text: &str) -> bool {
    let mut t = squeeze(text);
    for p in YES_DESPITE_NEGATION {
        t = t.replace(p, "");
    }
    t.contains(['不', '没', '别']) || t.contains("无法")
}

fn weekday_char(c: char) -> Option<u32> {
    Some(match c {
        '一' | '1' => 0,
        '二' | '2' => 1,
        '三' | '3' => 2,
        '四' | '4' => 3,
        '五' | '5' => 4,
        '六' | '6' => 5,
        '日' | '天' | '七' | '7' => 6,
        _ => return None,
    })
}

const WEEKDAY_NAMES: [&str; 7] = [
    "星期一",
    "星期二",
    "星期三",
    "星期四",
    "星期五",
    "星期六",
    "星期日",
];

/// How a date is said in a Mandarin prompt: "5月8日星期五".
pub fn render_date(d: Date) -> String {
    format!(
        "{}月{}日{}",
        d.month,
        d.day,
        WEEKDAY_NAMES[d.weekday() as usize]
    )
}

/// `m`/`d` in the given year, else the next such date from `today` on.
fn month_day(year: Option<i32>, m: u64, d: u64, today: Date) -> Option<Date> {
    let (m, d) = (u32::try_from(m).ok()?, u32::try_from(d).ok()?);
    if let Some(y) = year {
        return Date::new(y, m, d);
    }
    let cand = Date::new(today.year, m, d)?;
    if cand < today {
        Date::new(today.year + 1, m, d)
    } else {
        Some(cand)
    }
}

/// A year before 年: "2026年", "二零二六年".
fn year_before(t: &str, end: usize) -> Option<i32> {
    let head = t.get(..end)?;
    let digits: String = head
        .chars()
        .rev()
        .map_while(digit_value)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (digits.len() == 4).then(|| digits.parse().ok()).flatten()
}

/// "十二月二十号", "12月20日", "2026年12月20日".
fn explicit_date(t: &str, today: Date) -> Option<Date> {
    for (i, _) in t.match_indices('月') {
        let Some((ms, m)) = cardinal_before(t, i) else {
            continue;
        };
        let year = t[..ms]
            .strip_suffix('年')
            .and_then(|h| year_before(h, h.len()));
        let after = i + '月'.len_utf8();
        if let Some((_, d)) = cardinal_after(t, after) {
            return month_day(year, m, d, today);
        }
    }
    // "2026-12-20", "12/20"
    if let Some(d) = t
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .find_map(Date::parse_iso)
    {
        return Some(d);
    }
    for tok in t.split(|c: char| !(c.is_ascii_digit() || c == '/')) {
        if let Some((m, d)) = tok.split_once('/')
            && let (Ok(m), Ok(d)) = (m.parse(), d.parse())
        {
            return month_day(None, m, d, today);
        }
    }
    None
}

/// "二十号", "20日": the next such day of a month, today included.
fn day_of_month(t: &str, today: Date) -> Option<Date> {
    for (i, _) in t.match_indices(['号', '日']) {
        if let Some((_, d)) = cardinal_before(t, i)
            && (1..=31).contains(&d)
        {
            let d = d as u32;
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
        }
    }
    None
}

/// "周五", "星期五", "礼拜天", "下周三", "下下周一", "这周五". A week starts on Monday;
/// "下周三" is the Wednesday of next week, a bare "周三" the next Wednesday after today.
fn weekday_date(t: &str, today: Date) -> Option<Date> {
    for key in ["星期", "礼拜", "禮拜", "周", "週"] {
        for (i, _) in t.match_indices(key) {
            let after = i + key.len();
            let Some(wd) = t[after..].chars().next().and_then(weekday_char) else {
                continue;
            };
            let head = t[..i].trim_end_matches('个');
            let monday = today.add_days(-i64::from(today.weekday()));
            let week = if head.ends_with("下下") {
                Some(2)
            } else if head.ends_with('下') {
                Some(1)
            } else if head.ends_with('这') || head.ends_with('本') {
                Some(0)
            } else if head.ends_with('上') {
                Some(-1)
            } else {
                None
            };
            return Some(match week {
                Some(k) => monday.add_days(7 * k + i64::from(wd)),
                None => {
                    let delta = (i64::from(wd) - i64::from(today.weekday())).rem_euclid(7);
                    today.add_days(if delta == 0 { 7 } else { delta })
                }
            });
        }
    }
    None
}

/// A date relative to `today`. See the module docs for the forms.
pub fn date(text: &str, today: Date) -> Option<Date> {
    let t = squeeze(text);
    if !has_han(&t) && !t.contains(['-', '/']) {
        return slots::date(text, today);
    }
    for (word, days) in [
        ("大后天", 3),
        ("大後天", 3),
        ("后天", 2),
        ("後天", 2),
        ("明天", 1),
        ("明日", 1),
        ("明儿", 1),
        ("今天", 0),
        ("今日", 0),
        ("今儿", 0),
        ("大前天", -3),
        ("前天", -2),
        ("昨天", -1),
    ] {
        if t.contains(word) {
            return Some(today.add_days(days));
        }
    }
    // "三天后", "3天以后"
    for (i, _) in t.match_indices("天") {
        let rest = &t[i + "天".len()..];
        if (rest.starts_with('后') || rest.starts_with("以后") || rest.starts_with("之后"))
            && let Some((_, n)) = cardinal_before(&t, i)
            && n <= 366
        {
            return Some(today.add_days(n as i64));
        }
    }
    if let Some(d) = explicit_date(&t, today) {
        return Some(d);
    }
    if let Some(d) = weekday_date(&t, today) {
        return Some(d);
    }
    if let Some(d) = day_of_month(&t, today) {
        return Some(d);
    }
    if ["下周", "下週", "下个星期", "下星期", "下个礼拜", "下個星期"]
        .iter()
        .any(|w| t.contains(w))
    {
        return Some(today.add_days(7 - i64::from(today.weekday())));
    }
    None
}

/// A time of day as `HH:MM`: "15:30", "下午三点半", "三点一刻", "十点零五分", "晚上八点".
pub fn time(text: &str) -> Option<String> {
    let t = squeeze(text);
    if !has_han(&t) {
        return slots::time(text);
    }
    let mut hm: Option<(u64, u64)> = None;
    for tok in t.split(|c: char| !(c.is_ascii_digit() || c == ':')) {
        if let Some((h, m)) = tok.split_once(':')
            && let (Ok(h), Ok(m)) = (h.parse(), m.parse())
        {
            hm = Some((h, m));
            break;
        }
    }
    if hm.is_none() {
        for (i, mark) in t.match_indices(['点', '點', '时']) {
            let Some((_, h)) = cardinal_before(&t, i) else {
                continue;
            };
            let rest = &t[i + mark.len()..];
            let m = if rest.starts_with('半') {
                30
            } else if rest.starts_with("一刻") {
                15
            } else if rest.starts_with("三刻") {
                45
            } else {
                cardinal_after(&t, i + mark.len()).map_or(0, |(_, m)| m)
            };
            hm = Some((h, m));
            break;
        }
    }
    let (mut h, m) = hm?;
    if h > 24 || m > 59 {
        return None;
    }
    let pm = ["下午", "晚上", "傍晚", "今晚", "夜里"]
        .iter()
        .any(|w| t.contains(w));
    if (pm && h < 12) || (t.contains("中午") && h < 11) {
        h += 12;
    } else if t.contains("凌晨") && h == 12 {
        h = 0;
    }
    Some(format!("{:02}:{:02}", h % 24, m))
}

/// A money amount as `D.CC`: "128元", "一百二十块", "十二块五", "三块五毛", "¥25.50", "3.5元".
pub fn amount(text: &str) -> Option<String> {
    let t = squeeze(text);
    if !has_han(&t) {
        return slots::amount(text);
    }
    // Arabic with a decimal point: "25.50元", "3.5块".
    for tok in t.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        if let Some((a, b)) = tok.split_once('.')
            && let (Ok(a), true) = (a.parse::<u64>(), !b.is_empty() && b.len() <= 2)
            && let Ok(bv) = b.parse::<u64>()
        {
            let cents = if b.len() == 1 { bv * 10 } else { bv };
            return Some(format!("{a}.{cents:02}"));
        }
    }
    let unit = t
        .match_indices(['块', '元', '圆'])
        .find_map(|(i, u)| cardinal_before(&t, i).map(|(_, n)| (i + u.len(), n)));
    let (yuan, after) = match unit {
        Some((after, n)) => (n, after),
        None => {
            // A bare number is the amount ("一百二十", "128").
            let bare: String = t.chars().filter(|c| c.is_alphanumeric()).collect();
            return cardinal(&bare).map(|n| format!("{n}.00"));
        }
    };
    let mut jiao = 0;
    let mut fen = 0;
    if let Some((end, n)) = cardinal_after(&t, after) {
        let rest = &t[end..];
        if rest.starts_with('分') {
            fen = n;
        } else {
            // "十二块五" / "三块五毛"
            jiao = n;
            let rest = rest.trim_start_matches(['毛', '角']);
            if let Some((e2, f)) = cardinal_after(rest, 0)
                && rest[e2..].starts_with('分')
            {
                fen = f;
            }
        }
    }
    if jiao > 9 || fen > 9 {
        return None;
    }
    Some(format!("{yuan}.{}{}", jiao, fen))
}

/// An option by name or synonym contained in what was said; the longest wins.
pub fn choice(text: &str, options: &[(String, Vec<String>)]) -> Option<String> {
    let t = squeeze(text).to_lowercase();
    if !has_han(&t) {
        return slots::choice(text, options);
    }
    let mut best: Option<(usize, &str)> = None;
    for (name, syns) in options {
        for s in std::iter::once(name).chain(syns.iter()) {
            let s = squeeze(s).to_lowercase();
            if !s.is_empty() && t.contains(&s) && best.is_none_or(|(l, _)| s.len() > l) {
                best = Some((s.len(), name));
            }
        }
    }
    best.map(|(_, n)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    #[test]
    fn digit_strings_spoken_and_written() {
        assert_eq!(digits("一二三四五六七八").as_deref(), Some("12345678"));
        assert_eq!(digits("幺二三四 五六七八").as_deref(), Some("12345678"));
        assert_eq!(digits("两洞幺拐").as_deref(), Some("2017"));
        assert_eq!(digits("我的单号是12345678").as_deref(), Some("12345678"));
        assert_eq!(digits("1234 5678").as_deref(), Some("12345678"));
        assert_eq!(digits("1234，5678。").as_deref(), Some("12345678"));
        assert_eq!(digits("１２３４５６７８").as_deref(), Some("12345678"));
        assert_eq!(digits("一二三四5678").as_deref(), Some("12345678"));
        assert_eq!(digits("零零七").as_deref(), Some("007"));
        // Words with numerals are not digits.
        assert_eq!(digits("帮我查一下"), None);
        assert_eq!(digits("两个包裹"), None);
        assert_eq!(
            digits("查一下，单号是八七六五四三二一").as_deref(),
            Some("87654321")
        );
        // 要 for 幺 between digits only.
        assert_eq!(digits("五要二三").as_deref(), Some("5123"));
        assert_eq!(digits("我要查快递"), None);
        assert_eq!(
            digits("不对，是一二三四五六七九").as_deref(),
            Some("12345679")
        );
        // What Whisper base wrote for Kokoro voices over G.711: 以 for 一, 吧 for 八 at
        // the ends of a digit string.
        assert_eq!(digits("以二三四五六七吧。").as_deref(), Some("12345678"));
        assert_eq!(digits("八七六五四三二以").as_deref(), Some("87654321"));
        // An edge homophone needs two digits beside it; words stay words.
        assert_eq!(digits("以后再说"), None);
        assert_eq!(digits("可以二楼"), None);
        assert_eq!(digits("我想改一下送货时间"), None);
    }

    #[test]
    fn yes_and_no() {
        for y in [
            "是",
            "是的",
            "对",
            "对的",
            "没错",
            "好的",
            "可以",
            "嗯",
            "嗯，对",
            "对，没错",
            "没问题",
            "是的是的",
            "OK",
            "yes",
        ] {
            assert_eq!(yes_no(y), Some(true), "{y}");
        }
        for n in [
            "不是",
            "不对",
            "不用",
            "不要",
            "没有",
            "没有了",
            "不",
            "不不不",
            "不用了，谢谢",
            "错了",
            "no",
        ] {
            assert_eq!(yes_no(n), Some(false), "{n}");
        }
        // Homophones of a whole short answer, as Whisper wrote them.
        assert_eq!(yes_no("美有了。"), Some(false));
        assert_eq!(yes_no("美有了谢谢"), Some(false));
        assert_eq!(yes_no("事的"), Some(true));
        // Sound-alikes inside longer sentences are not answers.
        assert_eq!(yes_no("美国有了"), None);
        assert_eq!(yes_no("我想查快递"), None);
        assert_eq!(yes_no("对不起"), None);
        assert_eq!(yes_no(""), None);
    }

    #[test]
    fn relative_and_explicit_dates() {
        let today = d("2026-05-06"); // a Wednesday
        assert_eq!(today.weekday(), 2);
        assert_eq!(date("今天", today), Some(today));
        assert_eq!(date("明天送吧", today), Some(d("2026-05-07")));
        assert_eq!(date("后天", today), Some(d("2026-05-08")));
        assert_eq!(date("大后天", today), Some(d("2026-05-09")));
        assert_eq!(date("下周三", today), Some(d("2026-05-13")));
        assert_eq!(date("下週三", today), Some(d("2026-05-13")));
        assert_eq!(date("後天", today), Some(d("2026-05-08")));
        assert_eq!(date("下个星期一", today), Some(d("2026-05-11")));
        assert_eq!(date("下下周一", today), Some(d("2026-05-18")));
        assert_eq!(date("这周五", today), Some(d("2026-05-08")));
        assert_eq!(date("周五", today), Some(d("2026-05-08")));
        assert_eq!(date("星期五", today), Some(d("2026-05-08")));
        assert_eq!(date("周三", today), Some(d("2026-05-13")));
        assert_eq!(date("礼拜天", today), Some(d("2026-05-10")));
        assert_eq!(date("星期日", today), Some(d("2026-05-10")));
        assert_eq!(date("十二月二十号", today), Some(d("2026-12-20")));
        assert_eq!(date("12月20日", today), Some(d("2026-12-20")));
        assert_eq!(date("2027年1月3日", today), Some(d("2027-01-03")));
        assert_eq!(date("三月一号", today), Some(d("2027-03-01")));
        assert_eq!(date("二十号", today), Some(d("2026-05-20")));
        assert_eq!(date("五号", today), Some(d("2026-06-05")));
        assert_eq!(date("三天后", today), Some(d("2026-05-09")));
        assert_eq!(date("下周", today), Some(d("2026-05-11")));
        assert_eq!(date("2026-05-20", today), Some(d("2026-05-20")));
        assert_eq!(date("我想查快递", today), None);
        assert_eq!(date("tomorrow", today), Some(d("2026-05-07")));
        assert_eq!(render_date(d("2026-05-08")), "5月8日星期五");
    }

    #[test]
    fn times() {
        assert_eq!(time("下午三点").as_deref(), Some("15:00"));
        assert_eq!(time("三点半").as_deref(), Some("03:30"));
        assert_eq!(time("下午三点半").as_deref(), Some("15:30"));
        assert_eq!(time("15:30").as_deref(), Some("15:30"));
        assert_eq!(time("下午15:30").as_deref(), Some("15:30"));
        assert_eq!(time("十点零五分").as_deref(), Some("10:05"));
        assert_eq!(time("晚上八点一刻").as_deref(), Some("20:15"));
        assert_eq!(time("中午十二点").as_deref(), Some("12:00"));
        assert_eq!(time("两点").as_deref(), Some("02:00"));
        assert_eq!(time("查快递"), None);
    }

    #[test]
    fn amounts() {
        assert_eq!(amount("一百二十块").as_deref(), Some("120.00"));
        assert_eq!(amount("128元").as_deref(), Some("128.00"));
        assert_eq!(amount("十二块五").as_deref(), Some("12.50"));
        assert_eq!(amount("三块五毛").as_deref(), Some("3.50"));
        assert_eq!(amount("三块五毛二分").as_deref(), Some("3.52"));
        assert_eq!(amount("五块零五分").as_deref(), Some("5.05"));
        assert_eq!(amount("3.5元").as_deref(), Some("3.50"));
        assert_eq!(amount("￥25.50").as_deref(), Some("25.50"));
        assert_eq!(amount("两千三百元").as_deref(), Some("2300.00"));
        assert_eq!(amount("查快递"), None);
    }

    #[test]
    fn negation_and_choice() {
        assert!(negated("明天不在家"));
        assert!(negated("明天没人"));
        assert!(!negated("明天送"));
        assert!(!negated("没错，明天"));
        let opts = vec![
            ("morning".to_string(), vec!["上午".to_string()]),
            ("afternoon".to_string(), vec!["下午".to_string()]),
        ];
        assert_eq!(choice("下午吧", &opts).as_deref(), Some("afternoon"));
        assert_eq!(choice("随便", &opts), None);
    }
}
