//! Replays every scripted conversation in fixtures/chat/ through the chat driver (the
//! engine behind `ivr chat`) with an in-memory demo database. See fixtures/chat/README.md.

use std::sync::Arc;

use ivr_dialog::{ChatSession, ChatTurn};
use ivr_dialog::{Date, Flow, SqliteBackend};

fn check(file: &str, line_no: usize, turn: &ChatTurn, exp: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{file}:{line_no}: {what}\n  bot turn: {turn:?}"));
    let (key, want) = exp
        .split_once(':')
        .ok_or_else(|| format!("{file}:{line_no}: bad line"))?;
    let want = want.trim();
    match key.trim() {
        "node" if turn.node != want => fail(format!("node {} != {want}", turn.node)),
        "intent" if turn.intent.as_deref().unwrap_or("null") != want => {
            fail(format!("intent {:?} != {want}", turn.intent))
        }
        "action" if turn.action.unwrap_or("null") != want => {
            fail(format!("action {:?} != {want}", turn.action))
        }
        "say" if !turn.say.contains(want) => fail(format!("say lacks {want:?}")),
        "!say" if turn.say.contains(want) => fail(format!("say has {want:?}")),
        "detail" if !turn.detail.as_deref().unwrap_or("").contains(want) => {
            fail(format!("detail lacks {want:?}"))
        }
        "rate"
            if turn.speaking_rate.map(|r| format!("{r:.2}"))
                != Some(format!("{:.2}", want.parse::<f32>().unwrap_or(-1.0))) =>
        {
            fail(format!("rate {:?} != {want}", turn.speaking_rate))
        }
        "sentiment<" if turn.sentiment >= want.parse::<f32>().unwrap_or(-9.0) => {
            fail(format!("sentiment {} !< {want}", turn.sentiment))
        }
        k if k.starts_with("slot ") => {
            let name = k.trim_start_matches("slot ").trim();
            if turn.slots.get(name).map(String::as_str) != Some(want) {
                fail(format!(
                    "slot {name} = {:?} != {want}",
                    turn.slots.get(name)
                ))
            } else {
                Ok(())
            }
        }
        "node" | "intent" | "action" | "say" | "!say" | "detail" | "rate" | "sentiment<" => Ok(()),
        other => Err(format!("{file}:{line_no}: unknown expectation `{other}`")),
    }
}

fn run_script(path: &std::path::Path, flow: &Arc<Flow>) -> Result<usize, String> {
    let file = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let src = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
    let mut today = Date::new(2026, 5, 6).ok_or("date")?;
    for l in src.lines() {
        if let Some(d) = l.strip_prefix("@date ") {
            today = Date::parse_iso(d).ok_or_else(|| format!("{file}: bad @date"))?;
        }
    }
    let backend = SqliteBackend::in_memory().map_err(|e| e.to_string())?;
    let mut s = ChatSession::new(Arc::clone(flow), today, Box::new(backend));
    let mut turn = Some(s.start());
    let mut checks = 0;
    for (i, l) in src.lines().enumerate() {
        let l = l.trim_end();
        if l.is_empty() || l.starts_with('@') || l.starts_with('#') {
            continue;
        }
        if let Some(input) = l.strip_prefix('>') {
            turn = s.input(input.trim());
            continue;
        }
        let t = turn
            .as_ref()
            .ok_or_else(|| format!("{file}:{}: no bot turn (call over)", i + 1))?;
        check(&file, i + 1, t, l)?;
        checks += 1;
    }
    Ok(checks)
}

/// Every `*.chat` script in `dir` against `flow`; at least `min` of them.
fn run_dir(dir: &str, flow: Flow, min: usize) {
    let flow = Arc::new(flow);
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("chat script dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "chat"))
        .collect();
    paths.sort();
    assert!(paths.len() >= min, "only {} scripts", paths.len());
    let mut failures = Vec::new();
    for p in &paths {
        match run_script(p, &flow) {
            Ok(n) => assert!(n > 0, "{}: no expectations", p.display()),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}

#[test]
fn scripted_conversations() {
    run_dir(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chat"),
        Flow::demo(),
        15,
    );
}

/// The Mandarin scripts (fixtures/chat/zh/) against the Mandarin demo flow.
#[test]
fn scripted_conversations_zh() {
    run_dir(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chat/zh"),
        Flow::demo_zh(),
        22,
    );
}
