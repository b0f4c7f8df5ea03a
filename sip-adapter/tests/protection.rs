//! Protection on the wire: 503 + Retry-After beyond the call cap and the call rate, and the
//! source allow-list (loopback 127.0.0.2 is "outside" a 127.0.0.1/32 list).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

fn options(target: SocketAddr, from: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:ivr@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:probe@{from}>;tag=p-{call_id}\r\nTo: <sip:ivr@{target}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_503_carries_retry_after() {
    let mut cfg = test_config();
    cfg.max_calls = 1;
    cfg.retry_after_s = 7;
    let bot = start_bot(Mode::NeverAnswer, cfg).await;
    let target = bot.server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    // The first call takes the only slot (ringing, never answered).
    sock.send_to(invite(target, me, "cap-1", "UDP").as_bytes(), target)
        .await
        .unwrap();
    assert!(bot.wait_for("call ", 1, Duration::from_secs(2)).await);
    sock.send_to(invite(target, me, "cap-2", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let got = responses(&sock, "cap-2", Duration::from_secs(2)).await;
    let last = got.last().map(String::as_str).unwrap_or_default();
    assert!(last.starts_with("SIP/2.0 503"), "{got:?}");
    assert_eq!(header(last, "Retry-After"), Some("7"), "{last}");
    assert!(
        header(last, "Reason").is_some_and(|r| r.contains("too many calls")),
        "{last}"
    );
    assert_eq!(
        bot.count("call "),
        1,
        "the refused call reached the call loop"
    );
    bot.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_call_rate_503_carries_retry_after() {
    let mut cfg = test_config();
    cfg.max_call_rate = 0.5;
    cfg.call_rate_burst = 1;
    cfg.retry_after_s = 3;
    let bot = start_bot(Mode::NeverAnswer, cfg).await;
    let target = bot.server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    sock.send_to(invite(target, me, "rate-1", "UDP").as_bytes(), target)
        .await
        .unwrap();
    assert!(bot.wait_for("call ", 1, Duration::from_secs(2)).await);
    sock.send_to(invite(target, me, "rate-2", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let got = responses(&sock, "rate-2", Duration::from_secs(2)).await;
    let last = got.last().map(String::as_str).unwrap_or_default();
    assert!(last.starts_with("SIP/2.0 503"), "{got:?}");
    assert_eq!(header(last, "Retry-After"), Some("3"), "{last}");
    assert!(
        header(last, "Reason").is_some_and(|r| r.contains("call rate limit")),
        "{last}"
    );
    bot.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_drops_outside_sources_and_serves_inside() {
    let mut cfg = test_config();
    cfg.allow = vec!["127.0.0.1/32".into(), "10.9.0.0/16".into()];
    let bot = start_bot(Mode::Answer, cfg).await;
    let target = bot.server.local_addr();

    // Outside (127.0.0.2): OPTIONS and INVITE over UDP get no answer at all.
    let outside = UdpSocket::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2 (Linux routes all of 127/8 to lo)");
    let o = outside.local_addr().unwrap();
    outside
        .send_to(options(target, o, "acl-out-opt").as_bytes(), target)
        .await
        .unwrap();
    outside
        .send_to(invite(target, o, "acl-out-inv", "UDP").as_bytes(), target)
        .await
        .unwrap();
    let got = responses(&outside, "acl-out-opt", Duration::from_millis(800)).await;
    assert!(got.is_empty(), "outside OPTIONS answered: {got:?}");
    let got = responses(&outside, "acl-out-inv", Duration::from_millis(200)).await;
    assert!(got.is_empty(), "outside INVITE answered: {got:?}");

    // Outside over TCP: the connection is refused or closed without a response.
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    if let Ok(mut stream) = tcp.connect(target).await {
        let from = stream.local_addr().unwrap();
        let _ = stream
            .write_all(invite(target, from, "acl-out-tcp", "TCP").as_bytes())
            .await;
        let mut buf = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_millis(800), stream.read(&mut buf)).await;
        // A reset, a timeout or EOF are all fine; any bytes are a response.
        if let Ok(Ok(n)) = read {
            assert_eq!(
                n,
                0,
                "outside TCP got {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
    assert_eq!(
        bot.count("call "),
        0,
        "an outside INVITE reached the call loop"
    );
    assert_eq!(bot.server.active_calls(), 0);

    // Inside (127.0.0.1): OPTIONS answered, and a full SIPp call works.
    let inside = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let i = inside.local_addr().unwrap();
    inside
        .send_to(options(target, i, "acl-in-opt").as_bytes(), target)
        .await
        .unwrap();
    let got = responses(&inside, "acl-in-opt", Duration::from_secs(2)).await;
    assert!(
        got.last().is_some_and(|m| m.starts_with("SIP/2.0 200")),
        "{got:?}"
    );
    let r = sipp("uac_bye.xml", target, &[], 10).await;
    assert_sipp_ok(&r, "call from an allowed source");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await
    );
    bot.server.shutdown();
}
