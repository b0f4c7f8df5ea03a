//! The Mandarin demo flow through the engine: its language, its global commands, and the
//! understanding chosen by `language = "zh"` (not by what the text looks like).

use std::sync::Arc;
use std::time::Instant;

use ivr_dialog::{Action, Date, Dialog, Event, Expect, Flow, Language};

fn today() -> Date {
    Date::new(2026, 5, 6).expect("date")
}

fn say(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn listen(actions: &[Action]) -> Option<&ivr_dialog::Expectation> {
    actions.iter().find_map(|a| match a {
        Action::Listen(e) => Some(e),
        _ => None,
    })
}

#[test]
fn demo_flows_declare_their_language() {
    assert_eq!(Flow::demo().language, Language::En);
    let zh = Flow::demo_zh();
    assert_eq!(zh.language, Language::Zh);
    assert_eq!(zh.language.code(), "zh");
    // Same hotline: the same intents and slots as the English demo.
    let en = Flow::demo();
    let names = |f: &Flow| f.intents.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&en), names(&zh));
    assert_eq!(
        en.slots.keys().collect::<Vec<_>>(),
        zh.slots.keys().collect::<Vec<_>>()
    );
    // Fixed prompts (TTS cache) include the engine's own sentences in Chinese.
    let fixed = zh.all_fixed_prompts();
    assert!(
        fixed
            .iter()
            .any(|p| p == Language::Zh.messages().clarify_no)
    );
    assert!(!fixed.iter().any(|p| p.is_ascii()), "{fixed:?}");
}

#[test]
fn mandarin_menu_hints_and_a_digit_answer() {
    let flow = Arc::new(Flow::demo_zh());
    let now = Instant::now();
    let mut d = Dialog::new(flow, today(), now);
    let a = d.start(now);
    assert!(say(&a).contains("请问有什么可以帮您"));
    let hints = &listen(&a).expect("listen").hints;
    assert!(
        hints[0].contains("查快递") && hints[0].contains("转人工"),
        "{hints:?}"
    );
    let a = d.handle(
        Event::Speech {
            text: "我想查寻一下快滴".into(),
            confidence: 0.9,
            embedding: None,
        },
        now,
    );
    assert_eq!(d.current_node(), "track_number");
    let expectation = listen(&a).expect("listen");
    assert_eq!(expectation.expect, Expect::Digits { min: 8, max: 8 });
    // Hanzi digits in the hint, so Whisper writes the caller's digits one by one.
    assert_eq!(expectation.hints, vec!["快递单号：四零七一九三五二。"]);
    let a = d.handle(
        Event::Speech {
            text: "幺二三四，五六七八".into(),
            confidence: 0.9,
            embedding: None,
        },
        now,
    );
    assert_eq!(d.current_node(), "track_confirm");
    assert!(say(&a).contains("1 2 3 4 5 6 7 8"), "{}", say(&a));
    assert_eq!(listen(&a).expect("listen").hints, vec!["是的。不是。"]);
}

#[test]
fn the_english_flow_does_not_understand_mandarin() {
    // Understanding follows the flow's language, not the script of the text.
    let flow = Arc::new(Flow::demo());
    let now = Instant::now();
    let mut d = Dialog::new(flow, today(), now);
    d.start(now);
    d.handle(
        Event::Speech {
            text: "转人工".into(),
            confidence: 0.9,
            embedding: None,
        },
        now,
    );
    assert_eq!(d.current_node(), "greeting");
}

#[test]
fn mandarin_anger_hands_off() {
    let flow = Arc::new(Flow::demo_zh());
    let now = Instant::now();
    let mut d = Dialog::new(flow, today(), now);
    d.start(now);
    let a = d.handle(
        Event::Speech {
            text: "你们这什么破服务，气死我了！".into(),
            confidence: 0.9,
            embedding: None,
        },
        now,
    );
    assert!(
        a.iter().any(
            |x| matches!(x, Action::Transfer { reason, .. } if reason == "negative sentiment")
        ),
        "{a:?}"
    );
}

#[test]
fn an_unknown_language_is_a_flow_error_with_its_position() {
    let src = ivr_dialog::DEMO_FLOW_ZH.replace("language = \"zh\"", "language = \"fr\"");
    let err = Flow::from_toml(&src, "x.toml").expect_err("fr is no language");
    let text = err.to_string();
    assert!(text.starts_with("x.toml:8:"), "{text}");
    assert!(text.contains("fr"), "{text}");
}

#[test]
fn mandarin_date_question_hints_end_like_a_chinese_sentence() {
    let flow = Arc::new(Flow::demo_zh());
    let now = Instant::now();
    let mut d = Dialog::new(flow, today(), now);
    d.start(now);
    let a = d.handle(
        Event::Speech {
            text: "改送货时间，单号12345678".into(),
            confidence: 0.9,
            embedding: None,
        },
        now,
    );
    assert_eq!(d.current_node(), "resched_date");
    let e = listen(&a).expect("listen");
    assert_eq!(e.expect, Expect::Date);
    assert_eq!(e.hints, vec!["明天，下周一，或者十五号。"]);
}

#[test]
fn a_bare_parcel_word_tracks_and_a_damaged_one_reports() {
    use ivr_dialog::Decision;
    let f = Flow::demo_zh();
    let th = f.settings.thresholds;
    for u in ["快递", "包裹", "我的快递呢", "我的快滴"] {
        assert!(
            matches!(f.matcher.decide(u, None, th), Decision::Accept(ref s) if s.intent == "track_parcel"),
            "{u}: {:?}",
            f.matcher.rank(u, None)
        );
    }
    for u in ["快递破了", "包裹坏了", "快递盒子烂了"] {
        assert!(
            matches!(f.matcher.decide(u, None, th), Decision::Accept(ref s) if s.intent == "report_damage"),
            "{u}: {:?}",
            f.matcher.rank(u, None)
        );
    }
}

#[test]
fn templated_prompts_have_cacheable_lead_ins() {
    let flow = Flow::demo_zh();
    let lead_ins = flow.prompt_lead_ins();
    // The read-back opens with a fixed clause the voice can play at once.
    assert!(lead_ins.iter().any(|l| l == "您的单号是，"), "{lead_ins:?}");
    for l in &lead_ins {
        assert!(!l.contains('{'), "{l}");
        assert!(
            l.ends_with(['，', '。', '？', '！', '；', '：', '、']),
            "{l}"
        );
    }
    // Fixed prompts are not lead-ins (they are cached whole).
    assert!(
        lead_ins
            .iter()
            .all(|l| !flow.all_fixed_prompts().contains(l))
    );
    println!("{lead_ins:?}");
}

#[test]
fn keywords_for_voice_of_the_customer() {
    use ivr_dialog::Language;
    let zh = Language::Zh.keywords("我的快递坏了，单号12345678，谢谢");
    assert!(zh.contains(&"快递".to_string()), "{zh:?}");
    assert!(!zh.iter().any(|w| w.contains('1') || w == "谢谢"), "{zh:?}");
    let en =
        Language::En.keywords("Yes, my parcel arrived damaged, number 1 2 3 4 5 6 7 8. Thanks!");
    assert_eq!(en, vec!["parcel", "arrived", "damaged", "number"]);
}
