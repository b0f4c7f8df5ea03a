//! The console's query strings, checked: a bad value is a 400 that says which and why.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde::de::IntoDeserializer;

use crate::records::{CallFilter, Outcome, Period, Scope};
use ivr_dialog::Language;

/// The default period: the last 7 days.
const DEFAULT_PERIOD: Duration = Duration::from_secs(7 * 86_400);
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;

/// `?since=&until=&language=&flow=`: RFC 3339 times (`2026-12-01T08:00:00Z`) or dates
/// (`2026-12-01`); a date as `until` includes that whole day. Language `en` or `zh`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PeriodQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub language: Option<String>,
    pub flow: Option<String>,
}

/// `/console/calls` and `/api/calls`: the period plus filters and paging.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CallsQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub language: Option<String>,
    pub flow: Option<String>,
    pub outcome: Option<String>,
    pub intent: Option<String>,
    /// Text searched in the transcripts.
    pub q: Option<String>,
    /// A QA rule id the calls broke.
    pub qa: Option<String>,
    pub min_score: Option<String>,
    pub max_score: Option<String>,
    /// 1-based.
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// A query value that cannot be used; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub String);

impl PeriodQuery {
    pub fn period(&self, now: SystemTime) -> Result<Period, BadQuery> {
        period(self.since.as_deref(), self.until.as_deref(), now)
    }

    pub fn scope(&self, now: SystemTime) -> Result<Scope, BadQuery> {
        scope(self, now)
    }
}

/// The scope part of a calls query.
impl From<&CallsQuery> for PeriodQuery {
    fn from(q: &CallsQuery) -> Self {
        Self {
            since: q.since.clone(),
            until: q.until.clone(),
            language: q.language.clone(),
            flow: q.flow.clone(),
        }
    }
}

fn scope(q: &PeriodQuery, now: SystemTime) -> Result<Scope, BadQuery> {
    let language = non_empty(&q.language)
        .map(|l| {
            Language::from_code(l)
                .ok_or_else(|| BadQuery(format!("language={l:?}: expected en or zh")))
        })
        .transpose()?;
    Ok(Scope {
        period: q.period(now)?,
        language,
        flow: non_empty(&q.flow).map(str::to_string),
    })
}

impl CallsQuery {
    pub fn filter(&self, now: SystemTime) -> Result<CallFilter, BadQuery> {
        let scope = scope(&PeriodQuery::from(self), now)?;
        let outcome = non_empty(&self.outcome)
            .map(|o| {
                let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
                    o.into_deserializer();
                Outcome::deserialize(de).map_err(|_| {
                    BadQuery(format!(
                        "outcome={o:?}: expected contained, transferred, abandoned or failed"
                    ))
                })
            })
            .transpose()?;
        let page = number(&self.page, "page", 1, usize::MAX / MAX_PAGE_SIZE, 1)?;
        let per_page = number(
            &self.per_page,
            "per_page",
            1,
            MAX_PAGE_SIZE,
            DEFAULT_PAGE_SIZE,
        )?;
        let score = |v: &Option<String>, name: &str| {
            non_empty(v)
                .map(|_| number(v, name, 0, 100, 0).map(|n| n as u32))
                .transpose()
        };
        Ok(CallFilter {
            scope,
            outcome,
            intent: non_empty(&self.intent).map(str::to_string),
            text: non_empty(&self.q).map(str::to_string),
            qa_flag: non_empty(&self.qa).map(str::to_string),
            min_score: score(&self.min_score, "min_score")?,
            max_score: score(&self.max_score, "max_score")?,
            offset: (page - 1) * per_page,
            limit: per_page,
        })
    }

    /// The 1-based page number of a checked filter.
    pub fn page_of(f: &CallFilter) -> usize {
        f.offset / f.limit.max(1) + 1
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn number(
    v: &Option<String>,
    name: &str,
    min: usize,
    max: usize,
    default: usize,
) -> Result<usize, BadQuery> {
    match non_empty(v) {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                BadQuery(format!(
                    "{name}={s:?}: expected a whole number from {min} to {max}"
                ))
            }),
    }
}

