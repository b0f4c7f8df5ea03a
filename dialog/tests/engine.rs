//! Engine behaviour that scripted chats cannot show: timers, barge-in, lookup failures,
//! transfer outcomes, the hand-off context, the call summary, and flow validation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_dialog::DEMO_FLOW;
use ivr_dialog::{
    Action, Date, Dialog, Event, Expect, Flow, LookupResult, Outcome, TransferFailure,
    TransferResult,
};
use serde_json::json;

fn dialog() -> (Dialog, Instant) {
    let t0 = Instant::now();
    let d = Dialog::new(Arc::new(Flow::demo()), Date::new(2026, 5, 6).unwrap(), t0);
    (d, t0)
}

fn says(a: &[Action]) -> String {
    a.iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn speech(text: &str) -> Event {
    Event::Speech {
        text: text.into(),
        confidence: 0.9,
        embedding: None,
    }
}

/// Drive to the lookup of 12345678; returns the request id.
fn to_lookup(d: &mut Dialog, t: Instant) -> u64 {
    d.start(t);
    d.handle(speech("track my parcel 1 2 3 4 5 6 7 8"), t);
    let a = d.handle(speech("yes"), t);
    a.iter()
        .find_map(|a| match a {
            Action::Lookup {
                request,
                integration,
                params,
            } => {
                assert_eq!(integration, "parcel_status");
                assert_eq!(params["tracking_number"], "12345678");
                Some(*request)
            }
            _ => None,
        })
        .expect("lookup action")
}

#[test]
fn greeting_listens_for_intent_and_no_input_timer_starts_after_prompt() {
    let (mut d, t0) = dialog();
    let a = d.start(t0);
    assert!(
        matches!(&a[0], Action::Say { text, barge_in: true, cacheable: true } if text.contains("How can I help"))
    );
    assert!(matches!(&a[1], Action::Listen(e) if e.expect == Expect::Intent));
    assert_eq!(d.poll_timeout(), None, "no timer while the greeting plays");
    let t1 = t0 + Duration::from_secs(3);
    assert!(d.handle(Event::PromptFinished, t1).is_empty());
    let at = d.poll_timeout().expect("no-input timer");
    assert_eq!(at, t1 + Duration::from_millis(6000));
    // Not due a moment before its instant.
    assert!(d.handle_timeout(at - Duration::from_millis(1)).is_empty());
    assert_eq!(d.poll_timeout(), Some(at));
    // Speech start stops it; its instant then passes without effect.
    assert!(d.handle(Event::SpeechStarted, t1).is_empty());
    assert_eq!(d.poll_timeout(), None);
    assert!(d.handle_timeout(at).is_empty());
}

#[test]
fn a_second_prompt_finishing_keeps_the_running_no_input_deadline() {
    let (mut d, t0) = dialog();
    d.start(t0);
    d.handle(Event::PromptFinished, t0);
    let at = d.poll_timeout().expect("no-input timer");
    d.handle(Event::PromptFinished, t0 + Duration::from_secs(1));
    assert_eq!(d.poll_timeout(), Some(at));
}

#[test]
fn timer_expiry_reprompts_then_hands_off() {
    let (mut d, t0) = dialog();
    d.start(t0);
    let mut t = t0;
    for round in 1..=3 {
        d.handle(Event::PromptFinished, t);
        let Some(at) = d.poll_timeout() else {
            panic!("round {round}: no timer")
        };
        t = at;
        let a = d.handle_timeout(t);
        if round < 3 {
            let text = says(&a);
            assert!(text.contains("hear") || text.contains("keypad"), "{a:?}");
        } else {
            let ctx = a
                .iter()
                .find_map(|a| match a {
                    Action::Transfer {
                        target, context, ..
                    } => Some((target.clone(), context.clone())),
                    _ => None,
                })
                .expect("transfer");
            assert_eq!(ctx.0, "agents");
            assert_eq!(ctx.1.reason, "no input");
            assert!(ctx.1.transcript.len() >= 4);
        }
    }
}

#[test]
fn ask_expectation_carries_digit_length_and_hints() {
    let (mut d, t0) = dialog();
    d.start(t0);
    let a = d.handle(speech("track my parcel"), t0);
    let e = a
        .iter()
        .find_map(|a| match a {
            Action::Listen(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(e.expect, Expect::Digits { min: 8, max: 8 });
    assert_eq!(e.dtmf_max_digits, 8);
    // The slot's hint word becomes the label of a spaced-digits example.
    assert_eq!(
        e.hints,
        vec!["Tracking number: 4 0 7 1 9 3 5 2.".to_string()]
    );
}

#[test]
fn barge_in_marks_prompt_interrupted() {
    let (mut d, t0) = dialog();
    d.start(t0);
    d.handle(
        Event::BargeIn { offset_ms: 740 },
        t0 + Duration::from_millis(740),
    );
    let s = d.summary();
    assert_eq!(s.turns[0].interrupted_at_ms, Some(740));
}

#[test]
fn lookup_ok_error_timeout_junk_and_stale() {
    // OK
    let (mut d, t) = dialog();
    let req = to_lookup(&mut d, t);
    // A stale id is ignored.
    assert!(
        d.handle(
            Event::LookupResult {
                request: req + 7,
                result: LookupResult::Timeout
            },
            t
        )
        .is_empty()
    );
    let a = d.handle(
        Event::LookupResult {
            request: req,
            result: LookupResult::Ok(
                json!({"found": true, "status": "in transit", "eta": "2026-05-08"}),
            ),
        },
        t,
    );
    assert!(says(&a).contains("in transit"), "{a:?}");
    assert_eq!(d.poll_timeout(), None, "the lookup guard stopped");

    for result in [
        LookupResult::Error("connection refused".into()),
        LookupResult::Timeout,
        LookupResult::Ok(json!([1, 2, 3])),
    ] {
        let (mut d, t) = dialog();
        let req = to_lookup(&mut d, t);
        let a = d.handle(
            Event::LookupResult {
                request: req,
                result,
            },
            t,
        );
        assert!(
            says(&a).contains("can't reach our tracking system"),
            "{a:?}"
        );
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::Transfer { reason, .. } if reason.contains("lookup")))
        );
    }

    // The engine's own guard timer when the loop never answers.
    let (mut d, t) = dialog();
    d.start(t);
    d.handle(speech("track my parcel 1 2 3 4 5 6 7 8"), t);
    d.handle(speech("yes"), t);
    let at = d.poll_timeout().expect("lookup guard timer");
    let a = d.handle_timeout(at);
    assert!(says(&a).contains("can't reach"), "{a:?}");
}

#[test]
fn transfer_failure_offers_a_retry_then_a_message() {
    let (mut d, t) = dialog();
    d.start(t);
    let a = d.handle(speech("agent"), t);
    assert!(a.iter().any(|a| matches!(a, Action::Transfer { .. })));
    let a = d.handle(
        Event::TransferResult(TransferResult::Failed(TransferFailure::Busy)),
        t,
    );
    assert!(says(&a).contains("no agent is available"), "{a:?}");
    assert!(says(&a).contains("try again"), "{a:?}");
    // Yes: another transfer attempt.
    let a = d.handle(speech("yes please"), t);
    assert!(
        a.iter().any(|a| matches!(a, Action::Transfer { .. })),
        "{a:?}"
    );
    let a = d.handle(
        Event::TransferResult(TransferResult::Failed(TransferFailure::NoAnswer)),
        t,
    );
    assert!(says(&a).contains("try again"), "{a:?}");
    // No: take a message, then end the call as not served.
    let a = d.handle(speech("no"), t);
    assert!(says(&a).contains("message"), "{a:?}");
    let a = d.handle(speech("this is Anna, please call me on 5 5 5 1 2 3 4"), t);
    assert!(says(&a).contains("call you back"), "{a:?}");
    assert!(matches!(
        a.last(),
        Some(Action::Hangup {
            outcome: Outcome::Failed
        })
    ));
    let s = d.summary();
    assert_eq!(s.outcome, Some(Outcome::Failed));
    assert!(s.handoff_reason.unwrap().contains("no answer"));
    assert!(
        s.slots.get("message").is_some_and(|m| m.contains("Anna")),
        "{:?}",
        s.slots
    );
    assert!(d.is_ended());
}

#[test]
fn transfer_ok_and_caller_hangups() {
    let (mut d, t) = dialog();
    d.start(t);
    d.handle(Event::Digit('0'), t);
    d.handle(Event::TransferResult(TransferResult::Ok), t);
    assert_eq!(d.summary().outcome, Some(Outcome::Transferred));

    let (mut d, t) = dialog();
    d.start(t);
    d.handle(Event::Hangup, t);
    assert_eq!(d.summary().outcome, Some(Outcome::Abandoned));

    let (mut d, t) = dialog();
    d.start(t);
    d.handle(speech("opening hours"), t);
    d.handle(Event::Hangup, t);
    assert_eq!(d.summary().outcome, Some(Outcome::Contained));
}

#[test]
fn summary_has_intents_slots_sentiment_and_turns() {
    let (mut d, t) = dialog();
    d.start(t);
    d.handle(
        speech("great, I want to track my parcel 8 7 6 5 4 3 2 1"),
        t + Duration::from_secs(4),
    );
    let s = d.summary();
    assert_eq!(s.intents[0].intent, "track_parcel");
    assert_eq!(s.intents[0].offset_ms, 4000);
    assert_eq!(s.slots["tracking_number"], "87654321");
    assert!(s.sentiment > 0.0);
    assert_eq!(s.node, "track_confirm");
    assert_eq!(s.outcome, None);
    assert!(serde_json::to_string(&s).unwrap().contains("track_parcel"));
}

#[test]
fn clarify_below_threshold_then_yes() {
    let (mut d, t) = dialog();
    d.start(t);
    // Weak evidence: asks rather than guesses.
    let a = d.handle(speech("parcel"), t);
    let text = says(&a);
    assert!(text.starts_with("Do you want to"), "{text}");
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::Listen(e) if e.expect == Expect::YesNo))
    );
    let a = d.handle(speech("yes"), t);
    assert!(!says(&a).is_empty());
    assert!(d.current_intent().is_some());
}

