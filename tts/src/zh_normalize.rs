//! Text normalisation for Mandarin speech: Arabic numbers written the way a hotline says them.
//!
//! - digit strings (phone, tracking, card numbers: 5+ digits, a leading 0, digit groups
//!   `138-0013-8000`, or after a cue such as 尾号/单号/电话) are read digit by digit, 1 as 幺,
//!   with a short pause (`·`) between groups;
//! - amounts: `128.50元` / `¥128.5` -> 一百二十八元五角, `12.5块` -> 十二块五毛;
//! - times: `14:30` -> 下午两点三十分 (no period word if the text already has one),
//!   ranges `9:00-18:00` -> 上午九点到下午六点;
//! - dates: `12月20日` -> 十二月二十日, `2026年` -> 二零二六年, `2026-12-20`;
//! - percentages `12.5%` -> 百分之十二点五; decimals 三点一四;
//! - 两 instead of 二 before measure words (2个 -> 两个) and as a leading 两百/两千/两万.
//!
//! The same prompt markup as English (`{digits:...}`, `{pause:...}`) is understood.

use chinese_number::{ChineseCase, ChineseVariant, from_u64_to_chinese_ten_thousand};

use crate::normalize::{Piece, normalize_markup};

/// Pause between digit groups; the Mandarin G2P reads it as a comma, the clause splitter
/// does not cut there.
pub const DIGIT_GROUP_PAUSE: char = '·';

/// Normalise a Mandarin prompt (with markup) into speakable pieces.
pub fn normalize_zh(text: &str) -> Vec<Piece> {
    normalize_markup(text, normalize_zh_words, |s| spell_digits(s, true))
}

/// Words cue a digit-by-digit reading of the number after them, whatever its length.
const DIGIT_CUES: &[&str] = &[
    "尾号",
    "号码",
    "单号",
    "电话",
    "手机",
    "编号",
    "验证码",
    "工号",
    "卡号",
    "账号",
    "分机",
    "密码",
    "房间",
    "车牌",
];

/// Measure words after which 2 is 两 (两个, 两天).
const MEASURES: &[&str] = &[
    "个", "位", "次", "天", "件", "名", "人", "张", "份", "台", "辆", "条", "本", "种", "家", "周",
    "年", "小时", "分钟", "秒", "斤", "公斤", "箱", "包", "趟", "遍", "点", "岁", "倍", "只", "米",
    "公里", "层", "项", "笔", "单", "星期", "个月", "站", "辆",
];

/// Words that already say the period of the day before a time.
const PERIODS: &[&str] = &[
    "凌晨", "早上", "上午", "中午", "下午", "傍晚", "晚上", "今晚",
];