fn period(since: Option<&str>, until: Option<&str>, now: SystemTime) -> Result<Period, BadQuery> {
    let until = match until.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => time(s, "until", true)?,
        None => now,
    };
    let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => time(s, "since", false)?,
        None => until
            .checked_sub(DEFAULT_PERIOD)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    };
    if since >= until {
        return Err(BadQuery("since must be before until".into()));
    }
    Ok(Period { since, until })
}

fn time(s: &str, name: &str, end_of_day: bool) -> Result<SystemTime, BadQuery> {
    let bad = || {
        BadQuery(format!(
            "{name}={s:?}: expected an RFC 3339 time (2026-12-01T08:00:00Z) or a date (2026-12-01)"
        ))
    };
    if s.len() == 10 {
        let day = humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).map_err(|_| bad())?;
        return Ok(if end_of_day {
            day + Duration::from_secs(86_400)
        } else {
            day
        });
    }
    humantime::parse_rfc3339_weak(s).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn default_period_is_the_last_seven_days() {
        let now = at("2026-12-08T12:00:00Z");
        let p = PeriodQuery::default().period(now).unwrap();
        assert_eq!(p.until, now);
        assert_eq!(p.since, at("2026-12-01T12:00:00Z"));
    }

    #[test]
    fn dates_and_times() {
        let now = at("2026-12-08T12:00:00Z");
        let q = PeriodQuery {
            since: Some("2026-12-01".into()),
            until: Some("2026-12-02".into()),
            ..Default::default()
        };
        let p = q.period(now).unwrap();
        assert_eq!(p.since, at("2026-12-01T00:00:00Z"));
        assert_eq!(p.until, at("2026-12-03T00:00:00Z"));
        let q = PeriodQuery {
            since: Some("2026-12-01T08:30:00Z".into()),
            until: None,
            ..Default::default()
        };
        assert_eq!(q.period(now).unwrap().since, at("2026-12-01T08:30:00Z"));
    }

    #[test]
    fn bad_values_say_which_parameter() {
        let now = at("2026-12-08T12:00:00Z");
        let e = PeriodQuery {
            since: Some("yesterday".into()),
            until: None,
            ..Default::default()
        }
        .period(now)
        .unwrap_err();
        assert!(e.0.starts_with("since=\"yesterday\""), "{e}");
        let e = PeriodQuery {
            since: Some("2026-12-09".into()),
            until: None,
            ..Default::default()
        }
        .period(now)
        .unwrap_err();
        assert!(e.0.contains("before"), "{e}");
        let e = CallsQuery {
            outcome: Some("won".into()),
            ..Default::default()
        }
        .filter(now)
        .unwrap_err();
        assert!(e.0.starts_with("outcome=\"won\""), "{e}");
        let e = CallsQuery {
            page: Some("0".into()),
            ..Default::default()
        }
        .filter(now)
        .unwrap_err();
        assert!(e.0.starts_with("page="), "{e}");
        let e = CallsQuery {
            per_page: Some("100000".into()),
            ..Default::default()
        }
        .filter(now)
        .unwrap_err();
        assert!(e.0.starts_with("per_page="), "{e}");
    }

    #[test]
    fn filters_and_paging() {
        let now = at("2026-12-08T12:00:00Z");
        let f = CallsQuery {
            outcome: Some("transferred".into()),
            intent: Some(" ".into()),
            q: Some("parcel".into()),
            page: Some("3".into()),
            per_page: Some("20".into()),
            ..Default::default()
        }
        .filter(now)
        .unwrap();
        assert_eq!(f.outcome, Some(Outcome::Transferred));
        assert_eq!(f.intent, None);
        assert_eq!(f.text.as_deref(), Some("parcel"));
        assert_eq!((f.offset, f.limit), (40, 20));
        assert_eq!(CallsQuery::page_of(&f), 3);
    }
}
