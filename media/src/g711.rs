//! G.711 µ-law (PCMU) and A-law (PCMA), bit-exact with ITU-T G.711 / the ITU reference
//! implementation (g711.c of the STL): encoders take 16-bit linear PCM and use its top
//! 14 bits (µ-law) or 13 bits (A-law), decoders return the segment mid-point, scaled to 16 bits.

/// A G.711 codec as negotiated in SDP (static payload types 0 and 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// µ-law, PT 0.
    Pcmu,
    /// A-law, PT 8.
    Pcma,
}

impl Codec {
    /// RTP static payload type.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is G.711.
    pub const fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// SDP encoding name (`a=rtpmap:PT NAME/8000`).
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Encodes one sample.
    #[inline]
    pub fn encode_sample(self, s: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(s),
            Codec::Pcma => alaw_encode(s),
        }
    }

    /// Decodes one sample.
    #[inline]
    pub fn decode_sample(self, b: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_TO_LINEAR[b as usize],
            Codec::Pcma => ALAW_TO_LINEAR[b as usize],
        }
    }

    /// Encodes `pcm`, appending one byte per sample to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len());
        match self {
            Codec::Pcmu => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            Codec::Pcma => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Decodes `payload`, appending one sample per byte to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        out.reserve(payload.len());
        out.extend(payload.iter().map(|&b| table[b as usize]));
    }

    /// The byte that decodes to (near) zero: what silence looks like on the wire.
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }
}

const ULAW_BIAS: i32 = 0x84; // 132, in the 16-bit domain (33 in 14-bit)

/// µ-law encode (G.711 §2, as in the ITU STL `linear2ulaw` on the top 14 bits).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // Work on the 14-bit value like the reference does (drop the 2 LSBs first), so that
    // rounding of the input is identical: x14 = s >> 2.
    let x14 = (sample as i32) >> 2;
    let (mask, mag) = if x14 < 0 {
        (0x7F, -x14 - 1)
    } else {
        (0xFF, x14)
    };
    let mag = (mag.min(8158) + 33) as u32; // 8158 + 33 = 8191 = 0x1FFF
    // segment = position of the highest set bit above bit 5
    let seg = (31 - mag.leading_zeros()) as i32 - 5;
    let seg = seg.clamp(0, 7);
    let mantissa = ((mag >> (seg + 1)) & 0x0F) as i32;
    ((((seg << 4) | mantissa) ^ mask) & 0xFF) as u8
}

/// µ-law decode to 16-bit linear (the 14-bit value shifted left by 2).
#[inline]
pub fn ulaw_decode(b: u8) -> i16 {
    ULAW_TO_LINEAR[b as usize]
}

/// A-law encode (G.711 §3, ITU STL `linear2alaw` on the top 13 bits).
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let x13 = (sample as i32) >> 3;
    let (mask, mag) = if x13 >= 0 {
        (0xD5, x13)
    } else {
        (0x55, -x13 - 1)
    };
    let mag = mag.min(4095) as u32;
    let code = if mag < 32 {
        (mag >> 1) as i32
    } else {
        // seg 1..7: highest set bit position 5..11
        let seg = (31 - mag.leading_zeros()) as i32 - 4;
        (seg << 4) | ((mag >> seg) & 0x0F) as i32
    };
    ((code ^ mask) & 0xFF) as u8
}

/// A-law decode to 16-bit linear (the 13-bit value shifted left by 3).
#[inline]
pub fn alaw_decode(b: u8) -> i16 {
    ALAW_TO_LINEAR[b as usize]
}

const fn ulaw_decode_calc(b: u8) -> i16 {
    let u = !b;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

const fn alaw_decode_calc(b: u8) -> i16 {
    let a = b ^ 0x55;
    let seg = ((a & 0x70) >> 4) as i32;
    let mut t = ((a & 0x0F) as i32) << 4;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode_calc(i as u8)
        } else {
            ulaw_decode_calc(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW_TO_LINEAR: [i16; 256] = build_table(false);
static ALAW_TO_LINEAR: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_itu_code_points() {
        // µ-law: 0xFF and 0x7F are +0/-0, 0x80 is the largest positive, 0x00 the largest negative.
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(32767), 0x80);
        assert_eq!(ulaw_encode(-32768), 0x00);
        // A-law: even bits inverted; 0xD5 is the smallest positive (+8), 0x55 smallest negative.
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(32767), 0xAA);
        assert_eq!(alaw_encode(-32768), 0x2A);
    }

    /// G.711 tables: encoding each decoder output returns the same code (the one exception
    /// is µ-law's negative zero 0x7F, which encodes as +0 0xFF).
    #[test]
    fn decode_then_encode_is_identity() {
        for b in 0..=255u8 {
            let expect_u = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), expect_u, "ulaw {b:#04x}");
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw {b:#04x}");
        }
    }

    /// The encoders are monotonic and decision thresholds are the midpoints of the table:
    /// every linear value encodes to the code whose reconstruction level is nearest
    /// (ties and the lowest-magnitude segment aside, as in G.711's quantiser).
    #[test]
    fn encoder_is_monotonic_over_all_inputs() {
        let mut prev_u = ulaw_decode(ulaw_encode(i16::MIN));
        let mut prev_a = alaw_decode(alaw_encode(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            assert!(u >= prev_u && a >= prev_a, "non-monotonic at {s}");
            // quantisation error bounded by the segment step (max step 1024 µ-law, 1024 A-law)
            assert!((u as i32 - s as i32).abs() <= 1100, "ulaw err at {s}");
            assert!((a as i32 - s as i32).abs() <= 1100, "alaw err at {s}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn payload_types() {
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(101), None);
        assert_eq!(Codec::Pcma.decode_sample(Codec::Pcma.silence_byte()), 8);
        assert_eq!(Codec::Pcmu.decode_sample(Codec::Pcmu.silence_byte()), 0);
    }
}