/// Normalise plain text (no markup).
pub fn normalize_zh_words(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(to_ascii).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let yuan_sign =
            matches!(c, '¥' | '￥') && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || yuan_sign {
            let (consumed, spoken) = number_at(&chars, i, &out);
            out.push_str(&spoken);
            i += consumed.max(1);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn to_ascii(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '％' => '%',
        _ => c,
    }
}

/// The number starting at `chars[start]`: (chars consumed, spoken form).
fn number_at(chars: &[char], start: usize, before: &str) -> (usize, String) {
    let yuan_sign = matches!(chars[start], '¥' | '￥');
    let s = start + usize::from(yuan_sign);
    // digits with inner separators (each must be followed by a digit)
    let mut j = s;
    while j < chars.len() {
        let c = chars[j];
        let inner = matches!(c, '.' | ':' | '-' | '/' | ',' | ' ')
            && j > s
            && chars.get(j + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || inner {
            j += 1;
        } else {
            break;
        }
    }
    let mut tok: String = chars[s..j].iter().collect();
    // "1,280" is a thousands separator; any other comma ends the number
    if tok.contains(',') {
        if is_thousands(&tok) {
            tok = tok.replace(',', "");
        } else if let Some(cut) = tok.find(',') {
            tok.truncate(cut);
            j = s + tok.chars().count();
        }
    }
    let after: String = chars[j..chars.len().min(j + 3)].iter().collect();
    let consumed = j - start;

    if let Some(spoken) = time_range(&tok, before) {
        return (consumed, spoken);
    }
    if let Some(spoken) = iso_date(&tok) {
        return (consumed, spoken);
    }
    if tok.contains(['-', ' ', '/', ':']) {
        // digit groups: a phone number, an account number
        let groups: Vec<String> = tok
            .split(['-', ' ', '/', ':'])
            .map(|g| spell_digits(g, true))
            .collect();
        return (consumed, groups.join(&DIGIT_GROUP_PAUSE.to_string()));
    }
    let (int, frac) = match tok.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (tok.as_str(), None),
    };
    if yuan_sign || after.starts_with('元') || after.starts_with('块') {
        let unit_len =
            usize::from(!yuan_sign && (after.starts_with('元') || after.starts_with('块')));
        let kuai = after.starts_with('块');
        if let Some(spoken) = amount(int, frac, kuai) {
            return (consumed + unit_len, spoken);
        }
    }
    if after.starts_with('%')
        && let Some(n) = decimal(int, frac)
    {
        return (consumed + 1, format!("百分之{n}"));
    }
    if frac.is_some()
        && let Some(n) = decimal(int, frac)
    {
        return (consumed, n);
    }
    if after.starts_with('年') && int.len() == 4 {
        return (consumed, spell_digits(int, false));
    }
    let cued = DIGIT_CUES.iter().any(|c| before.trim_end().ends_with(c));
    let long_or_zero = int.len() >= 5 || (int.len() > 1 && int.starts_with('0'));
    if cued || long_or_zero {
        return (consumed, grouped_digits(int));
    }
    match int.parse::<u64>() {
        Ok(n) => (consumed, count(n, &after)),
        Err(_) => (consumed, spell_digits(int, true)),
    }
}

fn is_thousands(tok: &str) -> bool {
    let int = tok.split('.').next().unwrap_or("");
    let mut parts = int.split(',');
    let first = parts.next().unwrap_or("");
    (1..=3).contains(&first.len()) && parts.all(|p| p.len() == 3)
}

/// Cardinal, e.g. 128 -> 一百二十八; a leading 二 before 百/千/万/亿 is 两.
pub fn cardinal(n: u64) -> String {
    let s = from_u64_to_chinese_ten_thousand(ChineseVariant::Simple, ChineseCase::Lower, n);
    let mut cs = s.chars();
    match (cs.next(), cs.next()) {
        (Some('二'), Some('百' | '千' | '万' | '亿')) => {
            format!("两{}", &s['二'.len_utf8()..])
        }
        _ => s,
    }
}

/// A number followed by `after`: 2 before a measure word is 两 (两个, 两点).
fn count(n: u64, after: &str) -> String {
    if n == 2 && MEASURES.iter().any(|m| after.starts_with(m)) {
        "两".into()
    } else {
        cardinal(n)
    }
}

/// 3.14 -> 三点一四 (decimals digit by digit, 1 as 一).
fn decimal(int: &str, frac: Option<&str>) -> Option<String> {
    let mut s = cardinal(int.parse().ok()?);
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        s.push('点');
        s.push_str(&spell_digits(f, false));
    }
    Some(s)
}

/// 128.50元 -> 一百二十八元五角; 0.05元 -> 五分; 12.5块 -> 十二块五毛.
fn amount(int: &str, frac: Option<&str>, kuai: bool) -> Option<String> {
    let yuan: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac = frac.unwrap_or("");
    if frac.len() > 2 {
        return Some(format!(
            "{}{}",
            decimal(int, Some(frac))?,
            if kuai { "块" } else { "元" }
        ));
    }
    let digit = |k: usize| frac.as_bytes().get(k).map_or(0, |b| b.saturating_sub(b'0')) as u64;
    let (jiao, fen) = (digit(0), digit(1));
    let (unit, tenth) = if kuai { ("块", "毛") } else { ("元", "角") };
    // money counts: 两元, 两角, 两分
    let money = |v: u64| {
        if v == 2 {
            "两".to_string()
        } else {
            cardinal(v)
        }
    };
    let mut s = String::new();
    if yuan > 0 || (jiao == 0 && fen == 0) {
        s.push_str(&money(yuan));
        s.push_str(unit);
    }
    if jiao > 0 {
        s.push_str(&money(jiao));
        s.push_str(tenth);
    }
    if fen > 0 {
        if jiao == 0 && yuan > 0 {
            s.push('零');
        }
        s.push_str(&money(fen));
        s.push('分');
    }
    Some(s)
}

/// "14:30" -> 下午两点三十分; "9:00-18:00" -> 上午九点到下午六点. `None` if not a time.
fn time_range(tok: &str, before: &str) -> Option<String> {
    if !tok.contains(':') {
        return None;
    }
    let parts: Vec<&str> = tok.split('-').collect();
    if parts.len() > 2 {
        return None;
    }
    let has_period = PERIODS.iter().any(|p| before.trim_end().ends_with(p));
    let mut spoken = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        spoken.push(clock_time(p, has_period && k == 0)?);
    }
    Some(spoken.join("到"))
}

fn clock_time(t: &str, has_period: bool) -> Option<String> {
    let (h, m) = t.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 24 || m > 59 {
        return None;
    }
    let period = match h {
        0..=4 => "凌晨",
        5..=8 => "早上",
        9..=11 => "上午",
        12 => "中午",
        13..=18 => "下午",
        _ => "晚上",
    };
    let h12 = if h > 12 { h - 12 } else { h };
    let mut s = String::new();
    if !has_period {
        s.push_str(period);
    }
    s.push_str(&if h12 == 0 {
        "零".to_string()
    } else {
        count(h12, "点")
    });
    s.push('点');
    match m {
        0 => {}
        1..=9 => {
            s.push('零');
            s.push_str(&cardinal(m));
            s.push('分');
        }
        _ => {
            s.push_str(&cardinal(m));
            s.push('分');
        }
    }
    Some(s)
}

