//! ivr-media: the call's audio path, sans-IO.
//!
//! G.711, RTP/RTCP, the adaptive jitter buffer, RFC 4733 DTMF, outbound pacing,
//! resampling, WAV and pcap I/O. Every state machine takes `now` as an argument and
//! does no I/O: sockets live in the `ivr` binary. Knows nothing of SIP or dialogs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod dtmf;
pub mod g711;
pub mod inband;
pub mod jitter;
pub mod pacer;
pub mod pcap;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod wav;

pub use dtmf::DtmfDigit;
pub use g711::Codec;
pub use inband::{InbandDtmfDetector, dtmf_tone};
pub use jitter::{Frame, FrameKind, JitterBuffer, JitterStats};
pub use pacer::{OutFrame, Pacer, PacerStats};
pub use resample::StreamResampler;
pub use session::{
    AudioPacket, IgnoreReason, Inbound, RtpSender, RtpSession, RtpSessionConfig, RtpStats,
    random_u32,
};
pub use wav::{CallRecorder, WavAudio, read_wav};

/// Telephony sample rate.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Packetisation interval.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Errors from parsing and file I/O. Bad input gives one of these, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("invalid RTP packet: {0}")]
    Rtp(&'static str),
    #[error("invalid RTCP packet: {0}")]
    Rtcp(&'static str),
    #[error("invalid telephone-event: {0}")]
    Dtmf(&'static str),
    #[error("WAV {path}: {message}")]
    Wav { path: String, message: String },
    #[error("capture {path}: {message}")]
    Pcap { path: String, message: String },
    #[error("resampler: {0}")]
    Resample(String),
}

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
