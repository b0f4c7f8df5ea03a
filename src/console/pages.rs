//! The console's HTML pages (maud, inline CSS, no JavaScript): overview, call list, call,
//! funnel.

use std::time::SystemTime;

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{DOCTYPE, Markup, html};

use super::api;
use super::auth::Principal;
use super::charts;
use super::funnel::Funnel;
use super::kpis::Kpis;
use super::queries::{CallsQuery, PeriodQuery};
use super::voc::Voc;
use super::{ConsoleError, ConsoleState};
use crate::records::{CallRecord, Outcome, TranscriptLine};
use ivr_dialog::Speaker;

pub(super) const CSS: &str = "
body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#1f3b5c;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none}header .user{margin-left:auto;opacity:.8}
main{padding:16px 20px;max-width:1100px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.tile{background:#fff;border:1px solid #d8dee6;border-radius:6px;padding:10px 14px;min-width:140px}
.tile .v{font-size:1.6em;font-weight:600}.tile .l{font-size:.85em;color:#55606e}
table{border-collapse:collapse;background:#fff;margin:8px 0}
td,th{border:1px solid #d8dee6;padding:4px 8px;text-align:left;font-size:.92em}
th{background:#eef2f6}tr.bot td{background:#f8fafc}
.interrupted{color:#a33;font-weight:600}.zh{color:#667;font-size:.9em}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin:8px 0}
form.filters label{display:flex;flex-direction:column;font-size:.85em}
.chart{background:#fff;border:1px solid #d8dee6}
.sev-critical{color:#fff;background:#a12}.sev-major{color:#a12}.sev-minor{color:#a60}
.bar{display:inline-block;height:10px;background:#4a7bb0;vertical-align:middle}
";

/// A label in English with its Chinese beside it.
pub(super) fn label(en: &str, zh: &str) -> Markup {
    html! { (en) " " span.zh { (zh) } }
}

fn layout(title: &str, user: &Principal, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - ivr console" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { "ivr console " span.zh { "分析控制台" } }
                    a href="/console/" { (label("Overview", "概览")) }
                    a href="/console/calls" { (label("Calls", "通话")) }
                    a href="/console/funnel" { (label("Funnel", "流程漏斗")) }
                    a href="/console/voc" { (label("Voice of the customer", "客户之声")) }
                    span.user { (user.name) " (" (user.role.as_str()) ")" }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.0} ms"))
}

fn period_form(action: &str, q: &PeriodQuery, extra: Markup) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let language = v(&q.language);
    html! {
        form.filters method="get" action=(action) {
            label { (label("Since", "开始")) input type="text" name="since" value=(v(&q.since)) placeholder="2026-12-01"; }
            label { (label("Until", "结束")) input type="text" name="until" value=(v(&q.until)) placeholder="2026-12-07"; }
            label { (label("Language", "语言")) select name="language" {
                option value="" { "any" }
                option value="en" selected[language == "en"] { "English" }
                option value="zh" selected[language == "zh"] { "中文" }
            } }
            label { (label("Flow", "流程")) input type="text" name="flow" value=(v(&q.flow)); }
            (extra)
            button type="submit" { (label("Apply", "应用")) }
        }
    }
}

fn tile(id: &str, value: String, en: &str, zh: &str) -> Markup {
    html! { div.tile { div.v id=(id) { (value) } div.l { (label(en, zh)) } } }
}

/// The overview's KPI tiles, chart and tables (also the report's). With `period`
/// (since, until), names link to the filtered call list; without (a file), they are text.
pub(super) fn kpi_sections(k: &Kpis, period: Option<(&str, &str)>) -> Markup {
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let link = |href: &str, text: &str| match period {
        Some((since, until)) => {
            html! { a href=(format!("{href}&since={}&until={}", url(since), url(until))) { (text) } }
        }
        None => html! { (text) },
    };
    html! {
    div.tiles {
        (tile("kpi-calls", k.calls.to_string(), "Calls", "通话量"))
        (tile("kpi-containment", pct(k.containment_rate), "Containment", "自助解决率"))
        (tile("kpi-transfer", pct(k.transfer_rate), "Transferred", "转人工率"))
        (tile("kpi-abandonment", pct(k.abandonment_rate), "Abandoned", "放弃率"))
        (tile("kpi-aht", k.average_handle_time_s.map_or_else(|| "-".into(), |s| format!("{s:.1} s")), "Avg handle time", "平均处理时长"))
        (tile("kpi-latency-p50", ms(k.latency_p50_ms), "Latency p50", "响应延迟 p50"))
        (tile("kpi-latency-p95", ms(k.latency_p95_ms), "Latency p95", "响应延迟 p95"))
        (tile("kpi-csat", k.csat.map_or_else(|| "-".into(), |c| format!("{c:.2} / 5 ({})", k.csat_responses)), "CSAT", "满意度"))
        (tile("kpi-qa", k.qa_average_score.map_or_else(|| "-".into(), |s| format!("{s:.1}")), "Avg QA score", "平均质检分"))
    }
    h2 { (label("Calls by hour of day (UTC)", "每小时通话量")) }
    (charts::bar_chart("Calls by hour of day (UTC)", &hours, &k.calls_by_hour))
    h2 { (label("Transfers by hand-off reason", "转人工原因")) }
    @if k.transfer_rate_by_reason.is_empty() { p { "No transfers." } }
    @else {
        table id="transfer-reasons" {
            tr { th { "Reason" } th { "Share of calls" } }
            @for (reason, share) in &k.transfer_rate_by_reason { tr { td { (reason) } td { (pct(*share)) } } }
        }
    }
    h2 { (label("Quality inspection flags", "质检问题")) }
    @if k.qa_flags.is_empty() { p { "No call flagged." } }
    @else {
        table id="qa-flags" {
            tr { th { "Rule" } th { "Calls" } }
            @for (rule, n) in &k.qa_flags {
                tr {
                    td { (link(&format!("/console/calls?qa={}", url(rule)), rule)) }
                    td { (n) }
                }
            }
        }
    }
    h2 { (label("Top knowledge-base answers", "热门知识库问答")) }
    @if k.top_faqs.is_empty() { p { "No FAQ answered." } }
    @else {
        table id="top-faqs" {
            tr { th { "FAQ" } th { "Calls" } }
            @for (faq, n) in &k.top_faqs { tr { td { (faq) } td { (n) } } }
        }
    }
    h2 { (label("Top intents", "热门意图")) }
    @if k.top_intents.is_empty() { p { "No intents." } }
    @else {
        table id="top-intents" {
            tr { th { "Intent" } th { "Calls" } }
            @for (intent, n) in &k.top_intents {
                tr {
                    td { (link(&format!("/console/calls?intent={}", url(intent)), intent)) }
                    td { (n) }
                }
            }
        }
    }
    }
}

pub async fn overview(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<PeriodQuery>,
) -> Result<Markup, ConsoleError> {
    let scope = q.scope(SystemTime::now())?;
    let period = scope.period;
    let k = api::kpis_of(&s, scope).await?;
    let since = crate::records::rfc3339(period.since);
    let until = crate::records::rfc3339(period.until);
    let body = html! {
        (period_form("/console/", &q, html! {}))
        p { "Period " span.zh { "时段" } ": " span id="period" { (since) " - " (until) } }
        (kpi_sections(&k, Some((&since, &until))))
    };
    Ok(layout("Overview", &user, body))
}

pub async fn calls(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<CallsQuery>,
) -> Result<Markup, ConsoleError> {
    let filter = q.filter(SystemTime::now())?;
    let page_no = CallsQuery::page_of(&filter);
    let page = api::list(&s, &user, &q).await?;
    let pages = page.total.div_ceil(filter.limit).max(1);
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let outcome_sel = v(&q.outcome);
    let extra = html! {
        label { (label("Outcome", "结果")) select name="outcome" {
            option value="" { "any" }
            @for o in [Outcome::Contained, Outcome::Transferred, Outcome::Abandoned, Outcome::Failed] {
                option value=(o.as_str()) selected[outcome_sel == o.as_str()] { (o.as_str()) }
            }
        } }
        label { (label("Intent", "意图")) input type="text" name="intent" value=(v(&q.intent)); }
        label { (label("Text in transcript", "转写文本")) input type="text" name="q" value=(v(&q.q)); }
        label { (label("QA flag", "质检问题")) input type="text" name="qa" value=(v(&q.qa)) placeholder="dead_air"; }
        label { (label("QA score from", "质检分 从")) input type="number" name="min_score" min="0" max="100" value=(v(&q.min_score)); }
        label { (label("to", "到")) input type="number" name="max_score" min="0" max="100" value=(v(&q.max_score)); }
    };
    let query = calls_query_string(&q);
    let link = |p: usize| format!("/console/calls?{query}&page={p}&per_page={}", filter.limit);
    let body = html! {
        (period_form("/console/calls", &PeriodQuery::from(&q), extra))
        p {
            span id="calls-total" { (page.total) } " calls " span.zh { "通话" } ", page " (page_no) " of " (pages)
            " · " a id="csv" href=(format!("/api/calls.csv?{query}")) { (label("Export CSV", "导出 CSV")) }
        }
        table id="calls" {
            tr { th { "Started" } th { "Caller" } th { "Language" } th { "Outcome" } th { "Duration" } th { "Hand-off" } th { "Intents" } th { "QA" } }
            @for c in &page.calls {
                tr.call {
                    td { a href=(format!("/console/calls/{}", url(&c.id))) { (c.started_at) } }
                    td { (c.caller) }
                    td { (c.language.as_deref().unwrap_or("")) }
                    td.outcome { (c.outcome.as_str()) }
                    td { (format!("{:.1} s", c.duration_s)) }
                    td { (c.handoff_reason.as_deref().unwrap_or("")) }
                    td { (c.intents.join(", ")) }
                    td.qa title=(c.qa_flags.join(", ")) { (c.qa_score.map_or_else(|| "-".into(), |s| s.to_string())) }
                }
            }
        }
        p {
            @if page_no > 1 { a rel="prev" href=(link(page_no - 1)) { "< previous" } " " }
            @if page_no < pages { a rel="next" href=(link(page_no + 1)) { "next >" } }
        }
    };
    Ok(layout("Calls", &user, body))
}

pub async fn call(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Markup, ConsoleError> {
    let (r, lines) = api::one_call(&s, &user, &id).await?;
    let body = html! {
        (summary(&r))
        h2 { (label("Quality inspection", "质检评分")) }
        (scorecard(&r))
        @if r.audio_path.is_some() {
            h2 { (label("Recording (caller left, bot right)", "录音")) }
            // The one script on the page: the player shows the length it decoded.
            audio id="recording" controls preload="metadata" src=(format!("/console/calls/{}/audio.wav", url(&r.id)))
                onloadedmetadata="document.getElementById('recording-length').textContent=this.duration.toFixed(1)+' s'" {}
            " " span id="recording-length" {}
        }
        h2 { (label("Transcript", "转写")) }
        (transcript(&lines))
        h2 { (label("Slots", "槽位")) }
        @match r.slots.as_object() {
            Some(o) if !o.is_empty() => table id="slots" {
                @for (k, v) in o { tr { th { (k) } td { (v.as_str().map_or_else(|| v.to_string(), str::to_string)) } } }
            },
            _ => p { "None." },
        }
        h2 { (label("Turn latency", "每轮延迟")) }
        table id="latency" {
            tr { th { "Turn" } th { "ASR" } th { "Dialog" } th { "First audio" } th { "From cache" } }
            @for t in &r.turns {
                tr { td { (t.turn) } td { (ms(t.asr_ms)) } td { (ms(t.dialog_ms)) } td { (ms(t.first_audio_ms)) } td { (if t.cached { "yes" } else { "no" }) } }
            }
        }
    };
    Ok(layout(&format!("Call {}", r.id), &user, body))
}

/// The filters of a calls query as a query string (for paging and the CSV link).
fn calls_query_string(q: &CallsQuery) -> String {
    let v = |o: &Option<String>| url(o.as_deref().unwrap_or(""));
    format!(
        "since={}&until={}&language={}&flow={}&outcome={}&intent={}&q={}&qa={}&min_score={}&max_score={}",
        v(&q.since),
        v(&q.until),
        v(&q.language),
        v(&q.flow),
        v(&q.outcome),
        v(&q.intent),
        v(&q.q),
        v(&q.qa),
        v(&q.min_score),
        v(&q.max_score)
    )
}

fn scorecard(r: &CallRecord) -> Markup {
    html! {
        @match &r.qa {
            None => p id="qa-score" { "Not scored yet (" code { "ivr qa rescore" } ")." },
            Some(card) => {
                p { (label("Score", "得分")) ": " strong id="qa-score" { (card.score) } " / 100 "
                    span.zh { "(rules " (card.rules) ")" } }
                @if card.flags.is_empty() { p { "No rule flagged this call. " span.zh { "无质检问题" } } }
                @else {
                    table id="qa-flags" {
                        tr { th { "Rule" } th { "Severity" } th { "Points" } th { "What was seen" } th { "At (s)" } }
                        @for f in &card.flags {
                            tr.flag {
                                td.rule { (f.rule) }
                                td class=(format!("sev-{}", f.severity.as_str())) { (f.severity.as_str()) }
                                td { "-" (f.weight) }
                                td { (f.detail) }
                                td { (f.at_s.map_or_else(String::new, |s| format!("{s:.1}"))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn funnel_sections(f: &Funnel) -> Markup {
    let widest = f.nodes.first().map_or(1, |n| n.reached.max(1));
    html! {
        p { "For each flow node: the calls that reached it, and the calls that ended there. "
            span.zh { "每个流程节点：到达的通话数，以及在此结束的通话数。" } }
        p { span id="funnel-calls" { (f.calls) } " calls" @if f.without_path > 0 { ", " (f.without_path) " without a node path (failed early or recorded before paths)" } }
        table id="funnel" {
            tr { th { (label("Node", "节点")) } th { (label("Reached", "到达")) } th {}
                 th { (label("Contained here", "在此自助完成")) } th { (label("Transferred here", "在此转人工")) }
                 th { (label("Hung up here", "在此挂断")) } th { (label("Failed here", "在此失败")) }
                 th { (label("Escalated from here", "在此升级")) } }
            @for n in &f.nodes {
                tr.node data-node=(n.node) {
                    td { (n.node) }
                    td.reached { (n.reached) }
                    td { span.bar style=(format!("width:{}px", 1 + n.reached * 200 / widest)) {} }
                    td { (n.contained) }
                    td { (n.transferred) }
                    td.abandoned { (n.abandoned) }
                    td { (n.failed) }
                    td.escalated { (n.escalated) }
                }
            }
        }
    }
}

pub(super) fn voc_sections(v: &Voc) -> Markup {
    let day_labels: Vec<String> = v
        .days
        .iter()
        .map(|d| d.day.get(5..).unwrap_or(&d.day).to_string())
        .collect();
    let day_calls: Vec<usize> = v.days.iter().map(|d| d.calls).collect();
    let hottest = v.keywords.first().map_or(1, |k| k.calls.max(1));
    let sentiment = |x: f32| format!("{x:+.2}");
    html! {
        p { span id="voc-calls" { (v.calls) } " calls · caller speech rate "
            (v.speech_rate_wps.map_or_else(|| "-".into(), |w| format!("{w:.2} words/s"))) }
        h2 { (label("Topics", "话题")) }
        table id="voc-topics" {
            tr { th { "Topic (intent)" } th { "Calls" } th { (label("Avg sentiment", "平均情绪")) } th { (label("Negative", "负面占比")) } th { (label("Speech rate", "语速")) } }
            @for t in &v.topics {
                tr.topic data-topic=(t.name) {
                    td { (t.name) } td.calls { (t.calls) } td { (sentiment(t.average_sentiment)) }
                    td { (pct(t.negative_share as f64)) }
                    td { (t.speech_rate_wps.map_or_else(|| "-".into(), |w| format!("{w:.2}"))) }
                }
            }
        }
        h2 { (label("Keyword heat (caller words)", "关键词热度")) }
        @if v.keywords.is_empty() { p { "No caller words in this period." } }
        @else {
            table id="voc-keywords" {
                tr { th { "Keyword" } th { "Calls" } th {} th { (label("Avg sentiment", "平均情绪")) } }
                @for k in &v.keywords {
                    tr.keyword data-keyword=(k.name) {
                        td { (k.name) } td.calls { (k.calls) }
                        td { span.bar style=(format!("width:{}px", 1 + k.calls * 200 / hottest)) {} }
                        td { (sentiment(k.average_sentiment)) }
                    }
                }
            }
        }
        h2 { (label("Calls per day", "每日通话量")) }
        (charts::bar_chart("Calls per day", &day_labels, &day_calls))
        table id="voc-days" {
            tr { th { "Day" } th { "Calls" } th { (label("Avg sentiment", "平均情绪")) } th { "Top topics" } }
            @for d in &v.days {
                tr { td { (d.day) } td { (d.calls) } td { (sentiment(d.average_sentiment)) }
                     td { (d.topics.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")) } }
            }
        }
        h2 { (label("Caller speech rate", "来电者语速")) }
        table id="voc-rates" {
            tr { th { "Band" } th { "Calls" } }
            @for (band, n) in &v.speech_rate_bands { tr { td { (band) } td { (n) } } }
        }
        h2 { (label("What the bot did not understand", "未识别的来电诉求")) }
        p { "The learning loop: add these as intent examples or FAQ questions. "
            code { "ivr nlu-misses" } " groups them by meaning." }
        @if v.unmatched.is_empty() { p { "Nothing unmatched." } }
        @else {
            table id="voc-unmatched" {
                tr { th { "Caller said" } th { "Times" } }
                @for (text, n) in &v.unmatched { tr { td { (text) } td { (n) } } }
            }
        }
    }
}

pub async fn funnel(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<PeriodQuery>,
) -> Result<Markup, ConsoleError> {
    let f = api::funnel_of(&s, &q).await?;
    let body = html! {
        (period_form("/console/funnel", &q, html! {}))
        (funnel_sections(&f))
    };
    Ok(layout("Funnel", &user, body))
}

pub async fn voc(
    State(s): State<ConsoleState>,
    Extension(user): Extension<Principal>,
    Query(q): Query<PeriodQuery>,
) -> Result<Markup, ConsoleError> {
    let v = api::voc_of(&s, &user, &q).await?;
    let body = html! {
        (period_form("/console/voc", &q, html! {}))
        (voc_sections(&v))
    };
    Ok(layout("Voice of the customer", &user, body))
}

fn summary(r: &CallRecord) -> Markup {
    html! {
        table id="summary" {
            tr { th { (label("Started", "开始时间")) } td { (r.started_at) } }
            tr { th { (label("Caller", "来电号码")) } td { (r.caller) } }
            tr { th { (label("Called", "被叫")) } td { (r.called) } }
            tr { th { (label("Duration", "时长")) } td { (format!("{:.1} s", r.duration_s)) } }
            tr { th { (label("Outcome", "结果")) } td id="outcome" { (r.outcome.as_str()) } }
            tr { th { (label("Hand-off", "转接")) } td id="handoff" {
                (r.handoff_reason.as_deref().unwrap_or("-"))
                @if let Some(t) = &r.handoff_target { " -> " (t) }
            } }
            tr { th { (label("Language", "语言")) } td id="language" { (r.language.map_or("-", |l| l.code())) } }
            tr { th { (label("Flow path", "流程路径")) } td id="path" { (r.path.join(" > ")) } }
            tr { th { (label("Intents", "意图")) } td id="intents" { (r.intents.join(", ")) } }
            @if !r.faqs.is_empty() { tr { th { (label("FAQ answered", "知识库问答")) } td id="faqs" { (r.faqs.join(", ")) } } }
            @if let Some(c) = r.csat { tr { th { (label("Rating", "满意度评分")) } td id="csat" { (c) " / 5" } } }
            tr { th { (label("Sentiment", "情绪")) } td { (format!("{:.2}", r.sentiment)) } }
            @if let Some(e) = &r.error { tr { th { "Error" } td { (e) } } }
        }
    }
}

fn transcript(lines: &[TranscriptLine]) -> Markup {
    let barge_ins = lines.iter().filter(|l| l.interrupted).count();
    html! {
        p { "Barge-ins " span.zh { "打断" } ": " span id="barge-ins" { (barge_ins) } }
        table id="transcript" {
            tr { th { "Time (s)" } th { "Speaker" } th { "Text" } th { "Confidence" } th { "Intent" } }
            @for l in lines {
                @let bot = l.speaker == Speaker::Bot;
                tr.line.bot[bot] {
                    td { (format!("{:.2} - {:.2}", l.start, l.end)) }
                    td.speaker { @if bot { (label("Bot", "机器人")) } @else { (label("Caller", "来电者")) } }
                    td.text {
                        (l.text)
                        @if l.interrupted { " " span.interrupted { "[interrupted 被打断]" } }
                    }
                    td { (l.confidence.map_or_else(String::new, |c| format!("{c:.2}"))) }
                    td { (l.intent.as_deref().unwrap_or("")) }
                }
            }
        }
    }
}

/// Characters kept as they are in a query or path value (RFC 3986 unreserved).
const KEEP_IN_URL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode a query or path value.
fn url(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, KEEP_IN_URL).to_string()
}
