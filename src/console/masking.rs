//! Digit strings (tracking, card, ID numbers) hidden from roles that may not see them:
//! every run of 4 or more digits, possibly split by spaces or dashes as a bot reads them
//! back ("1 2 3 4 5 6 7 8"), keeps only its last 4 digits: `****5678`.

use super::Role;
use super::voc::Voc;
use crate::records::{CallRecord, CallRow, TranscriptLine};

/// Digits a run needs before it is masked, and how many stay visible.
const MIN_RUN: usize = 4;
const KEEP: usize = 4;

/// `text` with every digit run masked. Shorter runs (times, "option 2") are kept.
pub fn mask_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A run: digits joined by single spaces or dashes.
        let start = i;
        let mut end = i; // one past the last digit
        let mut digits = Vec::new();
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits.push(chars[j]);
                j += 1;
                end = j;
            } else if (chars[j] == ' ' || chars[j] == '-')
                && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())
            {
                j += 1;
            } else {
                break;
            }
        }
        if digits.len() >= MIN_RUN {
            out.push_str("****");
            out.extend(&digits[digits.len() - KEEP..]);
        } else {
            out.extend(&chars[start..end]);
        }
        i = end;
    }
    out
}

/// A JSON value with every string masked (slots, RTP stats are left as numbers).
pub fn mask_json_strings(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(mask_digits(s)),
        Value::Array(a) => Value::Array(a.iter().map(mask_json_strings).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), mask_json_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a role may see of a record: for roles without digit access, the caller, slots,
/// hand-off target and error text with their digit runs masked.
pub fn record_for(role: Role, r: &CallRecord) -> CallRecord {
    if role.sees_digits() {
        return r.clone();
    }
    let mut m = r.clone();
    m.caller = mask_digits(&r.caller);
    m.called = mask_digits(&r.called);
    m.sip_call_id = mask_digits(&r.sip_call_id);
    m.slots = mask_json_strings(&r.slots);
    m.handoff_target = r.handoff_target.as_deref().map(mask_digits);
    m.error = r.error.as_deref().map(mask_digits);
    // What the caller said, quoted where understanding missed or QA flagged it.
    for miss in &mut m.nlu_misses {
        miss.text = mask_digits(&miss.text);
    }
    if let Some(card) = &mut m.qa {
        for f in &mut card.flags {
            f.detail = mask_digits(&f.detail);
        }
    }
    m
}

/// Voice of the customer as a role may see it: the callers' unmatched words masked.
pub fn voc_for(role: Role, mut v: Voc) -> Voc {
    if !role.sees_digits() {
        for (text, _) in &mut v.unmatched {
            *text = mask_digits(text);
        }
    }
    v
}

pub fn line_for(role: Role, l: &TranscriptLine) -> TranscriptLine {
    let mut m = l.clone();
    if !role.sees_digits() {
        m.text = mask_digits(&l.text);
    }
    m
}

pub fn row_for(role: Role, r: &CallRow) -> CallRow {
    let mut m = r.clone();
    if !role.sees_digits() {
        m.caller = mask_digits(&r.caller);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_digit_runs_keep_their_last_four() {
        assert_eq!(mask_digits("12345678"), "****5678");
        assert_eq!(
            mask_digits("my number is 1 2 3 4 5 6 7 8, right"),
            "my number is ****5678, right"
        );
        assert_eq!(mask_digits("card 4111-1111-1111-1234"), "card ****1234");
        assert_eq!(mask_digits("1234"), "****1234");
    }

    #[test]
    fn short_numbers_and_other_text_stay() {
        assert_eq!(mask_digits("press 2 or 0"), "press 2 or 0");
        assert_eq!(mask_digits("open 9 to 17"), "open 9 to 17");
        assert_eq!(mask_digits("on 12 May"), "on 12 May");
        assert_eq!(mask_digits("查询包裹 123"), "查询包裹 123");
        assert_eq!(mask_digits("单号 87654321 谢谢"), "单号 ****4321 谢谢");
        assert_eq!(mask_digits(""), "");
        // Two separate runs separated by a word are masked separately.
        assert_eq!(
            mask_digits("11112222 and 33334444"),
            "****2222 and ****4444"
        );
    }

    #[test]
    fn json_strings_masked_numbers_not() {
        let v =
            serde_json::json!({"tracking_number": "12345678", "date": "2026-05-12", "n": 12345678});
        let m = mask_json_strings(&v);
        assert_eq!(m["tracking_number"], "****5678");
        assert_eq!(m["n"], 12345678);
        // A date's parts are short runs joined by dashes: 8 digits, masked (safe side).
        assert_eq!(m["date"], "****0512");
    }

    #[test]
    fn records_masked_for_analysts_only() {
        let mut r = CallRecord::new(
            "c1",
            "sip-1",
            "+4915112345678",
            "parcel",
            std::time::SystemTime::UNIX_EPOCH,
        );
        r.slots = serde_json::json!({"tracking_number": "87654321"});
        r.nlu_misses = vec![ivr_dialog::NluMiss {
            text: "it is 8 7 6 5 4 3 2 1".into(),
            result: ivr_dialog::MissKind::NoMatch,
            node: "greeting".into(),
            offset_ms: 0,
        }];
        let mut card = crate::qa::QaRules::embedded().inspect(&r, &[]);
        card.flags.push(crate::qa::Flag {
            rule: "caller_repeated".into(),
            severity: crate::qa::Severity::Minor,
            weight: 10,
            detail: "the caller repeated \"87654321\"".into(),
            at_s: None,
        });
        r.qa = Some(card);
        let a = record_for(Role::Analyst, &r);
        assert_eq!(a.caller, "+****5678");
        assert_eq!(a.slots["tracking_number"], "****4321");
        assert_eq!(a.nlu_misses[0].text, "it is ****4321");
        let flag = &a.qa.as_ref().unwrap().flags[0];
        assert_eq!(flag.detail, "the caller repeated \"****4321\"");
        assert_eq!(record_for(Role::Supervisor, &r), r);
        assert_eq!(record_for(Role::Admin, &r), r);
    }
}
