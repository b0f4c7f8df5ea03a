//! RTCP (RFC 3550 §6): SR/RR/SDES/BYE parsing, SR/RR/SDES writing, round-trip time.

use std::time::{Duration, Instant};

use crate::MediaError;

/// Reports go out about this often (RFC 3550's 5 s minimum for a two-party call).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed.
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        reports: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReportBlock>,
    },
    /// (SSRC, CNAME) pairs; other SDES items are skipped.
    SourceDescription(Vec<(u32, String)>),
    Bye {
        ssrcs: Vec<u32>,
        reason: Option<String>,
    },
    /// APP, feedback, XR...: recognised and skipped.
    Other { packet_type: u8 },
}

fn be32(b: &[u8], at: usize) -> Result<u32, MediaError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(MediaError::Rtcp("truncated"))
}

fn report_blocks(b: &[u8], at: usize, count: usize) -> Result<Vec<ReportBlock>, MediaError> {
    (0..count)
        .map(|i| {
            let o = at + 24 * i;
            let lost_word = be32(b, o + 4)?;
            // sign-extend the 24-bit cumulative loss
            let cumulative_lost = ((lost_word << 8) as i32) >> 8;
            Ok(ReportBlock {
                ssrc: be32(b, o)?,
                fraction_lost: (lost_word >> 24) as u8,
                cumulative_lost,
                highest_seq: be32(b, o + 8)?,
                jitter: be32(b, o + 12)?,
                last_sr: be32(b, o + 16)?,
                delay_since_last_sr: be32(b, o + 20)?,
            })
        })
        .collect()
}

/// Parses a compound RTCP packet. Any length inconsistency is an error.
pub fn parse_compound(data: &[u8]) -> Result<Vec<RtcpPacket>, MediaError> {
    let mut out = Vec::new();
    let mut rest = data;
    if rest.is_empty() {
        return Err(MediaError::Rtcp("empty"));
    }
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return Err(MediaError::Rtcp("bad header"));
        }
        let count = (rest[0] & 0x1F) as usize;
        let pt = rest[1];
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        let pkt = rest
            .get(..len)
            .ok_or(MediaError::Rtcp("length beyond the end"))?;
        let body_end = if rest[0] & 0x20 != 0 {
            let pad = pkt[len - 1] as usize;
            if pad == 0 || pad > len - 4 {
                return Err(MediaError::Rtcp("bad padding"));
            }
            len - pad
        } else {
            len
        };
        let pkt = &pkt[..body_end];
        out.push(match pt {
            200 => {
                let info = SenderInfo {
                    ntp: ((be32(pkt, 8)? as u64) << 32) | be32(pkt, 12)? as u64,
                    rtp_timestamp: be32(pkt, 16)?,
                    packets: be32(pkt, 20)?,
                    octets: be32(pkt, 24)?,
                };
                RtcpPacket::SenderReport {
                    ssrc: be32(pkt, 4)?,
                    info,
                    reports: report_blocks(pkt, 28, count)?,
                }
            }
            201 => RtcpPacket::ReceiverReport {
                ssrc: be32(pkt, 4)?,
                reports: report_blocks(pkt, 8, count)?,
            },
            202 => {
                let mut items = Vec::new();
                let mut o = 4;
                for _ in 0..count {
                    let ssrc = be32(pkt, o)?;
                    o += 4;
                    loop {
                        let ty = *pkt.get(o).ok_or(MediaError::Rtcp("truncated SDES"))?;
                        if ty == 0 {
                            // items end; skip to the next 32-bit boundary
                            o = (o + 4) & !3;
                            break;
                        }
                        let l = *pkt.get(o + 1).ok_or(MediaError::Rtcp("truncated SDES"))? as usize;
                        let text = pkt
                            .get(o + 2..o + 2 + l)
                            .ok_or(MediaError::Rtcp("truncated SDES item"))?;
                        if ty == 1 {
                            items.push((ssrc, String::from_utf8_lossy(text).into_owned()));
                        }
                        o += 2 + l;
                    }
                }
                RtcpPacket::SourceDescription(items)
            }
            203 => {
                let ssrcs = (0..count)
                    .map(|i| be32(pkt, 4 + 4 * i))
                    .collect::<Result<Vec<_>, _>>()?;
                let o = 4 + 4 * count;
                let reason = match pkt.get(o) {
                    Some(&l) => Some(
                        String::from_utf8_lossy(
                            pkt.get(o + 1..o + 1 + l as usize)
                                .ok_or(MediaError::Rtcp("truncated BYE reason"))?,
                        )
                        .into_owned(),
                    ),
                    None => None,
                };
                RtcpPacket::Bye { ssrcs, reason }
            }
            192..=223 => RtcpPacket::Other { packet_type: pt },
            _ => return Err(MediaError::Rtcp("not an RTCP packet type")),
        });
        rest = &rest[len..];
    }
    Ok(out)
}

fn header(count: usize, pt: u8, body_words: usize, out: &mut Vec<u8>) {
    out.push(0x80 | count as u8);
    out.push(pt);
    out.extend_from_slice(&(body_words as u16).to_be_bytes());
}

