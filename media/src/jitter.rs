//! Adaptive jitter buffer, sans-IO. Packets go in with their arrival time (`push`); the call
//! loop takes one 20 ms frame per tick (`pop_frame`). Playout is driven by RTP timestamps,
//! so packets of any size (10/20/30 ms) and reordering are handled sample-exactly.
//!
//! Adaptation: every packet's relative delay `arrival - timestamp` goes into a window; the
//! target delay is the window's 98th percentile minus its minimum (the jitter that has to be
//! absorbed) plus a small margin, clamped to [min, max]. The buffer grows by playing an extra
//! frame (concealment or silence) without advancing, at an underrun or in a quiet moment, and
//! shrinks by skipping a quiet frame. A packet whose relative delay is more than a second off
//! (SSRC change, timestamp jump, a sender that froze its clock during hold) resynchronises.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::session::AudioPacket;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

const MS: i64 = SAMPLE_RATE as i64 / 1000;
const WINDOW: usize = 250; // ~5 s of 20 ms packets
const RESYNC_THRESHOLD: i64 = 1000 * MS;
/// Concealment: attenuated repeats of the last frame, then silence.
const CONCEAL_GAINS: [f32; 3] = [0.8, 0.5, 0.2];
/// Mean absolute amplitude below which a frame counts as quiet (about -45 dBFS).
const QUIET_LEVEL: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FrameKind {
    /// Received audio.
    Audio,
    /// Made up for a lost or late packet.
    Concealed,
    /// Nothing to play (before the first packet, during a gap or while stretching).
    Silence,
}

/// One 20 ms, 8 kHz frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub samples: [i16; FRAME_SAMPLES],
    pub kind: FrameKind,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct JitterStats {
    pub packets: u64,
    pub late: u64,
    pub duplicates: u64,
    pub resyncs: u64,
    pub audio_frames: u64,
    pub concealed_frames: u64,
    pub silence_frames: u64,
    /// Frames inserted to grow the delay.
    pub stretched: u64,
    /// Frames skipped to shrink the delay.
    pub shrunk: u64,
    pub target_delay_ms: u32,
}