#[test]
fn fixed_prompts_for_cache_prewarming() {
    let f = Flow::demo();
    let p = f.all_fixed_prompts();
    assert!(
        p.iter()
            .any(|s| s == "Welcome to Parcel Express. How can I help you?")
    );
    assert!(p.iter().all(|s| !s.contains('{')));
    assert!(p.len() > 20);
}

#[test]
fn invalid_flows_report_file_line_col() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/flows/invalid");
    let e = Flow::load(std::path::Path::new(&format!("{dir}/bad_toml.toml"))).unwrap_err();
    assert!(e.to_string().contains("bad_toml.toml:3:"), "{e}");

    let e = Flow::load(std::path::Path::new(&format!("{dir}/problems.toml"))).unwrap_err();
    let msg = e.to_string();
    for want in [
        "problems.toml:16:8: intent `two`: unknown target node `nowhere`",
        "is in both `one` and `two`",
        "undefined slot `colour`",
        "ask without no-input handling",
        "undefined slot `ghost`",
    ] {
        assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
    }
    // Unreachable nodes are reported once the references resolve.
    let fixed = std::fs::read_to_string(format!("{dir}/problems.toml"))
        .unwrap()
        .replace("\"nowhere\"", "\"bye\"")
        .replace("\"colour\"", "\"number\"")
        .replace("Same words!", "other words")
        .replace(", {ghost}", "")
        .replace(
            "prompt = \"Number?\"",
            "prompt = \"Number?\"\nno_input = [\"?\"]",
        );
    let e = Flow::from_toml(&fixed, "p.toml").unwrap_err();
    assert!(
        e.to_string().contains("node `orphan` is unreachable"),
        "{e}"
    );
    assert!(e.problems.len() == 1, "{e}");
}

