//! `ivr report`: the console's KPIs, QA flags, funnel and voice of the customer for a
//! period as one self-contained HTML file (inline CSS and SVG, no links to fetch), for
//! e-mailing to a manager. Digit strings are masked as for analysts: a file travels.

use anyhow::Result;
use maud::{DOCTYPE, html};

use super::Role;
use super::funnel::Funnel;
use super::kpis::Kpis;
use super::pages::{self, CSS, label};
use super::voc::Voc;
use crate::records::{RecordStore, Scope, rfc3339};

/// The report's HTML for the calls in `scope`.
pub fn report_html(store: &RecordStore, scope: &Scope) -> Result<String> {
    let k = Kpis::compute(&store.kpi_rows(scope)?);
    let f = Funnel::compute(&store.path_rows(scope)?);
    // A file travels: masked as for the least trusted reader.
    let v = super::masking::voc_for(Role::Analyst, Voc::compute(&store.voc_rows(scope)?));
    let since = rfc3339(scope.period.since);
    let until = rfc3339(scope.period.until);
    let filters = [
        scope.language.map(|l| format!("language {l}")),
        scope.flow.as_ref().map(|f| format!("flow {f}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "ivr report " (since) " - " (until) }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header { strong { "ivr report " span.zh { "运营报告" } } }
                main {
                    h1 { (label("Contact-centre report", "联络中心报告")) }
                    p { "Calls that started from " strong id="period" { (since) } " to " strong { (until) }
                        @if !filters.is_empty() { " (" (filters) ")" }
                        ". Generated " (rfc3339(std::time::SystemTime::now())) "." }
                    (pages::kpi_sections(&k, None))
                    h1 { (label("Funnel", "流程漏斗")) }
                    (pages::funnel_sections(&f))
                    h1 { (label("Voice of the customer", "客户之声")) }
                    (pages::voc_sections(&v))
                }
            }
        }
    };
    Ok(doc.into_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::console::test_data;
    use crate::records::Period;

    #[test]
    fn one_self_contained_file_with_the_numbers_and_no_digits() {
        let dir = test_data::tmp_dir("report");
        let (store, _) = test_data::store_with_calls(&dir);
        let now = SystemTime::now();
        let scope = Scope::period(Period {
            since: now - Duration::from_secs(7 * 86_400),
            until: now,
        });
        let html = report_html(&store, &scope).unwrap();
        assert!(html.contains(r#"id="kpi-calls">5<"#), "{html}");
        assert!(html.contains(r#"id="funnel-calls">5<"#), "{html}");
        assert!(html.contains(r#"data-keyword="fridge""#), "{html}");
        assert!(html.contains("<svg"), "charts inline");
        for outside in ["href=", "src=", "<script", "<link"] {
            assert!(
                !html.contains(outside),
                "{outside} in a self-contained report"
            );
        }
        assert!(!html.contains("8 7 6 5 4 3 2 1") && html.contains("****4321"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
