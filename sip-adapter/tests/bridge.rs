//! Bridge-mode transfer: ivr dials the agent (UAC INVITE, SIPp as the agent's phone with
//! -rtp_echo) and relays RTP between the caller leg and the agent leg.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ivr_sip::{CallEvent, Codec, DialError, EndReason, RtpRelay, SipHeader, SipServer};
use tokio::net::UdpSocket;

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0xCAFE_F00Du32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xFF, 160));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_dials_agent_and_relays_rtp_both_ways() {
    let agent_port = free_udp_port();
    let agent_media = free_media_port();
    let agent = sipp_server_with(
        "uas_agent.xml",
        agent_port,
        10,
        &["-rtp_echo", "-mp", &agent_media.to_string()],
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (server, _calls) = SipServer::start(&test_config())
        .await
        .expect("server starts");

    // The caller leg as the call loop would hold it: our RTP socket and the caller's
    // address (here a plain socket standing in for the caller's phone).
    let caller_leg = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_leg = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());

    let out = server
        .dial(
            &format!("sip:agent@127.0.0.1:{agent_port}"),
            agent_leg.local_addr().unwrap(),
            Codec::Pcmu,
            Some(101),
            vec![
                SipHeader::new("X-IVR-Call-Id", "abc123"),
                SipHeader::new("X-IVR-Intent", "billing"),
            ],
            Duration::from_secs(5),
        )
        .await
        .expect("agent answers");
    assert_eq!(out.media.codec, Codec::Pcmu);
    assert_eq!(out.media.dtmf_pt, Some(101));
    assert_eq!(out.media.remote_rtp.port(), agent_media);
    // Outgoing legs do not take incoming-call slots.
    assert_eq!(server.active_calls(), 0);

    let relay = RtpRelay::start(
        caller_leg.clone(),
        phone.local_addr().unwrap(),
        agent_leg,
        out.media.remote_rtp,
    );
    // The caller talks: 50 packets through ivr to the agent, whose echo comes back
    // through ivr to the caller.
    let target = caller_leg.local_addr().unwrap();
    let sender = async {
        for seq in 0..50u16 {
            phone.send_to(&rtp_packet(seq), target).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let receiver = async {
        let mut got = 0;
        let mut buf = [0u8; 2048];
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), phone.recv_from(&mut buf)).await
        {
            // Echoed unchanged: our SSRC, 172 bytes.
            if n == 172 && buf[8..12] == 0xCAFE_F00Du32.to_be_bytes() {
                got += 1;
            }
        }
        got
    };
    let ((), echoed) = tokio::join!(sender, receiver);
    let relayed = relay.stop();
    assert_eq!(relayed.caller_to_agent, 50);
    assert!(
        relayed.agent_to_caller >= 45,
        "relayed back {}",
        relayed.agent_to_caller
    );
    assert!(echoed >= 45, "caller heard {echoed} of 50 echoed packets");

    // The agent leg ends with our BYE; SIPp checked headers and SDP of the INVITE.
    let mut events = out.events;
    out.call.hangup().await.expect("BYE to agent");
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(ev) = events.recv().await {
            if let CallEvent::Ended(r) = ev {
                return Some(r);
            }
        }
        None
    })
    .await;
    assert_eq!(ended, Ok(Some(EndReason::LocalHangup)));
    let r = sipp_finish(agent).await;
    assert_sipp_ok(&r, "agent leg");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_to_nobody_times_out_and_bad_uri_is_an_error() {
    let (server, _calls) = SipServer::start(&test_config())
        .await
        .expect("server starts");
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A UDP port with nothing behind it: no answer before the ring timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = server
        .dial(
            &format!("sip:agent@{}", silent.local_addr().unwrap()),
            rtp.local_addr().unwrap(),
            Codec::Pcma,
            None,
            vec![],
            Duration::from_millis(700),
        )
        .await;
    assert_eq!(r.err(), Some(DialError::NoAnswer));
    let r = server
        .dial(
            "not a uri",
            rtp.local_addr().unwrap(),
            Codec::Pcma,
            None,
            vec![],
            Duration::from_millis(700),
        )
        .await;
    assert!(matches!(r, Err(DialError::BadTarget(_))), "{r:?}");
    server.shutdown();
}