#[test]
fn demo_flow_source_is_valid() {
    Flow::from_toml(DEMO_FLOW, "parcel.toml").unwrap();
}

/// The live-call case: "track my parcel" misheard, the bot asks "Do you want to track a
/// parcel?", and the caller, not listening, carries on with the tracking number.
#[test]
fn clarify_answered_with_the_slot_or_the_request_again_is_a_yes() {
    const UNSURE: &str = "I'd like to check my powerful";
    let ask = |d: &mut Dialog, t: Instant| {
        d.start(t);
        let a = d.handle(speech(UNSURE), t);
        assert!(says(&a).contains("Do you want to track a parcel?"), "{a:?}");
        assert!(matches!(a.last(), Some(Action::Listen(e)) if e.expect == Expect::YesNo));
    };

    // The number itself: go on with track_parcel, keep the number, confirm it.
    let (mut d, t) = dialog();
    ask(&mut d, t);
    let a = d.handle(speech("1, 2, 3, 4, 5, 6, 7, 8."), t);
    assert_eq!(d.current_node(), "track_confirm", "{a:?}");
    assert_eq!(d.current_intent().map(|(i, _)| i), Some("track_parcel"));
    assert_eq!(d.slots()["tracking_number"], "12345678");
    assert!(says(&a).contains("I have 1 2 3 4 5 6 7 8"), "{a:?}");

    // Part of a number (the endpointer cut it): still a yes; the number is asked again.
    let (mut d, t) = dialog();
    ask(&mut d, t);
    d.handle(speech("one two three"), t);
    assert_eq!(d.current_node(), "track_number");
    assert!(!d.slots().contains_key("tracking_number"));

    // The request again, in other words.
    let (mut d, t) = dialog();
    ask(&mut d, t);
    d.handle(speech("I want to track my parcel."), t);
    assert_eq!(d.current_node(), "track_number");

    // Yes as Whisper writes it, with the number in the same breath.
    for yes in [
        "Yeah.",
        "Yep!",
        "Sure thing.",
        "That's right.",
        "Correct.",
        "Mm-hmm.",
    ] {
        let (mut d, t) = dialog();
        ask(&mut d, t);
        d.handle(speech(yes), t);
        assert_eq!(d.current_node(), "track_number", "{yes}");
    }
    let (mut d, t) = dialog();
    ask(&mut d, t);
    d.handle(speech("Yes, it's 8 7 6 5 4 3 2 1."), t);
    assert_eq!(d.current_node(), "track_confirm");
    assert_eq!(d.slots()["tracking_number"], "87654321");

    // No: back to the open question. A different clear request: that request.
    let (mut d, t) = dialog();
    ask(&mut d, t);
    let a = d.handle(speech("No."), t);
    assert_eq!(d.current_node(), "greeting");
    assert!(says(&a).contains("What can I help you with?"), "{a:?}");
    let (mut d, t) = dialog();
    ask(&mut d, t);
    d.handle(speech("No, I want to reschedule my delivery"), t);
    assert_eq!(d.current_node(), "resched_number");
    let (mut d, t) = dialog();
    ask(&mut d, t);
    d.handle(speech("what are your opening hours"), t);
    assert_eq!(d.current_intent().map(|(i, _)| i), Some("opening_hours"));

    // A date answers "Do you want to change your delivery date?" and is kept.
    let (mut d, t) = dialog();
    d.start(t);
    let a = d.handle(speech("change my powerful"), t);
    assert!(
        says(&a).contains("Do you want to change your delivery date?"),
        "{a:?}"
    );
    d.handle(speech("Tomorrow."), t);
    assert_eq!(
        d.current_intent().map(|(i, _)| i),
        Some("reschedule_delivery")
    );
    assert_eq!(d.slots()["delivery_date"], "2026-05-07");
    assert_eq!(d.current_node(), "resched_number");
}

