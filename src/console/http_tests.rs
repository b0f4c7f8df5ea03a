//! The console router in-process: closed without credentials, pages and API with them,
//! masking by role, filters, 404 and 400.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use tower::ServiceExt;

use super::test_data::{self, ANALYST, SUPERVISOR, TOKEN, TRACKING};

fn app(tag: &str) -> (Router, std::path::PathBuf) {
    let dir = test_data::tmp_dir(tag);
    let (store, _) = test_data::store_with_calls(&dir);
    (
        super::build(store, test_data::users(), crate::qa::QaRules::embedded()),
        dir,
    )
}

fn basic((user, pass): (&str, &str)) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

async fn get(
    app: &Router,
    uri: &str,
    auth: Option<String>,
) -> (StatusCode, Option<String>, Vec<u8>, Option<String>) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let challenge = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    (status, ctype, body, challenge)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ROUTES: &[&str] = &[
    "/console",
    "/console/",
    "/console/calls",
    "/console/calls?outcome=transferred",
    "/console/calls/call-track",
    "/console/calls/call-track/audio.wav",
    "/api/kpis",
    "/api/calls",
    "/api/calls/call-track",
    "/console/funnel",
    "/console/voc",
    "/api/voc",
    "/api/qa",
    "/api/funnel",
    "/api/calls.csv",
    "/api/calls.csv?outcome=transferred",
    "/console/calls/no-such-call",
    "/api/calls/no-such-call",
];

