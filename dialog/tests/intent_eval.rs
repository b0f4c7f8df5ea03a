//! The labelled paraphrase set (fixtures/intents/parcel.tsv) against the demo flow's matcher:
//! top-1 accuracy must be >= 95 % (the same measure `ivr intent-eval` prints).

use ivr_dialog::Decision;
use ivr_dialog::Flow;

#[test]
fn demo_intents_accuracy_at_least_95_percent() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/intents/parcel.tsv"
    );
    let src = std::fs::read_to_string(path).expect("fixtures/intents/parcel.tsv");
    let flow = Flow::demo();
    let th = flow.settings.thresholds;
    let (mut total, mut correct, mut clarified) = (0, 0, 0);
    let mut misses = Vec::new();
    for line in src.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (utt, label) = line.split_once('\t').expect("utterance<TAB>intent");
        total += 1;
        let got = match flow.matcher.decide(utt, None, th) {
            Decision::Accept(s) => s.intent,
            Decision::Clarify(s) => {
                clarified += 1;
                s.intent
            }
            Decision::NoMatch => "none".into(),
        };
        if got == label {
            correct += 1;
        } else {
            misses.push(format!(
                "{utt:?}: want {label}, got {got} {:?}",
                flow.matcher.rank(utt, None).first()
            ));
        }
    }
    assert!(total >= 200, "only {total} labelled utterances");
    let acc = correct as f64 / total as f64;
    eprintln!("accuracy {acc:.3} ({correct}/{total}), clarified {clarified}");
    for m in &misses {
        eprintln!("miss: {m}");
    }
    assert!(acc >= 0.95, "accuracy {acc:.3} < 0.95");
}

/// The Mandarin set (fixtures/intents/parcel-zh.tsv, with ASR homophones and out-of-scope
/// requests) against the Mandarin demo flow: >= 95 % top-1 and <= 2 % accepted but wrong.
#[test]
fn mandarin_intents_accuracy_and_wrong_accepts() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/intents/parcel-zh.tsv"
    );
    let src = std::fs::read_to_string(path).expect("fixtures/intents/parcel-zh.tsv");
    let flow = Flow::demo_zh();
    let th = flow.settings.thresholds;
    let (mut total, mut correct, mut wrong_accepted) = (0, 0, 0);
    let mut misses = Vec::new();
    for line in src.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (utt, label) = line.split_once('\t').expect("utterance<TAB>intent");
        total += 1;
        let got = match flow.matcher.decide(utt, None, th) {
            Decision::Accept(s) => {
                if s.intent != label {
                    wrong_accepted += 1;
                }
                s.intent
            }
            Decision::Clarify(s) => s.intent,
            Decision::NoMatch => "none".into(),
        };
        if got == label {
            correct += 1;
        } else {
            misses.push(format!(
                "{utt:?}: want {label}, got {got} {:?}",
                &flow.matcher.rank(utt, None)[..2]
            ));
        }
    }
    assert!(total >= 200, "only {total} labelled utterances");
    let acc = correct as f64 / total as f64;
    let wrong = wrong_accepted as f64 / total as f64;
    eprintln!("zh accuracy {acc:.3} ({correct}/{total}), accepted but wrong {wrong:.3}");
    for m in &misses {
        eprintln!("miss: {m}");
    }
    assert!(acc >= 0.95, "accuracy {acc:.3} < 0.95");
    assert!(wrong <= 0.02, "accepted but wrong {wrong:.3} > 0.02");
}
