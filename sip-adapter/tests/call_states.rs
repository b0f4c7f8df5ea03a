//! The typed call states on the wire: what rejecting or dropping an offered call and
//! dropping an answered one send to the caller.

mod common;

use std::time::Duration;

use common::*;
use ivr_sip::SipServer;
use tokio::net::UdpSocket;

fn status_of(msg: &str) -> u16 {
    msg.strip_prefix("SIP/2.0 ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_sends_its_status_and_dropping_unanswered_sends_480() {
    let (server, mut calls) = SipServer::start(&test_config())
        .await
        .expect("server starts");
    let target = server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();

    sock.send_to(invite(target, me, "st-reject", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let call = calls.recv().await.expect("offered call");
    assert_eq!(call.call_id, "st-reject");
    call.reject(486, Some("busy here".into())).expect("reject");
    let got = responses(&sock, "st-reject", Duration::from_secs(2)).await;
    assert_eq!(got.last().map(|m| status_of(m)), Some(486), "{got:?}");

    sock.send_to(invite(target, me, "st-drop", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let call = calls.recv().await.expect("offered call");
    drop(call);
    let got = responses(&sock, "st-drop", Duration::from_secs(2)).await;
    assert_eq!(got.last().map(|m| status_of(m)), Some(480), "{got:?}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_of_an_answered_call_sends_bye() {
    let (server, mut calls) = SipServer::start(&test_config())
        .await
        .expect("server starts");
    let target = server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    sock.send_to(invite(target, me, "st-bye", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let call = calls.recv().await.expect("offered call");
    let answered = call
        .answer(rtp.local_addr().unwrap())
        .await
        .expect("answer");
    let clone = answered.call.clone();
    drop(answered);
    // A clone still holds the call up: no BYE yet.
    let got = messages(&sock, "st-bye", Duration::from_millis(700)).await;
    assert!(got.iter().any(|m| status_of(m) == 200), "{got:?}");
    assert!(!got.iter().any(|m| m.starts_with("BYE ")), "{got:?}");
    drop(clone);
    let got = messages(&sock, "st-bye", Duration::from_secs(2)).await;
    assert!(got.iter().any(|m| m.starts_with("BYE ")), "{got:?}");
    server.shutdown();
}