#[tokio::test]
async fn every_route_is_401_without_valid_credentials() {
    let (app, dir) = app("auth");
    for route in ROUTES {
        for auth in [
            None,
            Some(basic((ANALYST.0, "wrong"))),
            Some(basic(("nobody", ANALYST.1))),
            Some("Bearer x".to_string()),
            Some(format!("Bearer {TOKEN}x")),
        ] {
            let (status, _, body, challenge) = get(&app, route, auth.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{route} with {auth:?}");
            assert!(
                challenge
                    .as_deref()
                    .is_some_and(|c| c.starts_with("Basic realm=")),
                "{route}: {challenge:?}"
            );
            assert!(!text(&body).contains("call-track"), "{route} leaks data");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn every_route_answers_with_credentials() {
    let (app, dir) = app("ok");
    for route in ROUTES {
        let (status, ctype, body, _) = get(&app, route, Some(basic(ANALYST))).await;
        let expected = if route.contains("no-such-call") {
            StatusCode::NOT_FOUND
        } else if *route == "/console" {
            StatusCode::PERMANENT_REDIRECT
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{route}: {}", text(&body));
        if expected == StatusCode::OK {
            let ctype = ctype.unwrap_or_default();
            let want = if route.ends_with(".wav") {
                "audio/wav"
            } else if route.contains(".csv") {
                "text/csv"
            } else if route.starts_with("/api/") {
                "application/json"
            } else {
                "text/html"
            };
            assert!(ctype.starts_with(want), "{route}: {ctype}");
        }
    }
    let (_, _, wav, _) = get(
        &app,
        "/console/calls/call-track/audio.wav",
        Some(basic(ANALYST)),
    )
    .await;
    assert_eq!(&wav[..4], b"RIFF");
    let spec = hound::WavReader::new(std::io::Cursor::new(wav))
        .unwrap()
        .spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn digits_masked_for_analysts_shown_to_supervisors() {
    let (app, dir) = app("mask");
    for route in [
        "/console/calls/call-track",
        "/api/calls/call-track",
        "/api/calls",
        "/console/calls",
        "/api/calls.csv",
    ] {
        let (_, _, body, _) = get(&app, route, Some(basic(ANALYST))).await;
        let body = text(&body);
        assert!(!body.contains(TRACKING), "{route}: analyst sees {TRACKING}");
        assert!(
            !body.contains("1 2 3 4 5 6 7 8"),
            "{route}: analyst sees spoken digits"
        );
        assert!(
            !body.contains("87654321"),
            "{route}: analyst sees the caller number"
        );
        if route.ends_with("call-track") {
            assert!(body.contains("****5678"), "{route}: {body}");
        }
    }
    let (_, _, body, _) = get(&app, "/api/calls/call-track", Some(basic(SUPERVISOR))).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["record"]["slots"]["tracking_number"], TRACKING);
    assert_eq!(v["record"]["caller"], "+4915187654321");
    assert_eq!(v["transcript"][3]["text"], "1 2 3 4 5 6 7 8");
    let (_, _, body, _) = get(&app, "/console/calls/call-track", Some(basic(SUPERVISOR))).await;
    assert!(text(&body).contains(TRACKING));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn kpis_and_filters() {
    let (app, dir) = app("kpis");
    let (_, _, body, _) = get(&app, "/api/kpis", Some(basic(ANALYST))).await;
    let k: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(k["calls"], 5, "{k}");
    assert_eq!(k["containment_rate"], 0.4);
    assert_eq!(k["abandonment_rate"], 0.2);
    assert_eq!(k["transfer_rate_by_reason"]["repeated no match"], 0.2);
    assert_eq!(k["latency_p95_ms"], 900.0);
    // A period that reaches back 40 days includes the old call.
    let since = crate::records::rfc3339(
        std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400),
    );
    let (_, _, body, _) = get(
        &app,
        &format!("/api/kpis?since={since}"),
        Some(basic(ANALYST)),
    )
    .await;
    let k: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(k["calls"], 6);

    let total = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap()["total"].clone();
    for (query, want) in [
        ("", 5),
        ("?outcome=transferred", 2),
        ("?outcome=contained&intent=track_parcel", 1),
        ("?intent=track", 0),
        ("?q=FRIDGE", 1),
        ("?q=parcel", 1),
        ("?q=nothing-like-this", 0),
        ("?per_page=2&page=3", 5),
    ] {
        let (status, _, body, _) =
            get(&app, &format!("/api/calls{query}"), Some(basic(ANALYST))).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(total(&body), want, "{query}");
    }
    let (_, _, body, _) = get(&app, "/api/calls?per_page=2&page=3", Some(basic(ANALYST))).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["calls"].as_array().unwrap().len(), 1);
    assert_eq!(v["calls"][0]["id"], "call-gone", "oldest last");
    let (_, _, body, _) = get(&app, "/api/kpis?language=zh", Some(basic(ANALYST))).await;
    let k: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (k["calls"].clone(), k["containment_rate"].clone()),
        (1.into(), 1.0.into())
    );
    let (_, _, body, _) = get(&app, "/api/kpis?flow=parcel", Some(basic(ANALYST))).await;
    let k: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(k["calls"], 4);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn bad_query_values_are_400_with_the_reason() {
    let (app, dir) = app("bad");
    for (uri, needle) in [
        ("/api/calls?outcome=won", "outcome=\"won\""),
        ("/console/calls?since=yesterday", "since=\"yesterday\""),
        ("/api/kpis?until=2020-13-45", "until="),
        ("/console/?since=2026-12-09&until=2026-12-01", "before"),
        ("/api/calls?page=0", "page="),
        ("/api/calls?min_score=high", "min_score="),
        ("/api/calls?max_score=101", "max_score="),
        ("/api/kpis?language=fr", "language=\"fr\""),
        ("/api/calls.csv?outcome=won", "outcome="),
    ] {
        let (status, _, body, _) = get(&app, uri, Some(basic(ANALYST))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(text(&body).contains(needle), "{uri}: {}", text(&body));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn pages_show_the_numbers() {
    let (app, dir) = app("pages");
    let (_, _, body, _) = get(&app, "/console/", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(
        html.contains(r#"<div class="v" id="kpi-calls">5</div>"#),
        "{html}"
    );
    assert!(html.contains(r#"id="kpi-containment">40.0%<"#), "{html}");
    assert!(html.contains("<svg"), "chart");
    let (_, _, body, _) = get(&app, "/console/calls/call-track", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(
        html.contains("I&#39;d like to track my parcel")
            || html.contains("I'd like to track my parcel"),
        "{html}"
    );
    assert!(html.contains(r#"<span id="barge-ins">1</span>"#), "{html}");
    assert!(html.contains("<audio"), "{html}");
    assert!(html.contains("700 ms"), "latency table: {html}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn every_call_is_inspected_and_filterable_by_its_flags() {
    let (app, dir) = app("qa");
    let (_, _, body, _) = get(&app, "/api/qa", Some(basic(ANALYST))).await;
    let qa: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(qa["scored"], 5, "{qa}");
    assert_eq!(qa["rules_version"], crate::qa::QaRules::embedded().version);
    let calls = |rule: &str| {
        qa["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == rule)
            .map(|r| r["calls"].clone())
    };
    assert_eq!(calls("transfer_after_no_match"), Some(1.into()));
    assert_eq!(calls("abandoned_in_lookup"), Some(1.into()));
    assert_eq!(calls("caller_repeated"), Some(1.into()));
    assert_eq!(calls("forbidden_phrase"), Some(0.into()));
    let bands: u64 = qa["score_bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(bands, 5);

    let total = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap()["total"].clone();
    for (query, want) in [
        ("?qa=abandoned_in_lookup", 1),
        ("?qa=caller_repeated&outcome=transferred", 1),
        ("?qa=dead_air", 0),
        ("?min_score=100", 3),
        ("?max_score=89", 2),
        ("?min_score=80&max_score=80", 1),
        ("?min_score=60&max_score=70", 1),
        ("?min_score=81&max_score=99", 0),
        ("?language=zh", 1),
        ("?language=en&flow=parcel", 4),
    ] {
        let (status, _, body, _) =
            get(&app, &format!("/api/calls{query}"), Some(basic(ANALYST))).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(total(&body), want, "{query}");
    }
    // The call page shows the scorecard, the overview the flags.
    let (_, _, body, _) = get(&app, "/console/calls/call-nomatch", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(
        html.contains(r#"<strong id="qa-score">65</strong>"#),
        "{html}"
    );
    assert!(
        html.contains("transfer_after_no_match") && html.contains("caller_repeated"),
        "{html}"
    );
    let (_, _, body, _) = get(&app, "/console/", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(html.contains(r#"id="qa-flags""#), "{html}");
    assert!(
        html.contains("/console/calls?qa=abandoned_in_lookup"),
        "{html}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn csv_export_follows_the_filters() {
    let (app, dir) = app("csv");
    let (_, _, body, _) = get(
        &app,
        "/api/calls.csv?outcome=transferred",
        Some(basic(SUPERVISOR)),
    )
    .await;
    let mut rows = csv::Reader::from_reader(body.as_slice());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "id");
    assert_eq!(&header[8], "qa_score");
    let ids: Vec<String> = rows.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(ids, vec!["call-agent", "call-nomatch"]);
    // A hand-off reason with spaces and a caller number survive quoting intact.
    let body = text(&body);
    assert!(
        body.contains("repeated no match") && body.contains("+4915187654321"),
        "{body}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn funnel_counts_where_calls_went_and_left() {
    let (app, dir) = app("funnel");
    let (_, _, body, _) = get(&app, "/api/funnel", Some(basic(ANALYST))).await;
    let f: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(f["calls"], 5, "{f}");
    let node = |n: &str| {
        f["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["node"] == n)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(node("greeting")["reached"], 5);
    assert_eq!(node("track_lookup")["reached"], 2);
    assert_eq!(node("track_lookup")["abandoned"], 1);
    assert_eq!(node("agent")["transferred"], 2);
    assert_eq!(node("greeting")["escalated"], 1);
    let (_, _, body, _) = get(&app, "/console/funnel?language=zh", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(
        html.contains(r#"<span id="funnel-calls">1</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"data-node="hours""#), "{html}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn voice_of_the_customer_topics_keywords_and_misses() {
    let (app, dir) = app("voc");
    let (_, _, body, _) = get(&app, "/api/voc", Some(basic(SUPERVISOR))).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["calls"], 5, "{v}");
    let names = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names("topics").contains(&"track_parcel".to_string()), "{v}");
    let keywords = names("keywords");
    for k in ["parcel", "fridge", "开门"] {
        assert!(keywords.contains(&k.to_string()), "{k}: {keywords:?}");
    }
    assert!(
        !keywords.iter().any(|k| k == "thank" || k == "goodbye"),
        "{keywords:?}"
    );
    // The same request said twice counts twice, under its first wording.
    assert_eq!(
        v["unmatched"][0],
        serde_json::json!(["my fridge is broken", 2]),
        "{v}"
    );
    assert_eq!(v["speech_rate_wps"], 2.0);
    let (_, _, body, _) = get(&app, "/api/voc?language=zh", Some(basic(SUPERVISOR))).await;
    let zh: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(zh["calls"], 1);
    // Analysts never see a digit string, even in what the bot failed to understand.
    for route in ["/api/voc", "/console/voc"] {
        let (_, _, body, _) = get(&app, route, Some(basic(ANALYST))).await;
        let body = text(&body);
        assert!(body.contains("****4321"), "{route}: {body}");
        assert!(!body.contains("8 7 6 5 4 3 2 1"), "{route}");
    }
    let (_, _, body, _) = get(&app, "/console/voc", Some(basic(ANALYST))).await;
    let html = text(&body);
    assert!(html.contains(r#"data-keyword="fridge""#), "{html}");
    assert!(html.contains("<svg"), "calls per day chart");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_api_client_with_a_bearer_token_sees_what_its_role_allows() {
    let (app, dir) = app("bearer");
    let (status, _, body, _) = get(&app, "/api/calls.csv", Some(format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
    let body = text(&body);
    assert!(
        body.contains("call-track") && !body.contains("87654321"),
        "{body}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
