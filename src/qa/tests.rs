//! One test per rule: a call that breaks it and one that does not.

use std::time::SystemTime;

use super::*;
use crate::records::{CallRecord, Outcome, TranscriptLine, TurnLatency};
use ivr_dialog::{MissKind, NluMiss, Pending, Speaker};

fn record() -> CallRecord {
    let mut r = CallRecord::new("c1", "sip-1", "alice", "ivr", SystemTime::UNIX_EPOCH);
    r.outcome = Outcome::Contained;
    r
}

fn line(speaker: Speaker, text: &str, start: f64, end: f64) -> TranscriptLine {
    TranscriptLine {
        speaker,
        text: text.into(),
        start,
        end,
        confidence: None,
        intent: None,
        interrupted: false,
    }
}

fn bot(text: &str, start: f64, end: f64) -> TranscriptLine {
    line(Speaker::Bot, text, start, end)
}

fn caller(text: &str, start: f64, end: f64) -> TranscriptLine {
    line(Speaker::Caller, text, start, end)
}

/// A rule set of just this check, weight 10.
fn only(check: Check) -> QaRules {
    QaRules::new(vec![Rule {
        id: "r".into(),
        weight: 10,
        severity: Severity::Major,
        description: String::new(),
        check,
    }])
    .unwrap()
}

fn hits(rules: &QaRules, r: &CallRecord, lines: &[TranscriptLine]) -> Option<Flag> {
    let card = rules.inspect(r, lines);
    assert_eq!(card.score, 100 - 10 * card.flags.len() as u32);
    card.flags.into_iter().next()
}

fn miss(node: &str, result: MissKind) -> NluMiss {
    NluMiss {
        text: "mumble".into(),
        result,
        node: node.into(),
        offset_ms: 0,
    }
}

#[test]
fn caller_repeated() {
    let rules = only(Check::CallerRepeated {
        similarity: 0.8,
        min_chars: 4,
    });
    let r = record();
    let said_twice = [
        caller("I want to track my parcel", 1.0, 2.0),
        bot("Sorry?", 2.5, 3.0),
        caller("I want to track my parcel.", 3.5, 5.0),
    ];
    let f = hits(&rules, &r, &said_twice).expect("flagged");
    assert_eq!(f.at_s, Some(3.5));
    let zh = [
        caller("我要查快递的单号", 1.0, 2.0),
        caller("我要查快递单号", 3.0, 4.0),
    ];
    assert!(hits(&rules, &r, &zh).is_some());
    let different = [
        caller("track my parcel", 1.0, 2.0),
        caller("yes please", 3.0, 4.0),
    ];
    assert!(hits(&rules, &r, &different).is_none());
    let short = [caller("yes", 1.0, 2.0), caller("yes", 3.0, 4.0)];
    assert!(
        hits(&rules, &r, &short).is_none(),
        "a short confirmation twice is fine"
    );
}

#[test]
fn no_match_streak_counts_misses_at_one_prompt() {
    let rules = only(Check::NoMatchStreak { min: 2 });
    let mut r = record();
    r.nlu_misses = vec![
        miss("greeting", MissKind::NoMatch),
        miss("ask", MissKind::NoMatch),
    ];
    assert!(hits(&rules, &r, &[]).is_none(), "different prompts");
    r.nlu_misses = vec![
        miss("greeting", MissKind::NoMatch),
        miss("greeting", MissKind::Clarify),
        miss("greeting", MissKind::NoMatch),
    ];
    assert!(
        hits(&rules, &r, &[]).is_none(),
        "a clarify breaks the streak"
    );
    r.nlu_misses = vec![
        miss("greeting", MissKind::NoMatch),
        miss("greeting", MissKind::NoMatch),
        miss("greeting", MissKind::NoMatch),
    ];
    let f = hits(&rules, &r, &[]).expect("flagged");
    assert_eq!(f.detail, "3 no-matches in a row at greeting");
}