fn listen_hints(a: &[Action]) -> (Expect, String) {
    a.iter()
        .rev()
        .find_map(|a| match a {
            Action::Listen(e) => Some((e.expect.clone(), e.hints.join(", "))),
            _ => None,
        })
        .expect("a Listen action")
}

/// The hints become Whisper's initial prompt: the menu's key words, a spaced-digits example
/// for a number, "Yes or no." for questions; each one phrase ending in a full stop (a
/// list-shaped prompt made Whisper tiny.en repeat itself, and "yes, no" turned a spoken
/// "yes" into "yes, no,"). Short, since prompt tokens cost decode time.
#[test]
fn asr_hints_fit_what_the_bot_listens_for() {
    let (mut d, t) = dialog();
    let (e, h) = listen_hints(&d.start(t));
    assert_eq!(e, Expect::Intent);
    assert_eq!(
        h,
        "track my parcel, reschedule my delivery, report damage, opening hours, agent."
    );

    let (e, h) = listen_hints(&d.handle(speech("I'd like to check my powerful"), t));
    assert_eq!((e, h.as_str()), (Expect::YesNo, "Yes or no."));

    let (e, h) = listen_hints(&d.handle(speech("yes"), t));
    assert_eq!(e, Expect::Digits { min: 8, max: 8 });
    assert_eq!(h, "Tracking number: 4 0 7 1 9 3 5 2.");
    // The example number is not one a caller is likely to say, nor a demo parcel.
    assert_eq!(ivr_dialog::digits_in(&h).as_deref(), Some("40719352"));
    assert!(
        ivr_dialog::DEMO_PARCELS
            .iter()
            .all(|(n, _, _)| *n != "40719352")
    );

    let (e, h) = listen_hints(&d.handle(speech("1 2 3 4 5 6 7 8"), t));
    assert_eq!((e, h.as_str()), (Expect::YesNo, "Yes or no."));

    // Reschedule: date slot.
    let (mut d, t) = dialog();
    d.start(t);
    let (e, h) = listen_hints(&d.handle(speech("reschedule parcel 1 2 3 4 5 6 7 8"), t));
    assert_eq!(e, Expect::Date);
    assert_eq!(h, "Tomorrow, next Monday, or the 15th.");

    // Every hint of the demo flow stays short.
    let flow = Flow::demo();
    for n in &flow.nodes {
        let len: usize = n.hints.iter().map(|h| h.len() + 2).sum();
        assert!(len <= 100, "node {}: hints too long: {:?}", n.name, n.hints);
    }
}

