//! Test harness: an in-process SIP server with a scripted call loop, and helpers to run
//! real peers (SIPp) as subprocesses on loopback (their command lines come from the
//! shared `ivr-test-support` crate).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ivr_sip::{
    AnsweredCall, CallEvent, IncomingCall, SipConfig, SipHeader, SipServer, TransferOutcome,
};
use ivr_test_support::{sipp_client, sipp_uas};
use tokio::net::UdpSocket;

/// RTP packets received per call, and the payload type of the first.
pub type RtpLog = Arc<Mutex<Vec<(usize, Option<u8>)>>>;

/// What the scripted call loop does with each call.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Answer at once; wait for the caller to hang up.
    Answer,
    /// Answer, then BYE after this many ms.
    AnswerThenHangup(u64),
    /// Never answer (for CANCEL tests).
    NeverAnswer,
    /// Answer, then blind-transfer to sip:agent@127.0.0.1 once confirmed; BYE on success.
    AnswerThenTransfer,
}

pub struct Bot {
    pub server: SipServer,
    /// One line per observed thing: "call from=.. to=..", "confirmed", "dtmf:7", ...
    pub log: Arc<Mutex<Vec<String>>>,
    /// RTP packets received from callers, per call, with payload type of the first.
    pub rtp: RtpLog,
}

impl Bot {
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    /// Wait until `count(prefix) >= n` or time out.
    pub async fn wait_for(&self, prefix: &str, n: usize, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if self.count(prefix) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

pub fn test_config() -> SipConfig {
    SipConfig {
        listen: "127.0.0.1:0".into(),
        max_calls: 200,
        max_call_rate: 0.0,
        ..SipConfig::default()
    }
}

pub async fn start_bot(mode: Mode, cfg: SipConfig) -> Bot {
    let (server, mut calls) = SipServer::start(&cfg).await.expect("server starts");
    let log = Arc::new(Mutex::new(Vec::new()));
    let rtp = Arc::new(Mutex::new(Vec::new()));
    let (log2, rtp2) = (log.clone(), rtp.clone());
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            tokio::spawn(run_call(call, mode, log2.clone(), rtp2.clone()));
        }
    });
    Bot { server, log, rtp }
}

fn push(log: &Mutex<Vec<String>>, s: String) {
    log.lock().unwrap().push(s);
}

/// PCMU/PCMA silence packet: 12-byte RTP header + 160 payload bytes.
fn silence_packet(pt: u8, seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, pt & 0x7f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    // µ-law silence is 0xFF, A-law silence is 0xD5.
    p.extend(std::iter::repeat_n(if pt == 8 { 0xD5 } else { 0xFF }, 160));
    p
}

async fn run_call(mut call: IncomingCall, mode: Mode, log: Arc<Mutex<Vec<String>>>, rtp: RtpLog) {
    push(
        &log,
        format!(
            "call from={} to={} offer={} xtest={}",
            call.from,
            call.to,
            call.offer.is_some(),
            call.headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("X-Test-Case") && h.value == "ivr")
        ),
    );
    if let Mode::NeverAnswer = mode {
        while let Some(ev) = call.next_event().await {
            push(&log, format!("{ev:?}"));
        }
        return;
    }
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let local = sock.local_addr().unwrap();
    let AnsweredCall {
        call: handle,
        media,
        mut events,
    } = match call.answer(local).await {
        Ok(a) => a,
        Err(e) => {
            push(&log, format!("answer-error {e}"));
            return;
        }
    };
    push(
        &log,
        format!(
            "answered codec={:?} pt={} dtmf={:?}",
            media.codec,
            media.codec.payload_type(),
            media.dtmf_pt
        ),
    );
    // Receive RTP for the call's life; send 1 s of silence back.
    let idx = {
        let mut r = rtp.lock().unwrap();
        r.push((0, None));
        r.len() - 1
    };
    let (rsock, rtp_rx) = (sock.clone(), rtp.clone());
    let rx_task = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = rsock.recv_from(&mut buf).await {
            // RTP version 2 only: linphone also sends STUN (first byte 0) to this port.
            if n >= 12 && buf[0] >> 6 == 2 {
                let mut r = rtp_rx.lock().unwrap();
                r[idx].0 += 1;
                r[idx].1.get_or_insert(buf[1] & 0x7f);
            }
        }
    });
    let (ssock, pt, dest) = (sock.clone(), media.codec.payload_type(), media.remote_rtp);
    tokio::spawn(async move {
        for i in 0..50u16 {
            let _ = ssock
                .send_to(&silence_packet(pt, i, u32::from(i) * 160), dest)
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    match mode {
        Mode::AnswerThenHangup(ms) => {
            let h = handle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let _ = h.hangup().await;
            });
        }
        Mode::AnswerThenTransfer => {}
        _ => {}
    }
    while let Some(ev) = events.recv().await {
        push(&log, format!("{ev:?}"));
        match ev {
            CallEvent::Confirmed => {
                if let Mode::AnswerThenTransfer = mode {
                    let h = handle.clone();
                    let log = log.clone();
                    tokio::spawn(async move {
                        let out = h
                            .transfer(
                                "sip:agent@127.0.0.1:5999",
                                vec![SipHeader::new("X-IVR-Call-Id", "abc123")],
                            )
                            .await;
                        push(&log, format!("transfer {out:?}"));
                        if let Ok(TransferOutcome::Succeeded(_)) = out {
                            let _ = h.hangup().await;
                        }
                    });
                }
            }
            CallEvent::Ended(r) => {
                push(&log, format!("ended {r:?}"));
                break;
            }
            _ => {}
        }
    }
    rx_task.abort();
}

