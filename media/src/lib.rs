//! ivr-media: the call's audio path, sans-IO.
//!
//! G.711, RTP/RTCP, the adaptive jitter buffer, RFC 4733 DTMF, outbound pacing,
//! resampling, WAV and pcap I/O. Every state machine takes `now` as an argument and
//! does no I/O: sockets live in the `ivr` binary. Knows nothing of SIP or dialogs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod dtmf;
mod g711;
mod inband;
mod jitter;
mod pacer;
mod pcap;
mod resample;
mod rtcp;
mod rtp;
mod session;
mod wav;

pub use dtmf::{DtmfDigit, DtmfReceiver, TelephoneEvent, digit_to_event, event_to_digit};
pub use g711::{Codec, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
pub use inband::{InbandDtmfDetector, dtmf_tone};
pub use jitter::{Frame, FrameKind, JitterBuffer, JitterStats};
pub use pacer::{OutFrame, Pacer, PacerStats};
pub use pcap::{CapturedRtp, RtpStream, UdpDatagram, pick_stream, read_rtp_streams, read_udp};
pub use resample::{StreamResampler, f32_to_i16, resample_all};
pub use rtcp::{
    REPORT_INTERVAL, ReportBlock, RtcpPacket, SenderInfo, ntp_from_unix,
    parse_compound as parse_rtcp_compound, write_bye as write_rtcp_bye,
};
pub use rtp::{
    RTP_HEADER_LEN, RtpHeader, RtpPacket, is_rtcp, is_stun, packet_from_parts, write_full,
};
pub use session::{
    AudioPacket, IgnoreReason, Inbound, RtpSender, RtpSession, RtpSessionConfig, RtpStats,
    random_u32,
};
pub use wav::{CallRecorder, WavAudio, read_wav, read_wav_8k, write_wav_mono};

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