#[derive(Debug)]
pub struct JitterBuffer {
    min_delay: i64,
    max_delay: i64,
    packets: BTreeMap<i64, Vec<i16>>,
    ssrc: Option<u32>,
    last_ext_ts: Option<i64>,
    /// Timestamp of the next sample to play; None while prebuffering.
    play_ts: Option<i64>,
    start_at: Option<Instant>,
    epoch: Option<Instant>,
    delays: VecDeque<i64>,
    target: i64,
    last_frame: [i16; FRAME_SAMPLES],
    last_quiet: bool,
    conceal_run: usize,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Depth bounds, e.g. 20 ms and 200 ms.
    pub fn new(min_delay: Duration, max_delay: Duration) -> Self {
        let min = (min_delay.as_millis() as i64 * MS).max(0);
        let max = (max_delay.as_millis() as i64 * MS).max(min);
        Self {
            min_delay: min,
            max_delay: max,
            packets: BTreeMap::new(),
            ssrc: None,
            last_ext_ts: None,
            play_ts: None,
            start_at: None,
            epoch: None,
            delays: VecDeque::with_capacity(WINDOW),
            target: min.max(40 * MS).min(max), // until jitter is measured
            last_frame: [0; FRAME_SAMPLES],
            last_quiet: true,
            conceal_run: CONCEAL_GAINS.len(),
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats.clone();
        s.target_delay_ms = (self.target / MS) as u32;
        s
    }

    /// Current target delay.
    pub fn target_delay(&self) -> Duration {
        Duration::from_millis((self.target / MS) as u64)
    }

    fn samples_since_epoch(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        (now.saturating_duration_since(epoch).as_nanos() * SAMPLE_RATE as u128 / 1_000_000_000)
            as i64
    }

    fn resync(&mut self) {
        self.packets.clear();
        self.delays.clear();
        self.last_ext_ts = None;
        self.play_ts = None;
        self.start_at = None;
        self.stats.resyncs += 1;
    }

    /// Adds a decoded packet that arrived at `now`.
    pub fn push(&mut self, pkt: AudioPacket, now: Instant) {
        if pkt.samples.is_empty() {
            return;
        }
        self.stats.packets += 1;
        let arrival = self.samples_since_epoch(now);
        if self.ssrc.is_some_and(|s| s != pkt.ssrc) {
            self.resync();
        }
        self.ssrc = Some(pkt.ssrc);
        let mut ext = match self.last_ext_ts {
            None => pkt.timestamp as i64,
            Some(last) => last + pkt.timestamp.wrapping_sub(last as u32) as i32 as i64,
        };
        let mut delay = arrival - ext;
        if let Some(&ref_delay) = self.delays.iter().min()
            && (delay - ref_delay).abs() > RESYNC_THRESHOLD
        {
            self.resync();
            ext = pkt.timestamp as i64;
            delay = arrival - ext;
        }
        self.last_ext_ts = Some(self.last_ext_ts.map_or(ext, |l| l.max(ext)));
        if self.delays.len() == WINDOW {
            self.delays.pop_front();
        }
        self.delays.push_back(delay);
        self.update_target();
        if let Some(play) = self.play_ts
            && ext + (pkt.samples.len() as i64) <= play
        {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.packets.insert(ext, pkt.samples);
        if self.play_ts.is_none() && self.start_at.is_none() {
            self.start_at = Some(now + Duration::from_millis((self.target / MS) as u64));
        }
    }

    fn update_target(&mut self) {
        if self.delays.len() < 10 {
            return;
        }
        let mut sorted: Vec<i64> = self.delays.iter().copied().collect();
        sorted.sort_unstable();
        let p98 = sorted[(sorted.len() - 1) * 98 / 100];
        let spread = p98 - sorted[0];
        self.target = (spread + 10 * MS).clamp(self.min_delay, self.max_delay);
    }

    /// Copies what the buffer holds for [ts, ts+160) into `out`; returns samples filled.
    fn assemble(&self, ts: i64, out: &mut [i16; FRAME_SAMPLES]) -> usize {
        let end = ts + FRAME_SAMPLES as i64;
        let mut filled = 0;
        for (&pts, samples) in self.packets.range(ts - SAMPLE_RATE as i64..end) {
            let pend = pts + samples.len() as i64;
            if pend <= ts {
                continue;
            }
            let from = pts.max(ts);
            let to = pend.min(end);
            let src = &samples[(from - pts) as usize..(to - pts) as usize];
            out[(from - ts) as usize..(to - ts) as usize].copy_from_slice(src);
            filled += (to - from) as usize;
        }
        filled
    }

    fn has_data_at_or_after(&self, ts: i64) -> bool {
        self.packets
            .range(ts - SAMPLE_RATE as i64..)
            .any(|(&p, s)| p + s.len() as i64 > ts)
    }

    fn is_quiet(samples: &[i16]) -> bool {
        let sum: i64 = samples.iter().map(|&s| (s as i64).abs()).sum();
        sum < QUIET_LEVEL * samples.len() as i64
    }

    fn silence(&mut self) -> Frame {
        self.stats.silence_frames += 1;
        self.last_quiet = true;
        Frame {
            samples: [0; FRAME_SAMPLES],
            kind: FrameKind::Silence,
        }
    }

    fn conceal(&mut self) -> Frame {
        if self.conceal_run >= CONCEAL_GAINS.len() {
            return self.silence();
        }
        let g0 = if self.conceal_run == 0 {
            1.0
        } else {
            CONCEAL_GAINS[self.conceal_run - 1]
        };
        let g1 = CONCEAL_GAINS[self.conceal_run];
        self.conceal_run += 1;
        let mut samples = [0i16; FRAME_SAMPLES];
        for (i, (dst, &src)) in samples.iter_mut().zip(self.last_frame.iter()).enumerate() {
            // ramp the gain across the frame so there is no step at the frame edge
            let g = g0 + (g1 - g0) * (i as f32 / FRAME_SAMPLES as f32);
            *dst = (src as f32 * g) as i16;
        }
        self.stats.concealed_frames += 1;
        self.last_quiet = Self::is_quiet(&samples);
        Frame {
            samples,
            kind: FrameKind::Concealed,
        }
    }

    /// The frame to play at `now` (call every 20 ms). Never blocks, always returns a frame.
    pub fn pop_frame(&mut self, now: Instant) -> Frame {
        let now_s = self.samples_since_epoch(now);
        let play = match self.play_ts {
            Some(p) => p,
            None => match (self.start_at, self.packets.keys().next()) {
                (Some(at), Some(&first)) if now >= at => {
                    self.play_ts = Some(first);
                    self.start_at = None;
                    first
                }
                _ => return self.silence(),
            },
        };
        let d_min = self.delays.iter().min().copied().unwrap_or(0);
        let current = now_s - play - d_min;
        let mut play = play;
        let has_future = self.has_data_at_or_after(play);
        // Shrink: skip a quiet frame when well above target (or any frame when far above).
        if has_future && current > self.target + 40 * MS {
            let mut probe = [0i16; FRAME_SAMPLES];
            let n = self.assemble(play, &mut probe);
            if n == 0 || Self::is_quiet(&probe) || current > self.target + 100 * MS {
                play += FRAME_SAMPLES as i64;
                self.stats.shrunk += 1;
            }
        }
        let mut samples = [0i16; FRAME_SAMPLES];
        let filled = self.assemble(play, &mut samples);
        let frame = if filled > 0 {
            // Grow in a quiet moment: play silence now, the same audio next tick.
            if current < self.target - 20 * MS && self.last_quiet && Self::is_quiet(&samples) {
                self.stats.stretched += 1;
                self.play_ts = Some(play);
                return self.silence();
            }
            play += FRAME_SAMPLES as i64;
            self.conceal_run = 0;
            self.last_frame = samples;
            self.last_quiet = Self::is_quiet(&samples);
            self.stats.audio_frames += 1;
            Frame {
                samples,
                kind: FrameKind::Audio,
            }
        } else if self.has_data_at_or_after(play) {
            // A gap with later packets buffered: this one is lost.
            play += FRAME_SAMPLES as i64;
            self.conceal()
        } else if current < self.target {
            // Underrun while below target: grow by not advancing.
            self.stats.stretched += 1;
            self.conceal()
        } else {
            // Nothing buffered (loss at the tail, or the caller stopped sending): advance.
            play += FRAME_SAMPLES as i64;
            self.conceal()
        };
        self.play_ts = Some(play);
        // Drop packets that are entirely in the past.
        while let Some((&k, v)) = self.packets.first_key_value() {
            if k + v.len() as i64 <= play {
                self.packets.pop_first();
            } else {
                break;
            }
        }
        frame
    }

    /// Buffered audio ahead of the playout point.
    pub fn buffered(&self) -> Duration {
        let Some(play) = self.play_ts.or_else(|| self.packets.keys().next().copied()) else {
            return Duration::ZERO;
        };
        let end = self
            .packets
            .iter()
            .next_back()
            .map_or(play, |(k, v)| k + v.len() as i64);
        Duration::from_millis(((end - play).max(0) / MS) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random generator for traces.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Caller audio: a 440 Hz tone whose samples encode their own position, so the
    /// output can be checked sample by sample.
    fn source_sample(n: i64) -> i16 {
        (((n as f64) * 440.0 * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0) as i16 | 1
    }

    struct Sent {
        arrival_ms: f64,
        pkt: AudioPacket,
    }

    /// Builds a trace of `count` packets of `ptime_ms`, with per-packet extra delay from
    /// `delay_ms(i)` and loss/duplication decided by `fate(i)` (0 normal, 1 lost, 2 duplicated).
    fn trace(
        count: usize,
        ptime_ms: u32,
        ts0: u32,
        ssrc: u32,
        mut delay_ms: impl FnMut(usize) -> f64,
        mut fate: impl FnMut(usize) -> u8,
    ) -> Vec<Sent> {
        let per = (ptime_ms * 8) as i64;
        let mut v = Vec::new();
        for i in 0..count {
            let f = fate(i);
            if f == 1 {
                continue;
            }
            let n0 = i as i64 * per;
            let pkt = AudioPacket {
                ssrc,
                sequence: i as u16,
                timestamp: ts0.wrapping_add(n0 as u32),
                marker: i == 0,
                samples: (n0..n0 + per).map(source_sample).collect(),
            };
            let arrival_ms = i as f64 * ptime_ms as f64 + delay_ms(i);
            if f == 2 {
                v.push(Sent {
                    arrival_ms: arrival_ms + 5.0,
                    pkt: pkt.clone(),
                });
            }
            v.push(Sent { arrival_ms, pkt });
        }
        v.sort_by(|a, b| a.arrival_ms.total_cmp(&b.arrival_ms));
        v
    }

    /// Runs a trace through the buffer in virtual time: pushes at arrival, pops every 20 ms.
    fn run(jb: &mut JitterBuffer, base: Instant, sent: &[Sent], total_ms: u64) -> Vec<Frame> {
        let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
        let mut frames = Vec::new();
        let mut i = 0;
        for tick in 0..total_ms / 20 {
            let t = tick as f64 * 20.0;
            while i < sent.len() && sent[i].arrival_ms <= t {
                jb.push(sent[i].pkt.clone(), at(sent[i].arrival_ms));
                i += 1;
            }
            frames.push(jb.pop_frame(at(t)));
        }
        frames
    }

    fn audio_samples(frames: &[Frame]) -> Vec<i16> {
        frames
            .iter()
            .filter(|f| f.kind == FrameKind::Audio)
            .flat_map(|f| f.samples)
            .collect()
    }

    /// Concealed frames between the first and the last received frame (the tail after the
    /// stream ends is concealed too, by design).
    fn concealed_mid_stream(frames: &[Frame]) -> usize {
        let last = frames
            .iter()
            .rposition(|f| f.kind == FrameKind::Audio)
            .unwrap_or(0);
        frames[..last]
            .iter()
            .filter(|f| f.kind == FrameKind::Concealed)
            .count()
    }

    fn jb() -> JitterBuffer {
        JitterBuffer::new(Duration::from_millis(20), Duration::from_millis(200))
    }

    #[test]
    fn clean_stream_30ms_packets_is_sample_exact() {
        let base = Instant::now();
        let sent = trace(200, 30, 240, 7, |_| 10.0, |_| 0); // like SIPp's g711a.pcap
        let mut j = jb();
        let frames = run(&mut j, base, &sent, 6400);
        let out = audio_samples(&frames);
        let expect: Vec<i16> = (0..200 * 240).map(source_sample).collect();
        assert_eq!(out.len(), expect.len());
        assert!(out == expect, "audio differs from what was sent");
        let s = j.stats();
        assert_eq!((s.late, s.duplicates), (0, 0));
        assert_eq!(concealed_mid_stream(&frames), 0);
        assert!(s.target_delay_ms <= 30, "{s:?}");
    }

    #[test]
    fn loss_is_concealed_frame_for_frame() {
        let base = Instant::now();
        let mut rng = Lcg(1);
        let lost: Vec<bool> = (0..500)
            .map(|i| i > 5 && i < 495 && rng.next() < 0.05)
            .collect();
        let sent = trace(500, 20, 0, 7, |_| 5.0, |i| lost[i] as u8);
        let mut j = jb();
        let frames = run(&mut j, base, &sent, 10_400);
        let s = j.stats();
        let n_lost = lost.iter().filter(|&&l| l).count() as u64;
        assert!(n_lost > 10);
        // runs of 4+ lost frames would end in silence; each lost 20 ms packet is one made-up frame
        assert_eq!(
            s.concealed_frames + s.silence_frames
                - frames
                    .iter()
                    .take_while(|f| f.kind == FrameKind::Silence)
                    .count() as u64
                - frames
                    .iter()
                    .rev()
                    .take_while(|f| f.kind != FrameKind::Audio)
                    .count() as u64,
            n_lost
        );
        assert_eq!(s.audio_frames, 500 - n_lost);
        assert_eq!(s.late, 0);
    }

    #[test]
    fn adapts_to_jitter_and_reordering() {
        let base = Instant::now();
        let mut rng = Lcg(7);
        // 0-60 ms uniform jitter: packets routinely overtake each other.
        let sent = trace(3000, 20, 1234, 9, |_| 10.0 + rng.next() * 60.0, |_| 0);
        let reordered = sent
            .windows(2)
            .filter(|w| w[1].pkt.sequence < w[0].pkt.sequence)
            .count();
        assert!(reordered > 100, "trace must reorder ({reordered})");
        let mut j = jb();
        let frames = run(&mut j, base, &sent, 61_000);
        let s = j.stats();
        // After the first seconds, (almost) nothing is late and the target covers the jitter.
        assert!(s.late < 60, "{s:?}"); // < 2 %
        assert!((60..=100).contains(&s.target_delay_ms), "{s:?}");
        assert!(s.audio_frames >= 2940, "{s:?}");
        // Audio comes out in order: positions strictly increasing within the stream.
        let out = audio_samples(&frames);
        let expect: Vec<i16> = (0..3000 * 160).map(source_sample).collect();
        let mut k = 0;
        for chunk in out.chunks(160) {
            while k + 160 <= expect.len() && expect[k..k + 160] != *chunk {
                k += 160;
            }
            assert!(k + 160 <= expect.len(), "frame not found in order");
            k += 160;
        }
    }

    #[test]
    fn shrinks_back_after_jitter_calms() {
        let base = Instant::now();
        let mut rng = Lcg(3);
        let sent = trace(
            1500,
            20,
            0,
            9,
            |i| {
                if i < 500 {
                    10.0 + rng.next() * 120.0
                } else {
                    10.0
                }
            },
            |_| 0,
        );
        let mut j = jb();
        run(&mut j, base, &sent, 30_400);
        let s = j.stats();
        assert!(s.shrunk > 0 && s.stretched > 0, "{s:?}");
        assert!(j.target_delay() <= Duration::from_millis(30), "{s:?}");
        assert!(
            j.buffered() <= Duration::from_millis(80),
            "{:?}",
            j.buffered()
        );
    }

    #[test]
    fn duplicates_dropped_and_ssrc_change_and_timestamp_jump_resync() {
        let base = Instant::now();
        let mut j = jb();
        let a = trace(100, 20, 0, 1, |_| 5.0, |i| if i % 10 == 3 { 2 } else { 0 });
        let frames = run(&mut j, base, &a, 2100);
        assert_eq!(j.stats().duplicates, 10);
        assert_eq!(
            audio_samples(&frames),
            (0..100 * 160).map(source_sample).collect::<Vec<_>>()
        );
        // new SSRC and a random timestamp origin: resync, then clean audio again
        let base2 = base + Duration::from_millis(2100);
        let b = trace(100, 20, 0x7000_0000, 2, |_| 5.0, |_| 0);
        let frames = run(&mut j, base2, &b, 2100);
        assert_eq!(j.stats().resyncs, 1);
        assert_eq!(audio_samples(&frames).len(), 100 * 160);
        // same SSRC, timestamp jumps by 10 minutes (e.g. a sender clock reset)
        let base3 = base2 + Duration::from_millis(2100);
        let c = trace(
            100,
            20,
            0x7000_0000u32.wrapping_add(8000 * 600),
            2,
            |_| 5.0,
            |_| 0,
        );
        let frames = run(&mut j, base3, &c, 2100);
        assert_eq!(j.stats().resyncs, 2);
        assert_eq!(audio_samples(&frames).len(), 100 * 160);
        assert_eq!(j.stats().late, 0);
    }

    #[test]
    fn hold_gap_then_resume_and_timestamp_wrap() {
        let base = Instant::now();
        let mut j = jb();
        // timestamps wrap past 2^32 during the call; a 10 s gap (hold) with the clock running
        let ts0 = u32::MAX - 8000;
        let sent = trace(
            1000,
            20,
            ts0,
            5,
            |_| 5.0,
            |i| if (100..600).contains(&i) { 1 } else { 0 },
        );
        let frames = run(&mut j, base, &sent, 20_200);
        let s = j.stats();
        assert_eq!(s.audio_frames, 500, "{s:?}");
        assert_eq!(s.late, 0);
        assert_eq!(s.resyncs, 0);
        assert_eq!(concealed_mid_stream(&frames), 3);
        // the gap is silence, not a repeated buzz
        assert!(
            frames[200..550]
                .iter()
                .all(|f| f.kind == FrameKind::Silence)
        );
    }

    #[test]
    fn hold_with_frozen_clock_resyncs() {
        let base = Instant::now();
        let mut j = jb();
        let a = trace(100, 20, 5000, 5, |_| 5.0, |_| 0);
        run(&mut j, base, &a, 2100);
        // 5 s later the sender resumes with timestamps continuing as if no time passed
        let b = trace(100, 20, 5000 + 100 * 160, 5, |_| 5.0, |_| 0);
        let frames = run(&mut j, base + Duration::from_secs(7), &b, 2100);
        assert_eq!(j.stats().resyncs, 1);
        assert_eq!(audio_samples(&frames).len(), 100 * 160);
    }

    #[test]
    fn concealment_fades_to_silence() {
        let base = Instant::now();
        let mut j = jb();
        let a = trace(20, 20, 0, 5, |_| 5.0, |_| 0);
        let frames = run(&mut j, base, &a, 600);
        let tail: Vec<_> = frames
            .iter()
            .skip_while(|f| f.kind != FrameKind::Audio)
            .skip_while(|f| f.kind == FrameKind::Audio)
            .collect();
        assert_eq!(
            tail.iter()
                .take(3)
                .filter(|f| f.kind == FrameKind::Concealed)
                .count(),
            3
        );
        let peak = |f: &Frame| {
            f.samples
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap_or(0)
        };
        assert!(peak(tail[0]) > peak(tail[2]));
        assert!(tail[3..].iter().all(|f| f.kind == FrameKind::Silence));
    }
}
