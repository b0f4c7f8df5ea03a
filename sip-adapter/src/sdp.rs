//! SDP offer/answer (RFC 4566 / RFC 3264) for one G.711 audio stream. Sans-IO: text in,
//! plain data out. Only what an IVR needs: the first audio `m=` line, its connection
//! address, PCMU/PCMA, telephone-event, ptime and direction.

use std::net::{IpAddr, SocketAddr};

/// The G.711 codec both sides use: the media crate's type, so SIP and media agree on it
/// (no conversion that could fall back to PCMU silently).
pub use ivr_media::Codec;

/// Media direction attribute (RFC 3264 §5.1), seen from the side that wrote the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction to put in an answer to an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The remote party's audio description, parsed from its SDP.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSdp {
    /// Where to send RTP (`c=` of the media or session, `m=` port). Port 0 = stream rejected.
    pub rtp: SocketAddr,
    /// G.711 codecs offered, in the remote's order of preference.
    pub codecs: Vec<Codec>,
    /// Every payload type on the `m=` line, in order (for diagnostics and 488 decisions).
    pub payload_types: Vec<u8>,
    /// Payload type of `telephone-event/8000`, if offered.
    pub telephone_event_pt: Option<u8>,
    /// `a=ptime` if present (ms).
    pub ptime: Option<u32>,
    pub direction: Direction,
    /// Legacy hold: `c=IN IP4 0.0.0.0` (RFC 2543 style).
    pub zero_address: bool,
}

impl RemoteSdp {
    /// True when the remote puts us on hold (sendonly/inactive, or a 0.0.0.0 address).
    pub fn is_hold(&self) -> bool {
        self.zero_address || matches!(self.direction, Direction::SendOnly | Direction::Inactive)
    }
}

/// What the call will use after offer/answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedMedia {
    pub codec: Codec,
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// RFC 4733 payload type, mirrored from the caller (None: caller offered none).
    pub dtmf_pt: Option<u8>,
    /// Packet time in ms (20 unless the remote asked for something else we can honour).
    pub ptime: u32,
    /// Our direction (what we wrote in our SDP).
    pub direction: Direction,
}

impl NegotiatedMedia {
    /// True when we must not send audio (remote holds us).
    pub fn on_hold(&self) -> bool {
        matches!(self.direction, Direction::RecvOnly | Direction::Inactive)
    }
}

/// Why an SDP could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not UTF-8")]
    NotUtf8,
    #[error("SDP has no audio m= line")]
    NoAudio,
    #[error("SDP has no usable connection address")]
    NoConnection,
    #[error("SDP line is malformed: {0}")]
    Malformed(String),
    /// Maps to SIP 488 Not Acceptable Here.
    #[error("no common codec (offered payload types {0:?}; we take PCMU/PCMA)")]
    NoCommonCodec(Vec<u8>),
}

