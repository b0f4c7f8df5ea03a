//! Mandarin text basics shared by the slot parsers, sentiment and the intent matcher:
//! full-width folding, digit characters (一二三 / 幺 / 两 / 洞 / Arabic) and cardinals.

use chinese_number::{ChineseCountMethod, ChineseToNumber};

/// Full-width ASCII (Whisper and IMEs write "１２３", "：") -> ASCII; ideographic space ->
/// space. Everything else unchanged.
pub fn fold_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// A character that is one spoken digit in a digit string. Phone style: 幺 = 1,
/// 两 = 2; radio style: 洞 = 0, 拐 = 7, 勾 = 9.
pub fn digit_value(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => c,
        '零' | '〇' | '洞' => '0',
        '一' | '幺' | '壹' => '1',
        '二' | '两' | '兩' | '贰' => '2',
        '三' | '叁' => '3',
        '四' | '肆' => '4',
        '五' | '伍' => '5',
        '六' | '陆' => '6',
        '七' | '拐' | '柒' => '7',
        '八' | '捌' => '8',
        '九' | '勾' | '玖' => '9',
        _ => return None,
    })
}

/// ASR homophones of digit characters (要 for 幺, 以 for 一, 久 for 九): digits only beside
/// digit characters (`slots::digits` says where; "我要查" is not a 1).
pub fn weak_digit_value(c: char) -> Option<char> {
    Some(match c {
        '要' | '腰' | '妖' | '衣' | '医' | '以' | '已' | '依' => '1',
        '散' | '伞' => '3',
        '物' | '务' | '雾' | '舞' => '5',
        '流' | '溜' | '留' => '6',
        '期' | '起' | '其' => '7',
        '吧' | '巴' | '爸' => '8',
        '久' | '酒' | '就' => '9',
        _ => return None,
    })
}

/// Separators allowed inside a spoken or written digit string ("1234 5678", "一二三，四五").
pub fn is_digit_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | ',' | '，' | '、' | '-' | '—' | '.' | '。' | '·' | '_'
    )
}

/// A cardinal written in Arabic digits or Chinese numerals: "21", "二十一", "一百二",
/// "两千三", "十二". `None` for anything else.
pub fn cardinal(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // 幺 is a digit-string word, never a cardinal; 两 is handled by the crate.
    if s.contains('幺') {
        return None;
    }
    s.to_number(ChineseCountMethod::TenThousand).ok()
}

/// Is `c` part of a cardinal (numerals, place values, Arabic digits)?
pub fn is_cardinal_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '零' | '〇'
                | '一'
                | '二'
                | '两'
                | '三'
                | '四'
                | '五'
                | '六'
                | '七'
                | '八'
                | '九'
                | '十'
                | '百'
                | '千'
                | '万'
        )
}

/// The longest cardinal that ends right before byte offset `end` of `s` (for "二十一号":
/// the number before 号), with its start offset.
pub fn cardinal_before(s: &str, end: usize) -> Option<(usize, u64)> {
    let head = s.get(..end)?;
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_cardinal_char(*c))
        .last()
        .map(|(i, _)| i)?;
    cardinal(&head[start..]).map(|n| (start, n))
}

/// The longest cardinal that starts at byte offset `start` of `s`, with its end offset.
pub fn cardinal_after(s: &str, start: usize) -> Option<(usize, u64)> {
    let tail = s.get(start..)?;
    let len: usize = tail
        .chars()
        .take_while(|c| is_cardinal_char(*c))
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    cardinal(&tail[..len]).map(|n| (start + len, n))
}

/// Does the text contain a Han character? (Chinese text has no word spaces.)
pub fn has_han(text: &str) -> bool {
    text.chars().any(is_han)
}

pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_cardinals() {
        assert_eq!(fold_width("１２３：ａ"), "123:a");
        assert_eq!(cardinal("二十一"), Some(21));
        assert_eq!(cardinal("十二"), Some(12));
        assert_eq!(cardinal("一百二十"), Some(120));
        assert_eq!(cardinal("一百二"), Some(120));
        assert_eq!(cardinal("两千三"), Some(2300));
        assert_eq!(cardinal("128"), Some(128));
        assert_eq!(cardinal("幺二三"), None);
        assert_eq!(cardinal("快递"), None);
        assert_eq!(
            cardinal_before("十二月二十号", "十二月二十".len()),
            Some((9, 20))
        );
        assert_eq!(cardinal_after("下午三点半", "下午".len()), Some((9, 3)));
    }
}