/// "2026-12-20" / "2026/12/20" -> 二零二六年十二月二十日.
fn iso_date(tok: &str) -> Option<String> {
    let parts: Vec<&str> = tok.split(['-', '/']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 {
        return None;
    }
    let (m, d): (u64, u64) = (m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(format!(
        "{}年{}月{}日",
        spell_digits(y, false),
        cardinal(m),
        cardinal(d)
    ))
}

/// A long digit string, grouped for the ear: mobiles 3-4-4, others in fours.
fn grouped_digits(digits: &str) -> String {
    let ds: Vec<char> = digits.chars().collect();
    let sizes: Vec<usize> = if ds.len() == 11 && ds[0] == '1' {
        vec![3, 4, 4]
    } else if ds.len() >= 8 {
        let mut v = vec![4; ds.len() / 4];
        if !ds.len().is_multiple_of(4) {
            v.push(ds.len() % 4);
        }
        v
    } else {
        vec![ds.len()]
    };
    let mut groups = Vec::new();
    let mut at = 0;
    for n in sizes {
        let g: String = ds[at..at + n].iter().collect();
        groups.push(spell_digits(&g, true));
        at += n;
    }
    groups.join(&DIGIT_GROUP_PAUSE.to_string())
}

/// Digit by digit; `yao` reads 1 as 幺 (phone style), else 一. Letters are kept (the G2P
/// spells them), other characters dropped.
pub fn spell_digits(s: &str, yao: bool) -> String {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => {
                let d = c as usize - '0' as usize;
                Some(if d == 1 && yao {
                    '幺'
                } else {
                    ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'][d]
                })
            }
            c if c.is_ascii_alphabetic() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(t: &str) -> String {
        normalize_zh_words(t)
    }

    #[test]
    fn phone_and_tracking_numbers_digit_by_digit_with_yao() {
        assert_eq!(n("13800138000"), "幺三八·零零幺三·八零零零");
        assert_eq!(n("电话400-820-8820"), "电话四零零·八二零·八八二零");
        assert_eq!(n("单号SF1234567890"), "单号SF幺二三四·五六七八·九零");
        assert_eq!(n("尾号1234"), "尾号幺二三四");
        assert_eq!(n("编号 021"), "编号 零二幺");
        assert_eq!(n("验证码是 8 5 1 2"), "验证码是 八·五·幺·二");
    }

    #[test]
    fn amounts() {
        assert_eq!(n("128.50元"), "一百二十八元五角");
        assert_eq!(n("128.55元"), "一百二十八元五角五分");
        assert_eq!(n("128.05元"), "一百二十八元零五分");
        assert_eq!(n("¥2"), "两元");
        assert_eq!(n("0.5元"), "五角");
        assert_eq!(n("12.5块"), "十二块五毛");
        assert_eq!(n("运费1,280元"), "运费一千二百八十元");
        assert_eq!(n("200元"), "两百元");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(n("12月20日"), "十二月二十日");
        assert_eq!(n("2月2号"), "二月二号");
        assert_eq!(n("2026年"), "二零二六年");
        assert_eq!(n("2026-12-20"), "二零二六年十二月二十日");
        assert_eq!(n("14:30"), "下午两点三十分");
        assert_eq!(n("下午2:05"), "下午两点零五分");
        assert_eq!(n("9:00-18:00"), "上午九点到下午六点");
        assert_eq!(n("12:00"), "中午十二点");
        assert_eq!(n("0:15"), "凌晨零点十五分");
    }

    #[test]
    fn counts_percent_decimals() {
        assert_eq!(n("2个包裹"), "两个包裹");
        assert_eq!(n("2天"), "两天");
        assert_eq!(n("第2"), "第二");
        assert_eq!(n("12"), "十二");
        assert_eq!(n("2000"), "两千");
        assert_eq!(n("110"), "一百一十");
        assert_eq!(n("12.5%"), "百分之十二点五");
        assert_eq!(n("３％"), "百分之三");
        assert_eq!(n("3.14"), "三点一四");
        assert_eq!(n("您好，没有数字。"), "您好，没有数字。");
    }

    #[test]
    fn markup_and_pieces() {
        let p = normalize_zh("您的单号是{digits:1Z 99}。{pause:300}再见");
        assert_eq!(
            p,
            vec![
                Piece::Text("您的单号是 幺Z九九 。".into()),
                Piece::Pause(300),
                Piece::Text("再见".into())
            ]
        );
    }
}
