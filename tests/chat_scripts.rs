//! `ivr chat`, `ivr check-flow` and `ivr intent-eval` as a user runs them: from a pipe,
//! no TTY. (The scripted conversations themselves are replayed in
//! dialog/tests/chat_scripts.rs through the same driver.)

use std::io::Write;
use std::process::{Command, Stdio};

fn ivr(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ivr");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chat_json_from_a_pipe() {
    let (code, out, err) = ivr(
        &["chat", "--json", "--date", "2026-05-06"],
        "track my parcel\n#12345678\nyes\n/silence\nthis is useless and ridiculous\n",
    );
    assert_eq!(code, 0, "{err}");
    let turns: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(turns.len(), 6, "{out}");
    assert_eq!(turns[0]["intent"], serde_json::Value::Null);
    assert_eq!(turns[0]["node"], "greeting");
    for key in [
        "node",
        "intent",
        "confidence",
        "slots",
        "say",
        "action",
        "sentiment",
    ] {
        assert!(turns[1].get(key).is_some(), "missing {key}");
    }
    assert_eq!(turns[1]["intent"], "track_parcel");
    assert_eq!(turns[2]["slots"]["tracking_number"], "12345678");
    assert!(turns[3]["say"].as_str().unwrap().contains("in transit"));
    assert_eq!(turns[5]["action"], "transfer");
    assert!(turns[5]["sentiment"].as_f64().unwrap() < 0.0);
}

#[test]
fn chat_plain_and_empty_input() {
    let (code, out, _) = ivr(&["chat"], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "Welcome to Parcel Express. How can I help you?");
    let (code, out, _) = ivr(&["chat"], "opening hours\nbye\nignored after hang-up\n");
    assert_eq!(code, 0);
    assert!(out.contains("Saturday from 9 AM"), "{out}");
    assert!(out.trim_end().ends_with("[hang up: contained]"), "{out}");
}

#[test]
fn invalid_flow_never_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/flows");
    let (code, _, err) = ivr(&["check-flow", &format!("{dir}/invalid/problems.toml")], "");
    assert_ne!(code, 0);
    assert!(
        err.contains("problems.toml:16:8: intent `two`: unknown target node `nowhere`"),
        "{err}"
    );
    let (code, _, err) = ivr(
        &["chat", "--flow", &format!("{dir}/invalid/bad_toml.toml")],
        "hi\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("bad_toml.toml:3:"), "{err}");
    let (code, out, _) = ivr(&["check-flow", &format!("{dir}/parcel.toml")], "");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn intent_eval_reports_accuracy() {
    let tsv = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/intents/parcel.tsv");
    let (code, out, err) = ivr(&["intent-eval", tsv, "--json"], "");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(v["total"].as_u64().unwrap() >= 200);
    assert_eq!(v["semantic"], true, "{v}");
    assert!(v["accuracy"].as_f64().unwrap() >= 0.95, "{v}");
    assert!(v["intents"]["wrong"].as_f64().unwrap() <= 0.01, "{v}");
    assert!(v["intents"]["clarify_right"].as_f64().is_some());
}

/// `ivr intent-eval --json` of a labelled set against a flow.
fn eval(set: &str, flow: &str) -> serde_json::Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let (code, out, err) = ivr(
        &[
            "intent-eval",
            &format!("{dir}/intents/{set}"),
            "--flow",
            &format!("{dir}/flows/{flow}"),
            "--json",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).expect("json")
}

fn share(v: &serde_json::Value, part: &str, key: &str) -> f64 {
    v[part][key].as_f64().unwrap_or(f64::NAN)
}

/// English held-out sets (never used as examples): regression guards a little under the
/// measured figures (intents 95.7 % right / 2.6 % wrong, FAQ 91.7 % / 2.8 %, out of scope
/// 91.7 % rejected; the targets are 97 / 1, 95, 90).
#[test]
fn english_held_out_paraphrases_faq_questions_and_out_of_scope() {
    let v = eval("parcel-heldout.tsv", "parcel.toml");
    assert!(v["intents"]["total"].as_u64().unwrap() >= 100, "{v}");
    assert!(share(&v, "intents", "right") >= 0.93, "{v}");
    assert!(share(&v, "intents", "wrong") <= 0.035, "{v}");
    let v = eval("parcel-faq-questions.tsv", "parcel.toml");
    assert!(v["faqs"]["total"].as_u64().unwrap() >= 70, "{v}");
    assert!(share(&v, "faqs", "right") >= 0.89, "{v}");
    assert!(share(&v, "faqs", "wrong") <= 0.035, "{v}");
    let v = eval("parcel-oos.tsv", "parcel.toml");
    assert!(share(&v, "out_of_scope", "right") >= 0.9, "{v}");
}

#[test]
fn mandarin_flow_checks_and_chats_as_json() {
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/flows/parcel-zh.toml");
    let (code, out, err) = ivr(&["check-flow", flow], "");
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ivr(
        &["chat", "--flow", flow, "--json", "--date", "2026-05-06"],
        "查寻快滴\n幺二三四五六七八\n对\n/silence\n气死我了，什么破服务\n",
    );
    assert_eq!(code, 0, "{err}");
    let turns: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(turns.len(), 6, "{out}");
    assert_eq!(turns[0]["node"], "greeting");
    assert_eq!(turns[1]["intent"], "track_parcel");
    assert_eq!(turns[2]["slots"]["tracking_number"], "12345678");
    assert!(
        turns[3]["say"].as_str().unwrap().contains("正在运输途中"),
        "{out}"
    );
    assert_eq!(turns[5]["action"], "transfer");
    assert!(turns[5]["sentiment"].as_f64().unwrap() < 0.0);
    let (code, out, _) = ivr(&["chat", "--flow", flow], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "您好，欢迎致电速达快递。请问有什么可以帮您？");
}

/// The Mandarin labelled set through `ivr intent-eval`: >= 95 % top-1 (accepted or
/// clarified with the right intent), <= 2 % accepted but wrong.
#[test]
fn mandarin_intent_eval_meets_the_bar() {
    let tsv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/intents/parcel-zh.tsv"
    );
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/flows/parcel-zh.toml");
    let (code, out, err) = ivr(&["intent-eval", tsv, "--flow", flow, "--json"], "");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(v["total"].as_u64().unwrap() >= 200, "{v}");
    let top1 = share(&v, "intents", "right") + share(&v, "intents", "clarify_right");
    assert!(top1 >= 0.95, "{v}");
    assert!(share(&v, "intents", "wrong") <= 0.02, "{v}");
    // 2 of the 28 out-of-scope lines go to an agent: 你是机器人吗, 你们招不招人.
    assert!(share(&v, "out_of_scope", "wrong") <= 0.075, "{v}");
}

