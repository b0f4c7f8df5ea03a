//! How the two understanding stages decide together, over one matcher (intents) or
//! several (intents and the knowledge base of a menu).
//!
//! Stage 1, the rules, acts alone only when it is sure: the caller said an example, or an
//! example phrase inside a longer sentence. Everything else goes by meaning (stage 2):
//! the nearest example over every candidate label, accepted when it is clearly nearer
//! than the runner-up; accepted at a lower cosine when the rules agree on the label;
//! a clarify question when plausible; otherwise no match. Without embeddings the rules
//! decide with their own thresholds, as before the semantic stage existed.

use crate::intent::{Decision, IntentScore, Thresholds};

/// Probability thresholds of stage 2, calibrated with `ivr intent-eval` on the English
/// demo flow's development set (fixtures/intents/parcel.tsv) and checked on the held-out
/// paraphrase, FAQ and out-of-scope sets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticPolicy {
    /// A rule score from which the rules act alone (exact example 1.0, phrase rule 0.92).
    pub sure_rule: f32,
    /// Accept the most probable label from this probability (and refuse when the
    /// out-of-scope class is this probable and more probable than any label).
    pub accept: f32,
    /// Accept from this probability when the rules would accept the same label.
    pub agree: f32,
    /// The out-of-scope probability from which a request is refused even when both
    /// stages agree on a label (below it, agreement wins: ASR-garbled words such as "my
    /// power solar ion damaged" read as out of scope by meaning, but the rules' keyword
    /// and the nearest label agree).
    pub veto: f32,
    /// Ask to clarify from this probability.
    pub clarify: f32,
}

pub const SEMANTIC_POLICY: SemanticPolicy = SemanticPolicy {
    sure_rule: 0.9,
    accept: 0.5,
    agree: 0.15,
    veto: 0.8,
    clarify: 0.3,
};

/// One matcher's view of an utterance.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Rules' ranking, best first.
    pub rules: Vec<IntentScore>,
    /// The classifier's probabilities of this matcher's labels, best first.
    pub semantic: Vec<IntentScore>,
}

/// The decision over several matchers' candidates and the index of the matcher it is
/// about. `out_of_scope`: the classifier's probability that the words are none of the
/// flow's business, `None` without an embedding (the rules then decide with `rules_th`,
/// their own thresholds).
pub fn decide(
    sources: &[Candidates],
    out_of_scope: Option<f32>,
    rules_th: Thresholds,
    p: SemanticPolicy,
) -> (usize, Decision) {
    let Some(out_of_scope) = out_of_scope else {
        return by_rules(sources, rules_th);
    };
    let Some((i, top)) = best(sources.iter().map(|s| s.semantic.first())) else {
        return by_rules(sources, rules_th);
    };
    let rules_agree = sources[i]
        .rules
        .first()
        .is_some_and(|r| r.intent == top.intent && r.score >= rules_th.accept);
    // A request the flow does not serve, whatever words it shares with an example
    // ("what time does the supermarket close").
    if out_of_scope >= p.accept
        && out_of_scope > top.score
        && !(rules_agree && out_of_scope < p.veto)
    {
        return (i, Decision::NoMatch);
    }
    // Stage 1 alone when sure.
    if let Some((r, s)) = best(sources.iter().map(|s| s.rules.first()))
        && s.score >= p.sure_rule
    {
        return (r, Decision::Accept(s.clone()));
    }
    if top.score >= p.accept || (rules_agree && top.score >= p.agree) {
        (i, Decision::Accept(top.clone()))
    } else if top.score >= p.clarify {
        (i, Decision::Clarify(top.clone()))
    } else {
        (i, Decision::NoMatch)
    }
}

/// The rules alone: the best accepted, else the best plausible.
fn by_rules(sources: &[Candidates], th: Thresholds) -> (usize, Decision) {
    let decisions: Vec<Decision> = sources.iter().map(|s| threshold(&s.rules, th)).collect();
    let pick = |want_accept: bool| {
        decisions
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Decision::Accept(s) if want_accept => Some((i, s)),
                Decision::Clarify(s) if !want_accept => Some((i, s)),
                _ => None,
            })
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| (i, decisions[i].clone()))
    };
    pick(true)
        .or_else(|| pick(false))
        .unwrap_or((0, Decision::NoMatch))
}

fn best<'a>(
    scores: impl Iterator<Item = Option<&'a IntentScore>>,
) -> Option<(usize, &'a IntentScore)> {
    scores
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
}

/// Best-first scores against thresholds: accept a clear winner, clarify a plausible one.
pub fn threshold(ranked: &[IntentScore], th: Thresholds) -> Decision {
    let Some(best) = ranked.first().cloned() else {
        return Decision::NoMatch;
    };
    let second = ranked.get(1).map_or(0.0, |s| s.score);
    if best.score >= th.accept && best.score - second >= th.margin {
        Decision::Accept(best)
    } else if best.score >= th.clarify {
        Decision::Clarify(best)
    } else {
        Decision::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(intent: &str, score: f32) -> IntentScore {
        IntentScore {
            intent: intent.into(),
            score,
        }
    }

    #[test]
    fn meaning_decides_unless_a_rule_is_sure() {
        let th = Thresholds::default();
        let p = SEMANTIC_POLICY;
        // A sure rule acts alone.
        let sure = Candidates {
            rules: vec![s("track", 0.92)],
            semantic: vec![s("hours", 0.6), s("track", 0.2)],
        };
        assert_eq!(
            decide(&[sure], Some(0.1), th, p),
            (0, Decision::Accept(s("track", 0.92)))
        );
        // A keyword-only rule hit does not outvote the meaning.
        let keyword = Candidates {
            rules: vec![s("damage", 0.67)],
            semantic: vec![s("track", 0.2), s("damage", 0.1)],
        };
        assert_eq!(decide(&[keyword], Some(0.7), th, p).1, Decision::NoMatch);
        // Across sources: the FAQ entry is the most probable.
        let intents = Candidates {
            rules: vec![],
            semantic: vec![s("track", 0.2), s("hours", 0.1)],
        };
        let faq = Candidates {
            rules: vec![],
            semantic: vec![s("shipping_cost", 0.6), s("insurance", 0.05)],
        };
        assert_eq!(
            decide(&[intents, faq], Some(0.05), th, p),
            (1, Decision::Accept(s("shipping_cost", 0.6)))
        );
        // Unsure: clarify; the rules agreeing make it an accept.
        let unsure = Candidates {
            rules: vec![s("track", 0.2)],
            semantic: vec![s("track", 0.4), s("resched", 0.35)],
        };
        assert_eq!(
            decide(&[unsure], Some(0.25), th, p).1,
            Decision::Clarify(s("track", 0.4))
        );
        let agreed = Candidates {
            rules: vec![s("track", 0.7)],
            semantic: vec![s("track", 0.4), s("resched", 0.35)],
        };
        assert_eq!(
            decide(&[agreed], Some(0.25), th, p).1,
            Decision::Accept(s("track", 0.4))
        );
    }

    #[test]
    fn without_embeddings_the_rules_decide() {
        let th = Thresholds::default();
        let a = Candidates {
            rules: vec![s("track", 0.7), s("hours", 0.2)],
            semantic: vec![],
        };
        let b = Candidates {
            rules: vec![s("shipping_cost", 0.5)],
            semantic: vec![],
        };
        assert_eq!(
            decide(&[a, b], None, th, SEMANTIC_POLICY),
            (0, Decision::Accept(s("track", 0.7)))
        );
    }
}