#[test]
fn dead_air_measures_gaps_between_anyone_speaking() {
    let rules = only(Check::DeadAir { max_silence_s: 8.0 });
    let r = record();
    let ok = [bot("Welcome", 0.0, 3.0), caller("hi", 9.0, 10.0)];
    assert!(hits(&rules, &r, &ok).is_none());
    let silent = [
        bot("Welcome", 0.0, 3.0),
        caller("track it", 4.0, 5.0),
        bot("One moment", 5.5, 6.0),
        bot("It is on its way", 16.5, 18.0),
    ];
    let f = hits(&rules, &r, &silent).expect("flagged");
    assert_eq!(f.at_s, Some(6.0));
    assert!(f.detail.starts_with("10.5 s"), "{}", f.detail);
    // A long caller line covering a bot line leaves no gap.
    let covered = [
        caller("long story", 0.0, 20.0),
        bot("mm", 2.0, 3.0),
        bot("ok", 21.0, 22.0),
    ];
    assert!(hits(&rules, &r, &covered).is_none());
}

#[test]
fn talk_over_is_the_bot_starting_inside_a_caller_line() {
    let rules = only(Check::TalkOver { min_overlap_s: 0.5 });
    let r = record();
    let over = [
        caller("I won't be home tomorrow", 1.0, 4.0),
        bot("Sure", 2.0, 3.0),
    ];
    assert_eq!(hits(&rules, &r, &over).expect("flagged").at_s, Some(2.0));
    let brief = [caller("hello there", 1.0, 2.2), bot("Sure", 2.0, 3.0)];
    assert!(
        hits(&rules, &r, &brief).is_none(),
        "0.2 s is not talking over"
    );
    // The caller barging into the bot is not the bot talking over the caller.
    let barge = [bot("Welcome to", 0.0, 3.0), caller("agent", 1.0, 2.0)];
    assert!(hits(&rules, &r, &barge).is_none());
}

#[test]
fn barge_ins() {
    let rules = only(Check::BargeIns { min: 3 });
    let r = record();
    let mut lines: Vec<_> = (0..3)
        .map(|i| bot("long prompt", i as f64, i as f64 + 0.5))
        .collect();
    lines[0].interrupted = true;
    lines[1].interrupted = true;
    assert!(hits(&rules, &r, &lines).is_none());
    lines[2].interrupted = true;
    assert!(hits(&rules, &r, &lines).is_some());
}

#[test]
fn negative_end() {
    let rules = only(Check::NegativeEnd { below: -0.3 });
    let mut r = record();
    let lines = [caller("this is useless", 1.0, 2.0)];
    r.sentiment = -0.1;
    assert!(hits(&rules, &r, &lines).is_none());
    r.sentiment = -0.6;
    assert!(hits(&rules, &r, &lines).is_some());
    assert!(hits(&rules, &r, &[]).is_none(), "no call, no sentiment");
}

#[test]
fn transfer_after_no_match() {
    let rules = only(Check::TransferAfterNoMatch);
    let mut r = record();
    r.outcome = Outcome::Transferred;
    r.handoff_reason = Some("caller asked for an agent".into());
    assert!(hits(&rules, &r, &[]).is_none());
    r.handoff_reason = Some("repeated no match".into());
    assert!(hits(&rules, &r, &[]).is_some());
}

#[test]
fn abandoned_in_lookup() {
    let rules = only(Check::AbandonedInLookup);
    let mut r = record();
    r.outcome = Outcome::Abandoned;
    assert!(hits(&rules, &r, &[]).is_none(), "hung up while listening");
    r.ended_during = Some(Pending::Lookup);
    r.path = vec!["greeting".into(), "track_lookup".into()];
    assert_eq!(
        hits(&rules, &r, &[]).expect("flagged").detail,
        "hung up during a lookup at track_lookup"
    );
    r.ended_during = Some(Pending::Transfer);
    assert!(hits(&rules, &r, &[]).is_none());
}