/// While asking for a slot, a clearly different request switches; an unsure one gets its
/// own clarify question; the same request again or noise stays a no-match.
#[test]
fn topic_change_while_asking_for_a_slot() {
    let in_track_number = || {
        let (mut d, t) = dialog();
        d.start(t);
        d.handle(speech("track my parcel"), t);
        assert_eq!(d.current_node(), "track_number");
        (d, t)
    };

    let (mut d, t) = in_track_number();
    let a = d.handle(speech("Actually, what are your opening hours?"), t);
    assert_eq!(d.current_intent().map(|(i, _)| i), Some("opening_hours"));
    assert!(says(&a).contains("We are open Monday to Friday"), "{a:?}");

    let (mut d, t) = in_track_number();
    d.handle(speech("wait, my parcel is damaged"), t);
    assert_eq!(d.current_node(), "damage_number");

    // Unsure: its own question first. Yes switches; no goes back to the number.
    let (mut d, t) = in_track_number();
    let a = d.handle(speech("change my powerful"), t);
    assert!(
        says(&a).contains("Do you want to change your delivery date?"),
        "{a:?}"
    );
    assert!(matches!(a.last(), Some(Action::Listen(e)) if e.expect == Expect::YesNo));
    d.handle(speech("Yes."), t);
    assert_eq!(d.current_node(), "resched_number");
    let (mut d, t) = in_track_number();
    d.handle(speech("change my powerful"), t);
    let a = d.handle(speech("No."), t);
    assert_eq!(d.current_node(), "track_number");
    assert!(
        says(&a).contains("Okay. Please say or key in your eight digit"),
        "{a:?}"
    );
    // ... and the number is still taken there.
    d.handle(speech("1 2 3 4 5 6 7 8"), t);
    assert_eq!(d.current_node(), "track_confirm");

    // Not a topic change: the same request, "I don't have the number", noise.
    for utt in [
        "I want to track my parcel",
        "I don't have the number",
        "banana",
    ] {
        let (mut d, t) = in_track_number();
        let a = d.handle(speech(utt), t);
        assert_eq!(d.current_node(), "track_number", "{utt}");
        assert!(!says(&a).contains("Do you want"), "{utt}: {a:?}");
    }

    // The new request's slots come along: reschedule to tomorrow from the number question.
    let (mut d, t) = in_track_number();
    d.handle(
        speech("actually I want to reschedule my delivery to tomorrow"),
        t,
    );
    assert_eq!(
        d.current_intent().map(|(i, _)| i),
        Some("reschedule_delivery")
    );
    assert_eq!(d.slots()["delivery_date"], "2026-05-07");
}

