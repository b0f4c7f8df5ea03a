//! Fixtures: the caller side of a recorded call (WAV, stereo call recording, pcap) as
//! timed RTP datagrams.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use ivr_media::Codec;
use ivr_media::{RtpHeader, RtpPacket};

/// Where the simulated caller's RTP comes from when the fixture doesn't say (WAV input).
const WAV_CALLER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000);
/// RTP payload type used for telephone-events when a WAV fixture has none.
const DEFAULT_EVENT_PT: u8 = 101;

/// One RTP datagram of the caller, at its offset from the start of the call.
#[derive(Debug, Clone)]
pub struct TimedDatagram {
    pub at: Duration,
    pub data: Vec<u8>,
}

/// The caller side of a call, ready to be fed to the core.
#[derive(Debug, Clone)]
pub struct CallerMedia {
    pub codec: Codec,
    pub telephone_event_pt: Option<u8>,
    pub from: SocketAddr,
    pub datagrams: Vec<TimedDatagram>,
    /// What the fixture was, for the report ("wav mono 16000 Hz", "pcap ssrc 0x1234").
    pub description: String,
}

impl CallerMedia {
    pub fn duration(&self) -> Duration {
        self.datagrams.last().map_or(Duration::ZERO, |d| d.at)
    }
}

/// Loads a fixture: `.wav` (mono, or stereo with the caller on the left) or
/// `.pcap`/`.pcapng` (the caller's RTP stream with its captured timing).
pub fn load_fixture(path: &Path, ssrc: Option<u32>) -> Result<CallerMedia> {
    if !path.is_file() {
        bail!(
            "fixture {} does not exist (or is not a file)",
            path.display()
        );
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "wav" => wav_fixture(path),
        "pcap" | "pcapng" | "cap" => pcap_fixture(path, ssrc),
        _ => bail!(
            "fixture {}: unknown type (want .wav, .pcap or .pcapng)",
            path.display()
        ),
    }
}

/// Caller audio of a WAV: mono as is, stereo's left channel (a call recording: caller
/// left, bot right), resampled to 8 kHz.
fn read_caller_wav(path: &Path) -> Result<(Vec<i16>, String)> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| anyhow!("fixture {}: not a readable WAV: {e}", path.display()))?;
    let spec = reader.spec();
    drop(reader);
    if spec.channels == 2 {
        // ivr_media::read_wav mixes stereo down; a call recording wants the left channel
        // only, so split it out here and hand it to the common resampler.
        let left = read_left_channel(path)?;
        let audio = ivr_media::WavAudio {
            sample_rate: spec.sample_rate,
            samples: left,
        };
        if !(8000..=48000).contains(&spec.sample_rate) {
            bail!(
                "fixture {}: sample rate {} Hz is outside 8-48 kHz",
                path.display(),
                spec.sample_rate
            );
        }
        let a = audio.resampled(ivr_media::SAMPLE_RATE)?;
        return Ok((
            a.samples,
            format!("wav stereo {} Hz (caller = left channel)", spec.sample_rate),
        ));
    }
    let audio = ivr_media::read_wav(path)?;
    let rate = audio.sample_rate;
    let a = audio.resampled(ivr_media::SAMPLE_RATE)?;
    Ok((a.samples, format!("wav mono {rate} Hz")))
}

fn read_left_channel(path: &Path) -> Result<Vec<i16>> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| anyhow!("fixture {}: not a readable WAV: {e}", path.display()))?;
    let spec = reader.spec();
    let err = |e: hound::Error| anyhow!("fixture {}: {e}", path.display());
    let all: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(ivr_media::f32_to_i16))
            .collect::<Result<_, _>>()
            .map_err(err)?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let shift = bits as i32 - 16;
            reader
                .into_samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        let v = if shift >= 0 { v >> shift } else { v << -shift };
                        v.clamp(i16::MIN as i32, i16::MAX as i32) as i16
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(err)?
        }
        (f, b) => bail!(
            "fixture {}: unsupported sample format {f:?} {b}-bit",
            path.display()
        ),
    };
    Ok(all.chunks(2).map(|c| c[0]).collect())
}

