//! `[qa]`: the inspection rules, as configured (or the embedded default), checked once.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use ivr_dialog::Speaker;

const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// `[qa]` in the config. An empty `rules` list (the default) means the embedded rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QaConfig {
    pub rules: Vec<Rule>,
}

/// One inspection rule: what it checks, and what a hit costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    /// Points off the call's score of 100.
    pub weight: u32,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule looks for, with its parameters (`check = "dead_air"`, `max_silence_s = 8`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// Two caller lines in a row at least this similar (0-1, edit distance on the
    /// normalized text), each at least `min_chars` long.
    CallerRepeated { similarity: f64, min_chars: usize },
    /// At least `min` no-matches in a row at the same prompt.
    NoMatchStreak { min: usize },
    /// A gap with nobody speaking longer than this.
    DeadAir { max_silence_s: f64 },
    /// A bot line starting inside a caller line and overlapping it by at least this.
    TalkOver { min_overlap_s: f64 },
    /// At least `min` bot lines cut short by the caller.
    BargeIns { min: usize },
    /// The call's sentiment (-1..1) below this when it ended.
    NegativeEnd { below: f32 },
    /// Transferred because understanding kept failing.
    TransferAfterNoMatch,
    /// Hung up during a lookup.
    AbandonedInLookup,
    /// A turn whose first reply audio came later than this after the caller stopped.
    SlowTurn { max_ms: f64 },
    /// Any of the phrases in a line (case-insensitive), of `speaker` or of anyone.
    ForbiddenPhrase {
        phrases: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speaker: Option<Speaker>,
    },
    /// None of the phrases said (by the bot unless `speaker` says otherwise), within the
    /// first `within_s` seconds if given: e.g. the recording notice.
    RequiredPhrase {
        phrases: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speaker: Option<Speaker>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within_s: Option<f64>,
    },
}

/// A rule set that has been checked, with a short hash naming it (records say which
/// version scored them).
#[derive(Debug, Clone, PartialEq)]
pub struct QaRules {
    pub rules: Vec<Rule>,
    pub version: String,
}

/// A rule set that cannot be used, naming the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("[qa] rule {rule:?}: {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: String,
}

impl QaRules {
    /// The configured rules, or the embedded default when none are configured.
    pub fn from_config(cfg: &QaConfig) -> Result<Self, RuleError> {
        if cfg.rules.is_empty() {
            return Ok(Self::embedded());
        }
        Self::new(cfg.rules.clone())
    }

    pub fn embedded() -> Self {
        let cfg: QaConfig =
            toml::from_str(DEFAULT_RULES).expect("the embedded QA rules parse (unit-tested)");
        Self::new(cfg.rules).expect("the embedded QA rules are valid (unit-tested)")
    }

    pub fn new(rules: Vec<Rule>) -> Result<Self, RuleError> {
        for (i, r) in rules.iter().enumerate() {
            let bad = |problem: &str| RuleError {
                rule: r.id.clone(),
                problem: problem.to_string(),
            };
            if r.id.trim().is_empty() {
                return Err(bad("an id is needed"));
            }
            if rules[..i].iter().any(|o| o.id == r.id) {
                return Err(bad("the id is used twice"));
            }
            if r.weight > 100 {
                return Err(bad("weight must be 0-100 (points off a score of 100)"));
            }
            match &r.check {
                Check::CallerRepeated { similarity, .. } if !(0.0..=1.0).contains(similarity) => {
                    return Err(bad("similarity must be 0-1"));
                }
                Check::NoMatchStreak { min } | Check::BargeIns { min } if *min == 0 => {
                    return Err(bad("min must be at least 1"));
                }
                Check::DeadAir { max_silence_s: x } | Check::TalkOver { min_overlap_s: x }
                    if x.is_nan() || *x <= 0.0 =>
                {
                    return Err(bad("the duration must be above 0"));
                }
                Check::ForbiddenPhrase { phrases, .. } | Check::RequiredPhrase { phrases, .. }
                    if phrases.iter().all(|p| p.trim().is_empty()) =>
                {
                    return Err(bad("phrases must list at least one phrase"));
                }
                _ => {}
            }
        }
        let canonical = toml::to_string(&QaConfig {
            rules: rules.clone(),
        })
        .unwrap_or_default();
        let hash = sha2::Sha256::digest(canonical.as_bytes());
        let version = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { rules, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_rules_are_valid_and_named_by_a_stable_hash() {
        let a = QaRules::embedded();
        assert!(a.rules.len() >= 10);
        assert_eq!(a.version.len(), 12);
        assert_eq!(a.version, QaRules::embedded().version);
        assert_eq!(QaRules::from_config(&QaConfig::default()).unwrap(), a);
    }

    #[test]
    fn rules_round_trip_through_toml() {
        // The config is re-serialized to apply IVR_* overrides: the flattened checks must
        // survive that.
        let rules = QaRules::embedded().rules;
        let text = toml::to_string(&QaConfig {
            rules: rules.clone(),
        })
        .unwrap();
        assert_eq!(toml::from_str::<QaConfig>(&text).unwrap().rules, rules);
    }

    #[test]
    fn a_typo_in_a_parameter_is_an_error_not_a_default() {
        let e = toml::from_str::<QaConfig>(
            "[[rules]]\nid = \"d\"\ncheck = \"dead_air\"\nmax_silence = 8.0\nweight = 5\nseverity = \"minor\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_silence"), "{e}");
        let e = toml::from_str::<QaConfig>(
            "[[rules]]\nid = \"d\"\ncheck = \"loud_music\"\nweight = 5\nseverity = \"minor\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("loud_music"), "{e}");
    }

    #[test]
    fn bad_rules_name_the_rule() {
        let rule = |id: &str, weight: u32, check: Check| Rule {
            id: id.into(),
            weight,
            severity: Severity::Minor,
            description: String::new(),
            check,
        };
        let dup = QaRules::new(vec![
            rule("a", 5, Check::TransferAfterNoMatch),
            rule("a", 5, Check::AbandonedInLookup),
        ])
        .unwrap_err();
        assert_eq!(dup.rule, "a");
        assert!(dup.problem.contains("twice"));
        let heavy = QaRules::new(vec![rule("b", 500, Check::AbandonedInLookup)]).unwrap_err();
        assert!(heavy.problem.contains("0-100"));
        let empty = QaRules::new(vec![rule(
            "c",
            5,
            Check::ForbiddenPhrase {
                phrases: vec![" ".into()],
                speaker: None,
            },
        )])
        .unwrap_err();
        assert!(empty.to_string().contains("\"c\""), "{empty}");
    }
}