#[test]
fn slow_turn() {
    let rules = only(Check::SlowTurn { max_ms: 1500.0 });
    let mut r = record();
    let turn = |turn, ms| TurnLatency {
        turn,
        first_audio_ms: Some(ms),
        ..Default::default()
    };
    r.turns = vec![turn(1, 600.0), turn(2, 1400.0)];
    assert!(hits(&rules, &r, &[]).is_none());
    r.turns.push(turn(3, 2100.0));
    r.turns.push(turn(4, 1700.0));
    let f = hits(&rules, &r, &[]).expect("flagged");
    assert_eq!(
        f.detail,
        "2 slow turn(s); worst: turn 3, 2100 ms to first audio"
    );
}

#[test]
fn forbidden_phrase_any_speaker_or_one() {
    let anyone = only(Check::ForbiddenPhrase {
        phrases: vec!["Shut up".into(), "闭嘴".into()],
        speaker: None,
    });
    let r = record();
    let rude = [bot("Hello", 0.0, 1.0), caller("oh SHUT UP!", 2.0, 3.0)];
    let f = hits(&anyone, &r, &rude).expect("flagged");
    assert_eq!(
        (f.detail.as_str(), f.at_s),
        ("the caller said \"shut up\"", Some(2.0))
    );
    assert!(hits(&anyone, &r, &[caller("你闭嘴", 1.0, 2.0)]).is_some());
    assert!(hits(&anyone, &r, &[caller("shutter speed", 1.0, 2.0)]).is_none());
    let bot_only = only(Check::ForbiddenPhrase {
        phrases: vec!["shut up".into()],
        speaker: Some(Speaker::Bot),
    });
    assert!(hits(&bot_only, &r, &rude).is_none());
}

#[test]
fn required_phrase_within_a_window() {
    let rules = only(Check::RequiredPhrase {
        phrases: vec!["this call is recorded".into(), "通话将被录音".into()],
        speaker: None,
        within_s: Some(10.0),
    });
    let r = record();
    let told = [bot("Welcome. This call is recorded.", 0.0, 3.0)];
    assert!(hits(&rules, &r, &told).is_none());
    let zh = [bot("您好，本次通话将被录音。", 0.0, 3.0)];
    assert!(hits(&rules, &r, &zh).is_none());
    let late = [
        bot("Welcome", 0.0, 3.0),
        bot("This call is recorded", 12.0, 14.0),
    ];
    assert!(hits(&rules, &r, &late).is_some());
    let by_caller = [caller("this call is recorded", 1.0, 2.0)];
    assert!(
        hits(&rules, &r, &by_caller).is_some(),
        "the bot must say it"
    );
    assert!(
        hits(&rules, &r, &[]).is_none(),
        "no transcript: nothing to inspect"
    );
}

#[test]
fn the_score_sums_weights_and_stops_at_zero() {
    let rules = QaRules::embedded();
    let mut r = record();
    assert_eq!(rules.inspect(&r, &[]).score, 100);
    r.outcome = Outcome::Abandoned;
    r.ended_during = Some(Pending::Lookup);
    r.turns = vec![TurnLatency {
        turn: 1,
        first_audio_ms: Some(3000.0),
        ..Default::default()
    }];
    let card = rules.inspect(&r, &[]);
    assert!(card.flagged("abandoned_in_lookup") && card.flagged("slow_turn"));
    assert_eq!(card.score, 100 - 20 - 10);
    assert_eq!(card.rules, rules.version);
    let heavy = QaRules::new(
        (0..3)
            .map(|i| Rule {
                id: format!("r{i}"),
                weight: 50,
                severity: Severity::Critical,
                description: String::new(),
                check: Check::AbandonedInLookup,
            })
            .collect(),
    )
    .unwrap();
    assert_eq!(heavy.inspect(&r, &[]).score, 0);
}
