//! ivr-media: the call's audio path, sans-IO.
//!
//! G.711, RTP/RTCP, the adaptive jitter buffer, RFC 4733 DTMF, outbound pacing,
//! resampling, WAV and pcap I/O. Every state machine takes `now` as an argument and
//! does no I/O: sockets live in the `ivr` binary. Knows nothing of SIP or dialogs.

use serde::{Deserialize, Serialize};

/// Media settings (`[media]` in ivr.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// First and last UDP port for RTP (even ports are used; 0..0 = any free port).
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Jitter buffer depth bounds in milliseconds.
    pub jitter_min_ms: u32,
    pub jitter_max_ms: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_port_min: 20000,
            rtp_port_max: 30000,
            jitter_min_ms: 20,
            jitter_max_ms: 200,
        }
    }
}