/// Parse the remote SDP (offer or answer). Considers the first `m=audio` line only.
pub fn parse(body: &[u8]) -> Result<RemoteSdp, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    let mut session_conn: Option<IpAddr> = None;
    let mut media_conn: Option<IpAddr> = None;
    let mut session_dir = Direction::SendRecv;
    let mut media_dir: Option<Direction> = None;
    let mut port: Option<u16> = None;
    let mut pts: Vec<u8> = Vec::new();
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();
    let mut ptime = None;
    // 0 = session section, 1 = our audio section, 2 = after it (other media)
    let mut section = 0u8;

    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                if section == 1 {
                    section = 2;
                    continue;
                }
                if section == 2 {
                    continue;
                }
                let mut parts = value.split_whitespace();
                if parts.next() != Some("audio") {
                    continue;
                }
                let p = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| SdpError::Malformed(line.to_string()))?;
                let _proto = parts.next();
                for pt in parts {
                    let pt = pt
                        .parse::<u8>()
                        .map_err(|_| SdpError::Malformed(line.to_string()))?;
                    pts.push(pt);
                }
                port = Some(p);
                section = 1;
            }
            "c" if section != 2 => {
                let mut parts = value.split_whitespace();
                let (_net, _family, addr) = (parts.next(), parts.next(), parts.next());
                let addr = addr
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .ok_or(SdpError::NoConnection)?;
                if section == 0 {
                    session_conn = Some(addr);
                } else {
                    media_conn = Some(addr);
                }
            }
            "a" if section != 2 => {
                let dir = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if section == 0 {
                        session_dir = d;
                    } else {
                        media_dir = Some(d);
                    }
                } else if let Some(rest) = value.strip_prefix("rtpmap:") {
                    if let Some((pt, enc)) = rest.split_once(' ')
                        && let Ok(pt) = pt.trim().parse::<u8>()
                    {
                        rtpmaps.push((pt, enc.trim().to_ascii_lowercase()));
                    }
                } else if let Some(rest) = value.strip_prefix("ptime:") {
                    ptime = rest.trim().parse::<u32>().ok();
                }
            }
            _ => {}
        }
    }

    let port = port.ok_or(SdpError::NoAudio)?;
    let ip = media_conn.or(session_conn).ok_or(SdpError::NoConnection)?;
    let mut codecs = Vec::new();
    let mut telephone_event_pt = None;
    for &pt in &pts {
        let map = rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, e)| e.as_str());
        let codec = match (pt, map) {
            (_, Some(enc)) if enc.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(enc)) if enc.starts_with("pcma/8000") => Some(Codec::Pcma),
            (_, Some(enc)) if enc.starts_with("telephone-event/8000") => {
                telephone_event_pt.get_or_insert(pt);
                None
            }
            // Static types may come without rtpmap (RFC 3551).
            (0, None) => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            _ => None,
        };
        if let Some(c) = codec
            && !codecs.contains(&c)
        {
            codecs.push(c);
        }
    }
    Ok(RemoteSdp {
        rtp: SocketAddr::new(ip, port),
        codecs,
        payload_types: pts,
        telephone_event_pt,
        ptime,
        direction: media_dir.unwrap_or(session_dir),
        zero_address: ip.is_unspecified(),
    })
}

/// Pick what to answer: the remote's first G.711 codec, its telephone-event PT, ptime 20.
pub fn negotiate(offer: &RemoteSdp) -> Result<NegotiatedMedia, SdpError> {
    let codec = *offer
        .codecs
        .first()
        .ok_or_else(|| SdpError::NoCommonCodec(offer.payload_types.clone()))?;
    if offer.rtp.port() == 0 {
        return Err(SdpError::NoCommonCodec(offer.payload_types.clone()));
    }
    let direction = if offer.zero_address {
        Direction::Inactive
    } else {
        offer.direction.answer()
    };
    Ok(NegotiatedMedia {
        codec,
        remote_rtp: offer.rtp,
        dtmf_pt: offer.telephone_event_pt,
        // We packetise 20 ms; honour 10..=60 ms multiples of 10 if asked, else 20.
        ptime: match offer.ptime {
            Some(p) if (10..=60).contains(&p) && p % 10 == 0 => p,
            _ => 20,
        },
        direction,
    })
}

/// Session-level identity of our SDP, kept per call so re-answers bump the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpOrigin {
    pub session_id: u64,
    pub version: u64,
}

