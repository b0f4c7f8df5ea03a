//! RTP (RFC 3550) packet parsing and serialisation. Own parser (no `rtp-rs`/`rtp-types`):
//! it is ~150 lines, borrows the input, validates every length field and never panics.

use crate::MediaError;

/// Smallest RTP header.
pub const RTP_HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Raw CSRC list (4 bytes each).
    csrcs: &'a [u8],
    /// Header extension: (profile-defined id, data).
    pub extension: Option<(u16, &'a [u8])>,
    /// Payload without padding.
    pub payload: &'a [u8],
    /// Number of padding bytes that were removed.
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates an RTP packet (version 2, CSRC count, extension and padding
    /// lengths within the datagram).
    pub fn parse(data: &'a [u8]) -> Result<RtpPacket<'a>, MediaError> {
        if data.len() < RTP_HEADER_LEN {
            return Err(MediaError::Rtp("shorter than the 12-byte header"));
        }
        let b0 = data[0];
        if b0 >> 6 != 2 {
            return Err(MediaError::Rtp("version is not 2"));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = (b0 & 0x0F) as usize;
        let b1 = data[1];
        let mut pos = RTP_HEADER_LEN;
        let csrc_end = pos + 4 * csrc_count;
        let csrcs = data
            .get(pos..csrc_end)
            .ok_or(MediaError::Rtp("CSRC list beyond the end"))?;
        pos = csrc_end;
        let extension = if has_extension {
            let hdr = data
                .get(pos..pos + 4)
                .ok_or(MediaError::Rtp("extension header beyond the end"))?;
            let profile = u16::from_be_bytes([hdr[0], hdr[1]]);
            let words = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
            let start = pos + 4;
            let end = start + 4 * words;
            let ext = data
                .get(start..end)
                .ok_or(MediaError::Rtp("extension beyond the end"))?;
            pos = end;
            Some((profile, ext))
        } else {
            None
        };
        let mut end = data.len();
        let mut padding = 0u8;
        if has_padding {
            padding = data[end - 1];
            if padding == 0 || pos + padding as usize > end {
                return Err(MediaError::Rtp("bad padding length"));
            }
            end -= padding as usize;
        }
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            csrcs,
            extension,
            payload: &data[pos..end],
            padding,
        })
    }

    /// The contributing sources.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.csrcs
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Number of CSRCs.
    pub fn csrc_count(&self) -> usize {
        self.csrcs.len() / 4
    }
}

/// Fields for building an RTP header (no CSRCs, no extension: all the bot ever sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Appends header and payload to `out`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(RTP_HEADER_LEN + payload.len());
        out.push(0x80);
        out.push(((self.marker as u8) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
    }

    /// Header and payload as a new datagram.
    pub fn to_bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
        self.write(payload, &mut v);
        v
    }
}

/// Serialises a packet with CSRCs, extension and padding (for tests and tools).
pub fn write_full(p: &RtpPacket<'_>, out: &mut Vec<u8>) -> Result<(), MediaError> {
    let cc = p.csrc_count();
    if cc > 15 || !p.csrcs.len().is_multiple_of(4) {
        return Err(MediaError::Rtp("too many CSRCs"));
    }
    if p.payload_type > 127 {
        return Err(MediaError::Rtp("payload type > 127"));
    }
    let b0 = 0x80 | ((p.padding > 0) as u8) << 5 | (p.extension.is_some() as u8) << 4 | cc as u8;
    out.push(b0);
    out.push(((p.marker as u8) << 7) | p.payload_type);
    out.extend_from_slice(&p.sequence.to_be_bytes());
    out.extend_from_slice(&p.timestamp.to_be_bytes());
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(p.csrcs);
    if let Some((profile, data)) = p.extension {
        if !data.len().is_multiple_of(4) || data.len() / 4 > u16::MAX as usize {
            return Err(MediaError::Rtp("extension length not a multiple of 4"));
        }
        out.extend_from_slice(&profile.to_be_bytes());
        out.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(p.payload);
    if p.padding > 0 {
        out.extend(std::iter::repeat_n(0u8, p.padding as usize - 1));
        out.push(p.padding);
    }
    Ok(())
}

/// Builds a packet value for `write_full` from owned parts (test helper).
pub fn packet_from_parts<'a>(
    header: RtpHeader,
    csrcs: &'a [u8],
    extension: Option<(u16, &'a [u8])>,
    payload: &'a [u8],
    padding: u8,
) -> RtpPacket<'a> {
    RtpPacket {
        marker: header.marker,
        payload_type: header.payload_type,
        sequence: header.sequence,
        timestamp: header.timestamp,
        ssrc: header.ssrc,
        csrcs,
        extension,
        payload,
        padding,
    }
}

