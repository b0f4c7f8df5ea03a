//! RTP session, sans-IO: the receive side (latching, STUN/RTCP demux, DTMF, RFC 3550
//! statistics) and the send side (`RtpSender`: seq/ts/SSRC, marker after silence, RFC 4733).

use std::net::SocketAddr;
use std::time::Instant;

use crate::dtmf::{DtmfDigit, DtmfReceiver, DtmfSend, digit_to_event};
use crate::g711::Codec;
use crate::pacer::OutFrame;
use crate::rtcp::{self, RtcpPacket};
use crate::rtp::{RtpHeader, RtpPacket, is_rtcp, is_stun};
use crate::{FRAME_SAMPLES, MediaError, SAMPLE_RATE};

/// Decoded caller audio, ready for the jitter buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPacket {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub marker: bool,
    /// 8 kHz linear PCM.
    pub samples: Vec<i16>,
}

/// Why a datagram did not produce audio or a digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// STUN (ICE/keep-alive) on the RTP port.
    Stun,
    /// From a source other than the latched one (symmetric RTP).
    OtherSource(SocketAddr),
    /// Not valid RTP.
    Malformed(MediaError),
    /// A payload type that was not negotiated (e.g. comfort noise).
    UnknownPayloadType(u8),
    /// Continuation or retransmitted end of an already reported telephone event.
    DtmfRepeat,
    /// RTCP multiplexed on the RTP port; it has been processed.
    Rtcp,
}

/// What one datagram turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Audio(AudioPacket),
    Dtmf(DtmfDigit),
    Ignored(IgnoreReason),
}

/// Receive statistics (RFC 3550 §6.4.1 / A.3 / A.8).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RtpStats {
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Expected minus received, by extended sequence number (may be negative with duplicates).
    pub packets_lost: i64,
    pub duplicates: u64,
    /// Packets arriving with a sequence number lower than the highest seen (reordered or late).
    pub out_of_order: u64,
    /// RFC 3550 interarrival jitter, in timestamp units (samples at 8 kHz).
    pub jitter_samples: f64,
    pub ssrc_changes: u64,
    pub stun_ignored: u64,
    pub foreign_source_ignored: u64,
    pub malformed: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Round-trip time from the last RTCP report that carried one.
    pub rtt_ms: Option<f64>,
}

impl RtpStats {
    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_samples * 1000.0 / SAMPLE_RATE as f64
    }
}

/// Per-source sequence tracking (RFC 3550 A.1, simplified).
#[derive(Debug, Clone)]
struct SourceState {
    ssrc: u32,
    base_seq: u64,
    max_seq: u64,
    received: u64,
    /// Last 64 extended sequence numbers seen, for duplicate detection.
    recent: [u64; 64],
    recent_len: usize,
    last_transit: Option<i64>,
    // For RTCP RR "fraction lost".
    expected_prior: u64,
    received_prior: u64,
}

impl SourceState {
    fn new(ssrc: u32, seq: u16) -> Self {
        Self {
            ssrc,
            base_seq: seq as u64 + (1 << 16), // offset so that early reordering stays positive
            max_seq: seq as u64 + (1 << 16),
            received: 0,
            recent: [0; 64],
            recent_len: 0,
            last_transit: None,
            expected_prior: 0,
            received_prior: 0,
        }
    }

    fn extend(&self, seq: u16) -> u64 {
        let delta = seq.wrapping_sub(self.max_seq as u16) as i16 as i64;
        (self.max_seq as i64 + delta).max(0) as u64
    }

    fn expected(&self) -> u64 {
        self.max_seq + 1 - self.base_seq
    }
}

/// Settings negotiated in SDP.
#[derive(Debug, Clone)]
pub struct RtpSessionConfig {
    pub codec: Codec,
    /// telephone-event payload type (101 from SIPp/baresip, 96 from linphone); None: any
    /// dynamic payload type carrying a 4-byte event is taken as RFC 4733.
    pub telephone_event_pt: Option<u8>,
    /// Where the SDP said to send; replaced by the first RTP source (symmetric RTP).
    pub remote: Option<SocketAddr>,
    /// Our SSRC, for RTCP reports.
    pub local_ssrc: u32,
}

