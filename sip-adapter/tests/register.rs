//! REGISTER to a trunk, against SIPp acting as the registrar (fixtures/sipp/registrar_*.xml).

mod common;

use std::time::{Duration, Instant};

use common::*;
use ivr_sip::{RegisterConfig, RegistrationStatus, SipServer};

fn config_for(registrar_port: u16, password: &str) -> ivr_sip::SipConfig {
    let mut cfg = test_config();
    cfg.register = Some(RegisterConfig {
        registrar: format!("sip:127.0.0.1:{registrar_port}"),
        user: "trunkuser".into(),
        password: password.into(),
        auth_user: None,
        // More than the registrar grants (4 s): refresh must follow the granted expiry.
        expires_s: 60,
    });
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_digest_auth_and_refresh_before_expiry() {
    let port = free_udp_port();
    let registrar = sipp_server("registrar_digest.xml", port, 10);
    // SIPp needs a moment to bind; a REGISTER sent earlier is retransmitted (T1 = 500 ms).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (server, _calls) = SipServer::start(&config_for(port, "s3cret"))
        .await
        .expect("server starts");
    let mut status = server.registration_watch();
    let t0 = Instant::now();
    let mut registered_at = Vec::new();
    let mut seen = Vec::new();
    // Initial registration, then the refresh (at 75 % of the granted 4 s).
    while registered_at.len() < 2 && t0.elapsed() < Duration::from_secs(8) {
        if tokio::time::timeout(Duration::from_millis(200), status.changed())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            let s = status.borrow_and_update().clone();
            if s.is_registered() {
                registered_at.push(t0.elapsed());
            }
            seen.push(s);
        }
    }
    let r = sipp_finish(registrar).await;
    assert_sipp_ok(&r, "registrar with digest");
    assert_eq!(registered_at.len(), 2, "statuses seen: {seen:?}");
    assert_eq!(
        server.registration_status(),
        RegistrationStatus::Registered {
            consecutive_failures: 0
        }
    );
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, RegistrationStatus::Failed { .. })),
        "{seen:?}"
    );
    // Refreshed before the granted 4 s ran out, not at the requested 60 s.
    let gap = registered_at[1] - registered_at[0];
    assert!(
        gap < Duration::from_secs(4) && gap > Duration::from_secs(2),
        "refresh {gap:?} after registering"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_wrong_password_is_refused() {
    let port = free_udp_port();
    let registrar = sipp_server("registrar_digest.xml", port, 5);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (server, _calls) = SipServer::start(&config_for(port, "wrong"))
        .await
        .expect("server starts");
    let mut status = server.registration_watch();
    let got = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if status.changed().await.is_err() {
                return None;
            }
            let s = status.borrow_and_update().clone();
            if let RegistrationStatus::Failed { status, .. } = s {
                return Some(status);
            }
        }
    })
    .await;
    assert_eq!(got, Ok(Some(403)));
    // The registrar's verifyauth rejected the digest: its run fails.
    let r = sipp_finish(registrar).await;
    assert!(!r.ok, "SIPp accepted a wrong password\n{}", r.stdout);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refused_with_403_fails_and_backs_off() {
    let port = free_udp_port();
    let registrar = sipp_server("registrar_403.xml", port, 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (server, _calls) = SipServer::start(&config_for(port, "s3cret"))
        .await
        .expect("server starts");
    let mut status = server.registration_watch();
    let t0 = Instant::now();
    // When consecutive_failures reached 1, 2, 3.
    let mut failed_at = Vec::new();
    let mut seen = Vec::new();
    while failed_at.len() < 3 && t0.elapsed() < Duration::from_secs(8) {
        if tokio::time::timeout(Duration::from_millis(200), status.changed())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            let s = status.borrow_and_update().clone();
            if let RegistrationStatus::Failed {
                status: 403,
                consecutive_failures,
                ..
            } = s
            {
                assert_eq!(
                    consecutive_failures as usize,
                    failed_at.len() + 1,
                    "{seen:?}"
                );
                failed_at.push(t0.elapsed());
            }
            seen.push(s);
        }
    }
    let r = sipp_finish(registrar).await;
    assert_sipp_ok(&r, "registrar answering 403");
    assert_eq!(failed_at.len(), 3, "statuses seen: {seen:?}");
    assert!(!server.registration_status().is_registered());
    // Backoff doubles from 1 s: the retries are ~1 s, then ~2 s apart (not immediate).
    let (g1, g2) = (failed_at[1] - failed_at[0], failed_at[2] - failed_at[1]);
    assert!(
        g1 >= Duration::from_millis(900) && g1 < Duration::from_millis(1600),
        "{g1:?}"
    );
    assert!(
        g2 >= Duration::from_millis(1900) && g2 < Duration::from_millis(2600),
        "{g2:?}"
    );
    server.shutdown();
}