#[test]
fn chat_persist_uses_the_database_in_the_data_dir() {
    // The same place `ivr serve` opens: <data_dir>/<dialog.database>, default ivr.sqlite.
    let dir = std::env::temp_dir().join(format!("ivr-chat-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(["chat", "--persist", "--date", "2026-05-06"])
        .current_dir(dir.parent().expect("temp dir"))
        .env("IVR_DATA_DIR", &data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"reschedule my delivery\n1 2 3 4 5 6 7 8\ntomorrow\nyes\n")?;
            c.wait_with_output()
        })
        .expect("run ivr chat --persist");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("will now be delivered on"), "{stdout}");
    assert!(
        data_dir.join("ivr.sqlite").is_file(),
        "no {}",
        data_dir.join("ivr.sqlite").display()
    );
    assert!(!data_dir.join("data").exists(), "data/data/ doubled");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ivr chat --json` lines as JSON values.
fn chat_turns(stdin: &str) -> Vec<serde_json::Value> {
    let (code, out, err) = ivr(&["chat", "--json", "--date", "2026-05-06"], stdin);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn faq_answers_then_anything_else_then_goodbye() {
    // Questions the flow's knowledge base holds in other words (the semantic stage), an
    // exact FAQ question (the rules), then "no" to "anything else?", then a rating.
    let turns = chat_turns(
        "do you deliver on sundays\nhow much does it cost to send a parcel\nwhat if my parcel goes missing\nno thanks\n#5\n",
    );
    assert_eq!(turns[1]["faq"], "weekend_delivery", "{turns:?}");
    assert_eq!(turns[1]["node"], "anything_else");
    assert!(turns[1]["say"].as_str().unwrap().contains("anything else"));
    assert_eq!(turns[2]["faq"], "shipping_cost", "{turns:?}");
    assert_eq!(turns[3]["faq"], "lost_parcel", "{turns:?}");
    // Served by the knowledge base: asked for a rating before goodbye.
    assert_eq!(turns[4]["node"], "survey", "{turns:?}");
    // A turn that answered no FAQ carries no "faq" key.
    assert!(turns[4].get("faq").is_none());
    assert_eq!(turns[5]["node"], "goodbye");
    assert_eq!(turns[5]["action"], "hangup");
    assert_eq!(turns[5]["slots"]["rating"], "5");
}

#[test]
fn out_of_scope_gets_an_honest_no_and_the_offer_of_an_agent() {
    let turns = chat_turns("can you book me a taxi to the station\nagent\n");
    let say = turns[1]["say"].as_str().unwrap();
    assert!(say.contains("not something I can help with"), "{say}");
    assert!(say.contains("agent"), "{say}");
    assert_eq!(turns[1]["intent"], serde_json::Value::Null);
    assert!(turns[1].get("faq").is_none());
    assert_eq!(turns[2]["action"], "transfer");
}

#[test]
fn paraphrases_callers_use_route_by_meaning() {
    // The three paraphrases that fell through to "Sorry, I didn't get that" with rules only.
    let t = chat_turns("I'm calling to check on a delivery\n");
    assert_eq!(t[1]["intent"], "track_parcel", "{t:?}");
    let t = chat_turns("I don't want to talk to a machine\n");
    assert_eq!(t[1]["action"], "transfer", "{t:?}");
    // "That was all I needed" is goodbye, which asks a served caller for a rating first.
    let t = chat_turns("what are your opening hours\nthat was all I needed\n");
    assert_eq!(t[2]["node"], "survey", "{t:?}");
}

/// Mandarin held-out sets: guards under the measured figures (intents 91.4 % right, 0 %
/// wrong; FAQ 77.8 % right, 0 % wrong; out of scope 95.0 % rejected).
#[test]
fn mandarin_held_out_paraphrases_faq_questions_and_out_of_scope() {
    let v = eval("parcel-zh-heldout.tsv", "parcel-zh.toml");
    assert_eq!(v["semantic"], true, "{v}");
    assert!(share(&v, "intents", "right") >= 0.89, "{v}");
    assert!(share(&v, "intents", "wrong") <= 0.02, "{v}");
    let v = eval("parcel-zh-faq-questions.tsv", "parcel-zh.toml");
    assert!(share(&v, "faqs", "right") >= 0.75, "{v}");
    assert!(share(&v, "faqs", "wrong") <= 0.02, "{v}");
    let v = eval("parcel-zh-oos.tsv", "parcel-zh.toml");
    assert!(share(&v, "out_of_scope", "right") >= 0.9, "{v}");
}
