//! pcap/pcapng reading: UDP datagrams that parse as RTP, grouped into streams per SSRC,
//! decoded to 8 kHz PCM (for `ivr pcap2wav`, replay fixtures and tests).

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::MediaError;
use crate::g711::Codec;
use crate::rtp::{RtpPacket, is_rtcp, is_stun};

/// A UDP datagram from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    /// Capture timestamp (since the Unix epoch).
    pub time: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// One captured RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRtp {
    pub time: Duration,
    pub sequence: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub payload: Vec<u8>,
}

/// All packets of one SSRC from one source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpStream {
    pub ssrc: u32,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// In capture order.
    pub packets: Vec<CapturedRtp>,
}

impl RtpStream {
    /// The G.711 codec most packets use, if any.
    pub fn codec(&self) -> Option<Codec> {
        let mu = self.packets.iter().filter(|p| p.payload_type == 0).count();
        let a = self.packets.iter().filter(|p| p.payload_type == 8).count();
        match (mu, a) {
            (0, 0) => None,
            (m, a) if m >= a => Some(Codec::Pcmu),
            _ => Some(Codec::Pcma),
        }
    }

    /// Number of G.711 payload bytes (= samples).
    pub fn audio_samples(&self) -> usize {
        self.packets
            .iter()
            .filter(|p| p.payload_type == 0 || p.payload_type == 8)
            .map(|p| p.payload.len())
            .sum()
    }

    /// Decodes the G.711 packets in sequence-number order (duplicates dropped); timestamp
    /// gaps (lost packets, silence suppression) become silence, so the output keeps time.
    pub fn decode(&self) -> Vec<i16> {
        let Some(codec) = self.codec() else {
            return Vec::new();
        };
        let mut pkts: Vec<(i64, &CapturedRtp)> = Vec::new();
        let mut last: Option<i64> = None;
        for p in self
            .packets
            .iter()
            .filter(|p| p.payload_type == codec.payload_type())
        {
            // extend the 16-bit sequence number
            let ext = match last {
                None => p.sequence as i64,
                Some(l) => l + p.sequence.wrapping_sub(l as u16) as i16 as i64,
            };
            last = Some(last.map_or(ext, |l| l.max(ext)));
            pkts.push((ext, p));
        }
        pkts.sort_by_key(|(s, _)| *s);
        pkts.dedup_by_key(|(s, _)| *s);
        let mut out = Vec::new();
        let mut next_ts: Option<u32> = None;
        for (_, p) in pkts {
            if let Some(expect) = next_ts {
                let gap = p.timestamp.wrapping_sub(expect) as i32;
                // fill plausible gaps (up to a minute); ignore backwards steps and wild jumps
                if gap > 0 && gap < 60 * 8000 {
                    out.resize(out.len() + gap as usize, 0);
                }
            }
            codec.decode(&p.payload, &mut out);
            next_ts = Some(p.timestamp.wrapping_add(p.payload.len() as u32));
        }
        out
    }

    /// RFC 4733 packets of this stream (payload types other than 0/8 with 4-byte payloads).
    pub fn event_packets(&self) -> impl Iterator<Item = &CapturedRtp> {
        self.packets
            .iter()
            .filter(|p| p.payload_type >= 96 && p.payload.len() >= 4)
    }
}

fn pcap_err(path: &Path, message: impl ToString) -> MediaError {
    MediaError::Pcap {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Extracts the UDP datagram from a link-layer frame; None for anything else.
fn udp_of(link: DataLink, frame: &[u8], time: Duration) -> Option<UdpDatagram> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(frame).ok()?,
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(frame).ok()?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(frame).ok()?,
        // BSD loopback: 4-byte address family, then IP
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(frame.get(4..)?).ok()?,
        _ => return None,
    };
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match sliced.net? {
        NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        _ => return None,
    };
    let TransportSlice::Udp(udp) = sliced.transport? else {
        return None;
    };
    Some(UdpDatagram {
        time,
        src: SocketAddr::new(src_ip, udp.source_port()),
        dst: SocketAddr::new(dst_ip, udp.destination_port()),
        payload: udp.payload().to_vec(),
    })
}

/// All UDP datagrams in a pcap or pcapng file (format detected from the magic number).
pub fn read_udp(path: &Path) -> Result<Vec<UdpDatagram>, MediaError> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| pcap_err(path, e))?;
    let mut out = Vec::new();
    if data.starts_with(&[0x0A, 0x0D, 0x0D, 0x0A]) {
        let mut reader = PcapNgReader::new(&data[..]).map_err(|e| pcap_err(path, e))?;
        while let Some(block) = reader.next_block() {
            let (block, state) = block.map_err(|e| pcap_err(path, e))?;
            let (iface, time, frame) = match &block {
                Block::EnhancedPacket(p) => (p.interface_id as usize, p.timestamp, &p.data[..]),
                Block::SimplePacket(p) => (0, Duration::ZERO, &p.data[..]),
                _ => continue,
            };
            let Some(idb) = state.interfaces().get(iface) else {
                return Err(pcap_err(path, "packet refers to an undeclared interface"));
            };
            if let Some(d) = udp_of(idb.linktype, frame, time) {
                out.push(d);
            }
        }
    } else {
        let mut reader = PcapReader::new(&data[..]).map_err(|e| pcap_err(path, e))?;
        let link = reader.header().datalink;
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.map_err(|e| pcap_err(path, e))?;
            if let Some(d) = udp_of(link, pkt.data(), pkt.timestamp()) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// RTP streams in a capture, keyed by (SSRC, source address), in order of first appearance.
pub fn read_rtp_streams(path: &Path) -> Result<Vec<RtpStream>, MediaError> {
    let mut streams: Vec<RtpStream> = Vec::new();
    for d in read_udp(path)? {
        if is_stun(&d.payload) || is_rtcp(&d.payload) {
            continue;
        }
        let Ok(p) = RtpPacket::parse(&d.payload) else {
            continue;
        };
        let pkt = CapturedRtp {
            time: d.time,
            sequence: p.sequence,
            timestamp: p.timestamp,
            marker: p.marker,
            payload_type: p.payload_type,
            payload: p.payload.to_vec(),
        };
        match streams
            .iter_mut()
            .find(|s| s.ssrc == p.ssrc && s.src == d.src)
        {
            Some(s) => s.packets.push(pkt),
            None => streams.push(RtpStream {
                ssrc: p.ssrc,
                src: d.src,
                dst: d.dst,
                packets: vec![pkt],
            }),
        }
    }
    Ok(streams)
}

/// The stream `pcap2wav` decodes: the given SSRC, else the one with the most audio.
pub fn pick_stream(streams: &[RtpStream], ssrc: Option<u32>) -> Option<&RtpStream> {
    match ssrc {
        Some(x) => streams
            .iter()
            .filter(|s| s.ssrc == x)
            .max_by_key(|s| s.audio_samples()),
        None => streams
            .iter()
            .filter(|s| s.audio_samples() > 0)
            .max_by_key(|s| s.audio_samples()),
    }
}
