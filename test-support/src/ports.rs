//! Free loopback ports for peers started by tests.

use std::net::UdpSocket;

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// An even UDP port whose +2 neighbour is free too: SIPp's `-mp` takes the pair.
pub fn free_media_port() -> u16 {
    loop {
        let p = free_udp_port();
        if p != 0
            && p.is_multiple_of(2)
            && p < 65000
            && UdpSocket::bind(("127.0.0.1", p + 2)).is_ok()
        {
            return p;
        }
    }
}