pub fn free_media_port() -> u16 {
    ivr_test_support::free_media_port()
}

pub fn free_udp_port() -> u16 {
    ivr_test_support::free_udp_port()
}

pub fn fixture(name: &str) -> PathBuf {
    ivr_test_support::fixture("sipp").join(name)
}

pub struct SippResult {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run SIPp against `target` with a fixture scenario. `extra`: e.g. ["-m","100","-r","10"].
pub async fn sipp(
    scenario: &str,
    target: SocketAddr,
    extra: &[&str],
    timeout_s: u32,
) -> SippResult {
    let path = fixture(scenario);
    let err_file = std::env::temp_dir().join(format!(
        "ivr-sipp-{}-{}.err",
        std::process::id(),
        free_udp_port()
    ));
    assert!(path.exists(), "missing SIPp scenario {}", path.display());
    let mut cmd = sipp_client(&target.to_string(), &path, &err_file, u64::from(timeout_s));
    if !extra.contains(&"-m") {
        cmd.args(["-m", "1"]);
    }
    cmd.args(extra);
    let out = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .output()
        .await
        .expect("sipp runs (Debian package sip-tester)");
    let errors = std::fs::read_to_string(&err_file).unwrap_or_default();
    let _ = std::fs::remove_file(&err_file);
    SippResult {
        ok: out.status.success(),
        stdout: format!(
            "{}\nSIPp error file:\n{errors}",
            String::from_utf8_lossy(&out.stdout)
        ),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn assert_sipp_ok(r: &SippResult, what: &str) {
    assert!(
        r.ok,
        "SIPp {what} failed\nstdout:\n{}\nstderr:\n{}",
        tail(&r.stdout, 3000),
        tail(&r.stderr, 3000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

impl Bot {
    /// Wait until the server holds no calls.
    pub async fn wait_for_idle(&self, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if self.server.active_calls() == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// SIPp in server mode (no remote host: it waits for requests) on 127.0.0.1:`port`.
pub fn sipp_server(scenario: &str, port: u16, timeout_s: u32) -> tokio::process::Child {
    sipp_server_with(scenario, port, timeout_s, &[])
}

/// `sipp_server` with extra arguments (e.g. `-rtp_echo`).
pub fn sipp_server_with(
    scenario: &str,
    port: u16,
    timeout_s: u32,
    extra: &[&str],
) -> tokio::process::Child {
    let path = fixture(scenario);
    assert!(path.exists(), "missing SIPp scenario {}", path.display());
    let mut cmd = sipp_uas(&path, port, u64::from(timeout_s));
    cmd.args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .expect("sipp runs (Debian package sip-tester)")
}

/// Wait for a SIPp started with `sipp_server` and collect its result.
pub async fn sipp_finish(child: tokio::process::Child) -> SippResult {
    let out = child.wait_with_output().await.expect("sipp output");
    SippResult {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A raw INVITE (PCMU + telephone-event offer) from `from` to the server at `target`.
pub fn invite(target: SocketAddr, from: SocketAddr, call_id: &str, transport: &str) -> String {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        ip = from.ip()
    );
    format!(
        "INVITE sip:ivr@{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:tester@{from}>;tag=t-{call_id}\r\nTo: <sip:ivr@{target}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:tester@{from}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Responses for `call_id` received on `sock` within `within`, until a final one.
pub async fn responses(sock: &UdpSocket, call_id: &str, within: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + within;
    let mut buf = vec![0u8; 8192];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, sock.recv_from(&mut buf)).await {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !msg.contains(&format!("Call-ID: {call_id}\r\n")) {
            continue;
        }
        let status: u16 = msg
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        got.push(msg);
        if status >= 200 {
            break;
        }
    }
    got
}

/// Every message for `call_id` received on `sock` within `within` (requests too).
pub async fn messages(sock: &UdpSocket, call_id: &str, within: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + within;
    let mut buf = vec![0u8; 8192];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, sock.recv_from(&mut buf)).await {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(&format!("Call-ID: {call_id}\r\n")) {
            got.push(msg);
        }
    }
    got
}
