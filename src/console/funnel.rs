//! Where a flow loses callers: for each node, how many calls reached it and how many
//! ended there, by how they ended. Pure, over `PathRow`s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::records::{Outcome, PathRow};

/// Hand-off reasons that mean the bot gave up on understanding (the dialog's words).
const ESCALATIONS: [&str; 3] = ["repeated no match", "no input", "caller stuck in a loop"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeStep {
    pub node: String,
    /// Calls that entered the node at least once.
    pub reached: usize,
    /// Calls whose last node this was, by outcome.
    pub contained: usize,
    pub transferred: usize,
    pub abandoned: usize,
    pub failed: usize,
    /// Calls escalated to an agent (repeated no match, no input, a loop) while here.
    pub escalated: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    pub calls: usize,
    /// Calls without a node path (failed before the dialog, or older records).
    pub without_path: usize,
    /// Most reached first.
    pub nodes: Vec<NodeStep>,
}

impl Funnel {
    pub fn compute<R: std::borrow::Borrow<PathRow>>(rows: &[R]) -> Self {
        let rows: Vec<&PathRow> = rows.iter().map(|r| r.borrow()).collect();
        let mut steps: BTreeMap<&str, NodeStep> = BTreeMap::new();
        let mut without_path = 0;
        for &r in &rows {
            let Some(last) = r.path.last() else {
                without_path += 1;
                continue;
            };
            let mut seen: Vec<&str> = r.path.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for n in seen {
                step(&mut steps, n).reached += 1;
            }
            let end = step(&mut steps, last);
            match r.outcome {
                Outcome::Contained => end.contained += 1,
                Outcome::Transferred => end.transferred += 1,
                Outcome::Abandoned => end.abandoned += 1,
                Outcome::Failed => end.failed += 1,
            }
            let escalated = r.outcome == Outcome::Transferred
                && r.handoff_reason
                    .as_deref()
                    .is_some_and(|h| ESCALATIONS.contains(&h));
            // The last node is the transfer itself; the caller was stuck at the one before.
            if escalated {
                let from = r.path.iter().rev().nth(1).unwrap_or(last);
                step(&mut steps, from).escalated += 1;
            }
        }
        let mut nodes: Vec<NodeStep> = steps.into_values().collect();
        nodes.sort_by(|a, b| b.reached.cmp(&a.reached).then_with(|| a.node.cmp(&b.node)));
        Self {
            calls: rows.len(),
            without_path,
            nodes,
        }
    }
}

fn step<'m, 'a>(steps: &'m mut BTreeMap<&'a str, NodeStep>, node: &'a str) -> &'m mut NodeStep {
    steps.entry(node).or_insert_with(|| NodeStep {
        node: node.to_string(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: Outcome, reason: Option<&str>, path: &[&str]) -> PathRow {
        PathRow {
            outcome,
            handoff_reason: reason.map(Into::into),
            path: path.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn reached_and_left_per_node() {
        let rows = vec![
            row(
                Outcome::Contained,
                None,
                &["greeting", "track", "status", "goodbye"],
            ),
            row(Outcome::Abandoned, None, &["greeting", "track"]),
            row(
                Outcome::Transferred,
                Some("repeated no match"),
                &["greeting", "track", "agent"],
            ),
            row(
                Outcome::Transferred,
                Some("caller asked for an agent"),
                &["greeting", "agent"],
            ),
            // A node entered twice counts once for that call.
            row(Outcome::Abandoned, None, &["greeting", "track", "greeting"]),
            row(Outcome::Failed, None, &[]),
        ];
        let f = Funnel::compute(&rows);
        assert_eq!((f.calls, f.without_path), (6, 1));
        let at = |n: &str| f.nodes.iter().find(|s| s.node == n).unwrap().clone();
        assert_eq!(f.nodes[0].node, "greeting");
        assert_eq!(at("greeting").reached, 5);
        assert_eq!(at("greeting").abandoned, 1);
        let track = at("track");
        assert_eq!((track.reached, track.abandoned, track.escalated), (4, 1, 1));
        let agent = at("agent");
        assert_eq!(
            (agent.reached, agent.transferred, agent.escalated),
            (2, 2, 0)
        );
        assert_eq!(at("goodbye").contained, 1);
    }
}
