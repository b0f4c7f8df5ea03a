//! Malformed and torture messages (RFC 4475 style) over raw UDP and TCP: each gets 400 or
//! is dropped, the server never crashes or wedges, and a normal SIPp call works right after.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

fn invite(
    target: &str,
    call_id: Option<&str>,
    extra: &str,
    content_length: &str,
    body: &str,
) -> String {
    let cid = call_id
        .map(|c| format!("Call-ID: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:ivr@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-t{}\r\n\
         From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:ivr@{target}>\r\n{cid}CSeq: 1 INVITE\r\n\
         Max-Forwards: 70\r\n{extra}Content-Length: {content_length}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_messages_then_a_normal_call_works() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let target = bot.server.local_addr();
    let t = target.to_string();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let mut msgs: Vec<Vec<u8>> = vec![
        b"\x00\xff\xfe garbage \x01\x02".to_vec(),
        b"INVITE\r\n\r\n".to_vec(),
        b"NOTSIP / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        invite(&t, None, "", "0", "").into_bytes(),
        invite(&t, Some("huge-cl"), "Content-Type: application/sdp\r\n", "999999999", sdp).into_bytes(),
        invite(&t, Some("neg-cl"), "", "-5", "").into_bytes(),
        invite(&t, Some("bad-cseq"), "CSeq: banana\r\n", "0", "").into_bytes(),
        invite(&t, Some("bad-sdp"), "Content-Type: application/sdp\r\n", "", "v=0\r\nm=audio nope\r\n").into_bytes(),
        invite(&t, Some("bad-ct"), "Content-Type: text/html\r\n", "", "<html/>").into_bytes(),
        invite(&t, Some("big-hdr"), &format!("X-Pad: {}\r\n", "a".repeat(7000)), "0", "").into_bytes(),
        format!("BYE sip:ivr@{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-nodlg\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:ivr@h>;tag=2\r\nCall-ID: nodlg\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-stray\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:ivr@h>;tag=2\r\nCall-ID: stray\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").as_bytes().to_vec(),
        vec![b'A'; 9000],
    ];
    // Fix Content-Length of the bodies that should be well-formed.
    for m in msgs.iter_mut() {
        let s = String::from_utf8_lossy(m).into_owned();
        if s.contains("Content-Length: \r\n") {
            let body_len = s.split("\r\n\r\n").nth(1).map(|b| b.len()).unwrap_or(0);
            *m = s
                .replace(
                    "Content-Length: \r\n",
                    &format!("Content-Length: {body_len}\r\n"),
                )
                .into_bytes();
        }
    }
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut responses = Vec::new();
    for m in &msgs {
        sock.send_to(m, target).await.unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await
        {
            responses.push(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    // The same garbage over TCP, including a stream that never finishes its headers.
    if let Ok(mut tcp) = TcpStream::connect(target).await {
        let _ = tcp
            .write_all(b"\x00\x01 INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\nabc")
            .await;
        let _ = tcp.write_all(&vec![b'B'; 70_000]).await;
    }
    let silly: Vec<_> = responses
        .iter()
        .filter(|r| !(r.starts_with("SIP/2.0 4") || r.starts_with("SIP/2.0 100")))
        .collect();
    assert!(
        silly.is_empty(),
        "unexpected responses to malformed input: {responses:?}"
    );
    assert!(
        responses.iter().any(|r| r.starts_with("SIP/2.0 400")),
        "bad SDP should get 400: {responses:?}"
    );
    assert!(
        responses.iter().any(|r| r.starts_with("SIP/2.0 415")),
        "text/html body should get 415: {responses:?}"
    );
    assert!(
        responses.iter().any(|r| r.starts_with("SIP/2.0 481")),
        "BYE outside a dialog should get 481: {responses:?}"
    );
    assert_eq!(
        bot.count("call"),
        0,
        "no malformed INVITE may reach the call loop: {:?}",
        bot.lines()
    );

    let r = sipp("uac_bye.xml", target, &[], 10).await;
    assert_sipp_ok(&r, "call after torture");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await
    );
}