/// True if the datagram looks like STUN (RFC 5389: top two bits zero, magic cookie).
pub fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] & 0xC0 == 0 && data[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// True if the datagram looks like RTCP (RFC 5761 demultiplexing: PT 192-223 after the marker bit).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_sipp_packet_and_rejects_bad_ones() {
        let mut buf = Vec::new();
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 59133,
            timestamp: 240,
            ssrc: 0xDEE0_EE8F,
        };
        h.write(&[1, 2, 3], &mut buf);
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (8, 59133, 240, 0xDEE0_EE8F)
        );
        assert_eq!(p.payload, &[1, 2, 3]);
        assert!(RtpPacket::parse(&buf[..11]).is_err());
        let mut v1 = buf.clone();
        v1[0] = 0x40;
        assert!(RtpPacket::parse(&v1).is_err());
        let mut cc = buf.clone();
        cc[0] = 0x81; // claims one CSRC, only 3 bytes follow
        assert!(RtpPacket::parse(&cc).is_err());
        let mut pad = buf.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 200;
        assert!(RtpPacket::parse(&pad).is_err());
        let mut ext = buf.clone();
        ext[0] |= 0x10;
        assert!(RtpPacket::parse(&ext).is_err());
    }

    #[test]
    fn stun_and_rtcp_are_recognised() {
        let mut stun = vec![0u8; 20];
        stun[1] = 1;
        stun[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        assert!(is_stun(&stun));
        let rtp = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        }
        .to_bytes(&[0; 160]);
        assert!(!is_stun(&rtp) && !is_rtcp(&rtp));
        let rtp_marker_pt8 = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        }
        .to_bytes(&[0; 160]);
        assert!(!is_rtcp(&rtp_marker_pt8));
        assert!(is_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 1]));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        /// Arbitrary bytes never panic, and whatever parses re-serialises to the same bytes
        /// (modulo the padding bytes' content, which is not kept).
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = RtpPacket::parse(&data) {
                let mut out = Vec::new();
                write_full(&p, &mut out).unwrap();
                prop_assert_eq!(out.len(), data.len());
                let q = RtpPacket::parse(&out).unwrap();
                prop_assert_eq!(p, q);
            }
        }

        #[test]
        fn round_trip(marker: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
                      csrcs in proptest::collection::vec(any::<u8>(), 0..=15).prop_map(|v| v.iter().flat_map(|b| [*b; 4]).collect::<Vec<u8>>()),
                      ext in proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..10).prop_map(|v| v.iter().flat_map(|b| [*b; 4]).collect::<Vec<u8>>()))),
                      payload in proptest::collection::vec(any::<u8>(), 0..200), padding in 0u8..20) {
            let h = RtpHeader { marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc };
            let p = packet_from_parts(h, &csrcs, ext.as_ref().map(|(id, d)| (*id, d.as_slice())), &payload, padding);
            let mut out = Vec::new();
            write_full(&p, &mut out).unwrap();
            let q = RtpPacket::parse(&out).unwrap();
            prop_assert_eq!(p, q);
        }
    }
}