/// Receive side of one call's RTP.
#[derive(Debug)]
pub struct RtpSession {
    cfg: RtpSessionConfig,
    latched: Option<SocketAddr>,
    source: Option<SourceState>,
    epoch: Option<Instant>,
    dtmf: DtmfReceiver,
    stats: RtpStats,
    rtcp: rtcp::RtcpState,
}

impl RtpSession {
    pub fn new(cfg: RtpSessionConfig) -> Self {
        Self {
            cfg,
            latched: None,
            source: None,
            epoch: None,
            dtmf: DtmfReceiver::new(),
            stats: RtpStats::default(),
            rtcp: rtcp::RtcpState::default(),
        }
    }

    /// Where to send outbound RTP: the latched source, else the SDP address.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.cfg.remote)
    }

    /// Forget the latched source (after a re-INVITE changed the remote media address).
    pub fn relatch(&mut self, sdp_remote: Option<SocketAddr>) {
        self.latched = None;
        self.cfg.remote = sdp_remote;
    }

    pub fn codec(&self) -> Codec {
        self.cfg.codec
    }

    pub fn stats(&self) -> &RtpStats {
        &self.stats
    }

    /// Handles one datagram from the RTP socket.
    pub fn on_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) -> Inbound {
        if is_stun(data) {
            self.stats.stun_ignored += 1;
            return Inbound::Ignored(IgnoreReason::Stun);
        }
        if let Some(l) = self.latched
            && l != from
        {
            self.stats.foreign_source_ignored += 1;
            return Inbound::Ignored(IgnoreReason::OtherSource(from));
        }
        if is_rtcp(data) {
            if let Err(e) = self.on_rtcp(data, now) {
                self.stats.malformed += 1;
                return Inbound::Ignored(IgnoreReason::Malformed(e));
            }
            return Inbound::Ignored(IgnoreReason::Rtcp);
        }
        let pkt = match RtpPacket::parse(data) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Inbound::Ignored(IgnoreReason::Malformed(e));
            }
        };
        if self.latched.is_none() {
            self.latched = Some(from);
        }
        let is_event = match self.cfg.telephone_event_pt {
            Some(pt) => pkt.payload_type == pt,
            None => {
                pkt.payload_type >= 96
                    && pkt.payload.len().is_multiple_of(4)
                    && !pkt.payload.is_empty()
            }
        };
        if is_event {
            // Events on the audio SSRC share its sequence space (count them, or they look
            // like loss); events on their own SSRC get no statistics. Their timestamps are
            // the event start, so they stay out of the jitter estimate.
            if self.source.as_ref().is_some_and(|s| s.ssrc == pkt.ssrc) {
                self.account(&pkt, data.len(), now, false);
            }
            return match self
                .dtmf
                .on_packet(pkt.ssrc, pkt.timestamp, pkt.payload, now)
            {
                Ok(Some(d)) => Inbound::Dtmf(d),
                Ok(None) => Inbound::Ignored(IgnoreReason::DtmfRepeat),
                Err(e) => {
                    self.stats.malformed += 1;
                    Inbound::Ignored(IgnoreReason::Malformed(e))
                }
            };
        }
        if pkt.payload_type != self.cfg.codec.payload_type() {
            return Inbound::Ignored(IgnoreReason::UnknownPayloadType(pkt.payload_type));
        }
        self.account(&pkt, data.len(), now, true);
        let mut samples = Vec::with_capacity(pkt.payload.len());
        self.cfg.codec.decode(pkt.payload, &mut samples);
        Inbound::Audio(AudioPacket {
            ssrc: pkt.ssrc,
            sequence: pkt.sequence,
            timestamp: pkt.timestamp,
            marker: pkt.marker,
            samples,
        })
    }

    fn account(&mut self, pkt: &RtpPacket<'_>, len: usize, now: Instant, audio: bool) {
        self.stats.packets_received += 1;
        self.stats.bytes_received += len as u64;
        let epoch = *self.epoch.get_or_insert(now);
        if self.source.as_ref().is_none_or(|s| s.ssrc != pkt.ssrc) {
            if self.source.is_some() {
                self.stats.ssrc_changes += 1;
            }
            self.source = Some(SourceState::new(pkt.ssrc, pkt.sequence));
        }
        let Some(src) = self.source.as_mut() else {
            return;
        };
        let ext = src.extend(pkt.sequence);
        if src.recent[..src.recent_len].contains(&ext) {
            self.stats.duplicates += 1;
        } else {
            if src.recent_len < src.recent.len() {
                src.recent_len += 1;
            }
            src.recent.rotate_right(1);
            src.recent[0] = ext;
            src.received += 1;
        }
        if ext > src.max_seq {
            src.max_seq = ext;
        } else if ext < src.max_seq {
            self.stats.out_of_order += 1;
        }
        if ext < src.base_seq {
            src.base_seq = ext;
        }
        self.stats.packets_lost = src.expected() as i64 - src.received as i64;
        if !audio {
            return;
        }
        // RFC 3550 A.8: J += (|D| - J) / 16, with arrival time in timestamp units.
        let arrival = (now.saturating_duration_since(epoch).as_nanos() * SAMPLE_RATE as u128
            / 1_000_000_000) as i64;
        let transit = arrival - pkt.timestamp as i64;
        if let Some(last) = src.last_transit {
            let d = (transit - last).abs() as f64;
            self.stats.jitter_samples += (d - self.stats.jitter_samples) / 16.0;
        }
        src.last_transit = Some(transit);
    }

    /// Handles an RTCP compound packet (from the RTCP port, or muxed on the RTP port).
    pub fn on_rtcp(&mut self, data: &[u8], now: Instant) -> Result<Vec<RtcpPacket>, MediaError> {
        let pkts = rtcp::parse_compound(data)?;
        if let Some(rtt) = self.rtcp.on_packets(&pkts, self.cfg.local_ssrc, now) {
            self.stats.rtt_ms = Some(rtt);
        }
        Ok(pkts)
    }

    /// Records an outgoing packet for the send statistics and RTCP SR.
    pub fn on_sent(&mut self, bytes: usize, rtp_timestamp: u32, now: Instant) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += bytes.saturating_sub(crate::rtp::RTP_HEADER_LEN) as u64;
        self.rtcp.last_sent = Some((now, rtp_timestamp));
    }

    /// When the next RTCP report is due (about every 5 s).
    pub fn rtcp_deadline(&self) -> Option<Instant> {
        self.rtcp.next_due
    }

    /// An RTCP SR (if we sent RTP) or RR compound packet with SDES CNAME, if one is due at
    /// `now`. `wallclock` is the NTP-format time to put in the SR (see `rtcp::ntp_from_unix`).
    pub fn poll_rtcp(&mut self, now: Instant, wallclock_ntp: u64, cname: &str) -> Option<Vec<u8>> {
        let due = *self
            .rtcp
            .next_due
            .get_or_insert(now + rtcp::REPORT_INTERVAL);
        if now < due {
            return None;
        }
        self.rtcp.next_due = Some(now + rtcp::REPORT_INTERVAL);
        let block = self.source.as_mut().map(|src| {
            let expected = src.expected();
            let expected_interval = expected - src.expected_prior;
            let received_interval = src.received.saturating_sub(src.received_prior);
            src.expected_prior = expected;
            src.received_prior = src.received;
            let lost_interval = expected_interval.saturating_sub(received_interval);
            let fraction = (lost_interval << 8)
                .checked_div(expected_interval)
                .map_or(0, |f| f.min(255) as u8);
            rtcp::ReportBlock {
                ssrc: src.ssrc,
                fraction_lost: fraction,
                cumulative_lost: (expected as i64 - src.received as i64)
                    .clamp(-(1 << 23), (1 << 23) - 1) as i32,
                highest_seq: (src.max_seq - (1 << 16)) as u32,
                jitter: self.stats.jitter_samples as u32,
                last_sr: 0,
                delay_since_last_sr: 0,
            }
        });
        let block = block.map(|mut b| {
            self.rtcp.fill_lsr(&mut b, now);
            b
        });
        let mut out = Vec::new();
        let sender_info = self.rtcp.last_sent.map(|(sent_at, ts)| {
            // Extrapolate the RTP timestamp from the last packet to `now`.
            let ahead = now.saturating_duration_since(sent_at).as_nanos() * SAMPLE_RATE as u128
                / 1_000_000_000;
            rtcp::SenderInfo {
                ntp: wallclock_ntp,
                rtp_timestamp: ts.wrapping_add(ahead as u32),
                packets: self.stats.packets_sent as u32,
                octets: self.stats.bytes_sent as u32,
            }
        });
        if let Some(si) = sender_info {
            self.rtcp.sent_sr(wallclock_ntp, now);
            rtcp::write_sr(self.cfg.local_ssrc, &si, block.as_slice(), &mut out);
        } else {
            rtcp::write_rr(self.cfg.local_ssrc, block.as_slice(), &mut out);
        }
        rtcp::write_sdes_cname(self.cfg.local_ssrc, cname, &mut out);
        Some(out)
    }
}

