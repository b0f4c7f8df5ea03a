//! The caller's side: espeak-ng speech as a continuous RTP pcap, and the SIPp scenario
//! that plays it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ivr_media::Codec;
use serde_json::{Value, json};

use crate::{CallerVoice, FRAME, Script};

pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The caller's side of one call: continuous 8 kHz audio and where its utterances are.
pub struct CallerAudio {
    pub script: &'static Script,
    pub pcap: PathBuf,
    /// (start, end) of each utterance from the call's first packet.
    pub utterances: Vec<(Duration, Duration)>,
    pub total: Duration,
}

impl CallerAudio {
    pub fn generate(dir: &Path, script: &'static Script) -> Result<CallerAudio> {
        let mut pcm: Vec<i16> = Vec::new();
        let mut utterances = Vec::new();
        for (i, (pause, text)) in script.lines.iter().enumerate() {
            let raw = dir.join(format!("utt{i}-raw.wav"));
            let wav = dir.join(format!("utt{i}.wav"));
            match script.voice {
                CallerVoice::Espeak(voice) => run_cmd(
                    Command::new("espeak-ng")
                        .args(["-v", voice, "-s", "150", "-w"])
                        .arg(&raw)
                        .arg(text),
                )
                .context("espeak-ng (Debian package espeak-ng) speaks the caller's lines")?,
                CallerVoice::Kokoro(voice) => run_cmd(
                    ivr_test_support::ivr_command(Path::new(env!("CARGO_BIN_EXE_ivr")))
                        .args(["say", "--language", script.language, "--voice", voice])
                        .args(["--rate", "8000", "-o"])
                        .arg(&raw)
                        .arg(text),
                )
                .context("`ivr say` speaks the Mandarin caller's lines (run `make models`)")?,
            }
            // Trim the voice's leading/trailing silence so the utterance bounds are exact.
            run_cmd(
                Command::new("sox")
                    .arg(&raw)
                    .args(["-r", "8000", "-c", "1", "-b", "16"])
                    .arg(&wav)
                    .args([
                        "silence", "1", "0.01", "0.3%", "reverse", "silence", "1", "0.01", "0.3%",
                        "reverse",
                    ]),
            )?;
            let mut r = hound::WavReader::open(&wav)
                .with_context(|| format!("reading {}", wav.display()))?;
            let samples: Vec<i16> = r.samples::<i16>().collect::<Result<_, _>>()?;
            pcm.extend(std::iter::repeat_n(0i16, (pause * 8000.0) as usize));
            let start = pcm.len();
            pcm.extend(samples);
            utterances.push((samples_to_dur(start), samples_to_dur(pcm.len())));
        }
        pcm.extend(std::iter::repeat_n(0i16, (script.tail_s * 8000.0) as usize));
        let frames = pcm.len().div_ceil(FRAME);
        pcm.resize(frames * FRAME, 0);
        let pcap = dir.join("caller.pcap");
        write_rtp_pcap(&pcap, &pcm)?;
        Ok(CallerAudio {
            script,
            pcap,
            utterances,
            total: samples_to_dur(pcm.len()),
        })
    }

    pub fn last_utterance_end(&self) -> Duration {
        self.utterances.last().map(|u| u.1).unwrap_or_default()
    }

    pub fn describe(&self) -> Value {
        json!({
            "voice": match self.script.voice {
                CallerVoice::Espeak(v) => format!("espeak-ng {v}, 150 wpm, 8 kHz PCMU, continuous RTP"),
                CallerVoice::Kokoro(v) => format!("{v} (ivr say), 8 kHz PCMU, continuous RTP"),
            },
            "language": self.script.language,
            "called": self.script.user,
            "script": self.script.lines.iter().zip(&self.utterances).map(|((pause, text), (s, e))| json!({
                "pause_before_s": pause, "text": text,
                "start_s": s.as_secs_f64(), "end_s": e.as_secs_f64(),
            })).collect::<Vec<_>>(),
            "call_audio_s": self.total.as_secs_f64(),
        })
    }
}

pub fn samples_to_dur(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 125)
}

/// A classic pcap (Ethernet/IPv4/UDP/RTP PCMU, one packet per 20 ms) for SIPp's
/// `play_pcap_audio`, which rewrites the addresses and keeps the timing.
pub fn write_rtp_pcap(path: &Path, pcm: &[i16]) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Global header: magic, v2.4, tz 0, sigfigs 0, snaplen 65535, linktype 1 (Ethernet).
    f.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&4u16.to_le_bytes())?;
    f.write_all(&0i32.to_le_bytes())?;
    f.write_all(&0u32.to_le_bytes())?;
    f.write_all(&65535u32.to_le_bytes())?;
    f.write_all(&1u32.to_le_bytes())?;
    let ssrc = 0x1e5b_e7c4u32;
    for (i, frame) in pcm.chunks(FRAME).enumerate() {
        let mut rtp = Vec::with_capacity(12 + FRAME);
        rtp.push(0x80);
        rtp.push(if i == 0 { 0x80 } else { 0x00 }); // marker on the first packet, PT 0
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&((i * FRAME) as u32).to_be_bytes());
        rtp.extend_from_slice(&ssrc.to_be_bytes());
        Codec::Pcmu.encode(frame, &mut rtp);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut pkt = Vec::with_capacity(14 + ip_len);
        pkt.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let sum = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&6000u16.to_be_bytes());
        pkt.extend_from_slice(&7000u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&0u16.to_be_bytes()); // UDP checksum optional on IPv4
        pkt.extend_from_slice(&rtp);
        let t_us = i as u64 * 20_000;
        f.write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
        f.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        f.write_all(&(pkt.len() as u32).to_le_bytes())?;
        f.write_all(&(pkt.len() as u32).to_le_bytes())?;
        f.write_all(&pkt)?;
    }
    f.flush()?;
    Ok(())
}

pub fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// SIPp caller: INVITE (PCMU), play the caller pcap, wait for ivr's BYE after the last
/// utterance (or send one if it never comes).
pub fn write_scenario(dir: &Path, caller: &CallerAudio) -> Result<PathBuf> {
    let user = caller.script.user;
    let pause_ms = caller.last_utterance_end().as_millis() + 300;
    let xml = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr e2e bench caller: generated speech pcap, waits for the bot's BYE">
  <send retrans="500">
    <![CDATA[
      INVITE sip:{user}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{user}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{pause_ms}"/>
  <recv request="BYE" timeout="15000" ontimeout="1"/>
  <send next="2">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <label id="1"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <label id="2"/>
</scenario>
"#,
        pcap = caller.pcap.display(),
    );
    let path = dir.join("caller.xml");
    std::fs::write(&path, xml)?;
    Ok(path)
}
