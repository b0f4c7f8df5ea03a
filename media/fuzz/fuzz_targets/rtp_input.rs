#![no_main]
//! Arbitrary datagrams into every parser and into a session feeding a jitter buffer:
//! nothing may panic.

use std::time::{Duration, Instant};

use ivr_media::{Codec, Inbound, JitterBuffer, RtpSession, RtpSessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ivr_media::RtpPacket::parse(data);
    let _ = ivr_media::parse_rtcp_compound(data);
    let _ = ivr_media::TelephoneEvent::parse(data);
    let base = Instant::now();
    let from = "127.0.0.1:4000".parse().unwrap();
    let mut s = RtpSession::new(RtpSessionConfig {
        codec: Codec::Pcmu,
        telephone_event_pt: None,
        remote: None,
        local_ssrc: 1,
    });
    let mut jb = JitterBuffer::new(Duration::from_millis(20), Duration::from_millis(200));
    for (i, chunk) in data.chunks(40).enumerate() {
        let now = base + Duration::from_millis(7 * i as u64);
        if let Inbound::Audio(a) = s.on_datagram(chunk, from, now) {
            jb.push(a, now);
        }
        let _ = jb.pop_frame(now);
    }
});