/// Send side: turns paced frames into RTP datagrams; inserts RFC 4733 events on request.
#[derive(Debug)]
pub struct RtpSender {
    codec: Codec,
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    telephone_event_pt: Option<u8>,
    was_silent: bool,
    dtmf: Option<DtmfSend>,
    pending_digits: std::collections::VecDeque<(u8, u32)>,
    payload: Vec<u8>,
}

impl RtpSender {
    /// `ssrc`, `initial_seq` and `initial_ts` should be random (RFC 3550 §5.1): see `random_u32`.
    pub fn new(
        codec: Codec,
        telephone_event_pt: Option<u8>,
        ssrc: u32,
        initial_seq: u16,
        initial_ts: u32,
    ) -> Self {
        Self {
            codec,
            ssrc,
            seq: initial_seq,
            ts_base: initial_ts,
            telephone_event_pt,
            was_silent: true,
            dtmf: None,
            pending_digits: Default::default(),
            payload: Vec::with_capacity(FRAME_SAMPLES),
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Queues a digit to send as RFC 4733 (replaces audio while it plays).
    pub fn send_digit(&mut self, digit: char, duration_ms: u32) -> Result<(), MediaError> {
        if self.telephone_event_pt.is_none() {
            return Err(MediaError::Dtmf(
                "no telephone-event payload type negotiated",
            ));
        }
        let ev = digit_to_event(digit).ok_or(MediaError::Dtmf("not a DTMF digit"))?;
        self.pending_digits.push_back((ev, duration_ms));
        Ok(())
    }

    /// The RTP timestamp of a paced frame.
    pub fn timestamp_of(&self, frame: &OutFrame) -> u32 {
        self.ts_base
            .wrapping_add((frame.index as u32).wrapping_mul(FRAME_SAMPLES as u32))
    }

    /// One RTP datagram for this frame: audio (marker set on the first frame after silence)
    /// or a telephone event packet.
    pub fn packetize(&mut self, frame: &OutFrame) -> Vec<u8> {
        let ts = self.timestamp_of(frame);
        if self.dtmf.is_none()
            && let Some((ev, ms)) = self.pending_digits.pop_front()
        {
            self.dtmf = Some(DtmfSend::new(ev, ts, ms));
        }
        if let (Some(d), Some(pt)) = (self.dtmf.as_mut(), self.telephone_event_pt) {
            if let Some((payload, marker)) = d.next(FRAME_SAMPLES as u32) {
                let h = RtpHeader {
                    marker,
                    payload_type: pt,
                    sequence: self.seq,
                    timestamp: d.timestamp,
                    ssrc: self.ssrc,
                };
                self.seq = self.seq.wrapping_add(1);
                self.was_silent = true; // audio after the event starts a new talkspurt
                return h.to_bytes(&payload);
            }
            self.dtmf = None;
            return self.packetize(frame);
        }
        let marker = self.was_silent && !frame.is_silence;
        self.was_silent = frame.is_silence;
        self.payload.clear();
        self.codec.encode(&frame.samples, &mut self.payload);
        let h = RtpHeader {
            marker,
            payload_type: self.codec.payload_type(),
            sequence: self.seq,
            timestamp: ts,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        h.to_bytes(&self.payload)
    }
}

/// A random 32-bit value from the OS-seeded std hasher (for SSRC, initial seq/ts).
pub fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacer::Pacer;

    /// Bot side -> wire -> caller side: seq/ts continuity, marker after silence, a sent
    /// digit arrives exactly once, audio decodes to what was paced.
    #[test]
    fn sender_to_session_round_trip() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let mut tx = RtpSender::new(Codec::Pcmu, Some(101), 0x1234, 65530, u32::MAX - 500);
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut rx = RtpSession::new(RtpSessionConfig {
            codec: Codec::Pcmu,
            telephone_event_pt: Some(101),
            remote: Some(peer),
            local_ssrc: 9,
        });
        let mut digits = Vec::new();
        let mut markers = Vec::new();
        let mut last: Option<(u16, u32)> = None;
        let mut audio_frames = 0;
        for tick in 0..100u32 {
            let now = start + crate::FRAME_DURATION * tick;
            if tick == 10 {
                pacer.push(&[3000; 800]); // 5 frames of audio
            }
            if tick == 30 {
                tx.send_digit('9', 100).unwrap();
            }
            if tick == 60 {
                pacer.push(&[-3000; 320]);
            }
            while let Some(f) = pacer.poll(now) {
                let bytes = tx.packetize(&f);
                let p = RtpPacket::parse(&bytes).unwrap();
                if let Some((seq, _)) = last {
                    assert_eq!(p.sequence, seq.wrapping_add(1));
                }
                if p.payload_type == 0 {
                    assert_eq!(p.timestamp, tx.timestamp_of(&f));
                }
                last = Some((p.sequence, p.timestamp));
                if p.marker {
                    markers.push((tick, p.payload_type));
                }
                match rx.on_datagram(&bytes, peer, now) {
                    Inbound::Dtmf(d) => digits.push(d.digit),
                    Inbound::Audio(a) => {
                        if a.samples.iter().any(|&s| s != 0) {
                            audio_frames += 1;
                        }
                    }
                    Inbound::Ignored(r) => assert_eq!(r, IgnoreReason::DtmfRepeat),
                }
            }
        }
        assert_eq!(digits, vec!['9']);
        assert_eq!(audio_frames, 7);
        assert_eq!(markers, vec![(10, 0), (30, 101), (60, 0)]);
        assert_eq!(rx.stats().packets_lost, 0);
        assert!(tx.send_digit('x', 100).is_err());
    }

    #[test]
    fn rtcp_reports_are_due_every_5s_and_parse() {
        let start = Instant::now();
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut s = RtpSession::new(RtpSessionConfig {
            codec: Codec::Pcma,
            telephone_event_pt: None,
            remote: Some(peer),
            local_ssrc: 9,
        });
        assert!(s.poll_rtcp(start, 0, "ivr").is_none());
        let pkt = RtpHeader {
            marker: false,
            payload_type: 8,
            sequence: 1,
            timestamp: 0,
            ssrc: 5,
        }
        .to_bytes(&[0xD5; 160]);
        assert!(matches!(
            s.on_datagram(&pkt, peer, start),
            Inbound::Audio(_)
        ));
        s.on_sent(172, 100, start);
        let rep = s
            .poll_rtcp(
                start + rtcp::REPORT_INTERVAL,
                rtcp::ntp_from_unix(Duration::from_secs(1)),
                "ivr",
            )
            .unwrap();
        let parsed = rtcp::parse_compound(&rep).unwrap();
        assert!(
            matches!(&parsed[0], RtcpPacket::SenderReport { ssrc: 9, reports, .. } if reports.len() == 1 && reports[0].ssrc == 5)
        );
        assert!(
            s.poll_rtcp(
                start + rtcp::REPORT_INTERVAL + Duration::from_secs(1),
                0,
                "ivr"
            )
            .is_none()
        );
        // RTCP muxed on the RTP port is consumed, not taken for audio
        assert_eq!(
            s.on_datagram(&rep, peer, start),
            Inbound::Ignored(IgnoreReason::Rtcp)
        );
    }
    use std::time::Duration;
}