#[test]
fn would_accept_probes_a_partial_answer_without_changing_the_dialog() {
    let (mut d, t) = dialog();
    d.start(t);
    assert!(d.would_accept("I'd like to track my parcel", 0.9, None, t));
    assert!(!d.would_accept("purple elephants", 0.9, None, t));
    assert!(!d.would_accept("", 0.9, None, t));
    // Probing left no trace: the real turn is still the first.
    let a = d.handle(speech("track my parcel"), t);
    assert!(says(&a).contains("tracking number"), "{}", says(&a));
    // Half a tracking number is not an answer yet; all eight digits are.
    assert!(!d.would_accept("one two three four", 0.9, None, t));
    assert!(d.would_accept("one two three four five six seven eight", 0.9, None, t));
    let a = d.handle(speech("1 2 3 4 5 6 7 8"), t);
    assert!(
        says(&a).contains("1 2 3 4 5 6 7 8") || says(&a).contains("12345678"),
        "{}",
        says(&a)
    );
    // A yes/no question: "yes" is an answer, a mumble is not.
    assert!(d.would_accept("yes", 0.9, None, t));
    assert!(!d.would_accept("hmm", 0.9, None, t));
}

#[test]
fn summary_keeps_the_node_path_and_a_hang_up_during_a_lookup() {
    let (mut d, t0) = dialog();
    to_lookup(&mut d, t0);
    d.handle(Event::Hangup, t0 + Duration::from_secs(5));
    let s = d.summary();
    assert_eq!(s.outcome, Some(Outcome::Abandoned));
    assert_eq!(s.ended_during, Some(ivr_dialog::Pending::Lookup));
    assert_eq!(s.path.first().map(String::as_str), Some("greeting"));
    assert!(s.path.len() >= 3, "{:?}", s.path);
    let mut deduped = s.path.clone();
    deduped.dedup();
    assert_eq!(deduped, s.path, "a node re-entered at once counts once");

    // Hanging up while listening is not "during" anything.
    let (mut d, t0) = dialog();
    d.start(t0);
    d.handle(Event::Hangup, t0);
    assert_eq!(d.summary().ended_during, None);
}

#[test]
fn a_served_caller_is_asked_for_a_rating_once_and_hanging_up_is_no_rating() {
    let (mut d, t0) = dialog();
    let req = to_lookup(&mut d, t0);
    d.handle(
        Event::LookupResult {
            request: req,
            result: LookupResult::Ok(
                json!({"found": true, "status": "in transit", "eta": "2026-05-08"}),
            ),
        },
        t0,
    );
    let a = d.handle(speech("no thanks"), t0);
    assert!(says(&a).contains("rate this call"), "{a:?}");
    assert_eq!(d.current_node(), "survey");
    // The caller leaves without rating: contained, and no rating (not a 1).
    let mut left = d.clone();
    left.handle(Event::Hangup, t0);
    let s = left.summary();
    assert_eq!((s.outcome, s.csat), (Some(Outcome::Contained), None));
    // A rating by keypad, then goodbye without a second survey.
    let a = d.handle(Event::Digit('4'), t0);
    assert!(says(&a).contains("Thank you for your rating"), "{a:?}");
    assert!(
        a.iter().any(|a| matches!(a, Action::Hangup { .. })),
        "{a:?}"
    );
    assert_eq!(d.summary().csat, Some(4));
}

#[test]
fn no_survey_for_a_caller_who_was_not_served() {
    let (mut d, t0) = dialog();
    d.start(t0);
    let a = d.handle(speech("goodbye"), t0);
    assert!(!says(&a).contains("rate"), "{a:?}");
    assert!(
        a.iter().any(|a| matches!(a, Action::Hangup { .. })),
        "{a:?}"
    );
}