fn write_blocks(blocks: &[ReportBlock], out: &mut Vec<u8>) {
    for b in blocks {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        out.extend_from_slice(
            &(((b.fraction_lost as u32) << 24) | (b.cumulative_lost as u32 & 0x00FF_FFFF))
                .to_be_bytes(),
        );
        for v in [b.highest_seq, b.jitter, b.last_sr, b.delay_since_last_sr] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

pub fn write_sr(ssrc: u32, info: &SenderInfo, blocks: &[ReportBlock], out: &mut Vec<u8>) {
    let blocks = &blocks[..blocks.len().min(31)];
    header(blocks.len(), 200, 6 + 6 * blocks.len(), out);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    for v in [info.rtp_timestamp, info.packets, info.octets] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    write_blocks(blocks, out);
}

pub fn write_rr(ssrc: u32, blocks: &[ReportBlock], out: &mut Vec<u8>) {
    let blocks = &blocks[..blocks.len().min(31)];
    header(blocks.len(), 201, 1 + 6 * blocks.len(), out);
    out.extend_from_slice(&ssrc.to_be_bytes());
    write_blocks(blocks, out);
}

pub fn write_sdes_cname(ssrc: u32, cname: &str, out: &mut Vec<u8>) {
    let name = &cname.as_bytes()[..cname.len().min(255)];
    // ssrc + type + len + text + at least one zero, padded to 4
    let chunk = 4 + 2 + name.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    header(1, 202, padded / 4, out);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend(std::iter::repeat_n(0u8, padded - (4 + 2 + name.len())));
}

pub fn write_bye(ssrc: u32, out: &mut Vec<u8>) {
    header(1, 203, 1, out);
    out.extend_from_slice(&ssrc.to_be_bytes());
}

/// NTP timestamp (seconds since 1900, 32.32 fixed point) from time since the Unix epoch.
pub fn ntp_from_unix(since_unix: Duration) -> u64 {
    let secs = since_unix.as_secs() + 2_208_988_800;
    let frac = ((since_unix.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Bookkeeping for report timing and round-trip time (RFC 3550 §6.4.1).
#[derive(Debug, Default)]
pub(crate) struct RtcpState {
    pub next_due: Option<Instant>,
    pub last_sent: Option<(Instant, u32)>,
    /// Our recent SRs: (middle 32 bits of NTP, when sent).
    our_srs: Vec<(u32, Instant)>,
    /// Remote's last SR: (middle 32 bits, when received).
    remote_sr: Option<(u32, Instant)>,
}

impl RtcpState {
    pub fn sent_sr(&mut self, ntp: u64, now: Instant) {
        if self.our_srs.len() >= 8 {
            self.our_srs.remove(0);
        }
        self.our_srs.push(((ntp >> 16) as u32, now));
    }

    pub fn fill_lsr(&self, b: &mut ReportBlock, now: Instant) {
        if let Some((mid, at)) = self.remote_sr {
            b.last_sr = mid;
            b.delay_since_last_sr =
                (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32;
        }
    }

    /// Updates state from received packets; returns a new RTT in ms if a report allows one.
    pub fn on_packets(
        &mut self,
        pkts: &[RtcpPacket],
        local_ssrc: u32,
        now: Instant,
    ) -> Option<f64> {
        let mut rtt = None;
        for p in pkts {
            let reports = match p {
                RtcpPacket::SenderReport { info, reports, .. } => {
                    self.remote_sr = Some(((info.ntp >> 16) as u32, now));
                    reports
                }
                RtcpPacket::ReceiverReport { reports, .. } => reports,
                _ => continue,
            };
            for r in reports
                .iter()
                .filter(|r| r.ssrc == local_ssrc && r.last_sr != 0)
            {
                if let Some(&(_, sent)) = self.our_srs.iter().find(|(mid, _)| *mid == r.last_sr) {
                    let held = r.delay_since_last_sr as f64 / 65536.0;
                    let total = now.saturating_duration_since(sent).as_secs_f64();
                    rtt = Some(((total - held) * 1000.0).max(0.0));
                }
            }
        }
        rtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sr_sdes_bye_round_trip() {
        let info = SenderInfo {
            ntp: 0x1234_5678_9ABC_DEF0,
            rtp_timestamp: 7,
            packets: 9,
            octets: 1440,
        };
        let block = ReportBlock {
            ssrc: 42,
            fraction_lost: 3,
            cumulative_lost: -2,
            highest_seq: 70000,
            jitter: 12,
            last_sr: 5,
            delay_since_last_sr: 6,
        };
        let mut buf = Vec::new();
        write_sr(1, &info, &[block], &mut buf);
        write_sdes_cname(1, "ivr@host", &mut buf);
        write_bye(1, &mut buf);
        let pkts = parse_compound(&buf).unwrap();
        assert_eq!(
            pkts[0],
            RtcpPacket::SenderReport {
                ssrc: 1,
                info,
                reports: vec![block]
            }
        );
        assert_eq!(
            pkts[1],
            RtcpPacket::SourceDescription(vec![(1, "ivr@host".into())])
        );
        assert_eq!(
            pkts[2],
            RtcpPacket::Bye {
                ssrcs: vec![1],
                reason: None
            }
        );
        assert!(parse_compound(&buf[..buf.len() - 1]).is_err());
    }

    #[test]
    fn rtt_from_lsr_dlsr() {
        let t0 = Instant::now();
        let mut st = RtcpState::default();
        let ntp = ntp_from_unix(Duration::from_secs(1_700_000_000));
        st.sent_sr(ntp, t0);
        // the peer held our SR for 100 ms and the network took 30 ms each way
        let rr = RtcpPacket::ReceiverReport {
            ssrc: 9,
            reports: vec![ReportBlock {
                ssrc: 77,
                fraction_lost: 0,
                cumulative_lost: 0,
                highest_seq: 0,
                jitter: 0,
                last_sr: (ntp >> 16) as u32,
                delay_since_last_sr: 6554,
            }],
        };
        let rtt = st
            .on_packets(&[rr], 77, t0 + Duration::from_millis(160))
            .unwrap();
        assert!((rtt - 60.0).abs() < 0.5, "{rtt}");
    }

    proptest! {
        #[test]
        fn arbitrary_rtcp_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_compound(&data);
        }
    }
}
