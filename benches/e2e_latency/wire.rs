//! Wire analysis: per-call turns, reply latency and outbound RTP gaps from a capture.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use ivr_media::Codec;

use crate::{UNDERRUN_GAP_MS, UTTERANCE_GAP, VOICED_MEAN_ABS};

pub struct WireTurn {
    pub overlap: bool,
    pub reply_ms: Option<f64>,
}

pub struct WireCall {
    pub call_id: String,
    pub turns: Vec<WireTurn>,
    pub underruns: usize,
    pub max_gap_ms: f64,
    pub seq_gaps: u64,
}

/// (capture time, RTP sequence, voiced) of a G.711 RTP packet.
pub fn rtp_frame(payload: &[u8]) -> Option<(u16, bool)> {
    if payload.len() < 12 || payload[0] >> 6 != 2 {
        return None;
    }
    let pt = payload[1] & 0x7f;
    let codec = match pt {
        0 => Codec::Pcmu,
        8 => Codec::Pcma,
        _ => return None,
    };
    let cc = (payload[0] & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if payload[0] & 0x10 != 0 {
        let ext = payload.get(off + 2..off + 4)?;
        off += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let body = payload.get(off..)?;
    if body.is_empty() {
        return None;
    }
    let mut pcm = Vec::with_capacity(body.len());
    codec.decode(body, &mut pcm);
    let mean = pcm.iter().map(|s| (*s as i64).abs()).sum::<i64>() / pcm.len() as i64;
    Some((
        u16::from_be_bytes([payload[2], payload[3]]),
        mean > VOICED_MEAN_ABS,
    ))
}

pub fn header_value<'a>(msg: &'a str, names: &[&str]) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        names
            .iter()
            .any(|n| k.trim().eq_ignore_ascii_case(n))
            .then(|| v.trim())
    })
}

pub fn analyse_capture(pcap: &Path, sip_port: u16) -> Result<Vec<WireCall>> {
    let datagrams =
        ivr_media::read_udp(pcap).map_err(|e| anyhow!("reading {}: {e}", pcap.display()))?;
    // ivr's RTP port per call, from its 200 OK answers.
    let mut port_call: HashMap<u16, String> = HashMap::new();
    for d in datagrams.iter().filter(|d| d.src.port() == sip_port) {
        let Ok(msg) = std::str::from_utf8(&d.payload) else {
            continue;
        };
        if !msg.starts_with("SIP/2.0 200")
            || !header_value(msg, &["CSeq"]).is_some_and(|c| c.contains("INVITE"))
        {
            continue;
        }
        let (Some(id), Some(port)) = (
            header_value(msg, &["Call-ID", "i"]),
            msg.lines()
                .find_map(|l| l.trim().strip_prefix("m=audio "))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse::<u16>().ok()),
        ) else {
            continue;
        };
        port_call.insert(port, id.to_string());
    }
    let mut calls = Vec::new();
    for (port, call_id) in port_call {
        let t = |d: &ivr_media::UdpDatagram| d.time.as_secs_f64() * 1000.0;
        let inbound: Vec<(f64, bool)> = datagrams
            .iter()
            .filter(|d| d.dst.port() == port && d.src.port() != sip_port)
            .filter_map(|d| rtp_frame(&d.payload).map(|(_, v)| (t(d), v)))
            .collect();
        let outbound: Vec<(f64, u16, bool)> = datagrams
            .iter()
            .filter(|d| d.src.port() == port)
            .filter_map(|d| rtp_frame(&d.payload).map(|(s, v)| (t(d), s, v)))
            .collect();
        // Caller utterances: voiced packets no more than UTTERANCE_GAP apart.
        let gap_ms = UTTERANCE_GAP.as_secs_f64() * 1000.0;
        let mut utts: Vec<(f64, f64)> = Vec::new();
        for &(time, voiced) in &inbound {
            if !voiced {
                continue;
            }
            match utts.last_mut() {
                Some(u) if time - u.1 <= gap_ms => u.1 = time,
                _ => utts.push((time, time)),
            }
        }
        utts.retain(|u| u.1 - u.0 >= 100.0);
        let mut turns = Vec::new();
        for (i, &(start, end)) in utts.iter().enumerate() {
            let next_start = utts.get(i + 1).map(|u| u.0).unwrap_or(f64::INFINITY);
            let overlap = outbound
                .iter()
                .any(|&(time, _, v)| v && time >= start && time <= end);
            let reply = outbound
                .iter()
                .find(|&&(time, _, v)| v && time > end)
                .map(|&(time, _, _)| time)
                .filter(|&time| time < next_start);
            turns.push(WireTurn {
                overlap,
                reply_ms: reply.map(|r| r - end),
            });
        }
        let (mut underruns, mut max_gap, mut seq_gaps) = (0, 0.0f64, 0u64);
        for w in outbound.windows(2) {
            let gap = w[1].0 - w[0].0;
            max_gap = max_gap.max(gap);
            if gap > UNDERRUN_GAP_MS {
                underruns += 1;
            }
            let step = w[1].1.wrapping_sub(w[0].1);
            if step > 1 && step < 1000 {
                seq_gaps += u64::from(step - 1);
            }
        }
        calls.push(WireCall {
            call_id,
            turns,
            underruns,
            max_gap_ms: max_gap,
            seq_gaps,
        });
    }
    calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    Ok(calls)
}