fn wav_fixture(path: &Path) -> Result<CallerMedia> {
    let (pcm, description) = read_caller_wav(path)?;
    if pcm.is_empty() {
        bail!("fixture {}: the WAV has no audio", path.display());
    }
    let codec = Codec::Pcmu;
    let ssrc = 0x5EED_CA11;
    let mut datagrams = Vec::with_capacity(pcm.len() / ivr_media::FRAME_SAMPLES + 1);
    let mut payload = Vec::with_capacity(ivr_media::FRAME_SAMPLES);
    for (i, frame) in pcm.chunks(ivr_media::FRAME_SAMPLES).enumerate() {
        let mut f = [0i16; ivr_media::FRAME_SAMPLES];
        f[..frame.len()].copy_from_slice(frame);
        payload.clear();
        codec.encode(&f, &mut payload);
        let header = RtpHeader {
            marker: i == 0,
            payload_type: codec.payload_type(),
            sequence: i as u16,
            timestamp: (i * ivr_media::FRAME_SAMPLES) as u32,
            ssrc,
        };
        datagrams.push(TimedDatagram {
            at: ivr_media::FRAME_DURATION * i as u32,
            data: header.to_bytes(&payload),
        });
    }
    Ok(CallerMedia {
        codec,
        telephone_event_pt: Some(DEFAULT_EVENT_PT),
        from: WAV_CALLER,
        datagrams,
        description: format!("{description}, G.711 PCMU, 20 ms packets"),
    })
}

fn pcap_fixture(path: &Path, ssrc: Option<u32>) -> Result<CallerMedia> {
    let streams = ivr_media::read_rtp_streams(path)?;
    // Audio streams, and keypad-only ones (telephone-events without G.711).
    let audio: Vec<_> = streams
        .iter()
        .filter(|s| s.codec().is_some() || s.event_packets().next().is_some())
        .collect();
    if audio.is_empty() {
        bail!(
            "fixture {}: no G.711 or telephone-event RTP stream in the capture ({} RTP streams of other kinds)",
            path.display(),
            streams.len()
        );
    }
    // The caller's stream: the given SSRC, else the first one to appear (a capture made
    // at the caller's side, or of one direction only, starts with it).
    let stream = match ssrc {
        Some(x) => audio.iter().find(|s| s.ssrc == x).ok_or_else(|| {
            anyhow!(
                "fixture {}: no audio stream with SSRC {x:#x}",
                path.display()
            )
        })?,
        None => audio[0],
    };
    // A keypad-only stream has no audio codec of its own: PCMU is as good as any.
    let codec = stream.codec().unwrap_or(Codec::Pcmu);
    let event_pt = stream.event_packets().next().map(|p| p.payload_type);
    // Raw datagrams of that source and SSRC, in capture order, with capture times.
    let first = stream
        .packets
        .first()
        .map(|p| p.time)
        .unwrap_or(Duration::ZERO);
    let mut datagrams = Vec::new();
    for d in ivr_media::read_udp(path)? {
        if d.src != stream.src {
            continue;
        }
        let Ok(p) = RtpPacket::parse(&d.payload) else {
            continue;
        };
        if p.ssrc != stream.ssrc || d.time < first {
            continue;
        }
        datagrams.push(TimedDatagram {
            at: d.time - first,
            data: d.payload,
        });
    }
    datagrams.sort_by_key(|d| d.at);
    let others = audio.len() - 1;
    Ok(CallerMedia {
        codec,
        telephone_event_pt: event_pt.or(Some(DEFAULT_EVENT_PT)),
        from: stream.src,
        description: format!(
            "pcap stream ssrc {:#010x} from {} ({} packets, {:?}{}{})",
            stream.ssrc,
            stream.src,
            datagrams.len(),
            codec,
            event_pt.map_or(String::new(), |pt| format!(", telephone-event pt {pt}")),
            if others > 0 {
                format!("; {others} other audio stream(s) ignored")
            } else {
                String::new()
            }
        ),
        datagrams,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-replay-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn wav_fixture_is_packetised_as_20ms_pcmu() {
        let d = temp("wav");
        let p = d.join("tone.wav");
        // 1 s of 16 kHz audio: resampled to 8 kHz, 50 packets of 160 samples.
        let pcm: Vec<i16> = (0..16000)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        ivr_media::write_wav_mono(&p, 16000, &pcm).unwrap();
        let m = load_fixture(&p, None).unwrap();
        assert_eq!(m.codec, Codec::Pcmu);
        assert_eq!(m.datagrams.len(), 50);
        assert_eq!(m.datagrams[1].at, Duration::from_millis(20));
        let pkt = RtpPacket::parse(&m.datagrams[3].data).unwrap();
        assert_eq!(pkt.payload.len(), 160);
        assert_eq!(pkt.timestamp, 3 * 160);
        assert_eq!(pkt.payload_type, 0);
    }

    #[test]
    fn stereo_recording_uses_the_left_channel() {
        let d = temp("stereo");
        let p = d.join("call.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for _ in 0..800 {
            w.write_sample(1000i16).unwrap(); // caller
            w.write_sample(-20000i16).unwrap(); // bot
        }
        w.finalize().unwrap();
        let (left, desc) = read_caller_wav(&p).unwrap();
        assert!(desc.contains("left"), "{desc}");
        assert_eq!(left.len(), 800);
        assert!(left.iter().all(|&s| s == 1000));
    }
}