/// Our SDP answer for the negotiated media, one codec, telephone-event at the caller's PT.
pub fn build_answer(local_rtp: SocketAddr, media: &NegotiatedMedia, origin: SdpOrigin) -> String {
    let mut pts = vec![media.codec.payload_type()];
    let mut attrs = format!(
        "a=rtpmap:{} {}/8000\r\n",
        media.codec.payload_type(),
        media.codec.name()
    );
    if let Some(te) = media.dtmf_pt {
        pts.push(te);
        attrs.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    sdp_text(
        local_rtp,
        &pts,
        &attrs,
        media.ptime,
        media.direction,
        origin,
    )
}

/// Our SDP offer (late-offer INVITE, or a re-INVITE without SDP): PCMU, PCMA, telephone-event 101.
pub fn build_offer(local_rtp: SocketAddr, origin: SdpOrigin) -> String {
    let attrs = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
    sdp_text(
        local_rtp,
        &[0, 8, 101],
        attrs,
        20,
        Direction::SendRecv,
        origin,
    )
}

/// Apply the remote's answer to our offer (late offer): its first codec that we offered.
pub fn apply_answer(answer: &RemoteSdp) -> Result<NegotiatedMedia, SdpError> {
    let mut m = negotiate(answer)?;
    // The answerer must use one of our PTs; we offered telephone-event at 101.
    m.dtmf_pt = answer.telephone_event_pt.map(|_| 101);
    Ok(m)
}

fn sdp_text(
    local_rtp: SocketAddr,
    pts: &[u8],
    attrs: &str,
    ptime: u32,
    direction: Direction,
    origin: SdpOrigin,
) -> String {
    let family = if local_rtp.is_ipv6() { "IP6" } else { "IP4" };
    let ip = local_rtp.ip();
    let pt_list: Vec<String> = pts.iter().map(|p| p.to_string()).collect();
    format!(
        "v=0\r\no=ivr {} {} IN {family} {ip}\r\ns=ivr\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP {}\r\n{attrs}a=ptime:{ptime}\r\na={}\r\n",
        origin.session_id,
        origin.version,
        local_rtp.port(),
        pt_list.join(" "),
        direction.attr()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_UAC: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    const BARESIP: &str = "v=0\r\no=- 1403929467 1632315287 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 1.0.0\r\nm=audio 10186 RTP/AVP 0 101\r\n\
b=AS:77\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
a=sendrecv\r\na=label:1\r\na=ssrc:1838911215 cname:sip:caller@127.0.0.1\r\na=rtcp-rsize\r\n\
a=ptime:20\r\n";

    const LINPHONE: &str = "v=0\r\no=caller 2411 1563 IN IP4 127.0.0.1\r\ns=Talk\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\na=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\na=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\na=rtpmap:97 speex/16000\r\na=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\na=fmtp:98 vbr=on\r\na=fmtp:18 annexb=yes\r\n\
a=rtpmap:101 telephone-event/48000\r\na=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\na=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\n";

    // Typical carrier offer (Sonus/Ribbon style): session c=, ptime, maxptime, G.729 first.
    const CARRIER: &str = "v=0\r\no=Sonus_UAC 236436 717839 IN IP4 203.0.113.17\r\ns=SIP Media Capabilities\r\n\
c=IN IP4 203.0.113.18\r\nt=0 0\r\nm=audio 21316 RTP/AVP 18 0 8 96\r\na=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=sendrecv\r\na=ptime:20\r\na=maxptime:40\r\n";

    // Carrier hold re-INVITE in RFC 2543 style, plus a video stream we must ignore.
    const HOLD_ZERO: &str = "v=0\r\no=- 1 2 IN IP4 198.51.100.5\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\nm=video 30002 RTP/AVP 96\r\nc=IN IP4 198.51.100.9\r\na=rtpmap:96 H264/90000\r\n";

    const G729_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    fn origin() -> SdpOrigin {
        SdpOrigin {
            session_id: 7,
            version: 1,
        }
    }

    #[test]
    fn sipp_offer_pcma_with_te_101() {
        let o = parse(SIPP_UAC.as_bytes()).unwrap();
        assert_eq!(o.rtp, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(o.codecs, vec![Codec::Pcma]);
        assert_eq!(o.telephone_event_pt, Some(101));
        let m = negotiate(&o).unwrap();
        assert_eq!((m.codec, m.dtmf_pt, m.ptime), (Codec::Pcma, Some(101), 20));
        let ans = build_answer("127.0.0.1:40000".parse().unwrap(), &m, origin());
        assert!(ans.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{ans}");
        assert!(ans.contains("a=rtpmap:101 telephone-event/8000"));
        assert!(ans.contains("a=sendrecv"));
        // Our answer parses back to the same media.
        let back = parse(ans.as_bytes()).unwrap();
        assert_eq!(back.codecs, vec![Codec::Pcma]);
        assert_eq!(back.rtp.port(), 40000);
    }

    #[test]
    fn baresip_offer_pcmu() {
        let o = parse(BARESIP.as_bytes()).unwrap();
        assert_eq!(o.rtp.port(), 10186);
        let m = negotiate(&o).unwrap();
        assert_eq!((m.codec, m.dtmf_pt), (Codec::Pcmu, Some(101)));
    }

    #[test]
    fn linphone_offer_picks_pcmu_and_8k_telephone_event() {
        let o = parse(LINPHONE.as_bytes()).unwrap();
        assert_eq!(o.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        // 101 is telephone-event/48000: only the 8 kHz one (100) fits G.711.
        assert_eq!(o.telephone_event_pt, Some(100));
        let m = negotiate(&o).unwrap();
        assert_eq!(m.codec, Codec::Pcmu);
        let ans = build_answer("127.0.0.1:4002".parse().unwrap(), &m, origin());
        assert!(ans.contains("RTP/AVP 0 100\r\n"), "{ans}");
    }

    #[test]
    fn carrier_offer_skips_g729_uses_session_c_and_te_96() {
        let o = parse(CARRIER.as_bytes()).unwrap();
        assert_eq!(o.rtp, "203.0.113.18:21316".parse().unwrap());
        assert_eq!(o.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(o.telephone_event_pt, Some(96));
        let m = negotiate(&o).unwrap();
        assert_eq!((m.codec, m.dtmf_pt), (Codec::Pcmu, Some(96)));
    }

    #[test]
    fn zero_address_is_hold_and_video_is_ignored() {
        let o = parse(HOLD_ZERO.as_bytes()).unwrap();
        assert!(o.is_hold());
        assert_eq!(o.rtp.port(), 30000);
        assert_eq!(negotiate(&o).unwrap().direction, Direction::Inactive);
    }

    #[test]
    fn sendonly_offer_gets_recvonly_answer() {
        let s = SIPP_UAC.replace(
            "a=fmtp:101 0-11,16\r\n",
            "a=fmtp:101 0-11,16\r\na=sendonly\r\n",
        );
        let o = parse(s.as_bytes()).unwrap();
        assert!(o.is_hold());
        let m = negotiate(&o).unwrap();
        assert_eq!(m.direction, Direction::RecvOnly);
        assert!(m.on_hold());
    }

    #[test]
    fn g729_only_is_488() {
        let o = parse(G729_ONLY.as_bytes()).unwrap();
        assert_eq!(negotiate(&o), Err(SdpError::NoCommonCodec(vec![18, 101])));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(b"hello"), Err(SdpError::NoAudio));
        assert_eq!(parse(&[0xff, 0xfe]), Err(SdpError::NotUtf8));
        assert!(parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
        assert_eq!(
            parse(b"v=0\r\nm=audio 5 RTP/AVP 0\r\n"),
            Err(SdpError::NoConnection)
        );
        assert!(parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 300\r\n").is_err());
    }

    #[test]
    fn late_offer_round_trip() {
        let offer = build_offer("127.0.0.1:5000".parse().unwrap(), origin());
        let o = parse(offer.as_bytes()).unwrap();
        assert_eq!(o.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(o.telephone_event_pt, Some(101));
        // SIPp-style answer choosing PCMA only.
        let ans = parse(SIPP_UAC.as_bytes()).unwrap();
        let m = apply_answer(&ans).unwrap();
        assert_eq!((m.codec, m.dtmf_pt), (Codec::Pcma, Some(101)));
    }
}
