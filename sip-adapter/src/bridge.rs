//! Bridge mode's media half: relay RTP (and RTCP-free, STUN-free) packets unchanged
//! between the caller leg and the agent leg. Both legs must use the same codec and DTMF
//! payload type (`SipServer::dial` offers the agent exactly the caller's), so no
//! transcoding is needed; SSRC/sequence numbers pass through (the caller sees a new SSRC
//! when the agent starts talking, which RTP receivers handle).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Packets relayed so far, per direction.
#[derive(Debug, Default)]
struct Counters {
    caller_to_agent: AtomicU64,
    agent_to_caller: AtomicU64,
}

/// One leg: our socket, the peer's SDP address, and the source we latched onto.
#[derive(Debug)]
struct Leg {
    sock: Arc<UdpSocket>,
    sdp_peer: SocketAddr,
    latched: Mutex<Option<SocketAddr>>,
}

impl Leg {
    fn destination(&self) -> SocketAddr {
        self.latched
            .lock()
            .ok()
            .and_then(|l| *l)
            .unwrap_or(self.sdp_peer)
    }
    /// Latch to the first RTP source; afterwards only that source is accepted.
    fn accept_from(&self, src: SocketAddr) -> bool {
        let Ok(mut l) = self.latched.lock() else {
            return false;
        };
        match *l {
            Some(a) => a == src,
            None => {
                *l = Some(src);
                true
            }
        }
    }
}

/// Packets a relay forwarded, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayedPackets {
    pub caller_to_agent: u64,
    pub agent_to_caller: u64,
}

/// A running relay; stops on `stop()` or drop.
#[derive(Debug)]
pub struct RtpRelay {
    counters: Arc<Counters>,
    tasks: [JoinHandle<()>; 2],
}

impl RtpRelay {
    /// Relay between `caller_sock` (our RTP socket of the caller leg, whose SDP said
    /// `caller_peer`) and `agent_sock` (ours of the agent leg; `agent_peer` from the
    /// agent's answer). Each side latches to the first source it hears RTP from
    /// (symmetric RTP behind NAT) and then ignores other sources. Spawns two tokio
    /// tasks. The call loop must stop its own use of `caller_sock` (TTS, ASR) first:
    /// both would read from the same socket.
    pub fn start(
        caller_sock: Arc<UdpSocket>,
        caller_peer: SocketAddr,
        agent_sock: Arc<UdpSocket>,
        agent_peer: SocketAddr,
    ) -> RtpRelay {
        let counters = Arc::new(Counters::default());
        let caller = Arc::new(Leg {
            sock: caller_sock,
            sdp_peer: caller_peer,
            latched: Mutex::new(None),
        });
        let agent = Arc::new(Leg {
            sock: agent_sock,
            sdp_peer: agent_peer,
            latched: Mutex::new(None),
        });
        let c2a = tokio::spawn(pump(caller.clone(), agent.clone(), counters.clone(), true));
        let a2c = tokio::spawn(pump(agent, caller, counters.clone(), false));
        RtpRelay {
            counters,
            tasks: [c2a, a2c],
        }
    }

    /// Packets relayed so far.
    pub fn packets(&self) -> RelayedPackets {
        RelayedPackets {
            caller_to_agent: self.counters.caller_to_agent.load(Ordering::Relaxed),
            agent_to_caller: self.counters.agent_to_caller.load(Ordering::Relaxed),
        }
    }

    /// Stop relaying; returns the final counts.
    pub fn stop(self) -> RelayedPackets {
        self.packets()
    }
}

impl Drop for RtpRelay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Forward RTP arriving on `from`'s socket out of `to`'s socket.
async fn pump(from: Arc<Leg>, to: Arc<Leg>, counters: Arc<Counters>, caller_to_agent: bool) {
    let mut buf = vec![0u8; 2048];
    let counter = if caller_to_agent {
        &counters.caller_to_agent
    } else {
        &counters.agent_to_caller
    };
    loop {
        let Ok((n, src)) = from.sock.recv_from(&mut buf).await else {
            return;
        };
        // RTP version 2 with a full header only: drops STUN (first byte 0/1) and junk.
        if n < 12 || buf[0] >> 6 != 2 || !from.accept_from(src) {
            continue;
        }
        if to.sock.send_to(&buf[..n], to.destination()).await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
