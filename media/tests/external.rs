//! Tests against other tools and real captures: sox (G.711), tshark (RTP payload export)
//! and SIPp's bundled pcaps. The tools are Debian packages installed by
//! `scripts/setup-system.sh` (sox, tshark, sip-tester); a missing one fails the test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ivr_media::{Codec, Inbound, RtpSession, RtpSessionConfig};
use ivr_media::{pick_stream, read_rtp_streams, read_udp};

const SIPP_DIR: &str = "/usr/share/sip-tester";

fn sipp_pcap(name: &str) -> PathBuf {
    let p = Path::new(SIPP_DIR).join(name);
    assert!(
        p.exists(),
        "{} missing: install the Debian package sip-tester (scripts/setup-system.sh)",
        p.display()
    );
    p
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivr-media-ext-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (install it with scripts/setup-system.sh)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn le16(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Every 16-bit value through our encoder and through sox: identical bytes.
/// Then every code through both decoders: identical samples.
#[test]
fn g711_matches_sox_bit_for_bit() {
    let dir = tmpdir();
    let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let raw = dir.join("all.s16");
    std::fs::write(
        &raw,
        all.iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    for (codec, enc) in [(Codec::Pcmu, "u-law"), (Codec::Pcma, "a-law")] {
        let sox_bytes = run(Command::new("sox")
            .args([
                "-D", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
            ])
            .arg(&raw)
            .args(["-t", "raw", "-e", enc, "-"]));
        let mut ours = Vec::new();
        codec.encode(&all, &mut ours);
        assert_eq!(sox_bytes.len(), ours.len());
        // sox (dither off) rounds to the nearest 14-bit (µ) / 13-bit (A) value before
        // encoding, and its µ-law negates in two's complement; the ITU STL reference, which
        // we follow, truncates and uses ones' complement. So sox's code for x is our code
        // for the input that truncates to sox's rounded value (exhaustively checked here).
        let sox_input = |x: i16| -> i16 {
            let x = x as i32;
            let y = match codec {
                Codec::Pcmu => {
                    let r = (x + 2) >> 2;
                    4 * r - if r < 0 { 4 } else { 0 }
                }
                Codec::Pcma => ((x + 4) >> 3) * 8,
            };
            y.clamp(i16::MIN as i32, i16::MAX as i32) as i16
        };
        let diffs: Vec<(i16, u8, u8)> = all
            .iter()
            .zip(&sox_bytes)
            .filter(|(s, b)| codec.encode_sample(sox_input(**s)) != **b)
            .map(|(s, b)| (*s, codec.encode_sample(sox_input(*s)), *b))
            .take(5)
            .collect();
        assert!(
            diffs.is_empty(),
            "{enc}: encoder differs from sox at (sample, ours, sox): {diffs:?}"
        );
        // on the reconstruction levels (where rounding does not matter) the codes are equal
        for c in 0..=255u8 {
            let level = codec.decode_sample(c);
            let i = (level as i32 - i16::MIN as i32) as usize;
            if !(codec == Codec::Pcmu && level < 0) {
                assert_eq!(ours[i], sox_bytes[i], "{enc} level {level}");
            }
        }
        let codes: Vec<u8> = (0..=255).collect();
        let codes_file = dir.join(format!("codes.{enc}"));
        std::fs::write(&codes_file, &codes).unwrap();
        let sox_pcm = le16(&run(Command::new("sox")
            .args(["-t", "raw", "-r", "8000", "-e", enc, "-b", "8", "-c", "1"])
            .arg(&codes_file)
            .args(["-t", "raw", "-e", "signed", "-b", "16", "-L", "-"])));
        let mut ours = Vec::new();
        codec.decode(&codes, &mut ours);
        assert_eq!(ours, sox_pcm, "{enc}: decoder differs from sox");
    }
}

/// `g711a.pcap` decoded by us equals its RTP payloads exported by tshark and decoded by sox.
#[test]
fn g711a_pcap_decodes_like_tshark_plus_sox() {
    let pcap = sipp_pcap("g711a.pcap");
    let streams = read_rtp_streams(&pcap).unwrap();
    let s = pick_stream(&streams, None).expect("an audio stream");
    assert_eq!(s.ssrc, 0xDEE0_EE8F);
    assert_eq!(s.codec(), Some(Codec::Pcma));
    let ours = s.decode();
    // ~7 s of speech
    assert!(
        (ours.len() as f64 / 8000.0 - 7.08).abs() < 0.1,
        "{} samples",
        ours.len()
    );

    let fields = run(Command::new("tshark").arg("-r").arg(&pcap).args([
        "-o",
        "rtp.heuristic_rtp:TRUE",
        "-Y",
        "rtp.ssrc == 0xdee0ee8f",
        "-T",
        "fields",
        "-e",
        "rtp.payload",
    ]));
    let hex: String = String::from_utf8_lossy(&fields)
        .split_whitespace()
        .collect::<String>()
        .replace(':', "");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        bytes.len(),
        ours.len(),
        "tshark payload bytes vs our samples"
    );
    let dir = tmpdir();
    let alaw = dir.join("g711a.al");
    std::fs::write(&alaw, &bytes).unwrap();
    let sox_pcm = le16(&run(Command::new("sox")
        .args([
            "-t", "raw", "-r", "8000", "-e", "a-law", "-b", "8", "-c", "1",
        ])
        .arg(&alaw)
        .args(["-t", "raw", "-e", "signed", "-b", "16", "-L", "-"])));
    assert!(ours == sox_pcm, "decoded audio differs from tshark+sox");
    // it is speech, not silence
    let rms = (ours.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / ours.len() as f64).sqrt();
    assert!(rms > 300.0, "rms {rms}");
}

/// Every SIPp DTMF capture, fed datagram by datagram through the RTP session with its
/// original timing, yields exactly its one digit.
#[test]
fn sipp_rfc4733_pcaps_give_each_digit_exactly_once() {
    let cases = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("pound", '#'),
        ("star", '*'),
    ];
    for (name, digit) in cases {
        let pcap = sipp_pcap(&format!("dtmf_2833_{name}.pcap"));
        let datagrams = read_udp(&pcap).unwrap();
        assert!(!datagrams.is_empty());
        for pt_cfg in [Some(101), None] {
            let mut session = RtpSession::new(RtpSessionConfig {
                codec: Codec::Pcmu,
                telephone_event_pt: pt_cfg,
                remote: None,
                local_ssrc: 1,
            });
            let base = Instant::now();
            let t0 = datagrams[0].time;
            let mut got = Vec::new();
            for d in &datagrams {
                let now = base + d.time.saturating_sub(t0);
                if let Inbound::Dtmf(x) = session.on_datagram(&d.payload, d.src, now) {
                    got.push(x.digit);
                }
            }
            assert_eq!(got, vec![digit], "{name} (pt {pt_cfg:?})");
        }
    }
}

/// The session latches to the first source, ignores STUN and others, and counts loss.
#[test]
fn session_latches_and_ignores_stun_on_real_packets() {
    let pcap = sipp_pcap("g711a.pcap");
    let datagrams = read_udp(&pcap).unwrap();
    let mut session = RtpSession::new(RtpSessionConfig {
        codec: Codec::Pcma,
        telephone_event_pt: Some(101),
        remote: None,
        local_ssrc: 1,
    });
    let intruder: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let mut stun = vec![0u8; 20];
    stun[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    let base = Instant::now();
    let mut audio = 0;
    for (i, d) in datagrams.iter().enumerate() {
        if i == 10 {
            continue; // one lost packet
        }
        let now = base + Duration::from_millis(30 * i as u64);
        assert_eq!(
            session.on_datagram(&stun, d.src, now),
            Inbound::Ignored(ivr_media::IgnoreReason::Stun)
        );
        if let Inbound::Audio(a) = session.on_datagram(&d.payload, d.src, now) {
            assert_eq!(a.samples.len(), 240);
            audio += 1;
        }
        assert_eq!(
            session.on_datagram(&d.payload, intruder, now),
            Inbound::Ignored(ivr_media::IgnoreReason::OtherSource(intruder))
        );
    }
    assert_eq!(session.remote(), Some(datagrams[0].src));
    let st = session.stats();
    assert_eq!(audio, 235);
    assert_eq!(st.packets_lost, 1);
    assert_eq!(st.stun_ignored, 235);
    // recorded at ~30 ms spacing, replayed at exactly 30 ms: jitter reflects the capture's own
    // timestamps versus our even spacing, i.e. small
    assert!(st.jitter_ms() < 5.0, "{}", st.jitter_ms());
}

/// Real speech (SIPp's g711a.pcap, 7 s) gives no false in-band digits.
#[test]
fn no_false_inband_digits_on_speech() {
    let streams = read_rtp_streams(&sipp_pcap("g711a.pcap")).unwrap();
    let speech = pick_stream(&streams, None).unwrap().decode();
    let mut det = ivr_media::InbandDtmfDetector::new();
    let got: Vec<char> = speech.chunks(160).flat_map(|f| det.push(f)).collect();
    assert!(got.is_empty(), "false digits {got:?}");
    // and the same detector finds a digit mixed into that speech at a normal level
    let mut mixed = speech.clone();
    let tone = ivr_media::dtmf_tone('7', 100, 5000.0).unwrap();
    for (s, t) in mixed[20000..].iter_mut().zip(&tone) {
        *s = s.saturating_add(*t);
    }
    let mut det = ivr_media::InbandDtmfDetector::new();
    let got: Vec<char> = mixed.chunks(160).flat_map(|f| det.push(f)).collect();
    assert_eq!(got, vec!['7']);
}

/// Bounded stand-in for the fuzz target (which needs nightly): random datagrams through the
/// session and jitter buffer, and randomly corrupted/truncated captures through the pcap
/// reader. Nothing may panic.
#[test]
fn random_and_corrupted_inputs_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let base = Instant::now();
    let mut s = RtpSession::new(RtpSessionConfig {
        codec: Codec::Pcmu,
        telephone_event_pt: None,
        remote: None,
        local_ssrc: 1,
    });
    let mut jb =
        ivr_media::JitterBuffer::new(Duration::from_millis(20), Duration::from_millis(200));
    // `make fuzz` raises the count (IVR_FUZZ_ITERATIONS); the seed is fixed, so a failure
    // reproduces.
    let iterations: u64 = std::env::var("IVR_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    for i in 0..iterations {
        let len = (rnd() % 200) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        if i % 2 == 0 && d.len() >= 12 {
            d[0] = 0x80 | (d[0] & 0x3F); // mostly-valid RTP to reach deeper code
            d[1] &= 0x7F;
            if i % 4 == 0 {
                d[1] = 0;
            }
        }
        let now = base + Duration::from_micros(i * 7000 + rnd() % 5000);
        if let Inbound::Audio(a) = s.on_datagram(&d, from, now) {
            jb.push(a, now);
        }
        let _ = jb.pop_frame(now);
        let _ = ivr_media::parse_rtcp_compound(&d);
    }
    let original = std::fs::read(sipp_pcap("g711a.pcap")).unwrap();
    let dir = tmpdir();
    let p = dir.join("corrupt.pcap");
    for i in 0..200 {
        let mut d = original.clone();
        for _ in 0..(1 + rnd() % 20) {
            let at = (rnd() as usize) % d.len();
            d[at] = rnd() as u8;
        }
        if i % 3 == 0 {
            d.truncate((rnd() as usize) % d.len());
        }
        std::fs::write(&p, &d).unwrap();
        if let Ok(streams) = read_rtp_streams(&p) {
            for st in &streams {
                let _ = st.decode();
            }
        }
    }
}
