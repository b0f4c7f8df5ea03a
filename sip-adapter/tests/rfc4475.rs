//! Requests in the manner of RFC 4475's torture tests that a UAS must refuse with a
//! specific code, over UDP and over TCP (a final response on the same connection):
//! written for this project, one per property the RFC's tests exercise.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

/// One request and the response it must get.
struct Case {
    name: &'static str,
    line: &'static str,
    extra: &'static str,
    cseq: &'static str,
    status: u16,
    /// A header line the response must carry.
    header: Option<&'static str>,
}

const fn case(
    name: &'static str,
    line: &'static str,
    extra: &'static str,
    cseq: &'static str,
    status: u16,
    header: Option<&'static str>,
) -> Case {
    Case {
        name,
        line,
        extra,
        cseq,
        status,
        header,
    }
}

/// The RFC 4475 test each follows is in its comment.
const CASES: &[Case] = &[
    // 3.3.4 "scheme": an unknown Request-URI scheme.
    case(
        "unknown-scheme",
        "OPTIONS nobody:ivr@HOST SIP/2.0",
        "",
        "1 OPTIONS",
        416,
        None,
    ),
    // 3.3.7 "badvers": an unknown protocol version.
    case(
        "bad-version",
        "OPTIONS sip:ivr@HOST SIP/7.0",
        "",
        "1 OPTIONS",
        505,
        None,
    ),
    // 3.3.8 "mismatch01": the CSeq method is not the request method.
    case(
        "cseq-mismatch",
        "OPTIONS sip:ivr@HOST SIP/2.0",
        "",
        "1 INVITE",
        400,
        None,
    ),
    // 3.4.1 "insuf"-adjacent: a required extension we do not have.
    case(
        "unknown-require",
        "OPTIONS sip:ivr@HOST SIP/2.0",
        "Require: nothingsupported\r\n",
        "1 OPTIONS",
        420,
        Some("Unsupported: nothingsupported"),
    ),
    // A body encoding we cannot read.
    case(
        "unknown-encoding",
        "OPTIONS sip:ivr@HOST SIP/2.0",
        "Content-Encoding: br\r\n",
        "1 OPTIONS",
        415,
        Some("Accept-Encoding: identity"),
    ),
    // And the well-formed control: 200.
    case(
        "plain-options",
        "OPTIONS sip:ivr@HOST SIP/2.0",
        "",
        "1 OPTIONS",
        200,
        None,
    ),
];

fn message(case: &str, line: &str, extra: &str, cseq: &str, host: &str, transport: &str) -> String {
    format!(
        "{}\r\nVia: SIP/2.0/{transport} 127.0.0.1:9;branch=z9hG4bK-{case}-{transport}\r\n\
         From: <sip:tester@127.0.0.1>;tag={case}\r\nTo: <sip:ivr@{host}>\r\n\
         Call-ID: {case}-{transport}@127.0.0.1\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n{extra}\
         Content-Length: 0\r\n\r\n",
        line.replace("HOST", host)
    )
}

/// The response's status line and headers (up to the blank line).
fn head(text: &str) -> (u16, String) {
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        text.split("\r\n\r\n").next().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_torture_request_gets_its_response_over_udp_and_tcp() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let target = bot.server.local_addr();
    let host = target.to_string();
    let mut failures = Vec::new();

    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for c in CASES {
        let m = message(c.name, c.line, c.extra, c.cseq, &host, "UDP");
        sock.send_to(m.as_bytes(), target).await.unwrap();
        let mut buf = [0u8; 4096];
        let got = match tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
        {
            Ok(Ok((n, _))) => head(&String::from_utf8_lossy(&buf[..n])),
            _ => (0, "no response".into()),
        };
        check(c, "UDP", got, &mut failures);
    }

    for c in CASES {
        let m = message(c.name, c.line, c.extra, c.cseq, &host, "TCP");
        let mut tcp = TcpStream::connect(target).await.unwrap();
        tcp.write_all(m.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(tcp);
        let mut text = String::new();
        let read = async {
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).await.unwrap_or(0) == 0 {
                    break;
                }
                let end = l == "\r\n";
                text.push_str(&l);
                if end {
                    break;
                }
            }
        };
        let got = match tokio::time::timeout(Duration::from_secs(2), read).await {
            Ok(()) if !text.is_empty() => head(&text),
            _ => (0, "no response on the connection".into()),
        };
        check(c, "TCP", got, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(bot.count("call"), 0, "no refused request may become a call");
}

fn check(c: &Case, transport: &str, (code, head): (u16, String), failures: &mut Vec<String>) {
    let (case, want) = (c.name, c.status);
    if !head.starts_with("SIP/2.0 ") {
        failures.push(format!(
            "{case} over {transport}: not a SIP/2.0 response: {head}"
        ));
    } else if code != want {
        failures.push(format!(
            "{case} over {transport}: want {want}, got {code}: {head}"
        ));
    } else if let Some(h) = c.header
        && !head.lines().any(|l| l.eq_ignore_ascii_case(h))
    {
        failures.push(format!("{case} over {transport}: no `{h}` in {head}"));
    }
}
